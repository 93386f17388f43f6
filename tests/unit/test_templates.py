"""The message templates: both locales have the same files and labels, every template renders
with realistic values, user text is escaped, and what comes out is HTML Telegram accepts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from jinja2.runtime import Macro

from bot.emulator import parse_html, utf16_len
from handlers.common import ROLE_COMMANDS, command_descriptions
from output.render import LOCALES, TEMPLATES, environment, label, render
from storage.coverage import Coverage, OrgCounts
from storage.development import Pipeline, milestones
from storage.digests import OfficerSummary, SubRegion, SupervisorDigest
from storage.enterprises import EnterpriseCard, EnterpriseFacts, EnterpriseRow, OrganisationFacts, VisitLine
from storage.enums import Activity, Role
from storage.people import PersonRow
from storage.reports import Asked
from storage.reviews import QueueItem

TODAY = date(2026, 11, 20)
NASTY = '<b>&"'
NASTY_ESCAPED = ("&lt;b&gt;&amp;&#34;", "&lt;b&gt;&amp;&quot;")  # markupsafe writes &#34;; both are valid
TELEGRAM_LIMIT = 4096
ALLOWED_TAGS = {"b", "i", "code"}
HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def _message_templates(locale: str) -> set[str]:
    root = TEMPLATES / locale
    return {str(p.relative_to(root)).removesuffix(".html.j2") for p in root.rglob("*.html.j2")}


def _label_macros(locale: str) -> dict[str, tuple[str, ...]]:
    module = environment().get_template(f"{locale}/labels.txt.j2").module
    return {name: tuple(value.arguments) for name, value in vars(module).items() if isinstance(value, Macro)}


def _error_codes_in_code() -> set[str]:
    """Every code passed to `invalid(...)` anywhere in handlers/ (the first argument's strings)."""
    codes: set[str] = set()
    for path in HANDLERS.glob("*.py"):
        for call in re.finditer(r"\binvalid\(([^,)]*)", path.read_text(encoding="utf-8")):
            codes |= set(re.findall(r'"([a-z_]+)"', call[1]))
    return codes


def _row(id: int, name: str, last_visit: date | None, days: int | None, overdue: bool) -> EnterpriseRow:
    return EnterpriseRow(id=id, name=name, region="宜昌市/枝江市", cadence_days=30, last_visit=last_visit,
                         days_since=days, overdue=overdue)


ROWS = [
    _row(1, "枝江市楚韵纺织有限公司", date(2026, 10, 6), 45, True),
    _row(2, "枝江市白洋港机械制造有限公司", date(2026, 11, 8), 12, False),
    _row(3, "新开业的小超市", None, None, True),
]


def _step(**extra: Any) -> dict[str, Any]:
    """What `BaseStep._text` passes to every question template."""
    return {"answers": {"enterprise": 1}, "mode": None, "today": TODAY, **extra}


def _card(**changes: Any) -> dict[str, Any]:
    """What `handlers.visit.describe` returns for the confirmation card."""
    values: dict[str, Any] = {
        "enterprise": "枝江市楚韵纺织有限公司",
        "visit_date": TODAY,
        "activities": [label("activity_policy", "zh_CN"), label("activity_activists", "zh_CN")],
        "employees": None,
        "party_members": None,
        "summary": "与董事长交流了用工难问题。",
        "summary_voice": False,
        "follow_up": None,
        "photos": 0,
        "voices": 0,
        "correcting": False,
        "located": False,
    }
    return {**values, **changes}


ERROR_VALUES: dict[str, dict[str, Any]] = {
    "away_past": {"latest": date(2027, 2, 18)},
    "away_too_far": {"latest": date(2027, 2, 18)},
    "use_buttons": {},
    "choose_at_least_one": {},
    "date_format": {},
    "date_future": {},
    "date_too_old": {"earliest": date(2025, 11, 24)},
    "number_format": {},
    "number_range": {"minimum": 0, "maximum": 1_000_000},
    "members_exceed_employees": {"employees": 120},
    "text_expected": {},
    "text_expected_voice": {},
    "text_empty": {},
    "text_too_long": {"maximum": 1500, "length": 1732},
    "media_expected": {},
    "media_full": {"maximum": 10},
    "lookup_expected": {},
    "no_match": {"query": "楚韵"},
    "not_available": {},
    "name_invalid": {},
    "person_duplicate": {"name": "李明", "number": 12},
    "contacts_count": {"maximum": 2},
    "under_age": {"age": 18, "article": "《细则》第五条", "applied_on": date(2025, 1, 1)},
    "date_before_previous": {"previous": "applied_on", "date": date(2025, 3, 1)},
    "candidate_too_early": {"earliest": date(2026, 6, 1), "article": "《细则》第十三条"},
    "notice_outside": {"activist_on": date(2025, 6, 1), "date": date(2026, 6, 10)},
    "notice_too_short": {"days": 5, "article": "各地实施办法", "earliest": date(2026, 6, 6)},
    "probation_not_over": {"earliest": date(2027, 6, 10), "article": "《党章》第七条"},
    "joint_too_few": {"minimum": 2},
    "joint_full": {"maximum": 30},
    "org_not_available": {},
    "org_name_category": {"category": "branch"},
    "org_name_taken": {"name": "中共枝江市楚韵纺织有限公司支部委员会"},
    "too_few_members": {"minimum": 3},
    "split_one_left": {},
    "date_before_founding": {"date": date(2020, 1, 1)},
}
INVITE_REASONS = ("used", "expired", "bound_elsewhere", "unknown")

# Template name -> named cases of the values its callers pass.
REVIEW_ENTITIES = ("visit", "person", "feedback", "founding")
REVIEW_ITEMS = [
    QueueItem("visit", 1, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"visit_date": TODAY, "activities": ["policy", "help"], "summary": "情" * 2000, "voice": False,
               "follow_up": "跟" * 600}),
    QueueItem("person", 2, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", None, "pending", None,
              {"name": "李明", "stage": "activist", "applied_on": TODAY}),
    QueueItem("feedback", 3, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"category": "hiring", "content": "缺挡车工", "status": "open"}),
    QueueItem("founding", 4, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"founded_on": TODAY, "category": "branch", "formation": "joint", "secretary": "张建国", "members": 5}),
    QueueItem("founding", 5, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"founded_on": TODAY, "category": "branch", "formation": "joint", "secretary": "张建国", "members": 9,
               "name": "中共枝江市马家店街道非公有制企业联合支部委员会", "action": "found", "change": None,
               "enterprises": 3}),
    QueueItem("founding", 6, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"founded_on": TODAY, "category": "committee", "formation": "single", "secretary": "", "members": 0,
               "name": "中共枝江市楚韵纺织有限公司委员会", "action": "change", "change": "category", "enterprises": 0}),
    QueueItem("founding", 7, datetime(2026, 11, 20, 2, tzinfo=UTC), "楚韵", "王芳", 501, "pending", None,
              {"founded_on": TODAY, "category": "branch", "formation": "joint", "secretary": "张建国", "members": 9,
               "name": "中共枝江市马家店街道非公有制企业联合支部委员会", "action": "change", "change": "split",
               "enterprises": 2}),
]
ENTERPRISE_CARDS: dict[str, dict[str, Any]] = {
    "priority_overdue": {},
    "founded_never_visited": {"organisation": OrganisationFacts(7, "中共枝江市楚韵纺织有限公司支部委员会", False, "branch",
                                                                "single", TODAY, "张建国", 5, 1),
                              "last_visit": None, "officers": [], "recent": 0, "open_feedback": 0},
    "joint_branch_inferred": {"organisation": OrganisationFacts(8, "枝江市楚韵纺织有限公司党组织", True, "branch",
                                                                "joint", None, None, None, 3)},
    "attached_with_parent": {"organisation": OrganisationFacts(9, "中共枝江市楚韵纺织有限公司支部委员会", False, "branch",
                                                               "attached", TODAY, "张建国", 3, 1,
                                                               "中共枝江市马家店街道工作委员会")},
    "no_members_with_reason": {"party_members": 0, "unformed_reason": "too_few_members"},
    "ready_to_form": {"employees": None, "party_members": 4, "ready": True, "priority": False, "industry": None},
}


