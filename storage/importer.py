"""`python -m bot import-enterprises FILE`: the enterprise registry from CSV or XLSX.

Reading, header mapping and row validation are plain functions; `import_enterprises` writes
the valid rows in one unit of work, so an import is all or nothing for them. The row-level
report is console output for the operator who runs the command, not a Telegram message,
so its sentences live in `MESSAGES` below rather than in the bot's templates.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from storage import creditcode, organisations
from storage.enums import EnterpriseKind, Formation, MassOrg, OrgCategory
from storage.registry import NO_ORGANISATION, EnterpriseRecord, OrgRecord, RowProblem, UpsertResult, upsert_enterprises
from storage.scope import normalize_region
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGES = {
    "row": "第 {row} 行：{reason}",
    "unsupported_file": "不支持的文件类型“{suffix}”：请使用 .csv 或 .xlsx（.xls 文件请在 Excel 中另存为 .xlsx）",
    "unreadable_file": "无法读取文件 {path}：{error}",
    "empty_file": "文件是空的：找不到表头行",
    "missing_columns": "缺少必需的列：{missing}。文件中的列：{found}",
    "duplicate_column": "“{first}”和“{second}”是同一列（{column}），请只保留一列",
    "unknown_columns": "以下列无法识别，已忽略：{headers}",
    "required": "{column}为空",
    "too_long": "{column}过长（{length} 个字符，最多 {limit} 个）",
    "credit_code_length": "统一社会信用代码应为 18 位，实际为 {length} 位（{value}）",
    "credit_code_character": "统一社会信用代码含有不允许的字符“{chars}”（{value}）",
    "credit_code_check_digit": "统一社会信用代码校验位错误（{value}）",
    "not_count": "{column}应为不小于 0 的整数（{value}）",
    "count_too_large": "{column}超出合理范围（{value}，最多 {limit}）",
    "members_exceed_employees": "正式党员数（{members}）多于职工人数（{employees}）",
    "unknown_value": "{column}“{value}”无法识别，可填：{allowed}",
    "cadence_range": "走访周期应为 1 到 365 之间的天数（{value}）",
    "duplicate_code": "统一社会信用代码 {code} 在第 {later} 行再次出现，以第 {later} 行为准，本行未导入",
    "officer_unknown": "联系员“{name}”不存在（请先用 invite 命令创建），该企业暂未分配给此人",
    "officer_ambiguous": "联系员“{name}”有 {count} 位同名且无法按地区区分，该企业暂未分配给此人",
    "officer_outside": "联系员“{name}”的负责区域不包含该企业所在地区，该企业暂未分配给此人",
    "summary": "共读取 {rows} 行：新增 {created} 家，更新 {updated} 家，未变 {unchanged} 家，出错 {errors} 行。",
    "assignments": "联系员分配：新增 {opened} 条，结束 {closed} 条。",
    "errors_title": "以下行未导入：",
    "warnings_title": "提示：",
    "more": "……另有 {count} 条未列出",
}

MAX_EMPLOYEES = 1_000_000
MIN_CADENCE, MAX_CADENCE = 1, 365
# Lengths of the database columns: a longer value would fail the whole import on PostgreSQL.
MAX_LENGTH = {"name": 128, "region": 255, "industry": 64, "owner_name": 64, "owner_political_status": 32}
# Rows per upsert call: the progress bar moves per chunk.
CHUNK = 1000
# The report lists this many errors and warnings each; the rest are counted.
REPORT_LIMIT = 500

# Column name as shown in messages, then every header accepted for it.
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("企业名称", ("企业名称", "name", "enterprise", "企业")),
    "credit_code": ("统一社会信用代码", ("统一社会信用代码", "credit_code", "信用代码", "社会信用代码")),
    "region": ("所属地区", ("所属地区", "region", "地区")),
    "kind": ("企业类型", ("企业类型", "kind", "类型")),
    "industry": ("行业", ("行业", "industry", "所属行业")),
    "employees": ("职工人数", ("职工人数", "employees", "职工数", "员工人数")),
    "party_members": ("正式党员数", ("正式党员数", "party_members", "党员人数", "党员数")),
    "party_org": ("党组织", ("党组织", "party_org", "党组织状况", "党组织类型")),
    "mass_orgs": ("群团组织", ("群团组织", "mass_orgs")),
    "owner_name": ("业主姓名", ("业主姓名", "owner_name", "业主", "负责人")),
    "owner_political_status": ("业主政治面貌", ("业主政治面貌", "owner_political_status")),
    "demonstration_point": ("示范点", ("示范点", "demonstration_point", "是否示范点")),
    "visit_cadence_days": ("走访周期", ("走访周期", "visit_cadence_days", "走访周期（天）", "走访周期(天)")),
    "officer": ("联系员", ("联系员", "officer", "联系员姓名", "党建工作联系员")),
}
REQUIRED = ("name", "credit_code", "region")

KIND_VALUES = {
    "私营企业": EnterpriseKind.PRIVATE,
    "民营企业": EnterpriseKind.PRIVATE,
    "个体工商户": EnterpriseKind.INDIVIDUAL,
    "个体户": EnterpriseKind.INDIVIDUAL,
    "改制企业": EnterpriseKind.RESTRUCTURED,
    "外资企业": EnterpriseKind.FOREIGN,
    "其他": EnterpriseKind.OTHER,
} | {kind.value: kind for kind in EnterpriseKind}
# A 党组织 cell that only says what kind of organisation (the bot's own words among them), or
# that there is none; any other text is the organisation's full name (`organisations.classify_name`).
NO_ORGANISATION_WORDS = {"无", "未建", "无党组织", "未建立", "未建党组织", "没有", "—", "-", "－", "/", "none", "空"}
PARTY_ORG_KINDS: dict[str, tuple[OrgCategory, Formation]] = {
    "联合党支部": (OrgCategory.BRANCH, Formation.JOINT),
    "独立党支部": (OrgCategory.BRANCH, Formation.SINGLE),
    "党支部": (OrgCategory.BRANCH, Formation.SINGLE),
    "党总支": (OrgCategory.GENERAL_BRANCH, Formation.SINGLE),
    "党委": (OrgCategory.COMMITTEE, Formation.SINGLE),
    # The codes of earlier versions' files.
    "joint_branch": (OrgCategory.BRANCH, Formation.JOINT),
    "branch": (OrgCategory.BRANCH, Formation.SINGLE),
    "general_branch": (OrgCategory.GENERAL_BRANCH, Formation.SINGLE),
    "committee": (OrgCategory.COMMITTEE, Formation.SINGLE),
}
MASS_ORG_VALUES = {
    "工会": MassOrg.UNION,
    "共青团": MassOrg.YOUTH_LEAGUE,
    "团组织": MassOrg.YOUTH_LEAGUE,
    "妇联": MassOrg.WOMEN,
    "妇女组织": MassOrg.WOMEN,
} | {org.value: org for org in MassOrg}
NO_MASS_ORGS = {"无", "none"}
YES_NO = {"是": True, "否": False, "yes": True, "no": False, "y": True, "n": False,
          "1": True, "0": False, "true": True, "false": False}

# Cells that list several values: 工会、共青团 / union, women / 张三；李四
LIST_SEPARATORS = re.compile(r"[、,，;；/\s]+")
# Names are split on punctuation only: "阿卜杜拉·买买提" and "欧阳 明" stay whole.
NAME_SEPARATORS = re.compile(r"[、,，;；]+")
COUNT_PATTERN = re.compile(r"^\d+(\.0+)?$")


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
    errors: list[RowError] = field(default_factory=list)
    # Imported anyway, but worth the operator's eye (unknown officer, ignored column).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HeaderMap:
    """Column index -> field, plus the headers that matched nothing."""

    columns: dict[int, str]
    unknown: tuple[str, ...]


def fold_header(text: str) -> str:
    """`  Credit Code ` and `credit_code` and `*统一社会信用代码` all fold to one key."""
    return re.sub(r"[\s_\-*＊]+", "", text).casefold()


_HEADER_KEYS = {fold_header(alias): key for key, (_, aliases) in COLUMNS.items() for alias in aliases}


def map_headers(headers: list[str]) -> HeaderMap:
    """Which column holds which field; raises `ImportFileError` for missing or doubled columns."""
    columns: dict[int, str] = {}
    seen: dict[str, str] = {}
    unknown: list[str] = []
    for index, header in enumerate(headers):
        text = header.strip()
        if not text:
            continue
        key = _HEADER_KEYS.get(fold_header(text))
        if key is None:
            unknown.append(text)
            continue
        if key in seen:
            raise ImportFileError(
                MESSAGES["duplicate_column"].format(first=seen[key], second=text, column=COLUMNS[key][0])
            )
        seen[key] = text
        columns[index] = key
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in seen]
    if missing:
        found = "、".join(h.strip() for h in headers if h.strip()) or "（无）"
        raise ImportFileError(MESSAGES["missing_columns"].format(missing="、".join(missing), found=found))
    return HeaderMap(columns, tuple(unknown))


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


def _csv_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    text = _decode(path.read_bytes())
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise ImportFileError(MESSAGES["empty_file"])
    # Numbered by record, not by physical line: a quoted cell may hold a line break, and the
    # operator looks the row up in a spreadsheet, where the header is row 1.
    rows = ((number, [cell.strip() for cell in cells]) for number, cells in enumerate(reader, start=2))
    return header, rows


def _xlsx_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    from openpyxl import load_workbook  # only the XLSX path pays for the import

    workbook = load_workbook(path, read_only=True, data_only=True)
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    first = next(values, None)
    if first is None:
        workbook.close()
        raise ImportFileError(MESSAGES["empty_file"])
    header = [_cell_text(value) for value in first]

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, cells in enumerate(values, start=2):
                yield number, [_cell_text(value) for value in cells]
        finally:
            workbook.close()  # read-only workbooks keep the file open until closed

    return header, rows()


def _open_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return _csv_table(path)
        if suffix in (".xlsx", ".xlsm"):
            return _xlsx_table(path)
    except ImportFileError:
        raise
    except Exception as error:  # a broken zip, a locked file, an undecodable byte
        raise ImportFileError(MESSAGES["unreadable_file"].format(path=path, error=error)) from error
    raise ImportFileError(MESSAGES["unsupported_file"].format(suffix=suffix or path.name))


def _mapped_rows(
    header_map: HeaderMap, rows: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    for number, cells in rows:
        if not any(cells):
            continue  # spreadsheets often carry formatted but empty rows at the end
        raw = {key: cells[index] if index < len(cells) else "" for index, key in header_map.columns.items()}
        yield number, raw


def read_rows(path: Path | str) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {field: text}) for every non-empty row; the header is row 1."""
    header, rows = _open_table(Path(path))
    yield from _mapped_rows(map_headers(header), rows)


