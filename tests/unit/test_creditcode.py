import pytest

from storage import creditcode

REAL_CODES = ["91350100M000100Y43", "91110000600037341L"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_credit_codes_are_valid(code: str) -> None:
    assert creditcode.problem(code) is None
    assert creditcode.is_valid(code)


@pytest.mark.parametrize("code", REAL_CODES)
def test_check_character_reproduces_the_last_character(code: str) -> None:
    assert creditcode.check_character(code[:17]) == code[17]


def test_a_check_value_of_31_is_written_as_zero() -> None:
    # Search a first-17 whose weighted sum is a multiple of 31: the check character is then 0.
    for tail in range(31):
        first17 = "9142058300000000" + creditcode.ALPHABET[tail]
        total = sum(creditcode.VALUES[ch] * w for ch, w in zip(first17, creditcode.WEIGHTS, strict=True))
        if total % 31 == 0:
            assert creditcode.check_character(first17) == "0"
            return
    pytest.fail("no first-17 with a sum divisible by 31 in the search range")


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100M000100Y433", ""])
def test_wrong_length_is_reported_as_length(code: str) -> None:
    assert creditcode.problem(code) == "length"


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z", "-", "中"])
def test_letters_outside_the_alphabet_are_reported_as_character(bad: str) -> None:
    code = "91350100M000100Y43"
    assert creditcode.problem(code[:5] + bad + code[6:]) == "character"


def test_a_changed_last_character_is_reported_as_check_digit() -> None:
    assert creditcode.problem("91350100M000100Y44") == "check_digit"
    assert creditcode.problem("91110000600037341K") == "check_digit"


def test_a_swapped_pair_of_characters_fails_the_check_digit() -> None:
    assert creditcode.problem("91350100M000010Y43") == "check_digit"


def test_normalize_folds_lower_case_full_width_and_blanks() -> None:
    assert creditcode.normalize("91350100m000100y43") == "91350100M000100Y43"
    assert creditcode.normalize("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"
    assert creditcode.normalize(" 9135 0100\tM000100Y43\u3000") == "91350100M000100Y43"
    assert creditcode.is_valid(creditcode.normalize("９１１１００００６０００３７３４１ｌ"))


def test_division_is_characters_three_to_eight() -> None:
    assert creditcode.division("91350100M000100Y43") == "350100"
