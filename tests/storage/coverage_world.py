"""A hand-built county pair for the 两个覆盖 figures, the 季报 and the 年终统计.

宜昌市/枝江市 (townships 马家店街道 M and 白洋镇 B) and 宜昌市/远安县 (no townships). Every
expected figure in the tests that use it is counted by hand from the table below.

| firm | where | code | status | organisation on 2026-12-31 | members (here/else) | 规上 | mass orgs | officer |
|---|---|---|---|---|---|---|---|---|
| E1 | 枝江 M | 91 | 在营 | O1 党支部 单独 (2020-05-01) | 5 (4/1) | yes | 工会 | 张伟 from 2026-12-31 |
| E2 | 枝江 M | 91 | 在营 | O2 联合党支部 (2026-11-10) | 1 (–) | no | | |
| E3 | 枝江 B | 91 | 在营 | O2 | 2 (2/0) | | | |
| E4 | 枝江 B | 91 | 在营 | O2 | 0 | | | |
| E5 | 枝江 B | 91 | 在营 | O3 挂靠 (no date) | 2 (–) | | | |
| E6 | 枝江 M | 91 | 在营 | – | 3 (–) | yes | | 王芳 from 2025-03-01 |
| E7 | 枝江 M | 91 | 在营 | – | 0 | | 共青团 | |
| E8 | 枝江 B | 91 | 在营 | – | 4 (2/–) | | 妇联 | 王芳 2024-05-01 – 2026-06-30 |
| E9 | 枝江 M | 91 | 停业 | O4 党支部 单独 (2019-03-01) | 3 | | | 示范点 |
| E10 | 枝江 B | 91 | 注销 | – | 0 | | | |
| I1, I2 | 枝江 M, B | 92 | 在营 | – | | | | |
| C1 | 枝江 B | 93 | 在营 | O6 党支部 单独 (2024-01-01) | 3 | | | |
| E11 | 远安 | 91 | 在营 | O7 党支部 单独 (2026-10-15) | 3 (3/–) | yes | 工会 | 张伟 from 2027-01-05 |
| E12 | 远安 | 91 | 在营 | – (O8, 2021-01-01, dissolved 2026-11-01) | 2 (–) | | 工会 | 李明 from 2026-02-01 |
| E13 | 远安 | 91 | 在营 | O9 党总支 单独 (no date) | 12 (10/2) | yes | | |
| E14 | 远安 | 91 | 在营 | – | 0 | | | 李明 2023-06-01 – 2024-02-01 |
| E15 | 远安 | 91 | 在营 | O10 党委 单独 (2026-03-01) | 30 (25/3) | no | | |
| I3 | 远安 | 92 | 在营 | – | | | | |

E1 is a 示范点 too. Secretaries sent by the higher committee (上级选派): O2, O9, O10.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.creditcode import check_character
from storage.models import (
    Assignment,
    Enterprise,
    Feedback,
    Founding,
    PartyOrganisation,
    PartyOrgCoverage,
    Person,
    User,
)
from storage.uow import unit_of_work

CITY = "宜昌市"
ZHIJIANG = "宜昌市/枝江市"
YUANAN = "宜昌市/远安县"
M = "宜昌市/枝江市/马家店街道"
B = "宜昌市/枝江市/白洋镇"


def code(prefix: str, serial: int) -> str:
    first17 = f"{prefix}420583MA4F{serial:05d}"
    return first17 + check_character(first17)


async def build(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Writes the table above; returns the ids of the officers and organisations by name."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        wang = User(name="王芳", role="officer", region=ZHIJIANG)
        li = User(name="李明", role="officer", region=YUANAN)
        zhang = User(name="张伟", role="officer", region=CITY)
        s.add_all([wang, li, zhang])
        serial = iter(range(1, 100))

        def firm(name: str, region: str, prefix: str = "91", **extra: object) -> Enterprise:
            return Enterprise(name=name, credit_code=code(prefix, next(serial)), region=region, **extra)

        e = {
            "E1": firm("E1", M, party_members=5, members_here=4, members_elsewhere=1, above_scale=True,
                       mass_orgs=["union"], demonstration_point=True),
            "E2": firm("E2", M, party_members=1, above_scale=False),
            "E3": firm("E3", B, party_members=2, members_here=2, members_elsewhere=0),
            "E4": firm("E4", B, party_members=0),
            "E5": firm("E5", B, party_members=2),
            "E6": firm("E6", M, party_members=3, above_scale=True),
            "E7": firm("E7", M, party_members=0, mass_orgs=["youth_league"]),
            "E8": firm("E8", B, party_members=4, members_here=2, mass_orgs=["women"]),
            "E9": firm("E9", M, party_members=3, operating_status="suspended", demonstration_point=True),
            "E10": firm("E10", B, party_members=0, operating_status="deregistered"),
            "I1": firm("I1", M, "92"),
            "I2": firm("I2", B, "92"),
            "C1": firm("C1", B, "93", party_members=3),
            "E11": firm("E11", YUANAN, party_members=3, members_here=3, above_scale=True, mass_orgs=["union"]),
            "E12": firm("E12", YUANAN, party_members=2, mass_orgs=["union"]),
            "E13": firm("E13", YUANAN, party_members=12, members_here=10, members_elsewhere=2, above_scale=True),
            "E14": firm("E14", YUANAN, party_members=0),
            "E15": firm("E15", YUANAN, party_members=30, members_here=25, members_elsewhere=3, above_scale=False),
            "I3": firm("I3", YUANAN, "92"),
        }
        s.add_all(e.values())

        def org(name: str, region: str, category: str, formation: str, founded: date | None,
                dissolved: date | None = None, source: str | None = None) -> PartyOrganisation:
            return PartyOrganisation(name=name, category=category, formation=formation, region=region,
                                     founded_on=founded, dissolved_on=dissolved, secretary_source=source)

        o = {
            "O1": org("中共E1支部委员会", M, "branch", "single", date(2020, 5, 1), source="owner"),
            "O2": org("中共枝江市联合支部委员会", ZHIJIANG, "branch", "joint", date(2026, 11, 10), source="sent"),
            "O3": org("中共白洋镇机关支部委员会", B, "branch", "attached", None),
            "O4": org("中共E9支部委员会", M, "branch", "single", date(2019, 3, 1)),
            "O6": org("中共C1支部委员会", B, "branch", "single", date(2024, 1, 1)),
            "O7": org("中共E11支部委员会", YUANAN, "branch", "single", date(2026, 10, 15), source="manager"),
            "O8": org("中共E12支部委员会", YUANAN, "branch", "single", date(2021, 1, 1), dissolved=date(2026, 11, 1)),
            "O9": org("中共E13总支部委员会", YUANAN, "general_branch", "single", None, source="sent"),
            "O10": org("中共E15委员会", YUANAN, "committee", "single", date(2026, 3, 1), source="sent"),
        }
        s.add_all(o.values())
        await s.flush()

        def cover(firm_name: str, org_name: str, started: date | None, ended: date | None = None) -> PartyOrgCoverage:
            return PartyOrgCoverage(enterprise_id=e[firm_name].id, organisation_id=o[org_name].id, started_on=started,
                                    ended_on=ended)

        s.add_all([
            cover("E1", "O1", date(2020, 5, 1)),
            cover("E2", "O2", date(2026, 11, 10)), cover("E3", "O2", date(2026, 11, 10)),
            cover("E4", "O2", date(2026, 11, 10)),
            cover("E5", "O3", None),
            cover("E9", "O4", date(2019, 3, 1)),
            cover("C1", "O6", date(2024, 1, 1)),
            cover("E11", "O7", date(2026, 10, 15)),
            cover("E12", "O8", date(2021, 1, 1), date(2026, 11, 1)),
            cover("E13", "O9", None),
            cover("E15", "O10", date(2026, 3, 1)),
        ])

        def assign(firm_name: str, officer: User, started: date, ended: date | None = None) -> Assignment:
            return Assignment(enterprise_id=e[firm_name].id, officer_id=officer.id, started_on=started, ended_on=ended)

        s.add_all([
            assign("E1", zhang, date(2026, 12, 31)),
            assign("E6", wang, date(2025, 3, 1)),
            assign("E8", wang, date(2024, 5, 1), date(2026, 6, 30)),
            assign("E11", zhang, date(2027, 1, 5)),
            assign("E12", li, date(2026, 2, 1)),
            assign("E14", li, date(2023, 6, 1), date(2024, 2, 1)),
        ])

        def person(firm_name: str, name: str, applied: date, stage: str = "activist", **extra: object) -> Person:
            return Person(enterprise_id=e[firm_name].id, officer_id=wang.id, name=name, gender="female",
                          birth_date=date(1990, 1, 1), stage=stage, applied_on=applied, **extra)

        s.add_all([
            person("E6", "P1", date(2025, 9, 1), activist_on=date(2026, 4, 1)),  # activist in 2026
            person("I1", "P2", date(2026, 1, 10), activist_on=date(2026, 8, 1)),  # activist in 2026 (个体户)
            person("E8", "P3", date(2025, 3, 1), activist_on=date(2025, 12, 1)),  # 2025: no
            person("E7", "P4", date(2026, 5, 1), stage="applicant", is_owner=True),  # an owner applied in 2026
        ])
        s.add_all([
            Founding(enterprise_id=e["E2"].id, organisation_id=o["O2"].id, enterprise_ids=[e["E2"].id, e["E3"].id,
                     e["E4"].id], founded_on=date(2026, 11, 10), category="branch", formation="joint",
                     secretary="赵书记", secretary_source="sent", members=3, officer_id=wang.id),  # guided
            Founding(enterprise_id=e["E15"].id, organisation_id=o["O10"].id, action="change",
                     founded_on=date(2026, 3, 1), category="committee", formation="single", secretary="钱书记",
                     members=30, officer_id=li.id),  # a change (党总支 → 党委), not a new organisation
        ])

        def request(firm_name: str, category: str, created: datetime) -> Feedback:
            return Feedback(enterprise_id=e[firm_name].id, raised_by="业主", channel="owner", category=category,
                            content="想建立党组织", urgency="normal", created_at=created)

        s.add_all([
            request("E7", "party", datetime(2026, 6, 1, 2, 0, tzinfo=UTC)),
            request("E7", "party", datetime(2026, 9, 1, 2, 0, tzinfo=UTC)),
            request("E14", "party", datetime(2025, 12, 31, 16, 30, tzinfo=UTC)),  # 2026-01-01 00:30 in Yichang
            request("E6", "hiring", datetime(2026, 6, 1, 2, 0, tzinfo=UTC)),  # not about party work
            request("E8", "party", datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),  # 2027-01-01 00:00 local: no
        ])
        await s.flush()
        ids = {"wang": wang.id, "li": li.id, "zhang": zhang.id} | {name: org.id for name, org in o.items()}
        await uow.commit()
    return ids