# --- one row -------------------------------------------------------------------------------


def _label(key: str) -> str:
    return COLUMNS[key][0]


def _text(raw: dict[str, str], key: str, problems: list[str]) -> str | None:
    value = raw.get(key, "").strip()
    if not value:
        return None
    limit = MAX_LENGTH.get(key)
    if limit is not None and len(value) > limit:
        problems.append(MESSAGES["too_long"].format(column=_label(key), length=len(value), limit=limit))
    return value


def _count(raw: dict[str, str], key: str, problems: list[str]) -> int | None:
    value = raw.get(key, "").strip()
    if not value:
        return None
    digits = creditcode.normalize(value).replace(",", "")  # full-width digits, 1,200
    if not COUNT_PATTERN.match(digits):
        problems.append(MESSAGES["not_count"].format(column=_label(key), value=value))
        return None
    count = int(digits.split(".")[0])
    if count > MAX_EMPLOYEES:
        problems.append(MESSAGES["count_too_large"].format(column=_label(key), value=value, limit=MAX_EMPLOYEES))
        return None
    return count


def _choice(raw: dict[str, str], key: str, values: dict[str, T], problems: list[str]) -> T | None:
    value = raw.get(key, "").strip()
    if not value:
        return None
    choice = values.get(value, values.get(value.casefold()))
    if choice is None:
        allowed = "、".join(v for v in values if not v.isascii())
        problems.append(MESSAGES["unknown_value"].format(column=_label(key), value=value, allowed=allowed))
    return choice


