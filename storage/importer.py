"""`python -m bot import-enterprises FILE`: the enterprise registry from CSV or XLSX, as a county
keeps it.

A county's 名册 or 台账 is a government spreadsheet, not a database dump: a title row or two
above the table (the title merged across it, a unit and date line), a header that may span two
rows (党组织情况 merged over 党组织名称 | 类别 | 成立时间), a 序号 column, a notes row (填表说明、注),
a 合计 row and blank rows at the end, full party-organisation names, numbers typed as text.
`locate_header` finds the header by the words it knows; rows that are not data are skipped and
reported; every header is reported with how it was understood.

Reading, header mapping and row validation are plain functions; `import_enterprises` writes
the valid rows in one unit of work, so an import is all or nothing for them (`dry_run` rolls it
back: the same validation and matching, nothing written). The row-level report is console
output for the operator who runs the command, not a Telegram message, so its sentences live in
`MESSAGES` below rather than in the bot's templates.

The words a cell may hold come from one table, `CHOICES` (with the party-organisation words
derived from it): the bot's own words, read from the label macros the ledger uses (`labels`,
given by the caller, since templates are rendered above this layer), and the other words
registries write for the same codes. An exported ledger imports back.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from storage import creditcode, organisations
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
from storage.registry import (
    NO_ORGANISATION,
    EnterpriseRecord,
    OrgRecord,
    RowOutcome,
    RowProblem,
    UpsertResult,
    upsert_enterprises,
)
from storage.scope import SEPARATOR, normalize_region
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

MESSAGES = {
    "row": "第 {row} 行：{reason}",
    "unsupported_file": "不支持的文件类型“{suffix}”：请使用 .csv 或 .xlsx（.xls 文件请在 Excel 中另存为 .xlsx）",
    "unreadable_file": "无法读取文件 {path}：{error}",
    "empty_file": "文件是空的：找不到表头行",
    "no_header": "找不到表头行：前 {rows} 行中没有一行含有“企业名称”“统一社会信用代码”等列名",
    "missing_columns": "缺少必需的列：{missing}。文件中的列：{found}",
    "duplicate_column": "“{first}”和“{second}”是同一列（{column}），请只保留一列",
    "header_alias_unused": "“{header}” → 与“{used}”同义，已按“{used}”读取",
    "header_rows": "表头：第 {rows} 行",
    "header_column": "“{header}” → {column}",
    "header_serial": "“{header}” → 序号，已忽略",
    "header_derived": "“{header}” → 系统计算的列，导入时忽略",
    "header_not_imported": "“{header}” → 不导入，已忽略",
    "header_unknown": "“{header}” → 未识别，已忽略",
    "skipped_total": "合计行，已跳过",
    "skipped_note": "说明行（{text}），已跳过",
    "skipped_blank": "空行，已跳过",
    "skipped_heading": "分组标题（{text}），已跳过",
    "skipped_blanks": "第 {first}–{last} 行：空行，已跳过",
    "required": "{column}为空",
    "too_long": "{column}过长（{length} 个字符，最多 {limit} 个）",
    "credit_code_length": "统一社会信用代码应为 18 位，实际为 {length} 位（{value}）",
    "credit_code_character": "统一社会信用代码含有不允许的字符“{chars}”（{value}）",
    "credit_code_check_digit": "统一社会信用代码校验位错误（{value}）",
    "not_count": "{column}应为不小于 0 的整数（{value}）",
    "count_too_large": "{column}超出合理范围（{value}，最多 {limit}）",
    "not_amount": "{column}应为不小于 0 的数（{value}）",
    "members_exceed_employees": "正式党员数（{members}）多于职工人数（{employees}）",
    "unknown_value": "{column}“{value}”无法识别，可填：{allowed}",
    "org_full_name": "全称（中共…支部委员会）",
    "not_date": "{column}“{value}”不是日期，可写作 2019-05-01、2019/5/1、2019年5月1日 或 2019.05",
    "date_out_of_range": "{column}“{value}”不在 1921 年 7 月 1 日到今天之间",
    "org_contradiction": "{first}“{first_value}”与{second}“{second_value}”矛盾",
    "cadence_range": "走访周期应为 1 到 365 之间的天数（{value}）",
    "duplicate_code": "统一社会信用代码 {code} 在第 {later} 行再次出现，以第 {later} 行为准，本行未导入",
    "officer_unknown": "联系员“{name}”不存在（请先用 invite 命令创建），该企业暂未分配给此人",
    "officer_ambiguous": "联系员“{name}”有 {count} 位同名且无法按地区区分，该企业暂未分配给此人",
    "officer_outside": "联系员“{name}”的负责区域不包含该企业所在地区，该企业暂未分配给此人",
    "org_conflict": "党组织“{name}”的{detail}与第 {count} 行不同，以第 {count} 行为准",
    "dry_run": "试运行（--dry-run）：以下是导入将做的改动，数据库未写入。",
    "summary": "共读取 {rows} 行：新增 {created} 家，更新 {updated} 家，未变 {unchanged} 家，出错 {errors} 行。",
    "organisations": "新建党组织 {count} 个。",
    "assignments": "联系员分配：新增 {opened} 条，结束 {closed} 条。",
    "created_title": "新增的企业：",
    "created_row": "第 {row} 行：{name}",
    "updated_title": "更新的企业：",
    "updated_row": "第 {row} 行：{name}：{changes}",
    "change": "{column} {before} → {after}",
    "change_separator": "；",
    "org_created": "新建党组织“{name}”",
    "org_renamed": "党组织名称",
    "org_dissolved": "党组织撤销日期",
    "blank_value": "（空）",
    "record_id": "（记录 #{id}）",
    "errors_title": "以下行未导入：",
    "skipped_title": "跳过的行：",
    "warnings_title": "提示：",
    "more": "……另有 {count} 条未列出",
}

MAX_EMPLOYEES = 1_000_000
MAX_REVENUE = 1e9  # 万元: ten trillion yuan
MIN_CADENCE, MAX_CADENCE = 1, 365
# Lengths of the database columns: a longer value would fail the whole import on PostgreSQL.
MAX_LENGTH = {"name": 128, "region": 255, "industry": 64, "owner_name": 64, "owner_political_status": 32,
              "location_name": 128, "party_org": 128, "org_parent": 128, "org_secretary": 64}
# The report lists this many lines per section; the rest are counted.
REPORT_LIMIT = 500
# The header is looked for in this many rows from the top (titles, units and dates above it).
HEADER_SCAN = 30
# The first founding date a party organisation can have.
FIRST_FOUNDING = date(1921, 7, 1)

# Column name as shown in messages, then every header accepted for it (compared folded:
# blanks, brackets and case do not matter).
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("企业名称", ("企业名称", "name", "enterprise", "企业", "企业全称", "单位名称", "非公企业名称")),
    "credit_code": ("统一社会信用代码", ("统一社会信用代码", "credit_code", "信用代码", "社会信用代码",
                                         "统一信用代码", "统一社会信用代码（注册号）")),
    "region": ("所属地区", ("所属地区", "region", "地区", "所在地区", "所属乡镇（街道）", "所属乡镇", "所在乡镇（街道）",
                            "所在乡镇", "乡镇（街道）", "乡镇街道", "所属街道", "所在镇（街道）")),
    "kind": ("企业类型", ("企业类型", "kind", "类型", "企业性质", "经济类型")),
    "industry": ("行业", ("行业", "industry", "所属行业", "行业类别")),
    "employees": ("职工人数", ("职工人数", "employees", "职工数", "员工人数", "从业人员数", "从业人员", "从业人数",
                               "职工总数")),
    "party_members": ("正式党员数", ("正式党员数", "party_members", "党员人数", "党员数", "正式党员", "党员总数",
                                     "党员数（正式）")),
    "members_here": ("组织关系在本企业党员数", ("组织关系在本企业党员数", "members_here", "组织关系在本企业",
                                                 "组织关系在本企业的党员数", "组织关系在本企业党员")),
    "members_elsewhere": ("组织关系不在本企业党员数", ("组织关系不在本企业党员数", "members_elsewhere",
                                                       "组织关系不在本企业", "组织关系不在本企业的党员数",
                                                       "组织关系不在本企业党员")),
    "party_org": ("党组织", ("党组织", "party_org", "党组织名称", "党组织全称", "党组织状况", "党组织情况")),
    "organised": ("是否建立党组织", ("是否建立党组织", "organised", "是否建立", "是否已建立党组织", "是否建有党组织",
                                      "是否建立党组织（是/否）")),
    "org_class": ("分类", ("分类", "org_class", "台账分类", "党组织分类")),
    "org_category": ("党组织类别", ("党组织类别", "org_category", "党组织类型", "党组织建制", "建制")),
    "org_formation": ("组建方式", ("组建方式", "org_formation", "组建形式", "党组织组建方式", "建立方式",
                                   "组建方式（单独/联合）")),
    "org_founded": ("党组织成立时间", ("党组织成立时间", "org_founded", "党组织成立日期", "成立时间", "成立日期",
                                        "建立时间", "组建时间", "党组织建立时间", "党组织组建时间")),
    "org_parent": ("隶属党组织", ("隶属党组织", "org_parent", "隶属关系", "上级党组织", "党组织隶属", "隶属",
                                  "上级党组织名称", "党组织隶属关系")),
    "org_secretary": ("党组织书记", ("党组织书记", "org_secretary", "书记", "书记姓名", "党组织书记姓名")),
    "org_secretary_source": ("书记来源", ("书记来源", "org_secretary_source", "党组织书记来源", "书记来源情况")),
    "org_members": ("党组织党员数", ("党组织党员数", "org_members", "党组织党员人数", "党组织现有党员数")),
    "unformed_reason": ("未建立党组织原因", ("未建立党组织原因", "unformed_reason", "未建党组织原因", "未建原因",
                                             "未组建原因", "未建立原因")),
    "operating_status": ("经营状态", ("经营状态", "operating_status", "企业状态", "登记状态", "存续状态", "营业状态")),
    "above_scale": ("是否规模以上企业", ("是否规模以上企业", "above_scale", "是否规模以上", "规上企业", "是否规上企业",
                                          "是否规上", "规模以上企业", "规模以上")),
    "revenue": ("年营业收入（万元）", ("年营业收入（万元）", "revenue", "年营业收入", "营业收入", "营业收入（万元）",
                                       "主营业务收入（万元）", "主营业务收入", "年营业额（万元）", "年营业额")),
    "location": ("坐落", ("坐落", "location", "所在园区楼宇", "所在园区（楼宇）", "所在园区/楼宇", "园区楼宇", "坐落位置")),
    "location_kind": ("坐落类型", ("坐落类型", "location_kind", "坐落类别", "园区/楼宇/其他")),
    "location_name": ("园区楼宇名称", ("园区楼宇名称", "location_name", "园区（楼宇）名称", "坐落名称", "所在园区",
                                       "所在楼宇", "园区名称", "楼宇名称")),
    "mass_orgs": ("群团组织", ("群团组织", "mass_orgs", "已建群团组织")),
    # A column per mass organisation, 有/无 (the ledger's 群团 group).
    "has_union": ("工会", ("工会", "是否建立工会", "工会组织")),
    "has_youth_league": ("共青团", ("共青团", "是否建立共青团", "团组织")),
    "has_women": ("妇联", ("妇联", "是否建立妇联", "妇女组织")),
    "owner_name": ("业主姓名", ("业主姓名", "owner_name", "业主", "负责人", "出资人姓名", "出资人", "法定代表人",
                                "法定代表人姓名")),
    "owner_political_status": ("业主政治面貌", ("业主政治面貌", "owner_political_status", "出资人政治面貌",
                                                 "法定代表人政治面貌")),
    "owner_is_member": ("出资人是否党员", ("出资人是否党员", "owner_is_member", "出资人是否中共党员", "业主是否党员",
                                            "法定代表人是否党员")),
    "owner_is_secretary": ("出资人是否兼任党组织书记", ("出资人是否兼任党组织书记", "owner_is_secretary",
                                                         "出资人是否兼任书记", "出资人是否担任党组织书记",
                                                         "业主是否兼任党组织书记", "法定代表人是否兼任党组织书记")),
    "demonstration_point": ("示范点", ("示范点", "demonstration_point", "是否示范点")),
    "visit_cadence_days": ("走访周期", ("走访周期", "visit_cadence_days", "走访周期（天）", "走访周期(天)")),
    "officer": ("联系员", ("联系员", "officer", "联系员姓名", "党建工作联系员", "党建工作指导员（联系员）",
                           "党建工作指导员", "指导员", "指导员姓名")),
}
# Headers that name a narrower part of a field (the township of a region): when the file also
# has the field's full column, that one is read.
NARROWER = {"region": ("所属乡镇（街道）", "所属乡镇", "所在乡镇（街道）", "所在乡镇", "乡镇（街道）", "乡镇街道", "所属街道",
                       "所在镇（街道）")}
REQUIRED = ("name", "credit_code", "region")

# Headers known and left out, each with why: the file's own numbering, what the bot computes
# itself (the ledger's work columns, the market-entity type from the credit code), and the
# enterprise's own dates, which must not be read as its organisation's.
IGNORED: dict[str, tuple[str, ...]] = {
    "header_serial": ("序号", "编号", "序", "no", "no."),
    "header_derived": ("最近走访", "距今天数", "是否超期", "具备组建条件", "百人以上未建", "市场主体类型", "市场主体",
                       "应建未建"),
    "header_not_imported": ("企业成立时间", "企业成立日期", "注册时间", "注册日期", "企业注册时间", "企业注册日期",
                            "备案时间"),
}
# A group header above several columns (党组织情况 over 名称 | 类别) names them with its stem.
GROUP_SUFFIXES = ("基本情况", "基本信息", "情况", "信息", "概况")


# --- the vocabularies: one table -----------------------------------------------------------

Labels = Callable[..., str]
"""A label of the ledger's locale by its macro name and values: `output.render.label` with the
locale given (`templates/zh_CN/labels.txt.j2`)."""


@dataclass(frozen=True)
class Choice:
    """A column whose cell is one of a vocabulary's codes: the codes, the label macro that
    names each in the bot (`None`: the bot has none), and the other words registries write."""

    codes: tuple[str, ...]
    label: str | None
    words: dict[str, str]
    # Free text a registry writes, read by what it contains (first match), else `fallback`.
    contains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fallback: str | None = None


YES, NO = "yes", "no"
_YES_NO = {"是": YES, "否": NO, "yes": YES, "no": NO, "y": YES, "n": NO, "1": YES, "0": NO, "true": YES,
           "false": NO, "√": YES, "×": NO, "✓": YES, "✗": NO}

CHOICES: dict[str, Choice] = {
    "kind": Choice(tuple(EnterpriseKind), "kind_{}", {
        "私营企业": "private", "个体工商户": "individual", "改制企业": "restructured", "外资企业": "foreign",
        "其他": "other", "民营企业": "private", "私营": "private", "个体户": "individual", "个体": "individual",
        "外商投资企业": "foreign", "港澳台商投资企业": "foreign", "外资": "foreign"}),
    "operating_status": Choice(tuple(OperatingStatus), "operating_status_{}", {
        "存续": "operating", "开业": "operating", "在业": "operating", "正常": "operating", "营业": "operating",
        "正常经营": "operating", "存续（在营、开业、在册）": "operating", "歇业": "suspended", "停产": "suspended",
        "停业歇业": "suspended", "吊销": "deregistered", "已注销": "deregistered", "吊销未注销": "deregistered",
        "已吊销": "deregistered", "迁出": "deregistered"}),
    "location_kind": Choice(tuple(LocationKind), "location_kind_{}", {
        "工业园区": "park", "产业园区": "park", "开发区": "park", "园区内": "park", "商务楼宇": "building",
        "写字楼": "building", "楼宇内": "building"}),
    "unformed_reason": Choice(tuple(UnformedReason), "unformed_reason_{}", {
        "党员不足三人": "too_few_members", "正式党员不足3人": "too_few_members", "党员不足3人": "too_few_members",
        "企业出资人不支持": "owner_unsupportive"},
        contains=(("too_few_members", ("不足", "少于", "不够", "不满", "党员少", "无党员", "没有党员", "无正式党员")),
                  ("owner_unsupportive", ("不支持", "不同意", "不愿", "不配合", "抵触")),
                  ("no_guidance", ("未及时指导", "未指导", "缺乏指导", "指导不到位", "没有指导"))),
        fallback="other"),
    "org_category": Choice(tuple(OrgCategory), "category_{}", {
        "基层党委": "committee", "党的基层委员会": "committee", "委员会": "committee", "总支": "general_branch",
        "总支部": "general_branch", "总支部委员会": "general_branch", "支部": "branch", "支部委员会": "branch"}),
    "org_formation": Choice(tuple(Formation), "formation_{}", {
        "单独建立": "single", "独立组建": "single", "单独": "single", "独立": "single", "联合建立": "joint",
        "联合": "joint", "联建": "joint", "挂靠组建": "attached", "挂靠建立": "attached"}),
    "secretary_source": Choice(tuple(SecretarySource), "secretary_source_{}", {
        "出资人担任": "owner", "中层管理人员担任": "manager", "企业管理人员担任": "manager",
        "上级党组织选派": "sent"},
        contains=(("owner", ("出资人", "业主", "法定代表人", "董事长", "老板")),
                  ("sent", ("选派", "派驻", "指导员", "上级")),
                  ("manager", ("管理", "经理", "高管", "中层", "总监"))),
        fallback="other"),
    "mass_orgs": Choice(tuple(MassOrg), "mass_org_{}", {
        "工会": "union", "共青团": "youth_league", "妇联": "women", "团组织": "youth_league",
        "团支部": "youth_league", "妇女组织": "women", "妇委会": "women"}),
    "yes_no": Choice((YES, NO), None, _YES_NO),
    "present": Choice((YES, NO), None, _YES_NO | {"有": YES, "无": NO, "已建": YES, "未建": NO}),
    "above_scale": Choice((YES, NO), None, _YES_NO | {
        "规上": YES, "规模以上": YES, "规上企业": YES, "规下": NO, "规模以下": NO, "规下企业": NO}),
}
# The columns read with each vocabulary.
CHOICE_OF = {"kind": "kind", "operating_status": "operating_status", "location_kind": "location_kind",
             "unformed_reason": "unformed_reason", "org_formation": "org_formation",
             "org_secretary_source": "secretary_source", "mass_orgs": "mass_orgs", "demonstration_point": "yes_no",
             "owner_is_member": "yes_no", "owner_is_secretary": "yes_no", "organised": "yes_no",
             "above_scale": "above_scale", "has_union": "present", "has_youth_league": "present",
             "has_women": "present"}
# The mass organisation each 有/无 column stands for.
MASS_ORG_COLUMNS = {"has_union": MassOrg.UNION, "has_youth_league": MassOrg.YOUTH_LEAGUE, "has_women": MassOrg.WOMEN}

# What a 党组织 cell may say besides a full name: that there is none, or of which kind the
# organisation is. A kind given by its category alone (党支部) says 单独组建 unless another
# column says how it was formed; the words that name the way too (联合党支部, the bot's
# 党支部（联合组建）) say it for sure.
NO_ORGANISATION_WORDS = ("无", "未建", "无党组织", "未建立", "未建党组织", "没有", "否", "—", "——", "-", "－", "/", "／",
                         "none", "空")
PARTY_ORG_KINDS: dict[str, tuple[OrgCategory, Formation, bool]] = {
    "联合党支部": (OrgCategory.BRANCH, Formation.JOINT, True),
    "独立党支部": (OrgCategory.BRANCH, Formation.SINGLE, True),
    "党支部": (OrgCategory.BRANCH, Formation.SINGLE, False),
    "党总支": (OrgCategory.GENERAL_BRANCH, Formation.SINGLE, False),
    "党委": (OrgCategory.COMMITTEE, Formation.SINGLE, False),
    # The codes of earlier versions' files.
    "joint_branch": (OrgCategory.BRANCH, Formation.JOINT, True),
    "branch": (OrgCategory.BRANCH, Formation.SINGLE, False),
    "general_branch": (OrgCategory.GENERAL_BRANCH, Formation.SINGLE, False),
    "committee": (OrgCategory.COMMITTEE, Formation.SINGLE, False),
}
# Where an enterprise sits, read from a 坐落 cell that names the park or building.
LOCATION_MARKERS: tuple[tuple[LocationKind, tuple[str, ...]], ...] = (
    (LocationKind.PARK, ("工业园", "产业园", "科技园", "创业园", "物流园", "园区", "开发区", "高新区", "工业区", "经济区",
                         "产业基地", "孵化基地")),
    (LocationKind.BUILDING, ("大厦", "大楼", "楼宇", "写字楼", "商务楼", "商务中心", "商厦", "广场")),
)
NO_MASS_ORGS = {"无", "none"}
# Cells that mean "nothing written here" in a government sheet, outside the 党组织 columns.
PLACEHOLDERS = {"—", "——", "-", "－", "/", "／", "…", "……", "无"}

# Cells that list several values: 工会、共青团 / union, women / 张三；李四
LIST_SEPARATORS = re.compile(r"[、,，;；/\s]+")
# Names are split on punctuation only: "阿卜杜拉·买买提" and "欧阳 明" stay whole.
NAME_SEPARATORS = re.compile(r"[、,，;；]+")
COUNT_PATTERN = re.compile(r"^\d+(\.0+)?$")
AMOUNT_PATTERN = re.compile(r"^\d+(\.\d+)?$")
# A cell that is meant as a credit code, right or wrong.
CODE_LIKE = re.compile(r"^[0-9A-Z]{6,}$")
# A row that sums the table: 合计, 总计, 小计 in one of its first cells.
TOTAL_WORDS = ("合计", "总计", "小计", "共计")
# A row of notes below or above the table: 填表说明：…, 注：…, 填表人：… 审核人：…
NOTE_PATTERN = re.compile(r"^(填表说明|填报说明|说明|注|备注|附注|填表人|填报人|制表人|制表|审核人|审核|填报单位|填报日期|"
                          r"制表日期|联系电话|联系人|单位负责人)\s*\d*\s*[：:.、]|^(填表说明|填报说明)")
# A 坐落 cell that gives the kind before the name: 园区：仙女工业园
LOCATION_SPLIT = re.compile(r"[：:（(]")
# Dates as registries type them: 2019-05-01, 2019/5/1, 2019.5.1, 2019年5月1日, 20190501, and
# months (2019.05, 2019年5月: the first of the month).
DATE_PATTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(\d{1,2})\s*日?|月?)$")
COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
EXCEL_SERIAL = re.compile(r"^\d{5}(\.0+)?$")
EXCEL_EPOCH = date(1899, 12, 30)


def fold(text: str) -> str:
    """A word as it is compared: full-width folded, without blanks, case-folded."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


