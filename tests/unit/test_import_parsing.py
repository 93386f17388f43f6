from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from output.ledger import LEDGER_LOCALE
from output.render import labels
from storage.enums import (
    EnterpriseKind,
    Formation,
    LocationKind,
    MassOrg,
    OperatingStatus,
    OrgCategory,
    SecretarySource,
    UnformedReason,
    UnorganisedClass,
)
from storage.importer import (
    CHOICES,
    ImportFileError,
    Reading,
    RowError,
    _map,
    fold,
    locate_header,
    map_headers,
    parse_date,
    parse_row,
    read_rows,
    vocabulary,
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


# --- a county's sheet ----------------------------------------------------------------------

LEDGER_WORDS = Reading(vocabulary(labels(LEDGER_LOCALE)), today=date(2026, 11, 25))


def _ledger_record(**values: str) -> EnterpriseRecord:
    parsed = parse_row(2, _row(**values), LEDGER_WORDS)
    assert isinstance(parsed, EnterpriseRecord), parsed
    return parsed


def _ledger_reasons(**values: str) -> list[str]:
    parsed = parse_row(7, _row(**values), LEDGER_WORDS)
    assert isinstance(parsed, RowError), parsed
    return parsed.messages


def _rows(*rows: list[str]) -> list[tuple[int, list[str]]]:
    return list(enumerate(rows, start=1))


def test_the_header_is_found_below_a_title_and_a_unit_line() -> None:
    headers, first, shown = locate_header(_rows(
        ["枝江市非公有制企业党建工作台账（2026年）", "", "", ""],
        ["填报单位：中共枝江市委组织部", "", "填报日期：2026年11月", ""],
        ["序号", "企业名称", "统一社会信用代码", "所属乡镇（街道）"],
        ["1", "楚韵纺织", VALID, "马家店街道"],
    ))
    assert ([h.shown for h in headers], first, shown) == (["序号", "企业名称", "统一社会信用代码", "所属乡镇（街道）"], 3, "3")


def test_a_group_header_merged_over_its_columns_names_them_with_its_stem() -> None:
    headers, first, shown = locate_header(_rows(
        ["企业名称", "统一社会信用代码", "所属地区", "党组织情况", "", "", "出资人情况", "", "备注"],
        ["", "", "", "名称", "类别", "成立时间", "姓名", "是否党员", ""],
        ["楚韵纺织", VALID, "宜昌市", "中共楚韵纺织支部委员会", "党支部", "2019-05-01", "张伟", "是", ""],
    ))
    mapped = _map(headers)
    assert (first, shown) == (2, "1–2")
    assert mapped.columns == {0: "name", 1: "credit_code", 2: "region", 3: "party_org", 4: "org_category",
                              5: "org_founded", 6: "owner_name", 7: "owner_is_member"}
    assert "“党组织情况/成立时间” → 党组织成立时间" in mapped.understood
    assert "“备注” → 未识别，已忽略" in mapped.understood


def test_a_date_under_the_enterprise_group_is_not_read_as_the_organisations() -> None:
    headers, _, _ = locate_header(_rows(
        ["企业基本情况", "", "", "", "党组织情况", ""],
        ["名称", "统一社会信用代码", "所属地区", "成立时间", "名称", "成立时间"],
    ))
    mapped = _map(headers)
    assert mapped.columns == {0: "name", 1: "credit_code", 2: "region", 4: "party_org", 5: "org_founded"}
    assert "“企业基本情况/成立时间” → 不导入，已忽略" in mapped.understood


def test_the_ledgers_own_work_columns_are_known_and_left_out() -> None:
    mapped = map_headers(["分类", "企业名称", "统一社会信用代码", "所属地区", "最近走访", "距今天数", "是否超期",
                          "具备组建条件", "百人以上未建"])
    assert mapped.columns == {0: "org_class", 1: "name", 2: "credit_code", 3: "region"}
    assert "“最近走访” → 系统计算的列，导入时忽略" in mapped.understood


def test_a_sheet_without_known_headers_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("甲,乙,丙\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="找不到表头行"):
        list(read_rows(path))


@pytest.mark.parametrize(
    ("text", "day"),
    [("2019-05-01", date(2019, 5, 1)), ("2019/5/1", date(2019, 5, 1)), ("2019年5月1日", date(2019, 5, 1)),
     ("2019.05", date(2019, 5, 1)), ("2019年5月", date(2019, 5, 1)), ("2019.5.1", date(2019, 5, 1)),
     ("20190501", date(2019, 5, 1)), ("43586", date(2019, 5, 1)), ("２０１９－０５－０１", date(2019, 5, 1)),
     ("2019-05-01 00:00:00", date(2019, 5, 1)), ("2019-02-30", None), ("2019年", None), ("去年", None)],
)
def test_founding_dates_as_registries_write_them(text: str, day: date | None) -> None:
    assert parse_date(text) == day


def test_a_founding_date_after_today_or_before_the_party_is_rejected() -> None:
    assert _ledger_reasons(party_org="中共楚韵纺织支部委员会", org_founded="2027-01-01") == [
        "第 7 行：党组织成立时间“2027-01-01”不在 1921 年 7 月 1 日到今天之间"]
    (message,) = _ledger_reasons(party_org="中共楚韵纺织支部委员会", org_founded="五月")
    assert message.startswith("第 7 行：党组织成立时间“五月”不是日期")


@pytest.mark.parametrize(
    ("values", "org"),
    [
        ({"party_org": "中共枝江市楚韵纺织有限公司支部委员会"},
         OrgRecord("中共枝江市楚韵纺织有限公司支部委员会", OrgCategory.BRANCH, None)),
        ({"party_org": "中共枝江市马家店街道非公企业联合支部委员会"},
         OrgRecord("中共枝江市马家店街道非公企业联合支部委员会", OrgCategory.BRANCH, Formation.JOINT)),
        ({"party_org": "中共湖北三宁化工股份有限公司总支部委员会", "org_founded": "2015.3"},
         OrgRecord("中共湖北三宁化工股份有限公司总支部委员会", OrgCategory.GENERAL_BRANCH, None,
                   founded_on=date(2015, 3, 1))),
        ({"party_org": "中共湖北枝江酒业股份有限公司委员会", "org_parent": "中共枝江市委 两新工委",
          "org_secretary": "赵红", "org_secretary_source": "出资人担任", "org_members": "１２０"},
         OrgRecord("中共湖北枝江酒业股份有限公司委员会", OrgCategory.COMMITTEE, None, parent="中共枝江市委两新工委",
                   secretary="赵红", secretary_source=SecretarySource.OWNER, members=120)),
        # The name does not say its category: the 类别 column does.
        ({"party_org": "楚韵纺织党组织", "org_category": "党支部", "org_formation": "挂靠"},
         OrgRecord("楚韵纺织党组织", OrgCategory.BRANCH, Formation.ATTACHED)),
        # The bot's own words, as the ledger writes them.
        ({"party_org": "党支部（联合组建）"}, OrgRecord(None, OrgCategory.BRANCH, Formation.JOINT)),
        ({"org_category": "党委（单独组建）"}, OrgRecord(None, OrgCategory.COMMITTEE, Formation.SINGLE)),
        ({"org_class": "联合组建"}, OrgRecord(None, None, Formation.JOINT)),
        ({"org_class": "应建未建（正式党员 3 名以上）"}, NO_ORGANISATION),
        ({"party_org": "无党组织"}, NO_ORGANISATION),
        # 党支部 says 单独组建 unless another column says how it was formed.
        ({"party_org": "党支部", "org_formation": "联合组建"}, OrgRecord(None, OrgCategory.BRANCH, Formation.JOINT)),
        ({"organised": "是"}, OrgRecord(None, None, None)),
        ({"organised": "否"}, NO_ORGANISATION),
        ({"unformed_reason": "企业出资人不支持"}, NO_ORGANISATION),
        ({"party_org": "—", "org_founded": "—", "org_members": "无"}, NO_ORGANISATION),
        ({"party_org": "", "org_founded": "", "org_category": ""}, None),
    ],
)
def test_the_party_organisation_columns_together(values: dict[str, str], org: OrgRecord | None) -> None:
    assert _ledger_record(**values).organisation == org


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"party_org": "无", "org_founded": "2019-05-01"}, "党组织“无”与党组织成立时间“2019-05-01”矛盾"),
        ({"party_org": "中共楚韵纺织支部委员会", "unformed_reason": "正式党员不足三人"},
         "未建立党组织原因“正式党员不足三人”与党组织“中共楚韵纺织支部委员会”矛盾"),
        ({"party_org": "中共楚韵纺织支部委员会", "org_category": "党委"},
         "党组织“中共楚韵纺织支部委员会”与党组织类别“党委”矛盾"),
        ({"party_org": "中共楚韵纺织联合支部委员会", "org_formation": "单独组建"},
         "党组织“中共楚韵纺织联合支部委员会”与组建方式“单独组建”矛盾"),
    ],
)
def test_columns_that_contradict_each_other_reject_the_row(values: dict[str, str], reason: str) -> None:
    assert _ledger_reasons(**values) == [f"第 7 行：{reason}"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("正式党员不足三人", UnformedReason.TOO_FEW_MEMBERS), ("党员人数少于3人，拟联建", UnformedReason.TOO_FEW_MEMBERS),
     ("出资人不支持", UnformedReason.OWNER_UNSUPPORTIVE), ("老板不同意", UnformedReason.OWNER_UNSUPPORTIVE),
     ("上级党组织未及时指导", UnformedReason.NO_GUIDANCE), ("企业刚成立", UnformedReason.OTHER)],
)
def test_reasons_for_no_organisation_are_read_from_free_text(text: str, reason: UnformedReason) -> None:
    assert _ledger_record(unformed_reason=text).unformed_reason is reason