def _enterprise_card(**changes: Any) -> dict[str, Any]:
    enterprise = EnterpriseFacts(id=1, name="枝江市楚韵纺织有限公司", kind="private", region="宜昌市/枝江市",
                                 industry=changes.get("industry", "纺织"), employees=changes.get("employees", 120),
                                 party_members=changes.get("party_members", 2),
                                 unformed_reason=changes.get("unformed_reason"))
    last = changes.get("last_visit", date(2026, 10, 6))
    row = EnterpriseRow(1, enterprise.name, enterprise.region, 30, last, None if last is None else 45, True)
    visits = [VisitLine(date(2026, 10, 6), "王芳", ["policy", "activists"])] * changes.get("recent", 3)
    card = EnterpriseCard(enterprise, row, changes.get("ready", False), changes.get("priority", True),
                          changes.get("officers", ["王芳", "李明"]), visits,
                          {"applicant": 2, "activist": 1}, changes.get("open_feedback", 3), 1,
                          changes.get("organisation"),
                          None if changes.get("organisation") else
                          ("should_form" if changes.get("party_members", 2) >= 3
                           else "few_members" if changes.get("party_members", 2) else "no_members"))
    return {"card": card, "e": enterprise, "row": row}


def _founding_card(**changes: Any) -> dict[str, Any]:
    """What `handlers.founding.describe` returns for the confirmation card."""
    values: dict[str, Any] = {
        "enterprise": "枝江市楚韵纺织有限公司", "enterprises": ["枝江市楚韵纺织有限公司"], "leaving": [],
        "formation": "single", "category": "branch", "org_name": "中共枝江市楚韵纺织有限公司支部委员会", "host": None,
        "parent": "中共枝江市委两新工委", "founded_on": TODAY, "secretary": "张建国", "secretary_source": "出资人兼任",
        "members": 5, "correcting": False,
    }
    return values | changes


def _change_card(**changes: Any) -> dict[str, Any]:
    """What `handlers.org_change.describe` returns for the confirmation card."""
    values: dict[str, Any] = {
        "org_name": "中共枝江市楚韵纺织有限公司支部委员会", "current_category": "branch", "what": "category",
        "category": "committee", "new_name": "中共枝江市楚韵纺织有限公司委员会", "secretary": None,
        "secretary_source": None, "changed_on": TODAY, "own": [], "none": [], "few": [], "staying": 0,
        "dissolved": False, "correcting": False,
    }
    return values | changes


# Member development: what `handlers.nomination.describe` and `handlers.people` pass.
STAGES = ("applicant", "activist", "candidate", "probationary", "full")
PERSON_DATES: dict[str, date | None] = {
    "applied_on": date(2025, 1, 10), "talked_on": date(2025, 1, 20), "activist_on": date(2025, 6, 1),
    "notice_started_on": date(2026, 6, 1), "candidate_on": date(2026, 6, 10), "probation_on": None, "full_on": None,
}


def _nomination(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "enterprise": "枝江市楚韵纺织有限公司", "name": "李明", "gender": "male", "birth_date": date(1990, 5, 12),
        "age": 34, "position": "车间主任", "is_owner": False, "stage": "candidate", "dates": PERSON_DATES,
        "contacts": ["张三", "李四"], "notes": None, "correcting": False,
    }
    return {**values, **changes}


def _person(**changes: Any) -> SimpleNamespace:
    """A stored person, as the card template reads one."""
    values: dict[str, Any] = {
        "id": 12, "name": "李明", "gender": "male", "birth_date": date(1990, 5, 12), "position": "车间主任",
        "is_owner": False, "stage": "candidate", "contacts": ["张三", "李四"], "notes": None, "withdrawn_on": None,
        "withdrawn_reason": None, **PERSON_DATES,
    }
    return SimpleNamespace(**{**values, **changes})


def _due(stage: str, **dates: date) -> list[Any]:
    pipeline = Pipeline(stage=stage, birth_date=date(1990, 5, 12), applied_on=date(2025, 10, 1), **dates)  # type: ignore[arg-type]
    return milestones(pipeline, TODAY)


def _person_card(**changes: Any) -> dict[str, Any]:
    note = SimpleNamespace(written_on=date(2026, 6, 1), content="工作积极，按时参加学习。")
    values: dict[str, Any] = {"person": _person(), "enterprise": "枝江市楚韵纺织有限公司", "since": date(2026, 6, 10),
                              "days_in_stage": 163, "milestones": [], "reviews": 2, "latest": note, "age": 36}
    return {**values, **changes}


PERSON_ROWS = [
    PersonRow(1, "老积极分子", "activist", "枝江市楚韵纺织有限公司", date(2026, 1, 10), 314,
              _due("activist", activist_on=date(2026, 1, 10))[0], 0),
    PersonRow(2, "久未谈话", "applicant", "枝江市白洋港机械制造有限公司", date(2025, 10, 1), 415,
              _due("applicant")[0], 0),
    PersonRow(3, "刚满一年", "activist", "白洋港", date(2025, 11, 1), 384,
              _due("activist", activist_on=date(2025, 11, 1), last_review_on=date(2026, 10, 1))[0], 2),
    PersonRow(4, "预备党员", "probationary", "白洋港", date(2026, 7, 1), 142,
              _due("probationary", activist_on=date(2025, 10, 2), candidate_on=date(2026, 6, 1),
                   probation_on=date(2026, 7, 1))[0], 3),
    PersonRow(5, "发展对象", "candidate", "白洋港", date(2026, 6, 1), 172, None, 3),
    PersonRow(6, "已退出的", "withdrawn", "白洋港", date(2026, 6, 1), 172, None, 1),
]


def _people_list(rows: list[PersonRow], **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"rows": rows, "total": len(rows), "page": 1, "pages": 1, "first": 0, "today": TODAY,
                              "overdue": sum(1 for r in rows if r.next is not None and r.next.overdue)}
    return {**values, **changes}


def _people_form(**changes: Any) -> dict[str, Any]:
    """What `handlers.people.describe` returns for the advance and withdraw cards."""
    values: dict[str, Any] = {"name": "李明", "to": "activist", "on": TODAY, "notice_started_on": None,
                              "withdrawn_on": None, "reason": None}
    return {**values, **changes}