@dataclass(frozen=True)
class Vocabulary:
    """Every word a cell may hold, folded, with what it means; and the word each code is shown
    by (the bot's label where there is one)."""

    words: dict[str, dict[str, str]]
    shown: dict[str, dict[str, str]]
    # 党组织 words: None for none, else (category, formation, whether the way is said for sure).
    org_kinds: dict[str, tuple[OrgCategory | None, Formation | None, bool] | None]
    org_shown: tuple[str, ...]

    def choose(self, choice: str, text: str) -> str | None:
        choices = CHOICES[choice]
        key = fold(text)
        code = self.words[choice].get(key)
        if code is None and choices.contains:
            code = next((c for c, parts in choices.contains if any(part in key for part in parts)), choices.fallback)
        return code

    def allowed(self, choice: str) -> str:
        return "、".join(dict.fromkeys(self.shown[choice].values()))


def vocabulary(labels: Labels | None = None) -> Vocabulary:
    """The words of `CHOICES`, with the bot's own words when `labels` reads them."""
    words: dict[str, dict[str, str]] = {}
    shown: dict[str, dict[str, str]] = {}
    for name, choice in CHOICES.items():
        table = {fold(code): code for code in choice.codes} | {fold(word): code for word, code in choice.words.items()}
        display = {code: word for word, code in reversed(list(choice.words.items())) if not word.isascii()}
        if labels is not None and choice.label is not None:
            bot_words = {code: labels(choice.label.format(code)) for code in choice.codes}
            table |= {fold(word): code for code, word in bot_words.items()}
            display |= bot_words
        words[name] = table
        shown[name] = {code: display.get(code, code) for code in choice.codes}
    kinds: dict[str, tuple[OrgCategory | None, Formation | None, bool] | None] = {
        word: (OrgCategory(code), None, False) for word, code in words["org_category"].items()}
    kinds |= {fold(word): kind for word, kind in PARTY_ORG_KINDS.items()}
    org_shown: list[str] = []
    if labels is not None:
        for category in OrgCategory:
            for formation in Formation:
                word = labels("org_kind", category=category.value, formation=formation.value)
                kinds[fold(word)] = (category, formation, True)
                org_shown.append(word)
        # The ledger's 分类: the way of forming of those with one, the class of those without.
        kinds |= {fold(labels(f"formation_{f.value}")): (None, f, True) for f in Formation}
        kinds |= {fold(labels(f"class_{c.value}")): None for c in UnorganisedClass}
        none_word = labels("org_none")
        kinds[fold(none_word)] = None
        org_shown.insert(0, none_word)
    else:
        kinds |= {word: (None, Formation(code), True) for word, code in words["org_formation"].items()}
        org_shown = ["无", *PARTY_ORG_KINDS]
    kinds |= {fold(word): None for word in NO_ORGANISATION_WORDS}
    return Vocabulary(words, shown, kinds, tuple(org_shown))