def _organisation(raw: dict[str, str], problems: list[str]) -> OrgRecord | None:
    """The 党组织 cell: a full name (its category and way read from it), a kind only, or none."""
    value = organisations.normalise_name(raw.get("party_org", ""))
    if not value:
        return None
    if value.casefold() in NO_ORGANISATION_WORDS:
        return NO_ORGANISATION
    if value.casefold() in PARTY_ORG_KINDS:
        return OrgRecord(None, *PARTY_ORG_KINDS[value.casefold()])
    kind = organisations.classify_name(value)
    if kind is None:
        problems.append(MESSAGES["unknown_value"].format(column=_label("party_org"), value=value,
                                                         allowed="、".join([*PARTY_ORG_KINDS, "全称（中共…支部委员会）", "无"])))
        return None
    return OrgRecord(value, *kind)


def _mass_orgs(raw: dict[str, str], problems: list[str]) -> tuple[MassOrg, ...] | None:
    value = raw.get("mass_orgs", "").strip()
    if not value:
        return None
    if value.casefold() in NO_MASS_ORGS:
        return ()
    found: set[MassOrg] = set()
    for item in LIST_SEPARATORS.split(value):
        if not item:
            continue
        org = MASS_ORG_VALUES.get(item, MASS_ORG_VALUES.get(item.casefold()))
        if org is None:
            allowed = "、".join(v for v in MASS_ORG_VALUES if not v.isascii())
            problems.append(MESSAGES["unknown_value"].format(column=_label("mass_orgs"), value=item, allowed=allowed))
            continue
        found.add(org)
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