@pytest.mark.parametrize(
    ("text", "status"),
    [("在营", OperatingStatus.OPERATING), ("存续", OperatingStatus.OPERATING), ("开业", OperatingStatus.OPERATING),
     ("停业", OperatingStatus.SUSPENDED), ("注销", OperatingStatus.DEREGISTERED), ("吊销", OperatingStatus.DEREGISTERED)],
)
def test_operating_status_in_the_ledgers_and_the_market_registrys_words(text: str, status: OperatingStatus) -> None:
    assert _ledger_record(operating_status=text).operating_status is status


@pytest.mark.parametrize(
    ("values", "where"),
    [({"location": "枝江经济开发区仙女工业园"}, (LocationKind.PARK, "枝江经济开发区仙女工业园")),
     ({"location": "园区：白洋工业园"}, (LocationKind.PARK, "白洋工业园")),
     ({"location": "国贸大厦"}, (LocationKind.BUILDING, "国贸大厦")),
     ({"location": "楼宇"}, (LocationKind.BUILDING, None)),
     ({"location": "其他"}, (LocationKind.OTHER, None)),
     ({"location": "马家店街道团结路8号"}, (LocationKind.OTHER, "马家店街道团结路8号")),
     ({"location_kind": "园区", "location_name": "姚家港化工园"}, (LocationKind.PARK, "姚家港化工园"))],
)
def test_where_an_enterprise_sits(values: dict[str, str], where: tuple[LocationKind, str | None]) -> None:
    record = _ledger_record(**values)
    assert (record.location_kind, record.location_name) == where