@dataclass(frozen=True)
class Reading:
    """How rows are read: the words, the day (no date after it), and the region the file is
    for (a county's file names townships: 马家店街道 is read as 宜昌市/枝江市/马家店街道)."""

    words: Vocabulary
    today: date | None = None
    region: str = ""


# The words registries write, without the bot's own: what the tests of reading alone use. An
# import is always given the labels (`import_enterprises(labels=...)`).
DEFAULT_READING = Reading(vocabulary())


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message is for the operator."""


@dataclass(frozen=True)
class RowError:
    """A row that was not imported, with every reason found in it."""

    row: int
    reasons: tuple[str, ...]

    @property
    def messages(self) -> list[str]:
        return [MESSAGES["row"].format(row=self.row, reason=reason) for reason in self.reasons]


@dataclass
class ImportReport:
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    assignments_opened: int = 0
    assignments_closed: int = 0
    organisations_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Imported anyway, but worth the operator's eye (unknown officer, disagreeing rows).
    warnings: list[str] = field(default_factory=list)
    # How the header was read: its rows, then one line per column.
    header: list[str] = field(default_factory=list)
    # Rows that are not data: 合计, notes, blank rows.
    skipped: list[str] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    dry_run: bool = False
    # The words the file was read with: changes are shown in them.
    words: Vocabulary | None = None


@dataclass(frozen=True)
class HeaderMap:
    """Column index -> field, the headers not imported, and one line per header saying how it
    was understood."""

    columns: dict[int, str]
    unknown: tuple[str, ...]
    understood: tuple[str, ...] = ()


def fold_header(text: str) -> str:
    """`  Credit Code ` and `credit_code` and `*统一社会信用代码` and `走访周期（天）` all fold to one key."""
    return re.sub(r"[\s_\-*＊()\[\]【】]+", "", unicodedata.normalize("NFKC", text)).casefold()


_HEADER_KEYS = {fold_header(alias): key for key, (_, aliases) in COLUMNS.items() for alias in aliases}
NARROWER_HEADERS = {key: frozenset(map(fold_header, aliases)) for key, aliases in NARROWER.items()}
_IGNORED_KEYS = {fold_header(alias): reason for reason, aliases in IGNORED.items() for alias in aliases}


@dataclass(frozen=True)
class _Header:
    """One column's header: as shown, and the texts to try, best first (a two-row header gives
    the group's stem with the column's name before the column's name alone)."""

    shown: str
    candidates: tuple[str, ...]