def _feedback_row(**changes: Any) -> Any:
    """What `storage.feedback` gives the item card and the owner's list."""
    from storage.feedback import FeedbackRow

    values: dict[str, Any] = {
        "id": 7, "enterprise_id": 1, "enterprise": "枝江市楚韵纺织有限公司", "raised_by": "李明 车间主任",
        "channel": "officer", "category": "hiring", "content": "缺少熟练挡车工 20 人。", "urgency": "urgent",
        "status": "open", "resolution": None, "rating": None, "created_at": datetime(2026, 11, 11, 2, tzinfo=UTC),
        "closed_at": None, "age_days": 9, "overdue": True, "officer_id": 1, "owner_id": None,
    }
    return FeedbackRow(**{**values, **changes})


def _feedback_card(**changes: Any) -> dict[str, Any]:
    """What `handlers.feedback.describe` returns for the confirmation card."""
    values: dict[str, Any] = {"enterprise": "枝江市楚韵纺织有限公司", "visit_date": None, "raised_by": "李明 车间主任",
                              "category": "用工招工", "content": "缺少熟练挡车工 20 人。", "content_voice": False,
                              "urgency": "较急", "correcting": False}
    return {**values, **changes}


SAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "nomination/ask_enterprise": {
        "with_suggestions": _step(answers={}, suggested=3),
        "without_suggestions": _step(answers={}, suggested=0),
    },
    **{f"nomination/ask_{name}": {"plain": _step()} for name in (
        "name", "gender", "birth_date", "position", "is_owner", "applied_on", "stage", "talked_on", "activist_on",
        "notice_started_on", "candidate_on", "probation_on", "full_on", "notes")},
    "nomination/ask_contacts": {"optional": _step(optional=True), "required": _step(optional=False)},
    "nomination/confirm": {
        "candidate": _nomination(),
        "applicant": _nomination(stage="applicant", contacts=[], position=None,
                                 dates={"applied_on": TODAY, "talked_on": None}),
        "owner_full_member_correcting": _nomination(stage="full", is_owner=True, notes="家属在外地", correcting=True,
                                                    dates={**PERSON_DATES, "probation_on": date(2026, 6, 20),
                                                           "full_on": date(2027, 6, 20)}),
        "nothing_yet": _nomination(enterprise=None, name=None, gender=None, birth_date=None, age=None, position=None,
                                   stage=None, dates={name: None for name in PERSON_DATES}, contacts=[]),
        "longest": _nomination(enterprise="楚" * 128, name="李" * 32, position="职" * 32, notes="备" * 500,
                               contacts=["张" * 32, "李" * 32], dates={**PERSON_DATES, "full_on": TODAY}),
    },
    "nomination/saved": {
        **{stage: {"number": 12, "name": "李明", "enterprise": "枝江市楚韵纺织有限公司", "stage": stage,
                   "corrected": False} for stage in STAGES},
        "corrected": {"number": 999_999_999_999, "name": "李" * 32, "enterprise": "楚" * 128, "stage": "full",
                      "corrected": True},
    },
    "people/list": {
        "empty": _people_list([]),
        "every_kind_of_row": _people_list(PERSON_ROWS),
        "second_page": _people_list(PERSON_ROWS[:2], total=12, page=2, pages=2, first=10, overdue=5),
        "full_page_of_long_names": _people_list(
            [PersonRow(i, "李" * 32, "activist", "楚" * 128, date(2026, 1, 10), 314, PERSON_ROWS[0].next, 0)
             for i in range(10)], total=10),
    },
    "people/card": {
        "candidate": _person_card(),
        "activist_overdue": _person_card(person=_person(stage="activist", candidate_on=None, notice_started_on=None,
                                                        notes="家属在外地"),
                                         milestones=_due("activist", activist_on=date(2025, 6, 1)), latest=None,
                                         reviews=0),
        "applicant_without_contacts": _person_card(person=_person(stage="applicant", contacts=[], position=None,
                                                                  activist_on=None, notice_started_on=None,
                                                                  candidate_on=None, talked_on=None),
                                                   milestones=_due("applicant")),
        "withdrawn_owner": _person_card(person=_person(stage="withdrawn", withdrawn_on=TODAY, withdrawn_reason="调离",
                                                       is_owner=True, gender="female"), days_in_stage=0),
        "longest": _person_card(person=_person(name="李" * 32, position="职" * 32, notes="备" * 500,
                                               contacts=["张" * 32, "李" * 32], withdrawn_reason="因" * 200),
                                enterprise="楚" * 128,
                                latest=SimpleNamespace(written_on=TODAY, content="考" * 1000),
                                milestones=_due("probationary", probation_on=date(2026, 1, 1))),
    },
    **{f"people/ask_{name}": {"plain": _step()} for name in (
        "notice_started_on", "review_date", "review_text", "withdraw_date", "withdraw_reason")},
    "people/ask_advance_date": {stage: _step(answers={"to": stage}) for stage in STAGES[1:]},
    "people/advance_confirm": {
        "activist": _people_form(),
        "candidate": _people_form(to="candidate", notice_started_on=date(2026, 11, 9)),
        "nothing_yet": _people_form(name=None, to="full", on=None),
    },
    "people/advanced": {stage: {"name": "李明", "stage": stage, "on": TODAY} for stage in STAGES[1:]},
    "people/review_saved": {
        "with_next_review": {"name": "李明", "written_on": TODAY, "next_review": date(2027, 5, 20)},
        "without_next_review": {"name": "李明", "written_on": TODAY, "next_review": None},
    },
    "people/withdraw_confirm": {
        "filled": _people_form(withdrawn_on=TODAY, reason="调离本企业"),
        "nothing_yet": _people_form(name=None),
    },
    "people/withdrawn": {"plain": {"name": "李明", "on": TODAY}},
    "people/ask_talk_date": {"plain": _step()},
    "people/talked": {"plain": {"name": "李明", "on": TODAY}},
    "people/changed": {stage: {"name": "李明", "stage": stage} for stage in (*STAGES, "withdrawn")},
    "common/error": {"plain": {}},
    "common/db_unavailable": {"plain": {}},
    "common/saved_reply_failed": {"with_draft": {"resume": True}, "form_finished": {"resume": False}},
    "common/help": {role.value: {"role": role, "commands": [("visit", "填写走访记录"), ("help", "帮助")]}
                    for role in Role},
    "common/invite_refused": {**{reason: {"reason": reason, "role": "officer"} for reason in INVITE_REASONS},
                              "owner_used": {"reason": "used", "role": "owner"}},
    "common/invite_throttled": {"one_minute": {"minutes": 1}, "an_hour": {"minutes": 60}},
    "common/mine": {
        "not_officer": {"rows": [], "total": 0, "page": 1, "pages": 1, "overdue": 0, "role": Role.SUPERVISOR,
                        "first": 0},
        "none_assigned": {"rows": [], "total": 0, "page": 1, "pages": 1, "overdue": 0, "role": Role.OFFICER,
                          "first": 0},
        "one_page": {"rows": ROWS, "total": 3, "page": 1, "pages": 1, "overdue": 2, "role": Role.OFFICER,
                     "first": 0},
        "none_overdue": {"rows": ROWS[1:2], "total": 1, "page": 1, "pages": 1, "overdue": 0, "role": Role.OFFICER,
                         "first": 0},
        "second_page": {"rows": ROWS, "total": 23, "page": 2, "pages": 3, "overdue": 5, "role": Role.OFFICER,
                        "first": 10},
        "full_page_of_long_names": {
            "rows": [_row(i, "很" * 128, date(2026, 1, 1), 323, True) for i in range(10)],
            "total": 10, "page": 1, "pages": 1, "overdue": 10, "role": Role.OFFICER, "first": 0,
        },
    },
    "common/no_draft": {role.value: {"role": role} for role in Role},
    "common/not_for_role": {
        "one_role": {"roles": ["officer"]},
        "several_roles": {"roles": ["supervisor", "admin", "owner"]},
    },
    "common/not_joined": {"plain": {}},
    "common/unknown_command": {"plain": {}},
    "common/welcome": {
        **{role.value: {"name": "张三", "role": role, "region": "宜昌市/枝江市", "assigned": 12, "overdue": 3,
                        "in_scope": 340, "enterprise": None} for role in Role},
        "officer_none_overdue": {"name": "张三", "role": Role.OFFICER, "region": "宜昌市/枝江市", "assigned": 0,
                                 "overdue": 0, "in_scope": 0, "enterprise": None},
        "owner_with_enterprise": {"name": "张总", "role": Role.OWNER, "region": "宜昌市/枝江市", "assigned": 0,
                                  "overdue": 0, "in_scope": 0, "enterprise": "枝江市楚韵纺织有限公司"},
    },
    "forms/ask_date_typed": {"plain": {"today": TODAY}},
    "forms/ask_search": {"plain": {}},
    "forms/cancelled": {"plain": {}},
    "forms/edit_applied": {"field": {"field": "内容"}, "no_title": {"field": None}},
    "forms/edit_not_applied": {"field": {"field": "内容"}, "no_title": {"field": None}},
    "forms/edit_not_taken": {"draft": {"draft": True}, "no_draft": {"draft": False}},
    "forms/error": {code: {"code": code, "today": TODAY, **values} for code, values in ERROR_VALUES.items()},
    "forms/nothing_to_cancel": {"plain": {}},
    "forms/offer_resume": {
        "both": {"form": "visit", "enterprise": "枝江市楚韵纺织有限公司", "subject": None, "day": TODAY},
        "enterprise_only": {"form": "visit", "enterprise": "枝江市楚韵纺织有限公司", "subject": None, "day": None},
        "date_only": {"form": "found", "enterprise": None, "subject": None, "day": TODAY},
        "person": {"form": "nominate", "enterprise": "楚韵", "subject": "李明", "day": None},
        "nothing_yet": {"form": "review_comment", "enterprise": None, "subject": None, "day": None},
    },
    "forms/search_results": {
        "some": {"query": "楚韵", "count": 3},
        "one": {"query": "cyfz", "count": 1},
    },
    "visit/ask_activities": {
        "nothing_chosen": _step(chosen=[]),
        "some_chosen": _step(chosen=["policy", "help"]),
    },
    "visit/ask_date": {"plain": _step()},
    "visit/ask_employees": {"plain": _step()},
    "visit/ask_enterprise": {
        "with_suggestions": _step(answers={}, suggested=3),
        "without_suggestions": _step(answers={}, suggested=0),
    },
    "visit/ask_follow_up": {"plain": _step()},
    "visit/ask_headcount": {"plain": _step()},
    "visit/ask_media": {
        "nothing_yet": _step(counts={"photo": 0, "voice": 0, "location": 0}, received=False),
        "photos_only": _step(counts={"photo": 2, "voice": 0, "location": 0}, received=True),
        "voice_only": _step(counts={"photo": 0, "voice": 1, "location": 0}, received=True),
        "everything": _step(counts={"photo": 8, "voice": 1, "location": 1}, received=True),
        "location_only": _step(counts={"photo": 0, "voice": 0, "location": 1}, received=True),
    },
    "visit/ask_party_members": {"plain": _step(answers={"employees": 120})},
    "visit/ask_summary": {"plain": _step()},
    "visit/confirm": {
        "minimal": _card(),
        "with_counts": _card(employees=120, party_members=0),
        "voice_summary": _card(summary=None, summary_voice=True),
        "everything": _card(employees=1_000_000, party_members=35, follow_up="下周送政策汇编。", photos=3, voices=2,
                            located=True, activities=[label(f"activity_{a.value}", "zh_CN") for a in Activity]),
        "location_only": _card(located=True),
        "no_activities": _card(activities=[]),
        "longest": _card(enterprise="楚" * 128, summary="情" * 1500, follow_up="跟" * 500, employees=1_000_000,
                         party_members=1_000_000, photos=9, voices=9, located=True,
                         activities=[label(f"activity_{a.value}", "en") for a in Activity]),
    },
    "visit/saved": {
        "plain": {"number": 42, "enterprise": "枝江市楚韵纺织有限公司", "corrected": False},
        "corrected": {"number": 42, "enterprise": "枝江市楚韵纺织有限公司", "corrected": True},
        "big_number": {"number": 999_999_999_999, "enterprise": "楚" * 128, "corrected": False},
    },
    **{f"founding/ask_{step}": {"plain": _step()} for step in
       ("enterprise", "date", "formation", "host", "secretary", "secretary_source", "parent")},
    "founding/ask_category": {"single": _step(answers={"formation": "single"}),
                              "joint": _step(answers={"formation": "joint"})},
    "founding/ask_members": {"single": _step(answers={"formation": "single"}),
                             "joint": _step(answers={"formation": "joint"})},
    "founding/ask_others": {"one": _step(names=["枝江市楚韵纺织有限公司"]),
                            "thirty_long": _step(names=["楚" * 128] * 30)},
    "founding/ask_name": {"single": _step(proposed="中共枝江市楚韵纺织有限公司支部委员会"),
                          "long": _step(proposed="中" * 128)},
    "founding/host_results": {"found": {"query": "马家店", "count": 3}, "none": {"query": "马家店", "count": 0}},
    "founding/confirm": {
        "single": _founding_card(),
        "joint_leaving": _founding_card(formation="joint", enterprises=["枝江市楚韵纺织有限公司", "枝江市白洋港机械制造有限公司",
                                                                         "枝江市董市镇酒业有限公司"],
                                        leaving=[{"enterprise": "枝江市董市镇酒业有限公司",
                                                  "organisation": "中共枝江市董市镇酒业有限公司支部委员会"}]),
        "attached": _founding_card(formation="attached", host="中共枝江市马家店街道工作委员会", parent=None),
        "empty_correction": _founding_card(enterprise=None, enterprises=[], formation=None, category=None,
                                           org_name=None, founded_on=None, secretary=None, secretary_source=None,
                                           members=None, parent=None, correcting=True),
        "longest": _founding_card(formation="joint", enterprises=["楚" * 128] * 30, org_name="中" * 128,
                                  secretary="张" * 32, parent="上" * 128,
                                  leaving=[{"enterprise": "楚" * 128, "organisation": "中" * 128}] * 30),
        "one_leaving": _founding_card(leaving=[{"enterprise": "楚" * 128, "organisation": "中" * 128}]),
    },
    "founding/saved": {"new": {"number": 3, "name": "中共枝江市楚韵纺织有限公司支部委员会", "enterprises": 1,
                               "corrected": False},
                       "joint_corrected": {"number": 3, "name": "中" * 128, "enterprises": 3, "corrected": True}},
    "founding/change_ask_what": {
        "joint": _step(answers={"current": {"name": "中共枝江市马家店街道非公有制企业联合支部委员会", "category": "branch",
                                            "formation": "joint", "covers": 3, "founded_on": None}}),
        "correction": _step(answers={"current": {"name": "中共枝江市楚韵纺织有限公司支部委员会", "category": "branch",
                                                 "formation": "single", "covers": None, "founded_on": "2020-01-01"}}),
    },
    "founding/change_ask_category": {"plain": _step(answers={"current": {"category": "branch"}})},
    **{f"founding/change_ask_{step}": {"plain": _step()} for step in ("secretary", "date")},
    "founding/change_ask_leaving": {"plain": _step(picked=0)},
    "founding/change_ask_own": {"plain": _step(picked=1)},
    "founding/change_confirm": {
        "category": _change_card(),
        "secretary": _change_card(what="secretary", secretary="李书记", secretary_source="sent"),
        "split": _change_card(what="split", own=["枝江市楚韵纺织有限公司"], none=["枝江市董市镇酒业有限公司"],
                              few=["枝江市楚韵纺织有限公司"], staying=2),
        "split_dissolving": _change_card(what="split", own=["枝江市楚韵纺织有限公司"], dissolved=True),
        "split_correction": _change_card(what="split", own=["楚" * 128] * 15, none=["董" * 128] * 14,
                                         few=["楚" * 128] * 15, correcting=True),
        "nothing_yet": _change_card(category=None, new_name=None, changed_on=None),
    },
    "founding/change_saved": {
        "category": {"number": 4, "what": "category", "name": "中共枝江市楚韵纺织有限公司委员会", "category": "committee",
                     "secretary": "张建国", "leaving": 0, "own": 0, "corrected": False},
        "secretary": {"number": 4, "what": "secretary", "name": "中" * 128, "category": "branch",
                      "secretary": None, "leaving": 0, "own": 0, "corrected": True},
        "split": {"number": 4, "what": "split", "name": "中共枝江市马家店街道非公有制企业联合支部委员会", "category": "branch",
                  "secretary": "张建国", "leaving": 2, "own": 1, "corrected": False},
    },
    "founding/change_stale": {"plain": {"name": "中共枝江市楚韵纺织有限公司支部委员会"}},
    "enterprise/card": {name: _enterprise_card(**changes) for name, changes in ENTERPRISE_CARDS.items()},
    "review/item": {f"{item.entity}_{item.entity_id}": {"item": item, "tz": ZoneInfo("Asia/Shanghai")}
                    for item in REVIEW_ITEMS},
    "review/ask_comment": {"plain": {}},
    "review/empty": {"plain": {}},
    "review/heading": {"plain": {"count": 5}},
    "review/sent_back": {entity: {"entity": entity, "number": 7, "enterprise": "楚韵"} for entity in REVIEW_ENTITIES},
    "review/needs_fixing": {entity: {"entity": entity, "number": 7, "enterprise": "楚韵", "comment": "请补充",
                                     "reviewer": "李督导"} for entity in REVIEW_ENTITIES},
    "supervisor/export_caption": {
        "city": {"region": "宜昌市", "today": TODAY, "enterprises": 20_000, "visits": 200_000, "people": 5_000,
                 "feedback": 10_000, "foundings": 150, "summary": 40},
        "empty": {"region": "宜昌市/枝江市/马家店街道", "today": TODAY, "enterprises": 0, "visits": 0, "people": 0,
                  "feedback": 0, "foundings": 0, "summary": 7},
    },
    "digest/supervisor": {
        "journey": {"d": SupervisorDigest(
            "宜昌市", date(2026, 11, 16), date(2026, 11, 22), date(2026, 11, 22), 312, 287, 14, 2, 23, 19, 4, 100, 81,
            5, 3, [SubRegion("宜昌市/远安县", 25, 13, 4, 5), SubRegion("宜昌市/枝江市", 25, 20, 9, 3)],
            ["李明", "周强"])},
        "quiet": {"d": SupervisorDigest("宜昌市/枝江市", date(2026, 11, 16), date(2026, 11, 22),
                                        date(2026, 11, 18), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)},
        "fewer": {"d": SupervisorDigest("宜昌市", date(2026, 11, 16), date(2026, 11, 22), date(2026, 11, 22),
                                        3, 10, 0, 0, 0, 0, 0, 1, 1, 0, 0, [SubRegion("宜昌市", 1, 1, 3, 10)])},
    },
    "digest/officer": {"plain": {"s": OfficerSummary(1, "王芳", date(2026, 11, 16), date(2026, 11, 22), 2, 1, 1,
                                                     1, 2)}},
    "feedback/ask_enterprise": {"suggested": _step(answers={}, suggested=3), "none": _step(answers={}, suggested=0)},
    "feedback/ask_raised_by": {"plain": _step()},
    "feedback/ask_raiser": {"plain": _step()},
    "feedback/ask_category": {"plain": _step()},
    "feedback/ask_content": {"plain": _step()},
    "feedback/ask_urgency": {"plain": _step()},
    "feedback/confirm": {
        "new": _feedback_card(),
        "correcting": _feedback_card(correcting=True),
        "voice": _feedback_card(content=None, content_voice=True),
        "nothing_yet": _feedback_card(enterprise=None, raised_by=None, category=None, content=None, urgency=None),
        "longest": _feedback_card(enterprise="楚" * 128, raised_by="李" * 40, content="难" * 1000),
    },
    "feedback/saved": {"new": {"number": 7, "enterprise": "楚韵", "corrected": False},
                       "corrected": {"number": 999_999_999_999, "enterprise": "楚" * 128, "corrected": True}},
    "feedback/menu": {
        "officer_empty": {"total": 0, "overdue": 0, "page": 1, "pages": 1, "role": Role.OFFICER},
        "supervisor_empty": {"total": 0, "overdue": 0, "page": 1, "pages": 1, "role": Role.SUPERVISOR},
        "officer_some": {"total": 3, "overdue": 1, "page": 1, "pages": 1, "role": Role.OFFICER},
        "supervisor_paged": {"total": 23, "overdue": 0, "page": 2, "pages": 3, "role": Role.SUPERVISOR},
    },
    "feedback/card": {
        "open_overdue": {"item": _feedback_row()},
        "in_progress": {"item": _feedback_row(status="in_progress", overdue=False, age_days=2, channel="owner")},
        "resolved_rated": {"item": _feedback_row(status="resolved", resolution="已对接职院。", rating=4,
                                                 overdue=False)},
        "closed": {"item": _feedback_row(status="closed", resolution="企业自行解决。", overdue=False)},
        "voice": {"item": _feedback_row(content="voice:AwACAgUAAxkBAAIB", overdue=False, age_days=0)},
        "longest": {"item": _feedback_row(enterprise="楚" * 128, raised_by="李" * 64, content="难" * 1000,
                                          status="resolved", resolution="好" * 500, rating=5)},
    },
    "feedback/ask_note": {"resolve": _step(answers={"item": 7, "to": "resolved"}),
                          "close": _step(answers={"item": 7, "to": "closed"})},
    "feedback/transitioned": {
        "resolved_told": {"number": 7, "enterprise": "楚韵", "status": "resolved", "told": True},
        "closed": {"number": 7, "enterprise": "楚韵", "status": "closed", "told": False},
    },
    "feedback/not_changed": {status: {"number": 7, "status": status} for status in ("open", "in_progress",
                                                                                     "resolved", "closed")},
    "feedback/owner_notice": {
        "in_progress": {"number": 7, "category": "financing", "status": "in_progress", "resolution": None,
                        "rate": False},
        "resolved": {"number": 7, "category": "financing", "status": "resolved", "resolution": "已对接农商行。",
                     "rate": True},
        "closed": {"number": 7, "category": "other", "status": "closed", "resolution": "重复反映。", "rate": True},
    },
    "feedback/ask_link_enterprise": {"suggested": _step(answers={}, suggested=2),
                                     "none": _step(answers={}, suggested=0)},
    "feedback/link": {
        "link": {"enterprise": "楚韵", "link": "https://t.me/liaison_bot?start=abc_DEF-123", "code": "abc_DEF-123",
                 "days": 7},
        "code_only": {"enterprise": "楚韵", "link": None, "code": "abc_DEF-123", "days": 7},
    },
    "feedback/from_owner": {
        "text": {"enterprise": "楚韵", "raised_by": "张总", "number": 7, "category": "financing",
                 "urgency": "critical", "content": "想申请技改贷款。"},
        "voice": {"enterprise": "楚韵", "raised_by": "业主", "number": 7, "category": "other",
                  "urgency": "normal", "content": None},
    },
    "owner/ask_category": {"named": _step(answers={"_enterprise": "枝江市楚韵纺织有限公司"}),
                           "unnamed": _step(answers={})},
    "owner/ask_content": {"plain": _step()},
    "owner/ask_urgency": {"plain": _step()},
    "owner/confirm": {
        "text": _feedback_card(),
        "voice": _feedback_card(content=None, content_voice=True),
        "nothing_yet": _feedback_card(enterprise=None, category=None, content=None, urgency=None),
    },
    "owner/saved": {"plain": {"number": 7}},
    "reminders/overdue_visit": {"visited": {"enterprise": "枝江市楚韵纺织有限公司", "days": 31, "cadence": 30},
                                "never": {"enterprise": "新开业的小超市", "days": None, "cadence": 30}},
    # Reminders get the codes their kind's reasons read (the template words them).
    "reminders/feedback": {"plain": {"enterprise": "楚韵", "feedback_id": 7, "days": 8, "category": "hiring"}},
    "reminders/milestone": {f"{code}_{late}": {"name": "李明", "stage": "activist", "enterprise": "楚韵",
                                               "code": code, "due": TODAY, "overdue": late}
                            for code in ("talk", "review", "candidate", "probation") for late in (True, False)},
    "reminders/draft": {"named": {"form": "visit", "enterprise": "楚韵", "day": TODAY},
                        "unnamed": {"form": "visit", "enterprise": None, "day": TODAY}},
    "reminders/ask_away": {"plain": _step()},
    "reports/quarterly": {
        "regions": {"year": 2026, "quarter": 3, "scope": "宜昌市", "start": date(2026, 7, 1),
                    "last": date(2026, 9, 30), "total": 3,
                    "rows": [{"name": "枝江市", "own": False, "founded": 2}, {"name": "宜昌市", "own": True, "founded": 1}],
                    "kinds": [{"category": "branch", "formation": "single", "count": 2},
                              {"category": "branch", "formation": "joint", "count": 1}],
                    "existing": OrgCounts("宜昌市", {("branch", "single"): 30, ("committee", "single"): 2}, 4),
                    "this_year": OrgCounts("宜昌市", {("branch", "single"): 5}),
                    "before": Coverage("宜昌市", enterprises=100, single=30, joint=5),
                    "after": Coverage("宜昌市", enterprises=100, single=32, joint=6), "change": 3.0},
        "empty": {"year": 2025, "quarter": 4, "scope": "远安县", "start": date(2025, 10, 1),
                  "last": date(2025, 12, 31), "total": 0, "rows": [], "kinds": [], "existing": OrgCounts("远安县"),
                  "this_year": OrgCounts("远安县"), "before": Coverage("远安县"), "after": Coverage("远安县"),
                  "change": None},
        "everything": {"year": 2026, "quarter": 4, "scope": "", "start": date(2026, 10, 1),
                       "last": date(2026, 12, 31), "total": 0, "rows": [{"name": "宜昌市", "own": False, "founded": 0}],
                       "kinds": [], "existing": OrgCounts(""), "this_year": OrgCounts(""),
                       "before": Coverage("", enterprises=3), "after": Coverage("", enterprises=3, joint=1),
                       "change": 33.3},
    },
    "reports/year_end": {
        "practice": {"year": 2025, "scope": "宜昌市", "officers": 600, "person_years": 1697, "activists": 997,
                     "guided": 150, "owners_applied": 12, "visits": 5000, "resolved": 320, "founded": 150,
                     "asked": Asked(requests=40, enterprises=36),
                     "c": Coverage("宜昌市", enterprises=3000, single=1200, joint=600, attached=100, eligible=1500,
                                   eligible_covered=1400, work_covered=2800, above_scale=400, above_scale_covered=380,
                                   mass_first=200, members=9000, members_here=7000, members_elsewhere=1500,
                                   demonstration_points=50, individuals=800, individuals_covered=20, cooperatives=90,
                                   suspended=12, deregistered=30),
                     "o": OrgCounts("宜昌市", {("branch", "single"): 1100, ("branch", "joint"): 250,
                                               ("general_branch", "single"): 60, ("committee", "single"): 40}, 24)},
        "empty": {"year": 2026, "scope": "", "officers": 1, "person_years": 0, "activists": 0, "guided": 0,
                  "owners_applied": 0, "visits": 0, "resolved": 0, "founded": 0, "asked": Asked(0, 0),
                  "c": Coverage(""), "o": OrgCounts("")},
    },
    "reminders/away_saved": {"plain": {"until": TODAY}},
    "reminders/back": {"was_away": {"was_away": True}, "was_not": {"was_away": False}},
    "owner/items": {
        "none": {"rows": [], "enterprise": "楚韵", "tz": ZoneInfo("Asia/Shanghai")},
        "some": {"rows": [_feedback_row(), _feedback_row(status="resolved", resolution="已办好。", rating=3),
                          _feedback_row(content="voice:AwACAgUAAxkBAAIB", status="in_progress")],
                 "enterprise": "枝江市楚韵纺织有限公司", "tz": ZoneInfo("Asia/Shanghai")},
        "ten_longest": {"rows": [_feedback_row(content="难" * 1000, status="closed", resolution="好" * 500)] * 10,
                        "enterprise": "楚" * 128, "tz": ZoneInfo("Asia/Shanghai")},
    },
}