def test_the_ledgers_columns_of_an_enterprise() -> None:
    record = _ledger_record(above_scale="规上", revenue="１,２５０.５万元", members_here="4人", members_elsewhere="无",
                            owner_is_member="√", owner_is_secretary="否", employees="—")
    assert (record.above_scale, record.revenue, record.members_here, record.members_elsewhere) == (True, 1250.5, 4, 0)
    assert (record.owner_is_member, record.owner_is_secretary, record.employees) == (True, False, None)
    assert _ledger_reasons(revenue="很多") == ["第 7 行：年营业收入（万元）应为不小于 0 的数（很多）"]


def test_a_county_file_names_townships_below_its_region() -> None:
    reading = Reading(LEDGER_WORDS.words, region="宜昌市/枝江市")
    for cell, region in [("马家店街道", "宜昌市/枝江市/马家店街道"), ("枝江市/马家店街道", "宜昌市/枝江市/马家店街道"),
                         ("宜昌市/枝江市/董市镇", "宜昌市/枝江市/董市镇"), ("", "宜昌市/枝江市")]:
        parsed = parse_row(2, _row(region=cell), reading)
        assert isinstance(parsed, EnterpriseRecord) and parsed.region == region


def test_every_word_the_ledger_writes_for_an_organisation_is_read_back() -> None:
    words = vocabulary(labels(LEDGER_LOCALE))
    label = labels(LEDGER_LOCALE)
    written = [label("org_none"), *(label(f"class_{c}") for c in UnorganisedClass),
               *(label(f"formation_{f}") for f in Formation),
               *(label("org_kind", category=c.value, formation=f.value) for c in OrgCategory for f in Formation)]
    assert all(fold(word) in words.org_kinds for word in written)
    for name, choice in CHOICES.items():
        if choice.label is not None:
            assert all(words.choose(name, label(choice.label.format(code))) == code for code in choice.codes), name


def test_rows_below_the_table_that_are_not_data_are_skipped(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["某县企业名册"])
    sheet.append(["序号", "企业名称", "统一社会信用代码", "所属地区", "职工人数"])
    sheet.append([1, "楚韵纺织", VALID, "宜昌市", 120])
    sheet.append([2, "注塑科技", OTHER_VALID, "宜昌市", 8])
    sheet.append(["合 计", None, None, None, 128])
    sheet.append([None] * 5)
    sheet.append(["注：职工人数以年报为准"])
    sheet.append(["填表人：李明", None, "审核人：王芳"])
    path = tmp_path / "名册.xlsx"
    workbook.save(path)
    assert [(number, raw["name"]) for number, raw in read_rows(path)] == [(3, "楚韵纺织"), (4, "注塑科技")]