def _understand(header: _Header) -> tuple[str | None, str | None]:
    """(field, None) for a column imported, (None, reason) for one known and left out, and
    (None, None) for one not understood."""
    for text in header.candidates:
        key = fold_header(text)
        if key in _HEADER_KEYS:
            return _HEADER_KEYS[key], None
        if key in _IGNORED_KEYS:
            return None, _IGNORED_KEYS[key]
    return None, None


def _map(headers: Sequence[_Header]) -> HeaderMap:
    columns: dict[int, str] = {}
    seen: dict[str, str] = {}
    unknown: list[str] = []
    understood: list[str] = []
    for index, header in enumerate(headers):
        if not header.shown:
            continue
        key, reason = _understand(header)
        if key is None:
            unknown.append(header.shown)
            understood.append(MESSAGES[reason or "header_unknown"].format(header=header.shown))
            continue
        if key in seen:
            # 所属地区 (the full path) beside a column of the township alone (the ledger's
            # 所属乡镇（街道）): the full one is read. Two columns for one field otherwise are ambiguous.
            narrower = NARROWER_HEADERS.get(key, frozenset())
            if fold_header(seen[key]) in narrower and fold_header(header.shown) not in narrower:
                previous = next(i for i, k in columns.items() if k == key)
                del columns[previous]
                understood.append(MESSAGES["header_alias_unused"].format(header=seen[key], used=header.shown))
            elif fold_header(header.shown) in narrower and fold_header(seen[key]) not in narrower:
                understood.append(MESSAGES["header_alias_unused"].format(header=header.shown, used=seen[key]))
                continue
            else:
                raise ImportFileError(
                    MESSAGES["duplicate_column"].format(first=seen[key], second=header.shown, column=COLUMNS[key][0])
                )
        seen[key] = header.shown
        columns[index] = key
        understood.append(MESSAGES["header_column"].format(header=header.shown, column=COLUMNS[key][0]))
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in seen]
    if missing:
        found = "、".join(h.shown for h in headers if h.shown) or "（无）"
        raise ImportFileError(MESSAGES["missing_columns"].format(missing="、".join(missing), found=found))
    return HeaderMap(columns, tuple(unknown), tuple(understood))


def map_headers(headers: list[str]) -> HeaderMap:
    """Which column holds which field of a one-row header; raises `ImportFileError` for missing
    or doubled columns."""
    return _map([_Header(text.strip(), (text.strip(),)) for text in headers])