CASES = [
    pytest.param(locale, name, values, id=f"{locale}-{name}-{case}")
    for locale in LOCALES
    for name, cases in SAMPLES.items()
    for case, values in cases.items()
]

# (template, values) where a piece of user text is `NASTY`: names, summaries, typed queries.
USER_TEXT = [
    pytest.param("supervisor/export_caption", {**SAMPLES["supervisor/export_caption"]["city"], "region": NASTY},
                 id="export_caption-region"),
    pytest.param("nomination/confirm", _nomination(name=NASTY), id="nomination-confirm-name"),
    pytest.param("nomination/confirm", _nomination(notes=NASTY), id="nomination-confirm-notes"),
    pytest.param("nomination/confirm", _nomination(contacts=[NASTY]), id="nomination-confirm-contacts"),
    pytest.param("nomination/saved", {**SAMPLES["nomination/saved"]["applicant"], "name": NASTY}, id="nomination-saved"),
    pytest.param("people/list", _people_list([PersonRow(1, NASTY, "applicant", NASTY, TODAY, 0, None, 0)]),
                 id="people-list-name"),
    pytest.param("people/card", _person_card(person=_person(name=NASTY)), id="people-card-name"),
    pytest.param("people/card", _person_card(person=_person(notes=NASTY)), id="people-card-notes"),
    pytest.param("people/card", _person_card(latest=SimpleNamespace(written_on=TODAY, content=NASTY)),
                 id="people-card-review"),
    pytest.param("people/withdraw_confirm", _people_form(reason=NASTY), id="people-withdraw-reason"),
    pytest.param("forms/error", {"code": "person_duplicate", "today": TODAY, "name": NASTY, "number": 1},
                 id="error-person_duplicate-name"),
    pytest.param("visit/confirm", _card(enterprise=NASTY), id="confirm-enterprise"),
    pytest.param("visit/confirm", _card(summary=NASTY), id="confirm-summary"),
    pytest.param("visit/confirm", _card(follow_up=NASTY), id="confirm-follow_up"),
    pytest.param("visit/saved", {"number": 1, "enterprise": NASTY, "corrected": False}, id="saved-enterprise"),
    pytest.param("forms/offer_resume", {"form": "visit", "enterprise": NASTY, "subject": NASTY, "day": None},
                 id="offer_resume-enterprise"),
    pytest.param("forms/search_results", {"query": NASTY, "count": 1}, id="search_results-query"),
    pytest.param("forms/error", {"code": "no_match", "today": TODAY, "query": NASTY}, id="error-no_match-query"),
    pytest.param("founding/confirm", _founding_card(secretary=NASTY, org_name=NASTY, parent=NASTY),
                 id="founding-confirm-typed"),
    pytest.param("founding/confirm", _founding_card(formation="attached", host=NASTY, parent=None),
                 id="founding-confirm-host"),
    pytest.param("founding/host_results", {"query": NASTY, "count": 0}, id="founding-host_results-query"),
    pytest.param("founding/change_confirm", _change_card(new_name=NASTY), id="founding-change_confirm-name"),
    pytest.param("founding/change_confirm", _change_card(what="secretary", secretary=NASTY),
                 id="founding-change_confirm-secretary"),
    pytest.param("forms/error", {"code": "org_name_taken", "today": TODAY, "name": NASTY}, id="error-org_name_taken"),
    pytest.param("common/welcome", {**SAMPLES["common/welcome"]["officer"], "name": NASTY}, id="welcome-name"),
    pytest.param("common/welcome", {**SAMPLES["common/welcome"]["officer"], "region": NASTY}, id="welcome-region"),
    pytest.param("common/mine", {**SAMPLES["common/mine"]["one_page"], "rows": [_row(1, NASTY, None, None, False)]},
                 id="mine-row-name"),
    pytest.param("feedback/confirm", _feedback_card(content=NASTY), id="feedback-confirm-content"),
    pytest.param("feedback/confirm", _feedback_card(raised_by=NASTY), id="feedback-confirm-raised_by"),
    pytest.param("feedback/card", {"item": _feedback_row(content=NASTY)}, id="feedback-card-content"),
    pytest.param("feedback/card", {"item": _feedback_row(status="resolved", resolution=NASTY)},
                 id="feedback-card-resolution"),
    pytest.param("feedback/owner_notice", {"number": 7, "category": "other", "status": "resolved",
                                           "resolution": NASTY, "rate": True}, id="feedback-owner_notice"),
    pytest.param("feedback/from_owner", {"enterprise": "楚韵", "raised_by": "张总", "number": 7, "category": "other",
                                         "urgency": "normal", "content": NASTY}, id="feedback-from_owner"),
    pytest.param("owner/items", {"rows": [_feedback_row(content=NASTY)], "enterprise": "楚韵",
                                 "tz": ZoneInfo("Asia/Shanghai")}, id="owner-items-content"),
    pytest.param("common/welcome", {**SAMPLES["common/welcome"]["owner_with_enterprise"], "enterprise": NASTY},
                 id="welcome-owner-enterprise"),
]