def parse_row(row_number: int, raw: dict[str, str]) -> EnterpriseRecord | RowError:
    """A validated record, or every reason the row cannot be imported."""
    problems: list[str] = []
    name = _text(raw, "name", problems)
    if name is None:
        problems.append(MESSAGES["required"].format(column=_label("name")))
    code = _credit_code(raw, problems)
    region = normalize_region(raw.get("region", ""))
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
    kind = _choice(raw, "kind", KIND_VALUES, problems)
    organisation = _organisation(raw, problems)
    demonstration_point = _choice(raw, "demonstration_point", YES_NO, problems)
    mass_orgs = _mass_orgs(raw, problems)
    industry = _text(raw, "industry", problems)
    owner_name = _text(raw, "owner_name", problems)
    owner_political_status = _text(raw, "owner_political_status", problems)
    officers = tuple(dict.fromkeys(n.strip() for n in NAME_SEPARATORS.split(raw.get("officer", "")) if n.strip()))
    if problems or name is None or code is None:
        return RowError(row_number, tuple(problems))
    return EnterpriseRecord(
        credit_code=code,
        name=name,
        region=region,
        employees=employees,
        party_members=party_members,
        visit_cadence_days=cadence,
        kind=kind,
        organisation=organisation,
        demonstration_point=demonstration_point,
        mass_orgs=mass_orgs,
        industry=industry,
        owner_name=owner_name,
        owner_political_status=owner_political_status,
        officers=officers,
        row_number=row_number,
    )


# --- the whole file ------------------------------------------------------------------------


def _problem_text(problem: RowProblem) -> str:
    reason = MESSAGES[problem.kind].format(name=problem.value, count=problem.count)
    if problem.row_number is None:
        return reason
    return MESSAGES["row"].format(row=problem.row_number, reason=reason)


def parse_file(path: Path | str) -> tuple[list[EnterpriseRecord], ImportReport]:
    """Every valid record of the file (one per credit code, the later row winning) and a report
    holding the rows read, the row errors and the file's warnings so far."""
    header, rows = _open_table(Path(path))
    header_map = map_headers(header)
    report = ImportReport()
    if header_map.unknown:
        report.warnings.append(MESSAGES["unknown_columns"].format(headers="、".join(header_map.unknown)))
    by_code: dict[str, EnterpriseRecord] = {}
    errors: list[RowError] = []
    for number, raw in _mapped_rows(header_map, rows):
        report.rows_read += 1
        parsed = parse_row(number, raw)
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
) -> ImportReport:
    """Reads, validates and writes the file's valid rows in one unit of work, committed once.

    Raises `ImportFileError` when the file as a whole cannot be read; then nothing is written.
    """
    records, report = parse_file(path)
    logger.info("Import of %s: %d rows read, %d rejected", Path(path).name, report.rows_read, len(report.errors))
    total = UpsertResult()
    with tqdm(total=len(records), unit="行", desc="导入", file=sys.stderr, disable=not progress) as bar:
        async with unit_of_work(session_factory) as uow:
            for start in range(0, len(records), CHUNK):
                chunk = records[start : start + CHUNK]
                total.add(await upsert_enterprises(uow.session, chunk, today=today, actor_label=actor_label))
                bar.update(len(chunk))
            await uow.commit()
    report.created = total.created
    report.updated = total.updated
    report.unchanged = total.unchanged
    report.assignments_opened = total.assignments_opened
    report.assignments_closed = total.assignments_closed
    report.warnings.extend(_problem_text(problem) for problem in total.problems)
    return report


def _limited(lines: list[str]) -> list[str]:
    if len(lines) <= REPORT_LIMIT:
        return lines
    return [*lines[:REPORT_LIMIT], MESSAGES["more"].format(count=len(lines) - REPORT_LIMIT)]


def format_report(report: ImportReport) -> str:
    """The operator's console summary: counts first, then each rejected row and each warning."""
    lines = [
        MESSAGES["summary"].format(
            rows=report.rows_read, created=report.created, updated=report.updated,
            unchanged=report.unchanged, errors=len(report.errors),
        )
    ]
    if report.assignments_opened or report.assignments_closed:
        lines.append(
            MESSAGES["assignments"].format(opened=report.assignments_opened, closed=report.assignments_closed)
        )
    if report.errors:
        lines.append(MESSAGES["errors_title"])
        lines.extend("  " + line for line in _limited([m for e in report.errors for m in e.messages]))
    if report.warnings:
        lines.append(MESSAGES["warnings_title"])
        lines.extend("  " + line for line in _limited(report.warnings))
    return "\n".join(lines)