def _known(text: str) -> bool:
    key = fold_header(text)
    return bool(key) and (key in _HEADER_KEYS or key in _IGNORED_KEYS)


def _stem(group: str) -> str:
    """党组织情况 → 党组织, 出资人（法定代表人）情况 → 出资人: what a group header prefixes."""
    text = re.sub(r"[（(][^）)]*[）)]", "", group.strip())
    for suffix in GROUP_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _two_rows(upper: Sequence[str], lower: Sequence[str]) -> list[_Header]:
    """A header over two rows. A merged cell's text sits in its first column only: a group
    (党组织情况) spans the columns to its right whose upper cell is empty and lower cell is not;
    a column header merged down has an empty lower cell."""
    width = max(len(upper), len(lower))
    headers: list[_Header] = []
    group = ""
    for index in range(width):
        top = upper[index].strip() if index < len(upper) else ""
        bottom = lower[index].strip() if index < len(lower) else ""
        if top:
            group = top
        elif not bottom:
            group = ""
        if not bottom:
            headers.append(_Header(top, (top,)))
            continue
        parent = top or group
        if not parent:
            headers.append(_Header(bottom, (bottom,)))
            continue
        stem = _stem(parent)
        headers.append(_Header(f"{parent}/{bottom}", (stem + bottom, bottom + stem, bottom, parent)))
    return headers


def _score(headers: Sequence[_Header]) -> int:
    return sum(1 for header in headers if header.shown and _understand(header) != (None, None))


def _looks_like_data(cells: Sequence[str]) -> bool:
    return any(creditcode.is_valid(creditcode.normalize(cell)) for cell in cells if len(cell) >= 18)


def locate_header(rows: Sequence[tuple[int, list[str]]]) -> tuple[list[_Header], int, str]:
    """The header among the first rows: the row holding most known column names, with the
    row above or below it when that is the other half of a two-row header (the pair then knows
    more columns than the row alone). Returns the headers, the index of the first data row and
    the header's row numbers as shown."""
    best, best_score = -1, 1
    for index, (_, cells) in enumerate(rows[:HEADER_SCAN]):
        score = sum(_known(cell) for cell in cells)
        if score > best_score:
            best, best_score = index, score
    if best < 0:
        raise ImportFileError(MESSAGES["no_header"].format(rows=HEADER_SCAN))
    single = [_Header(cell.strip(), (cell.strip(),)) for cell in rows[best][1]]
    alone = _score(single)
    if best + 1 < len(rows) and not _looks_like_data(rows[best + 1][1]):
        pair = _two_rows(rows[best][1], rows[best + 1][1])
        if _score(pair) > alone:
            return pair, best + 2, f"{rows[best][0]}–{rows[best + 1][0]}"
    if best > 0 and any(rows[best - 1][1]):
        pair = _two_rows(rows[best - 1][1], rows[best][1])
        if _score(pair) > alone:
            return pair, best + 1, f"{rows[best - 1][0]}–{rows[best][0]}"
    return single, best + 1, str(rows[best][0])


def _cell_text(value: object) -> str:
    """An XLSX cell as the text the operator sees: 120.0 stored by Excel as a float is "120"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _decode(data: bytes) -> str:
    # Excel on a Chinese Windows saves "CSV" in the ANSI code page (GBK); GB18030 is its superset.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    text = _decode(path.read_bytes())
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # Numbered by record, not by physical line: a quoted cell may hold a line break, and the
    # operator looks the row up in a spreadsheet.
    return [(number, [cell.strip() for cell in cells]) for number, cells in enumerate(reader, start=1)]


def _xlsx_rows(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only the XLSX path pays for the import

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return [(number, [_cell_text(value) for value in cells])
                for number, cells in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)]
    finally:
        workbook.close()  # read-only workbooks keep the file open until closed


def _read(path: Path) -> list[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            rows = _csv_rows(path)
        elif suffix in (".xlsx", ".xlsm"):
            rows = _xlsx_rows(path)
        else:
            raise ImportFileError(MESSAGES["unsupported_file"].format(suffix=suffix or path.name))
    except ImportFileError:
        raise
    except Exception as error:  # a broken zip, a locked file, an undecodable byte
        raise ImportFileError(MESSAGES["unreadable_file"].format(path=path, error=error)) from error
    if not any(any(cells) for _, cells in rows):
        raise ImportFileError(MESSAGES["empty_file"])
    return rows


@dataclass(frozen=True)
class _Table:
    header: HeaderMap
    header_rows: str
    rows: list[tuple[int, list[str]]]


def _open_table(path: Path) -> _Table:
    rows = _read(path)
    headers, first, header_rows = locate_header(rows)
    return _Table(_map(headers), header_rows, rows[first:])


def _skip_reason(cells: Sequence[str], header: HeaderMap) -> str | None:
    """Why a row below the header is not data (合计, a note), or None."""
    code_column = next((i for i, key in header.columns.items() if key == "credit_code"), None)
    if code_column is not None and code_column < len(cells) and CODE_LIKE.match(creditcode.normalize(cells[code_column])):
        return None  # a row with a credit code (valid or not) is data, whatever else it holds
    filled = [cell.strip() for cell in cells if cell.strip()]
    if any(fold(cell).startswith(TOTAL_WORDS) for cell in filled[:3]):
        return MESSAGES["skipped_total"]
    if filled and NOTE_PATTERN.match(filled[0]):
        text = filled[0] if len(filled[0]) <= 20 else filled[0][:20] + "…"
        return MESSAGES["skipped_note"].format(text=text)
    if len(filled) == 1 and cells and cells[0].strip() == filled[0] and not filled[0].isdigit():
        # A heading over a block of rows in the first column alone (the ledger's class headings:
        # 已建立党组织：联合组建).
        text = filled[0] if len(filled[0]) <= 20 else filled[0][:20] + "…"
        return MESSAGES["skipped_heading"].format(text=text)
    return None


def _data_rows(table: _Table, skipped: list[str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    blanks: list[int] = []

    def flush_blanks() -> None:
        if blanks and skipped is not None:
            skipped.append(MESSAGES["row"].format(row=blanks[0], reason=MESSAGES["skipped_blank"]) if len(blanks) == 1
                           else MESSAGES["skipped_blanks"].format(first=blanks[0], last=blanks[-1]))
        blanks.clear()

    for number, cells in table.rows:
        if not any(cells):
            blanks.append(number)  # spreadsheets often carry formatted but empty rows at the end
            continue
        flush_blanks()
        reason = _skip_reason(cells, table.header)
        if reason is not None:
            if skipped is not None:
                skipped.append(MESSAGES["row"].format(row=number, reason=reason))
            continue
        yield number, {key: cells[index] if index < len(cells) else "" for index, key in table.header.columns.items()}
    flush_blanks()


def read_rows(path: Path | str) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {field: text}) for every data row below the header."""
    yield from _data_rows(_open_table(Path(path)))


# --- one row -------------------------------------------------------------------------------


def _label(key: str) -> str:
    return COLUMNS[key][0]


def _value(raw: dict[str, str], key: str) -> str:
    """The cell's text; a placeholder (—, /, 无) is nothing written."""
    value = raw.get(key, "").strip()
    return "" if value in PLACEHOLDERS else value


def _text(raw: dict[str, str], key: str, problems: list[str]) -> str | None:
    value = _value(raw, key)
    if not value:
        return None
    limit = MAX_LENGTH.get(key)
    if limit is not None and len(value) > limit:
        problems.append(MESSAGES["too_long"].format(column=_label(key), length=len(value), limit=limit))
    return value