LABEL_SAMPLES: dict[str, list[dict[str, Any]]] = {
    "ticked": [{"text": "宣传政策"}],
    "unticked": [{"text": "宣传政策"}],
    "today": [{"day": TODAY}],
    "yesterday": [{"day": date(2026, 11, 19)}],
    "edit": [{"field": "企业"}],
    "enterprise_button": [
        {"name": "枝江市楚韵纺织有限公司", "days": 45, "overdue": True},
        {"name": "白洋港机械", "days": 12, "overdue": False},
        {"name": "新开业的小超市", "days": None, "overdue": False},
        {"name": "新开业的小超市", "days": None, "overdue": True},
        {"name": "刚走访过", "days": 0, "overdue": False},
    ],
    "role": [{"code": role} for role in Role],
    "form_name": [{"code": "visit"}],
    "org_kind": [{"category": c, "formation": f} for c in ("committee", "general_branch", "branch")
                 for f in ("single", "joint", "attached")],
    "card_button": [{"number": 1, "name": "枝江市楚韵纺织有限公司", "overdue": True},
                    {"number": 10, "name": "白洋港", "overdue": False}],
}


# ---------------------------------------------------------------- the locales match


def test_both_locales_have_the_same_message_templates() -> None:
    assert _message_templates("en") == _message_templates("zh_CN")


