from pathlib import Path

import pytest
from openpyxl import Workbook

from storage.enums import EnterpriseKind, Formation, MassOrg, OrgCategory
from storage.importer import (
    ImportFileError,
    RowError,
    map_headers,
    parse_row,
    read_rows,
)
from storage.registry import NO_ORGANISATION, EnterpriseRecord, OrgRecord

VALID = "91350100M000100Y43"
OTHER_VALID = "91110000600037341L"


def _row(**values: str) -> dict[str, str]:
    return {"name": "枝江市楚韵纺织有限公司", "credit_code": VALID, "region": "宜昌市/枝江市/马家店街道"} | values


def _record(row_number: int, raw: dict[str, str]) -> EnterpriseRecord:
    parsed = parse_row(row_number, raw)
    assert isinstance(parsed, EnterpriseRecord), parsed
    return parsed


def _reasons(raw: dict[str, str], row_number: int = 7) -> list[str]:
    parsed = parse_row(row_number, raw)
    assert isinstance(parsed, RowError)
    return parsed.messages


# --- headers -------------------------------------------------------------------------------


def test_chinese_headers_map_to_fields() -> None:
    headers = ["企业名称", "统一社会信用代码", "所属地区", "行业", "职工人数", "正式党员数", "党组织", "联系员",
               "企业类型", "群团组织", "业主姓名", "业主政治面貌", "示范点", "走访周期"]
    mapped = map_headers(headers)
    assert [mapped.columns[i] for i in range(len(headers))] == [
        "name", "credit_code", "region", "industry", "employees", "party_members", "party_org", "officer",
        "kind", "mass_orgs", "owner_name", "owner_political_status", "demonstration_point", "visit_cadence_days",
    ]
    assert mapped.unknown == ()


def test_english_headers_match_after_trimming_and_case_folding() -> None:
    mapped = map_headers([" Name ", "CREDIT_CODE", "Region", "Party_Org", "visit cadence days"])
    assert mapped.columns == {0: "name", 1: "credit_code", 2: "region", 3: "party_org", 4: "visit_cadence_days"}


def test_mixed_headers_with_unknown_and_blank_columns() -> None:
    mapped = map_headers(["序号", "企业名称", "credit_code", " 所属地区 ", "", "officer", "备注"])
    assert mapped.columns == {1: "name", 2: "credit_code", 3: "region", 5: "officer"}
    assert mapped.unknown == ("序号", "备注")


def test_missing_required_column_lists_the_headers_found() -> None:
    with pytest.raises(ImportFileError) as error:
        map_headers(["企业名称", "行业", "联系员"])
    message = str(error.value)
    assert "统一社会信用代码" in message and "所属地区" in message
    assert "企业名称、行业、联系员" in message


def test_the_same_column_twice_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="企业名称"):
        map_headers(["企业名称", "name", "统一社会信用代码", "所属地区"])


# --- rows ----------------------------------------------------------------------------------


def test_a_full_chinese_row_maps_to_codes() -> None:
    record = _record(2, _row(
        credit_code=" 91350100m000100y43 ", region=" 宜昌市 / 枝江市/马家店街道/ ", kind="改制企业", industry="纺织",
        employees="120", party_members="4", party_org="联合党支部", mass_orgs="工会、共青团", owner_name="张伟",
        owner_political_status="群众", demonstration_point="是", visit_cadence_days="60", officer="李明、王芳",
    ))
    assert record == EnterpriseRecord(
        credit_code=VALID, name="枝江市楚韵纺织有限公司", region="宜昌市/枝江市/马家店街道",
        kind=EnterpriseKind.RESTRUCTURED, industry="纺织", employees=120, party_members=4,
        organisation=OrgRecord(None, OrgCategory.BRANCH, Formation.JOINT),
        mass_orgs=(MassOrg.UNION, MassOrg.YOUTH_LEAGUE), owner_name="张伟",
        owner_political_status="群众", demonstration_point=True, visit_cadence_days=60, officers=("李明", "王芳"),
        row_number=2,
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("私营企业", EnterpriseKind.PRIVATE),
        ("个体工商户", EnterpriseKind.INDIVIDUAL),
        ("改制企业", EnterpriseKind.RESTRUCTURED),
        ("外资企业", EnterpriseKind.FOREIGN),
        ("其他", EnterpriseKind.OTHER),
        ("Foreign", EnterpriseKind.FOREIGN),
    ],
)
def test_enterprise_kinds_in_chinese_and_english(text: str, kind: EnterpriseKind) -> None:
    assert _record(2, _row(kind=text)).kind is kind


@pytest.mark.parametrize(
    ("text", "org"),
    [("无", NO_ORGANISATION), ("无党组织", NO_ORGANISATION),
     ("联合党支部", OrgRecord(None, OrgCategory.BRANCH, Formation.JOINT)),
     ("独立党支部", OrgRecord(None, OrgCategory.BRANCH, Formation.SINGLE)),
     ("党总支", OrgRecord(None, OrgCategory.GENERAL_BRANCH, Formation.SINGLE)),
     ("党委", OrgRecord(None, OrgCategory.COMMITTEE, Formation.SINGLE)),
     ("general_branch", OrgRecord(None, OrgCategory.GENERAL_BRANCH, Formation.SINGLE))],
)
def test_party_organisations_in_chinese_and_english(text: str, org: OrgRecord) -> None:
    assert _record(2, _row(party_org=text)).organisation == org


def test_blank_optional_cells_are_not_given() -> None:
    record = _record(2, _row(party_org="", employees=" ", mass_orgs="", demonstration_point="", officer=""))
    assert record.organisation is None and record.employees is None and record.mass_orgs is None
    assert record.demonstration_point is None and record.officers == ()