def _count(raw: dict[str, str], key: str, problems: list[str], *, none_is_zero: bool = True) -> int | None:
    if none_is_zero and raw.get(key, "").strip() == "无":
        return 0  # 党员数：无
    value = _value(raw, key)
    if not value:
        return None
    # Full-width digits, 1,200, 12人
    digits = creditcode.normalize(value).replace(",", "").removesuffix("人").removesuffix("名").removesuffix("个")
    if not COUNT_PATTERN.match(digits):
        problems.append(MESSAGES["not_count"].format(column=_label(key), value=value))
        return None
    count = int(digits.split(".")[0])
    if count > MAX_EMPLOYEES:
        problems.append(MESSAGES["count_too_large"].format(column=_label(key), value=value, limit=MAX_EMPLOYEES))
        return None
    return count


def _amount(raw: dict[str, str], key: str, problems: list[str]) -> float | None:
    value = _value(raw, key)
    if not value:
        return None
    number = fold(value).replace(",", "").removesuffix("万元").removesuffix("万")
    if not AMOUNT_PATTERN.match(number) or float(number) > MAX_REVENUE:
        problems.append(MESSAGES["not_amount"].format(column=_label(key), value=value))
        return None
    return float(number)


def _choice(raw: dict[str, str], key: str, reading: Reading, problems: list[str]) -> str | None:
    value = _value(raw, key)
    if not value:
        return None
    choice = CHOICE_OF[key]
    code = reading.words.choose(choice, value)
    if code is None:
        problems.append(MESSAGES["unknown_value"].format(column=_label(key), value=value,
                                                         allowed=reading.words.allowed(choice)))
    return code


def _flag(raw: dict[str, str], key: str, reading: Reading, problems: list[str]) -> bool | None:
    code = _choice(raw, key, reading, problems)
    return None if code is None else code == YES


def _date(raw: dict[str, str], key: str, reading: Reading, problems: list[str]) -> date | None:
    value = _value(raw, key)
    if not value:
        return None
    day = parse_date(value)
    if day is None:
        problems.append(MESSAGES["not_date"].format(column=_label(key), value=value))
        return None
    if day < FIRST_FOUNDING or (reading.today is not None and day > reading.today):
        problems.append(MESSAGES["date_out_of_range"].format(column=_label(key), value=value))
        return None
    return day