def test_both_locales_have_the_same_label_macros_with_the_same_arguments() -> None:
    assert _label_macros("en") == _label_macros("zh_CN")


def test_every_message_template_has_samples() -> None:
    for locale in LOCALES:
        assert set(SAMPLES) == _message_templates(locale)


def test_every_label_macro_with_arguments_has_samples() -> None:
    needing = {name for name, arguments in _label_macros("zh_CN").items() if arguments}
    assert needing == set(LABEL_SAMPLES)


def test_samples_cover_every_error_code_the_handlers_use() -> None:
    assert _error_codes_in_code() == set(ERROR_VALUES)


@pytest.mark.parametrize("locale", LOCALES)
def test_templates_use_only_their_own_locale_and_telegram_tags(locale: str) -> None:
    other = [name for name in LOCALES if name != locale]
    for path in (TEMPLATES / locale).rglob("*.j2"):
        source = path.read_text(encoding="utf-8")
        for name in other:
            assert f'"{name}/' not in source, path
        tags = {tag.lower() for tag in re.findall(r"</?([A-Za-z][A-Za-z0-9-]*)", source)}
        assert tags <= (ALLOWED_TAGS if path.name.endswith(".html.j2") else set()), path


# ---------------------------------------------------------------- every message renders


def _parsed(text: str) -> str:
    plain, _entities = parse_html(text)  # raises EntityParseError where Telegram would refuse
    return plain