def test_mass_orgs_are_ordered_and_none_is_explicit() -> None:
    everything = (MassOrg.UNION, MassOrg.YOUTH_LEAGUE, MassOrg.WOMEN)
    assert _record(2, _row(mass_orgs="妇联，工会 共青团")).mass_orgs == everything
    assert _record(2, _row(mass_orgs="union, women")).mass_orgs == (MassOrg.UNION, MassOrg.WOMEN)
    assert _record(2, _row(mass_orgs="无")).mass_orgs == ()


@pytest.mark.parametrize(
    ("text", "flag"), [("是", True), ("否", False), ("YES", True), ("no", False), ("1", True), ("0", False)]
)
def test_demonstration_point_yes_and_no(text: str, flag: bool) -> None:
    assert _record(2, _row(demonstration_point=text)).demonstration_point is flag


def test_head_counts_accept_full_width_digits_and_excel_floats() -> None:
    record = _record(2, _row(employees="１,２００", party_members="12.0"))
    assert (record.employees, record.party_members) == (1200, 12)


def test_bad_check_digit_is_reported_in_words_with_the_row_number() -> None:
    assert _reasons(_row(credit_code="91420583MA4F2XXX0K")) == [
        "第 7 行：统一社会信用代码校验位错误（91420583MA4F2XXX0K）"
    ]


def test_credit_code_of_wrong_length_is_reported() -> None:
    (message,) = _reasons(_row(credit_code="9135010"))
    assert message == "第 7 行：统一社会信用代码应为 18 位，实际为 7 位（9135010）"


def test_credit_code_with_forbidden_letters_names_them() -> None:
    (message,) = _reasons(_row(credit_code="91350100MOOO100Y43"))
    assert "不允许的字符“O”" in message


@pytest.mark.parametrize("column", ["name", "credit_code", "region"])
def test_required_cells_must_not_be_blank(column: str) -> None:
    (message,) = _reasons(_row(**{column: "  "}))
    assert message.startswith("第 7 行：") and message.endswith("为空")


def test_negative_and_non_numeric_head_counts_are_rejected() -> None:
    assert _reasons(_row(employees="-3", party_members="三")) == [
        "第 7 行：职工人数应为不小于 0 的整数（-3）",
        "第 7 行：正式党员数应为不小于 0 的整数（三）",
    ]


def test_head_counts_beyond_sane_bounds_are_rejected() -> None:
    (message,) = _reasons(_row(employees="1000001"))
    assert "职工人数超出合理范围" in message


def test_more_party_members_than_employees_is_rejected() -> None:
    (message,) = _reasons(_row(employees="5", party_members="6"))
    assert message == "第 7 行：正式党员数（6）多于职工人数（5）"


@pytest.mark.parametrize("cadence", ["0", "366"])
def test_visit_cadence_outside_one_to_365_days_is_rejected(cadence: str) -> None:
    (message,) = _reasons(_row(visit_cadence_days=cadence))
    assert "走访周期应为 1 到 365 之间的天数" in message


@pytest.mark.parametrize(
    ("column", "value", "label"),
    [("kind", "国企", "企业类型"), ("party_org", "党小组", "党组织"), ("mass_orgs", "工会、商会", "群团组织"),
     ("demonstration_point", "也许", "示范点")],
)
def test_unknown_enum_values_are_rejected_with_the_allowed_ones(column: str, value: str, label: str) -> None:
    (message,) = _reasons(_row(**{column: value}))
    assert message.startswith(f"第 7 行：{label}“")
    assert "可填：" in message


def test_over_long_names_are_rejected_before_the_database_sees_them() -> None:
    (message,) = _reasons(_row(name="企" * 129))
    assert "企业名称过长" in message


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    assert len(_reasons({"name": "", "credit_code": "X", "region": "", "employees": "abc"})) == 4


# --- files ---------------------------------------------------------------------------------

CSV_TEXT = (
    "企业名称,统一社会信用代码,所属地区,职工人数\n"
    "楚韵纺织,91350100M000100Y43,宜昌市/枝江市,120\n"
    "\n"
    ",,,\n"
    "三峡机械,91110000600037341L,宜昌市,8\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_is_read_in_utf8_with_or_without_bom_and_in_gb18030(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "企业.csv"
    path.write_bytes(CSV_TEXT.encode(encoding))
    rows = list(read_rows(path))
    # Blank lines are skipped; numbering follows the spreadsheet (the header is row 1).
    assert [number for number, _ in rows] == [2, 5]
    assert rows[0][1] == {"name": "楚韵纺织", "credit_code": VALID, "region": "宜昌市/枝江市", "employees": "120"}


def test_xlsx_floats_become_integers_and_codes_stay_text(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["name", "credit_code", "region", "employees", "party_members", "demonstration_point"])
    sheet.append(["楚韵纺织", VALID, "宜昌市", 120.0, 3, True])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["三峡机械", OTHER_VALID, "宜昌市/夷陵区", 7.5, None, False])
    path = tmp_path / "企业.xlsx"
    workbook.save(path)
    rows = list(read_rows(path))
    assert rows[0] == (2, {"name": "楚韵纺织", "credit_code": VALID, "region": "宜昌市", "employees": "120",
                           "party_members": "3", "demonstration_point": "1"})
    assert rows[1][0] == 4 and rows[1][1]["employees"] == "7.5" and rows[1][1]["party_members"] == ""


def test_unsupported_file_types_are_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "企业.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportFileError, match=r"\.xlsx"):
        list(read_rows(path))


def test_an_empty_csv_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ImportFileError, match="表头"):
        list(read_rows(path))
