"""Benchmark 6: `python -m bot import-enterprises` of a county's registry (target: 10,000 rows with
their party organisations within a few seconds more than the same rows without them).

    python -m bench.importer [--rows 10000] [--backend sqlite postgresql] [--repeat 3] [--tiny]
                             [--seed 2026] [--keep FILE.xlsx]

The file is what a county office keeps (`county_workbook`): an XLSX with a merged title, a unit
and date line, a header over two rows (党员情况, 党组织情况 and 出资人情况 merged over their
columns), 序号, townships only (read below 宜昌市/枝江市 with `--region`), numbers as text, a
合计 row, blank rows and a 填表说明 row. About 30 % of the enterprises have an organisation:
most their own, named in full (中共…支部委员会, 总支部委员会 or 委员会 by size, four in five with
a founding date), the others in joint branches (联合支部委员会) named on three to six rows spread
over the file.

Measured on a fresh database per backend, each through `storage.importer.import_enterprises` as
the command runs it (reading, validation, writing, one commit):

- *first*: the file into an empty registry: every enterprise and organisation created;
- *again*: the same file once more, which must change nothing (the idempotent path: every
  enterprise and organisation read and compared);
- *dry run*: the same file into an empty registry with `--dry-run` (everything computed, rolled
  back).

Baseline, in the same run: the same rows with the party-organisation columns left blank (no
organisation said), first and again, on the same backend. The reading alone (`parse_file`:
openpyxl, header, rows, validation) is measured apart; it is the same on both backends, and
each run's writing is shown as its time less the reading. Each figure is the median of
`--repeat` runs, each on a fresh database (the machine is shared: single runs vary by a second
or two).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from bench.common import format_table, machine_lines, pg_server_available, scratch_database
from output.ledger import LEDGER_LOCALE
from output.render import labels
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.importer import ImportReport, Reading, import_enterprises, parse_file, vocabulary

TODAY = date(2026, 11, 25)
REGION = "宜昌市/枝江市"
TINY = 300
ORGANISED = 0.30  # the share of enterprises with an organisation
JOINT_SHARE = 0.30  # of those, the share in joint branches
TARGET_EXTRA_SECONDS = 3.0  # per 10,000 rows, over the same rows without organisations
TOWNSHIPS = ("马家店街道", "七星台镇", "白洋镇", "顾家店镇", "董市镇", "仙女镇", "问安镇", "安福寺镇", "百里洲镇")
PARKS = ("枝江经济开发区仙女工业园", "白洋工业园", "姚家港化工园", "马家店物流园")
TRADES = ("纺织", "机械", "建材", "包装", "物流", "化工", "食品", "服饰", "电子", "农资")
UPPER = ["序号", "企业名称", "统一社会信用代码", "所属乡镇（街道）", "职工人数", "党员情况", None, None, "党组织情况", None,
         None, None, None, "经营状态", "是否规模以上企业", "年营业收入（万元）", "坐落", "出资人情况", None,
         "未建立党组织原因", "备注"]
LOWER = [None, None, None, None, None, "正式党员数", "组织关系在本企业", "组织关系不在本企业", "党组织名称", "类别",
         "成立时间", "隶属党组织", "书记", None, None, None, None, "是否党员", "是否兼任党组织书记", None, None]
ORG_COLUMNS = slice(8, 13)  # 党组织名称 … 书记


def credit_code(serial: int) -> str:
    first17 = f"91420583MA{serial:07d}"
    return first17 + check_character(first17)


@dataclass(frozen=True)
class County:
    """What `county_workbook` wrote: rows, enterprises with an organisation, organisations."""

    rows: int
    organised: int
    organisations: int
    joint_branches: int


def county_workbook(path: Path, rows: int, *, seed: int = 2026, organisations: bool = True) -> County:
    """A county's registry of `rows` enterprises as an XLSX (see the module's docstring); with
    `organisations=False` the same rows with the party-organisation columns blank."""
    rng = random.Random(seed)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(["枝江市非公有制企业党建工作台账（2026年）"])
    sheet.append(["填报单位：中共枝江市委组织部（两新工委）", *[None] * 9, "填报日期：2026年11月20日"])
    sheet.append(UPPER)
    sheet.append(LOWER)
    organised = rng.sample(range(rows), round(rows * ORGANISED))
    joint_rows = organised[: round(len(organised) * JOINT_SHARE)]
    branch_of: dict[int, str] = {}
    branches = 0
    while joint_rows:
        size = min(len(joint_rows), rng.randint(3, 6))
        township = TOWNSHIPS[branches % len(TOWNSHIPS)]
        for row in joint_rows[:size]:
            branch_of[row] = f"中共枝江市{township}非公企业第{branches + 1}联合支部委员会"
        joint_rows = joint_rows[size:]
        branches += 1
    own = set(organised) - set(branch_of)
    for index in range(rows):
        name = f"枝江市{TOWNSHIPS[index % len(TOWNSHIPS)][:2]}{TRADES[index % len(TRADES)]}{index + 1}号有限公司"
        employees = rng.choice((8, 15, 30, 60, 120, 350, 1200))
        members = min(employees, rng.choice((0, 0, 1, 2, 3, 5, 12, 40)))
        org: list[object] = [None] * 5
        if index in branch_of:
            org = [branch_of[index], None, "2021/7/1" if rng.random() < 0.8 else None, None, None]
        elif index in own:
            members = max(members, 3)
            ending = "委员会" if employees >= 1000 else "总支部委员会" if employees >= 300 else "支部委员会"
            founded = f"{rng.randint(2000, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
            org = [f"中共{name}{ending}", None, founded if rng.random() < 0.8 else None,
                   f"中共枝江市{TOWNSHIPS[index % len(TOWNSHIPS)]}工作委员会", f"书记{index}"]
        reason = None if index in organised or members >= 3 else "正式党员不足三人"
        if index in organised and not organisations:
            org = [None] * 5
        sheet.append([
            index + 1, name, credit_code(index + 1), TOWNSHIPS[index % len(TOWNSHIPS)], str(employees), members,
            members, 0, *org, rng.choice(("在营", "存续", "开业", "停业")), "是" if employees >= 300 else "否",
            f"{employees * 12.5:,.1f}", rng.choice((*PARKS, "其他", None)), "否", "否",
            reason if organisations else None, None,
        ])
    sheet.append(["合计", None, None, None, f"=SUM(E5:E{rows + 4})"])
    sheet.append([])
    sheet.append(["填表说明：1. 党组织名称请填写全称；2. 成立时间填写批复成立日期。"])
    workbook.save(path)
    return County(rows, len(organised) if organisations else 0, (len(own) + branches) if organisations else 0,
                  branches if organisations else 0)


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float  # the median run
    report: ImportReport


@dataclass(frozen=True)
class BackendResult:
    backend: str
    runs: list[Measure]

    def run(self, name: str) -> Measure:
        return next(measure for measure in self.runs if measure.name == name)


async def _import(url: str, path: Path, *, dry_run: bool = False) -> tuple[float, ImportReport]:
    engine = make_async_engine(url)
    try:
        factory = make_session_factory(engine)
        began = time.perf_counter()
        report = await import_enterprises(path, factory, today=TODAY, progress=False, labels=labels(LEDGER_LOCALE),
                                          dry_run=dry_run, region=REGION)
        return time.perf_counter() - began, report
    finally:
        await engine.dispose()


def _reading(path: Path) -> float:
    began = time.perf_counter()
    parse_file(path, Reading(vocabulary(labels(LEDGER_LOCALE)), TODAY, REGION))
    return time.perf_counter() - began


def run_backend(backend: str, files: dict[str, Path], repeat: int) -> BackendResult:
    timings: dict[str, list[float]] = {}
    reports: dict[str, ImportReport] = {}

    def note(name: str, seconds: float, report: ImportReport) -> None:
        timings.setdefault(name, []).append(seconds)
        reports[name] = report

    for _ in range(repeat):
        for kind, path in files.items():
            with scratch_database(backend, "importer") as url:
                if kind == "organisations":
                    note(f"{kind}: dry run", *asyncio.run(_import(url, path, dry_run=True)))
                for step in ("first", "again"):
                    note(f"{kind}: {step}", *asyncio.run(_import(url, path)))
    return BackendResult(backend, [Measure(name, statistics.median(seconds), reports[name])
                                   for name, seconds in timings.items()])


def report(result: BackendResult, rows: int, reading: dict[str, float]) -> str:
    per = 10_000 / rows
    table = [
        [measure.name, f"{measure.seconds:.2f}", f"{measure.seconds * per:.2f}",
         f"{measure.seconds - reading[measure.name.split(':')[0]]:.2f}",
         measure.report.created, measure.report.updated, measure.report.unchanged,
         measure.report.organisations_created, len(measure.report.errors)]
        for measure in result.runs
    ]
    extra = (result.run("organisations: first").seconds - result.run("baseline: first").seconds) * per
    verdict = "ok" if extra <= TARGET_EXTRA_SECONDS else "MISSED"
    return "\n".join([
        f"== {result.backend}: {rows:,} rows",
        format_table(["run", "s", "s per 10,000 rows", "writing s", "created", "updated", "unchanged",
                      "organisations created", "rejected"], table),
        f"organisations cost {extra:+.2f} s per 10,000 rows over the baseline (target ≤ {TARGET_EXTRA_SECONDS:.0f} s: "
        f"{verdict})",
    ])


def run(argv: Sequence[str] | None = None) -> list[BackendResult]:
    parser = argparse.ArgumentParser(prog="python -m bench.importer", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure, each on a fresh database "
                                                              "(median shown)")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY} rows, one run each (the smoke test)")
    parser.add_argument("--keep", type=Path, help="also save the generated file (with organisations) here")
    args = parser.parse_args(argv)
    rows, repeat = (TINY, 1) if args.tiny else (args.rows, args.repeat)
    print("\n".join(machine_lines()))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_importer_") as directory:
        files = {"organisations": Path(directory) / "county.xlsx", "baseline": Path(directory) / "baseline.xlsx"}
        county = county_workbook(files["organisations"], rows, seed=args.seed)
        county_workbook(files["baseline"], rows, seed=args.seed, organisations=False)
        if args.keep:
            args.keep.write_bytes(files["organisations"].read_bytes())
        print(f"county file: {county.rows:,} rows, {county.organised:,} with an organisation, "
              f"{county.organisations:,} organisations ({county.joint_branches:,} joint branches)")
        reading = {kind: statistics.median(_reading(path) for _ in range(repeat)) for kind, path in files.items()}
        print("reading alone (openpyxl, header, validation): "
              + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in reading.items()))
        for backend in args.backend:
            if backend == "postgresql" and not pg_server_available():
                print("== postgresql: skipped, no server answers at 127.0.0.1:5432")
                continue
            result = run_backend(backend, files, repeat)
            print(report(result, rows, reading), flush=True)
            results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