@pytest.mark.parametrize(("locale", "name", "values"), CASES)
def test_message_renders_as_telegram_html_within_the_limit(locale: str, name: str, values: dict[str, Any]) -> None:
    text = render(name, locale, **values)
    plain = _parsed(text)
    assert plain.strip(), "a message must not be empty"
    assert utf16_len(plain) <= TELEGRAM_LIMIT
    assert "Undefined" not in plain


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("code", sorted(ERROR_VALUES))
def test_each_error_code_has_its_own_message(locale: str, code: str) -> None:
    text = _parsed(render("forms/error", locale, code=code, today=TODAY, **ERROR_VALUES[code]))
    others = {
        _parsed(render("forms/error", locale, code=other, today=TODAY, **values))
        for other, values in ERROR_VALUES.items()
        if other != code
    }
    assert text.startswith("⚠")
    assert text not in others


@pytest.mark.parametrize("locale", LOCALES)
def test_error_messages_show_their_numbers(locale: str) -> None:
    def error(code: str, **values: Any) -> str:
        return render("forms/error", locale, code=code, today=TODAY, **values)

    assert "11-20" in error("date_future")
    assert "120" in error("members_exceed_employees", employees=120)
    assert "1732" in error("text_too_long", maximum=1500, length=1732)
    assert "1500" in error("text_too_long", maximum=1500, length=1732)
    assert "1000000" in error("number_range", minimum=0, maximum=1_000_000)
    assert "10" in error("media_full", maximum=10)
    assert "楚韵" in error("no_match", query="楚韵")


