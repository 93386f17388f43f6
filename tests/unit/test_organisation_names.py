"""How a party organisation's name follows its category, and how a name in use is numbered."""

from __future__ import annotations

import pytest

from storage.enums import OrgCategory
from storage.organisations import classify_name, numbered, numeral, renamed


@pytest.mark.parametrize(("name", "category", "expected"), [
    ("中共枝江市楚韵纺织有限公司支部委员会", OrgCategory.COMMITTEE, "中共枝江市楚韵纺织有限公司委员会"),
    ("中共枝江市楚韵纺织有限公司支部委员会", OrgCategory.GENERAL_BRANCH, "中共枝江市楚韵纺织有限公司总支部委员会"),
    ("中共枝江市楚韵纺织有限公司总支部委员会", OrgCategory.BRANCH, "中共枝江市楚韵纺织有限公司支部委员会"),
    ("中共枝江市楚韵纺织有限公司委员会", OrgCategory.BRANCH, "中共枝江市楚韵纺织有限公司支部委员会"),
    ("中共马家店街道非公有制企业联合支部委员会", OrgCategory.GENERAL_BRANCH, "中共马家店街道非公有制企业联合总支部委员会"),
    ("楚韵纺织党支部", OrgCategory.COMMITTEE, "楚韵纺织党委"),
    ("楚韵纺织联合党支部", OrgCategory.GENERAL_BRANCH, "楚韵纺织联合党总支"),
    ("中共 楚韵纺织 支部委员会", OrgCategory.COMMITTEE, "中共楚韵纺织委员会"),
    ("楚韵纺织党组织", OrgCategory.COMMITTEE, None),
])
def test_a_name_follows_the_category(name: str, category: OrgCategory, expected: str | None) -> None:
    assert renamed(name, category) == expected
    if expected is not None:
        said = classify_name(expected)
        assert said is not None and said[0] == category


@pytest.mark.parametrize(("n", "expected"), [(2, "二"), (9, "九"), (10, "十"), (12, "十二"), (20, "二十"), (35, "三十五")])
def test_ordinals_are_written_in_chinese(n: int, expected: str) -> None:
    assert numeral(n) == expected


def test_a_numbered_name_keeps_its_joint_word_and_category() -> None:
    assert numbered("中共马家店街道非公有制企业联合支部委员会", 2) == "中共马家店街道非公有制企业第二联合支部委员会"
    assert numbered("中共楚韵纺织支部委员会", 3) == "中共楚韵纺织第三支部委员会"
    assert classify_name(numbered("中共马家店街道非公有制企业联合支部委员会", 2)) == classify_name(
        "中共马家店街道非公有制企业联合支部委员会")