def parse_date(text: str) -> date | None:
    """2019-05-01, 2019/5/1, 2019.5.1, 2019年5月1日, 20190501, an Excel serial day (43586), or a
    month (2019.05, 2019年5月: its first day); None for anything else."""
    value = unicodedata.normalize("NFKC", text).strip()
    value = re.sub(r"[T\s]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "", value)  # 2019-05-01 00:00:00
    try:
        if EXCEL_SERIAL.match(value):
            return EXCEL_EPOCH + timedelta(days=int(value.split(".")[0]))
        match = DATE_PATTERN.match(value) or COMPACT_DATE.match(value)
        if match is None:
            return None
        year, month, day = match.groups()
        return date(int(year), int(month), int(day) if day else 1)
    except ValueError:  # 2019-02-30
        return None


def _region(raw: dict[str, str], reading: Reading) -> str:
    """The row's region; with the file's region given, a township is read below it, and a path
    that repeats part of it (枝江市/马家店街道 for 宜昌市/枝江市) joins where they overlap."""
    region = normalize_region(raw.get("region", ""))
    base = normalize_region(reading.region)
    if not base:
        return region
    if not region:
        return base
    above, below = base.split(SEPARATOR), region.split(SEPARATOR)
    for overlap in range(min(len(above), len(below)), 0, -1):
        if above[-overlap:] == below[:overlap]:
            return SEPARATOR.join(above + below[overlap:])
    if below[0] == above[0]:
        return region  # a full path from the top
    return SEPARATOR.join(above + below)


def _location(raw: dict[str, str], reading: Reading,
              problems: list[str]) -> tuple[LocationKind | None, str | None]:
    """坐落: 园区 / 楼宇 / 其他 as such, "园区：仙女工业园", or the name alone (仙女工业园 → 园区)."""
    kind_code = _choice(raw, "location_kind", reading, problems)
    kind = LocationKind(kind_code) if kind_code else None
    name = _text(raw, "location_name", problems)
    value = _value(raw, "location")
    if value:
        said_kind, said_name = _location_cell(value, reading)
        if kind is not None and said_kind is not None and said_kind != kind:
            problems.append(MESSAGES["org_contradiction"].format(
                first=_label("location_kind"), first_value=reading.words.shown["location_kind"][kind.value],
                second=_label("location"), second_value=value))
        kind = kind or said_kind
        name = name or said_name
        if name is not None and len(name) > MAX_LENGTH["location_name"]:
            problems.append(MESSAGES["too_long"].format(column=_label("location"), length=len(name),
                                                        limit=MAX_LENGTH["location_name"]))
    if kind is None and name is not None:
        kind = _location_kind_of(name)
    return kind, name


def _location_cell(value: str, reading: Reading) -> tuple[LocationKind | None, str | None]:
    code = reading.words.choose("location_kind", value)
    if code is not None:
        return LocationKind(code), None
    head, *rest = LOCATION_SPLIT.split(value, maxsplit=1)
    code = reading.words.choose("location_kind", head) if rest else None
    if code is not None:
        return LocationKind(code), rest[0].strip().rstrip("）)") or None
    return _location_kind_of(value), value


def _location_kind_of(name: str) -> LocationKind:
    for kind, markers in LOCATION_MARKERS:
        if any(marker in name for marker in markers):
            return kind
    return LocationKind.OTHER


@dataclass
class _OrgSaid:
    """What the party-organisation columns of a row say, column by column."""

    none: list[tuple[str, str]] = field(default_factory=list)  # (column, text) saying there is none
    has: list[tuple[str, str]] = field(default_factory=list)  # (column, text) saying there is one
    category: tuple[OrgCategory, str, str] | None = None
    formation: tuple[Formation, str, str, bool] | None = None


def _contradiction(first: tuple[str, str], second: tuple[str, str]) -> str:
    return MESSAGES["org_contradiction"].format(first=_label(first[0]), first_value=first[1],
                                                second=_label(second[0]), second_value=second[1])


def _say_kind(said: _OrgSaid, key: str, value: str, category: OrgCategory | None, formation: Formation | None,
              sure: bool, problems: list[str]) -> None:
    said.has.append((key, value))
    if category is not None:
        if said.category is not None and said.category[0] != category:
            problems.append(_contradiction(said.category[1:], (key, value)))
        elif said.category is None:
            said.category = (category, key, value)
    if formation is not None:
        held = said.formation
        if held is not None and held[0] != formation and held[3] and sure:
            problems.append(_contradiction((held[1], held[2]), (key, value)))
        elif held is None or (sure and not held[3]):
            said.formation = (formation, key, value, sure)


def _say_word(said: _OrgSaid, key: str, value: str, words: Vocabulary, problems: list[str]) -> bool:
    """Notes what a word of the party-organisation vocabulary says; False for any other text."""
    folded = fold(value)
    if folded not in words.org_kinds:
        return False
    kind = words.org_kinds[folded]
    if kind is None:
        said.none.append((key, value))
    else:
        _say_kind(said, key, value, *kind, problems)
    return True


def _organisation(raw: dict[str, str], reading: Reading, problems: list[str]) -> OrgRecord | None:
    """The party-organisation columns: the 党组织 cell (a full name, its category and way read
    from it; a kind only; or none), 是否建立党组织, the ledger's 分类, 党组织类别, 组建方式, and the
    organisation's founding date, 隶属, secretary and members. A 未建立党组织原因 says there is none.
    None when the row says nothing of it (the stored organisation is kept)."""
    words = reading.words
    said = _OrgSaid()
    name: str | None = None
    cell = organisations.normalise_name(raw.get("party_org", ""))
    if cell and not _say_word(said, "party_org", cell, words, problems):
        name = cell
        if len(name) > MAX_LENGTH["party_org"]:
            problems.append(MESSAGES["too_long"].format(column=_label("party_org"), length=len(name),
                                                        limit=MAX_LENGTH["party_org"]))
        classified = organisations.classify_name(name)
        category, formation = classified if classified else (None, None)
        # A name says 联合 for sure; otherwise it does not say how it was formed.
        joint = formation if formation == Formation.JOINT else None
        _say_kind(said, "party_org", cell, category, joint, joint is not None, problems)
    organised = _flag(raw, "organised", reading, problems)
    if organised is not None:
        (said.has if organised else said.none).append(("organised", raw["organised"].strip()))
    for key in ("org_class", "org_category"):
        value = organisations.normalise_name(raw.get(key, ""))
        if not value:
            continue
        if key == "org_category" and (code := words.words["org_category"].get(fold(value))) is not None:
            _say_kind(said, key, value, OrgCategory(code), None, False, problems)
            continue
        if not _say_word(said, key, value, words, problems):
            allowed = words.allowed("org_category") if key == "org_category" else "、".join(words.org_shown)
            problems.append(MESSAGES["unknown_value"].format(column=_label(key), value=value, allowed=allowed))
    formation_code = _choice(raw, "org_formation", reading, problems)
    if formation_code is not None:
        _say_kind(said, "org_formation", raw["org_formation"].strip(), None, Formation(formation_code), True, problems)
    founded_on = _date(raw, "org_founded", reading, problems)
    parent = _text(raw, "org_parent", problems)
    secretary = _text(raw, "org_secretary", problems)
    source = _choice(raw, "org_secretary_source", reading, problems)
    members = _count(raw, "org_members", problems, none_is_zero=False)
    facts = [(key, raw[key].strip()) for key, value in (("org_founded", founded_on), ("org_parent", parent),
                                                         ("org_secretary", secretary),
                                                         ("org_secretary_source", source), ("org_members", members))
             if value is not None]
    if _value(raw, "unformed_reason"):
        said.none.append(("unformed_reason", raw["unformed_reason"].strip()))
    if said.none:
        for other in [*said.has, *facts][:1]:
            problems.append(_contradiction(said.none[0], other))
        return NO_ORGANISATION
    if not said.has and not facts:
        return None
    category = said.category[0] if said.category else None
    if name is not None and category is None:
        problems.append(MESSAGES["unknown_value"].format(column=_label("party_org"), value=name,
                                                         allowed="、".join([*words.org_shown, MESSAGES["org_full_name"]])))
        return None
    return OrgRecord(name, category, said.formation[0] if said.formation else None, founded_on=founded_on,
                     parent=organisations.normalise_name(parent) if parent else None, secretary=secretary,
                     secretary_source=SecretarySource(source) if source else None, members=members)


def _mass_orgs(raw: dict[str, str], reading: Reading, problems: list[str]) -> tuple[MassOrg, ...] | None:
    value = raw.get("mass_orgs", "").strip()
    flags = {org: _flag(raw, key, reading, problems) for key, org in MASS_ORG_COLUMNS.items()}
    if not value and any(flag is not None for flag in flags.values()):
        return tuple(org for org in MassOrg if flags.get(org))
    if not value:
        return None
    if value.casefold() in NO_MASS_ORGS:
        return ()
    found: set[MassOrg] = set()
    for item in LIST_SEPARATORS.split(value):
        if not item:
            continue
        code = reading.words.choose("mass_orgs", item)
        if code is None:
            problems.append(MESSAGES["unknown_value"].format(column=_label("mass_orgs"), value=item,
                                                             allowed=reading.words.allowed("mass_orgs")))
            continue
        found.add(MassOrg(code))
    # Stored in the vocabulary's order, so "共青团、工会" and "工会、共青团" compare equal.
    return tuple(org for org in MassOrg if org in found)


def _credit_code(raw: dict[str, str], problems: list[str]) -> str | None:
    value = raw.get("credit_code", "").strip()
    if not value:
        problems.append(MESSAGES["required"].format(column=_label("credit_code")))
        return None
    code = creditcode.normalize(value)
    match creditcode.problem(code):
        case None:
            return code
        case "length":
            problems.append(MESSAGES["credit_code_length"].format(length=len(code), value=value))
        case "character":
            chars = "".join(dict.fromkeys(ch for ch in code if ch not in creditcode.VALUES))
            problems.append(MESSAGES["credit_code_character"].format(chars=chars, value=value))
        case _:
            problems.append(MESSAGES["credit_code_check_digit"].format(value=value))
    return None


def _code(code: str | None, kind: type[Any]) -> Any:
    return None if code is None else kind(code)


def parse_row(row_number: int, raw: dict[str, str], reading: Reading = DEFAULT_READING) -> EnterpriseRecord | RowError:
    """A validated record, or every reason the row cannot be imported."""
    problems: list[str] = []
    name = _text(raw, "name", problems)
    if name is None:
        problems.append(MESSAGES["required"].format(column=_label("name")))
    code = _credit_code(raw, problems)
    region = _region(raw, reading)
    if not region:
        problems.append(MESSAGES["required"].format(column=_label("region")))
    elif len(region) > MAX_LENGTH["region"]:
        problems.append(
            MESSAGES["too_long"].format(column=_label("region"), length=len(region), limit=MAX_LENGTH["region"])
        )
    employees = _count(raw, "employees", problems)
    party_members = _count(raw, "party_members", problems)
    if employees is not None and party_members is not None and party_members > employees:
        problems.append(MESSAGES["members_exceed_employees"].format(members=party_members, employees=employees))
    cadence_text = raw.get("visit_cadence_days", "").strip()
    cadence = _count(raw, "visit_cadence_days", problems)
    if cadence is not None and not MIN_CADENCE <= cadence <= MAX_CADENCE:
        problems.append(MESSAGES["cadence_range"].format(value=cadence_text))
    kind = _choice(raw, "kind", reading, problems)
    organisation = _organisation(raw, reading, problems)
    demonstration_point = _flag(raw, "demonstration_point", reading, problems)
    mass_orgs = _mass_orgs(raw, reading, problems)
    industry = _text(raw, "industry", problems)
    owner_name = _text(raw, "owner_name", problems)
    owner_political_status = _text(raw, "owner_political_status", problems)
    members_here = _count(raw, "members_here", problems)
    members_elsewhere = _count(raw, "members_elsewhere", problems)
    reason = _choice(raw, "unformed_reason", reading, problems)
    status = _choice(raw, "operating_status", reading, problems)
    above_scale = _flag(raw, "above_scale", reading, problems)
    revenue = _amount(raw, "revenue", problems)
    location_kind, location_name = _location(raw, reading, problems)
    owner_is_member = _flag(raw, "owner_is_member", reading, problems)
    owner_is_secretary = _flag(raw, "owner_is_secretary", reading, problems)
    officers = tuple(dict.fromkeys(n.strip() for n in NAME_SEPARATORS.split(_value(raw, "officer")) if n.strip()))
    if problems or name is None or code is None:
        return RowError(row_number, tuple(problems))
    return EnterpriseRecord(
        credit_code=code,
        name=name,
        region=region,
        employees=employees,
        party_members=party_members,
        visit_cadence_days=cadence,
        kind=_code(kind, EnterpriseKind),
        organisation=organisation,
        demonstration_point=demonstration_point,
        mass_orgs=mass_orgs,
        industry=industry,
        owner_name=owner_name,
        owner_political_status=owner_political_status,
        members_here=members_here,
        members_elsewhere=members_elsewhere,
        unformed_reason=_code(reason, UnformedReason),
        operating_status=_code(status, OperatingStatus),
        above_scale=above_scale,
        revenue=revenue,
        location_kind=location_kind,
        location_name=location_name,
        owner_is_member=owner_is_member,
        owner_is_secretary=owner_is_secretary,
        officers=officers,
        row_number=row_number,
    )


# --- the whole file ------------------------------------------------------------------------

# The organisation's fields, as a problem or a change names them, by the column that gives them.
ORG_FIELD_COLUMNS = {"category": "org_category", "formation": "org_formation", "founded_on": "org_founded",
                     "secretary": "org_secretary", "secretary_source": "org_secretary_source",
                     "members": "org_members", "parent": "org_parent", "parent_id": "org_parent",
                     "parent_name": "org_parent"}


def _problem_text(problem: RowProblem) -> str:
    detail = _label(ORG_FIELD_COLUMNS[problem.detail]) if problem.detail in ORG_FIELD_COLUMNS else problem.detail
    reason = MESSAGES[problem.kind].format(name=problem.value, count=problem.count, detail=detail)
    if problem.row_number is None:
        return reason
    return MESSAGES["row"].format(row=problem.row_number, reason=reason)


def parse_file(path: Path | str, reading: Reading = DEFAULT_READING) -> tuple[list[EnterpriseRecord], ImportReport]:
    """Every valid record of the file (one per credit code, the later row winning) and a report
    holding how the header was read, the rows read and skipped, and the row errors."""
    table = _open_table(Path(path))
    report = ImportReport()
    report.header = [MESSAGES["header_rows"].format(rows=table.header_rows), *table.header.understood]
    by_code: dict[str, EnterpriseRecord] = {}
    errors: list[RowError] = []
    for number, raw in _data_rows(table, report.skipped):
        report.rows_read += 1
        parsed = parse_row(number, raw, reading)
        if isinstance(parsed, RowError):
            errors.append(parsed)
            continue
        earlier = by_code.pop(parsed.credit_code, None)
        if earlier is not None and earlier.row_number is not None:
            reason = MESSAGES["duplicate_code"].format(code=parsed.credit_code, later=number)
            errors.append(RowError(earlier.row_number, (reason,)))
        by_code[parsed.credit_code] = parsed
    report.errors = sorted(errors, key=lambda error: error.row)
    return list(by_code.values()), report


async def import_enterprises(
    path: Path | str,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    today: date,
    progress: bool = True,
    actor_label: str = "cli",
    labels: Labels | None,
    dry_run: bool = False,
    region: str = "",
) -> ImportReport:
    """Reads, validates and writes the file's valid rows in one unit of work, committed once
    (rolled back with `dry_run`, after the same matching and writing). `labels` gives the bot's
    own words (an exported ledger imports back); `region` is the region the file is for.

    Raises `ImportFileError` when the file as a whole cannot be read; then nothing is written.
    """
    reading = Reading(vocabulary(labels), today, normalize_region(region))
    records, report = parse_file(path, reading)
    report.dry_run, report.words = dry_run, reading.words
    logger.info("Import of %s: %d rows read, %d rejected%s", Path(path).name, report.rows_read, len(report.errors),
                " (dry run)" if dry_run else "")
    with tqdm(total=len(records), unit="行", desc="导入", file=sys.stderr, disable=not progress) as bar:
        async with unit_of_work(session_factory) as uow:
            total = await upsert_enterprises(uow.session, records, today=today, actor_label=actor_label,
                                             progress=bar.update)
            if not dry_run:
                await uow.commit()
    _fill(report, total)
    return report


def _fill(report: ImportReport, total: UpsertResult) -> None:
    report.created = total.created
    report.updated = total.updated
    report.unchanged = total.unchanged
    report.assignments_opened = total.assignments_opened
    report.assignments_closed = total.assignments_closed
    report.organisations_created = total.organisations_created
    report.outcomes = total.outcomes
    report.warnings.extend(_problem_text(problem) for problem in total.problems)


def _limited(lines: list[str]) -> list[str]:
    if len(lines) <= REPORT_LIMIT:
        return lines
    return [*lines[:REPORT_LIMIT], MESSAGES["more"].format(count=len(lines) - REPORT_LIMIT)]


# Vocabularies of the enterprise's fields, to show a change in words.
_SHOWN_BY = {"kind": "kind", "operating_status": "operating_status", "location_kind": "location_kind",
             "unformed_reason": "unformed_reason", "mass_orgs": "mass_orgs", "org.category": "org_category",
             "org.formation": "org_formation", "org.secretary_source": "secretary_source"}


def _shown(key: str, value: Any, words: Vocabulary) -> str:
    if value is None or value == "" or value == ():
        return MESSAGES["blank_value"]
    if isinstance(value, bool):
        return words.shown["yes_no"][YES if value else NO]
    if key == "org.parent_id":
        return MESSAGES["record_id"].format(id=value)
    if isinstance(value, list | tuple):
        return "、".join(_shown(key, item, words) for item in value)
    if key in _SHOWN_BY:
        return words.shown[_SHOWN_BY[key]].get(str(value), str(value))
    if isinstance(value, float):
        return f"{value:g}"
    return value.isoformat() if isinstance(value, date) else str(value)


def _column_of(key: str) -> str:
    if key == "officers":
        return _label("officer")
    if key == "org.name":
        return MESSAGES["org_renamed"]
    if key == "org.dissolved_on":
        return MESSAGES["org_dissolved"]
    if key.startswith("org."):
        return _label(ORG_FIELD_COLUMNS.get(key[4:], "party_org"))
    return _label(key) if key in COLUMNS else key


def _changes(outcome: RowOutcome, words: Vocabulary) -> str:
    parts: list[str] = []
    for key, before, after in outcome.changes:
        if key == "org.created":
            parts.append(MESSAGES["org_created"].format(name=after))
        elif key not in ("org.name_inferred", "org.updated_at"):
            parts.append(MESSAGES["change"].format(column=_column_of(key), before=_shown(key, before, words),
                                                   after=_shown(key, after, words)))
    return MESSAGES["change_separator"].join(parts)


def format_report(report: ImportReport) -> str:
    """The operator's console summary: how the header was read, the counts, then each rejected
    and skipped row and each warning; a dry run lists what each row would add or change."""
    words = report.words or DEFAULT_READING.words
    lines = [report.header[0], *("  " + line for line in report.header[1:])] if report.header else []
    if report.dry_run:
        lines.append(MESSAGES["dry_run"])
    lines.append(
        MESSAGES["summary"].format(
            rows=report.rows_read, created=report.created, updated=report.updated,
            unchanged=report.unchanged, errors=len(report.errors),
        )
    )
    if report.organisations_created:
        lines.append(MESSAGES["organisations"].format(count=report.organisations_created))
    if report.assignments_opened or report.assignments_closed:
        lines.append(
            MESSAGES["assignments"].format(opened=report.assignments_opened, closed=report.assignments_closed)
        )
    if report.dry_run:
        created = [MESSAGES["created_row"].format(row=o.row_number, name=o.name) if not o.changes else
                   MESSAGES["updated_row"].format(row=o.row_number, name=o.name, changes=_changes(o, words))
                   for o in report.outcomes if o.created]
        updated = [MESSAGES["updated_row"].format(row=o.row_number, name=o.name, changes=_changes(o, words))
                   for o in report.outcomes if not o.created and o.changes]
        for title, section in (("created_title", created), ("updated_title", updated)):
            if section:
                lines.append(MESSAGES[title])
                lines.extend("  " + line for line in _limited(section))
    for title, section in (("errors_title", [m for e in report.errors for m in e.messages]),
                           ("skipped_title", report.skipped), ("warnings_title", report.warnings)):
        if section:
            lines.append(MESSAGES[title])
            lines.extend("  " + line for line in _limited(section))
    return "\n".join(lines)