@pytest.mark.parametrize("locale", LOCALES)
def test_an_unknown_error_code_fails_loudly(locale: str) -> None:
    with pytest.raises(UndefinedError):
        render("forms/error", locale, code="no_such_code", today=TODAY)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_missing_value_fails_loudly(locale: str) -> None:
    with pytest.raises(UndefinedError):
        render("visit/saved", locale, number=1)


@pytest.mark.parametrize("locale", LOCALES)
def test_each_role_gets_its_own_help(locale: str) -> None:
    texts = [render("common/help", locale, role=role, commands=command_descriptions(role, ROLE_COMMANDS[role], locale))
             for role in (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)]
    assert len(set(texts)) == 3
    assert "/visit" in texts[0]
    assert "/visit" not in texts[1] and "/visit" not in texts[2]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_invite_refusal_reason_has_its_own_message(locale: str) -> None:
    assert len({render("common/invite_refused", locale, reason=reason, role=None) for reason in INVITE_REASONS}) == 4


@pytest.mark.parametrize("locale", LOCALES)
def test_card_shows_head_counts_only_when_updated(locale: str) -> None:
    without = render("visit/confirm", locale, **_card())
    with_counts = render("visit/confirm", locale, **_card(employees=120, party_members=35))
    assert "120" not in without
    assert "120" in with_counts and "35" in with_counts


@pytest.mark.parametrize("locale", LOCALES)
def test_card_with_the_longest_answers_fits_one_message(locale: str) -> None:
    text = render("visit/confirm", locale, **SAMPLES["visit/confirm"]["longest"])
    plain = _parsed(text)
    assert "情" * 1500 in plain and "跟" * 500 in plain
    assert utf16_len(plain) <= TELEGRAM_LIMIT


@pytest.mark.parametrize("locale", LOCALES)
def test_card_with_the_longest_emoji_answers_fits_one_message(locale: str) -> None:
    # The longest answers the form accepts: limits are in UTF-16 units, an emoji is two.
    values = _card(enterprise="😀" * 128, summary="😀" * 750, follow_up="😀" * 250, employees=1_000_000,
                   party_members=1_000_000, photos=9, voices=9, located=True)
    assert utf16_len(_parsed(render("visit/confirm", locale, **values))) <= TELEGRAM_LIMIT


def test_zh_card_never_shows_python_none() -> None:
    assert "None" not in render("visit/confirm", "zh_CN", **_card(enterprise=None))


def test_en_card_never_shows_python_none() -> None:
    assert "None" not in render("visit/confirm", "en", **_card(enterprise=None))


@pytest.mark.parametrize("locale", LOCALES)
def test_offer_resume_shows_what_the_draft_has(locale: str) -> None:
    both = _parsed(render("forms/offer_resume", locale, form="visit", enterprise="枝江市楚韵纺织有限公司", subject=None,
                          day=TODAY))
    nothing = _parsed(render("forms/offer_resume", locale, form="visit", enterprise=None, subject=None, day=None))
    assert "枝江市楚韵纺织有限公司" in both and "11-20" in both
    assert "(" not in nothing and "（" not in nothing


# ---------------------------------------------------------------- user text is escaped


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("name", "values"), USER_TEXT)
def test_user_text_is_html_escaped(locale: str, name: str, values: dict[str, Any]) -> None:
    text = render(name, locale, **values)
    assert NASTY not in text
    assert any(escaped in text for escaped in NASTY_ESCAPED)
    assert NASTY in _parsed(text)  # and Telegram shows it as typed


# ---------------------------------------------------------------- labels are plain text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_label_renders_as_short_plain_text(locale: str) -> None:
    for name, arguments in _label_macros(locale).items():
        for values in LABEL_SAMPLES.get(name, [{}]) if arguments else [{}]:
            text = label(name, locale, **values)
            assert text, name
            assert "<" not in text and "&" not in text, name
            assert len(text) <= 64, name


@pytest.mark.parametrize("locale", LOCALES)
def test_labels_are_not_html_escaped(locale: str) -> None:
    assert label("ticked", locale, text=NASTY) == f"✅ {NASTY}"
    assert NASTY in label("enterprise_button", locale, name=NASTY, days=3, overdue=False)


@pytest.mark.parametrize("locale", LOCALES)
def test_enterprise_button_truncates_a_long_name(locale: str) -> None:
    name = "枝江市楚韵纺织有限公司" * 5
    text = label("enterprise_button", locale, name=name, days=45, overdue=True)
    assert text.startswith("⚠ " + name[:21] + "…")
    assert name[:22] not in text
    assert len(text) <= 45


@pytest.mark.parametrize("locale", LOCALES)
def test_enterprise_button_keeps_a_short_name_whole(locale: str) -> None:
    text = label("enterprise_button", locale, name="白洋港机械", days=12, overdue=False)
    assert text.startswith("白洋港机械 · ")
    assert "12" in text and "…" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_each_enterprise_button_state_reads_differently(locale: str) -> None:
    texts = {label("enterprise_button", locale, **values) for values in LABEL_SAMPLES["enterprise_button"]}
    assert len(texts) == len(LABEL_SAMPLES["enterprise_button"])


def test_an_unknown_label_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        label("no_such_label", "en")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_form_can_be_named_when_its_draft_is_offered_back(locale: str) -> None:
    from bot.app import FORMS

    for form in FORMS:
        assert label("form_name", locale, code=form.name), form.name


def _area_label_macros(locale: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    root = TEMPLATES / locale
    for path in root.rglob("labels.txt.j2"):
        area = str(path.parent.relative_to(root))
        if area == ".":
            continue
        module = environment().get_template(f"{locale}/{area}/labels.txt.j2").module
        found |= {f"{area}.{name}": tuple(value.arguments) for name, value in vars(module).items()
                  if isinstance(value, Macro)}
    return found


def test_both_locales_have_the_same_area_labels_with_the_same_arguments() -> None:
    assert _area_label_macros("en") == _area_label_macros("zh_CN")
    assert len(_area_label_macros("zh_CN")) > 20
