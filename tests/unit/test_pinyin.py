from storage.pinyin import initials, normalize_query


def test_initials_follow_the_phrase_reading() -> None:
    assert initials("枝江市楚韵纺织有限公司").split()[0] == "zjscyfzyxgs"


def test_a_misread_place_name_is_still_found_by_its_real_reading() -> None:
    # The dictionary reads 长阳 as zhang-yang; people type chang-yang.
    variants = initials("长阳土家族自治县好味食品厂").split()
    assert any(v.startswith("cytj") for v in variants)
    assert len(variants) <= 8


def test_latin_letters_and_digits_are_kept_and_punctuation_dropped() -> None:
    assert initials("宜昌ABC-12 机械厂").split()[0] == "ycabc12jxc"
    assert normalize_query(" CY-fz ") == "cyfz"
