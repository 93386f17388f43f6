"""The machinery of the conversation fuzzer (tests/conversations/test_fuzz.py).

A `Harness` owns an event loop, the Bot API emulator, the real bot polling it and a database
(SQLite, or PostgreSQL with FUZZ_DATABASE=postgresql), all started once per test module. Each Hypothesis example then:

1. resets the database to one fixed world (`seed`), so an example replays exactly when
   Hypothesis shrinks it: the same rows, the same ids;
2. plays one user — an officer, a supervisor or an owner, a new Telegram account each time —
   through a list of `Action`s: taps on the buttons shown, on older messages, forged callback
   data, texts of every kind, commands mid-step, stickers, photos, voice notes, locations;
3. checks after every action that the update was processed and answered (never silent), that
   no handler crashed (no error template, no ERROR log), that Telegram would have accepted
   every call (`emulator.violations`), that the draft names a real form and step, and that a
   record was only added (a report, a founding or an enterprise only changed) by pressing 提交
   on a confirmation card;
4. checks the database at the end: every new record inside its author's region, audited, and
   holding exactly the text that was typed; feedback statuses, ratings, people's stage dates,
   drafts' enterprises and the users themselves still consistent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import FORMS
from bot.emulator import BotApiEmulator, UserChat
from bot.emulator.models import ApiCall
from bot.sender import Pacer
from handlers.forms import PENDING, DateStep, LookupStep, MediaStep, MultiStep, NumberStep, TextStep
from handlers.nomination import ContactsStep, NameStep, clean_name
from handlers.reminders import AwayStep
from output.render import label, render
from storage import development, foundings, officers, people, visits
from storage import feedback as feedbacks
from storage.clock import FixedClock
from storage.db import make_async_engine, make_session_factory
from storage.enums import FeedbackStatus, ReviewStatus, Role
from storage.models import (
    Assignment,
    AuditEntry,
    Base,
    Draft,
    Enterprise,
    Feedback,
    Founding,
    Person,
    Review,
    ReviewNote,
    User,
    Visit,
)
from storage.officers import Member
from storage.scope import covers
from storage.sweep import sweep as run_sweep
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, TODAY, _enterprise, start_bot, stop_bot

T = TypeVar("T")
TZ = ZoneInfo("Asia/Shanghai")
LOCALES = ("zh_CN", "en")
# What the user sees after the bot answered: a new or changed message, a file, a photo.
VISIBLE = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "editMessageCaption",
                     "sendDocument", "sendPhoto"})
SUBMIT_PRESS = re.compile(r"^f:\d+:\d+:~submit$")
# Records a confirmation card guards, with the audit entity of each.
GUARDED: dict[str, type[Base]] = {"visit": Visit, "person": Person, "feedback": Feedback, "founding": Founding}
# Rows that change only by 提交 on a card: reports, foundings, and the enterprises they update.
CONFIRMED: tuple[type[Base], ...] = (Visit, Founding, Enterprise)
# What a template must never leave in a reply: Jinja syntax, Python's None, undefined values.
LEAKS = ("{{", "}}", "{%", "%}", "None", "Undefined", "undefined")
ESCAPED = ("&lt;", "&gt;", "&amp;", "&quot;", "&#")
MAX_REPLIES = 10  # /review sends a heading and five cards; /digest texts, a chart and a file


# ---------------------------------------------------------------- the world every example starts from


@dataclass
class Seeded:
    """Ids of the fixed world, for forged callback data and the final checks."""

    officer: int = 0
    supervisor: int = 0
    owner: int = 0
    other_officer: int = 0
    enterprises: list[int] = field(default_factory=list)  # the last one is in another county
    people: list[int] = field(default_factory=list)
    feedback: list[int] = field(default_factory=list)
    visits: list[int] = field(default_factory=list)
    foundings: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)
    max_ids: dict[str, int] = field(default_factory=dict)
    texts: set[tuple[str, str, str]] = field(default_factory=set)
    users: dict[int, tuple[str, str, int | None]] = field(default_factory=dict)  # role, region, Telegram id


async def seed(factory: async_sessionmaker[AsyncSession], telegram_ids: dict[str, int]) -> Seeded:
    """An officer of 枝江市 with three enterprises (one named with HTML specials), a supervisor of
    宜昌市, the owner of 楚韵纺织, an officer of 远安县 with an enterprise out of 枝江市's reach;
    people at several stages, feedback in every status, a visit and a founding still open to
    correction and waiting for review."""
    ids = Seeded()
    async with unit_of_work(factory) as uow:
        s = uow.session
        invites = {
            "officer": await officers.create_invite(s, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市", now=NOW),
            "supervisor": await officers.create_invite(s, role=Role.SUPERVISOR, name="李督导", region="宜昌市",
                                                       now=NOW),
            "other_officer": await officers.create_invite(s, role=Role.OFFICER, name="赵远", region="宜昌市/远安县",
                                                          now=NOW),
        }
        users: dict[str, User] = {}
        for key, invite in invites.items():
            users[key] = await officers.redeem_invite(s, code=invite.code, telegram_user_id=telegram_ids[key],
                                                      chat_id=telegram_ids[key], now=NOW)
        chuyun = _enterprise("枝江市楚韵纺织有限公司", "宜昌市/枝江市/马家店街道", "91420583MA4F00001X",
                             employees=120, party_members=2, owner_name="张总")
        baiyang = _enterprise("枝江市白洋港机械制造有限公司", "宜昌市/枝江市/白洋镇", "91420583MA4F00002X")
        special = _enterprise("枝江市A&B<科技>有限公司", "宜昌市/枝江市/董市镇", "91420583MA4F00005X",
                              owner_name="<b>老板</b>")
        dongshi = _enterprise("枝江市董市镇酒业有限公司", "宜昌市/枝江市/董市镇", "91420583MA4F00003X")
        yuanan = _enterprise("远安县楚韵茶业有限公司", "宜昌市/远安县", "91420525MA4F00004X")
        s.add_all([chuyun, baiyang, special, dongshi, yuanan])
        await s.flush()
        officer, other = users["officer"], users["other_officer"]
        long_ago = TODAY - timedelta(days=300)
        s.add_all([
            Assignment(enterprise_id=chuyun.id, officer_id=officer.id, started_on=long_ago),
            Assignment(enterprise_id=baiyang.id, officer_id=officer.id, started_on=long_ago),
            Assignment(enterprise_id=special.id, officer_id=officer.id, started_on=long_ago),
            Assignment(enterprise_id=yuanan.id, officer_id=other.id, started_on=long_ago),
        ])
        ids.enterprises = [chuyun.id, baiyang.id, special.id, dongshi.id, yuanan.id]
        owner_invite = await feedbacks.create_owner_invite(s, chuyun, Member.of(officer), NOW)
        users["owner"] = await officers.redeem_invite(s, code=owner_invite.code, telegram_user_id=telegram_ids["owner"],
                                                      chat_id=telegram_ids["owner"], now=NOW)
        ids.officer, ids.supervisor, ids.owner, ids.other_officer = (
            users["officer"].id, users["supervisor"].id, users["owner"].id, other.id)

        earlier = NOW - timedelta(days=400)
        recent = NOW - timedelta(hours=2)
        for enterprise, days, when in ((chuyun, 45, earlier), (baiyang, 12, earlier), (special, 3, recent)):
            visit = await visits.create(s, visits.NewVisit(
                enterprise_id=enterprise.id, officer_id=officer.id, visit_date=TODAY - timedelta(days=days),
                activities=["policy"], summary="上次走访 <b>&</b>", follow_up=None, employees=None,
                party_members=None, media=[], latitude=None, longitude=None,
            ), actor_label=officer.name, now=when)
            ids.visits.append(visit.id)
        far = await visits.create(s, visits.NewVisit(
            enterprise_id=yuanan.id, officer_id=other.id, visit_date=TODAY - timedelta(days=5), activities=["help"],
            summary="外县走访", follow_up=None, employees=None, party_members=None, media=[], latitude=None,
            longitude=None,
        ), actor_label=other.name, now=recent)
        ids.visits.append(far.id)

        def person(enterprise: Enterprise, name: str, stage: str, applied: date, by: User = officer,
                   **dates: Any) -> people.NewPerson:
            return people.NewPerson(enterprise_id=enterprise.id, officer_id=by.id, name=name, gender="male",
                                    birth_date=date(1990, 5, 12), stage=stage, applied_on=applied,
                                    contacts=["张三", "李四"], **dates)

        for new, when in (
            (person(chuyun, "李明", "applicant", date(2026, 10, 1)), earlier),
            (person(baiyang, "老积极分子", "activist", date(2025, 10, 1), activist_on=date(2026, 1, 10)), earlier),
            (person(special, "<i>陈</i>&候选", "candidate", date(2024, 3, 1), activist_on=date(2024, 9, 1),
                    notice_started_on=date(2025, 9, 10), candidate_on=date(2025, 9, 20)), recent),
            (person(yuanan, "外县的人", "applicant", date(2026, 11, 1), by=other), earlier),
        ):
            ids.people.append((await people.create(s, new, actor_label="种子", now=when)).id)

        def item(enterprise: Enterprise, content: str, *, owner: User | None = None,
                 by: User | None = officer) -> feedbacks.NewFeedback:
            return feedbacks.NewFeedback(enterprise_id=enterprise.id, raised_by="张总", channel="owner" if owner else
                                         "officer", category="hiring", content=content, urgency="normal",
                                         officer_id=None if owner else by.id if by else None,
                                         owner_id=owner.id if owner else None)

        open_item = await feedbacks.create(s, item(chuyun, "招工难 <script>"), actor_id=officer.id,
                                           actor_label=officer.name, now=recent)
        working = await feedbacks.create(s, item(baiyang, "用电"), actor_id=officer.id, actor_label=officer.name,
                                         now=earlier)
        await feedbacks.transition(s, working, FeedbackStatus.IN_PROGRESS, note=None, actor_id=officer.id,
                                   actor_label=officer.name, now=earlier)
        owners_done = await feedbacks.create(s, item(chuyun, "贷款贴息", owner=users["owner"]),
                                             actor_id=users["owner"].id, actor_label="张总", now=earlier)
        await feedbacks.transition(s, owners_done, FeedbackStatus.RESOLVED, note="已对接农商行 & <银行>",
                                   actor_id=officer.id, actor_label=officer.name, now=earlier)
        owners_open = await feedbacks.create(s, item(chuyun, "办证", owner=users["owner"]),
                                             actor_id=users["owner"].id, actor_label="张总", now=recent)
        far_item = await feedbacks.create(s, item(yuanan, "外县诉求", by=other), actor_id=other.id,
                                          actor_label=other.name, now=recent)
        ids.feedback = [open_item.id, working.id, owners_done.id, owners_open.id, far_item.id]

        # A joint branch (董市镇酒业 and 白洋港), so cards offer changing and splitting it.
        founding = await foundings.create(s, foundings.NewFounding(
            enterprise_id=dongshi.id, enterprise_ids=[dongshi.id, baiyang.id], founded_on=TODAY - timedelta(days=3),
            category="branch", formation="joint", secretary="刘书记", members=3, officer_id=officer.id,
        ), actor_label=officer.name, now=recent)
        far_founding = await foundings.create(s, foundings.NewFounding(
            enterprise_id=yuanan.id, founded_on=TODAY - timedelta(days=30), category="branch", formation="joint",
            secretary="远书记", members=5, officer_id=other.id,
        ), actor_label=other.name, now=earlier)
        ids.foundings = [founding.id, far_founding.id]
        # A draft of another user, so forged draft ids can name one that is not the caller's.
        s.add(Draft(user_id=other.id, form="visit", step="visit_date", answers={"enterprise": yuanan.id},
                    created_at=NOW - timedelta(days=2), updated_at=NOW - timedelta(days=2)))
        await run_sweep(s, now=NOW, tz=TZ)
        await uow.commit()
    async with factory() as session:
        from storage.models import OutboxMessage

        ids.outbox = list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
        for name, model in GUARDED.items():
            ids.max_ids[name] = await session.scalar(select(func.max(model.id))) or 0  # type: ignore[attr-defined]
        ids.texts = await stored_texts(session)
        ids.users = {u.id: (u.role, u.region, u.telegram_user_id) for u in await session.scalars(select(User))}
    return ids


async def wipe(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
        await session.commit()


Snapshot = list[tuple[Any, list[dict[str, Any]]]]


async def snapshot(factory: async_sessionmaker[AsyncSession]) -> Snapshot:
    """Every row of every table, to put the seeded world back faster than seeding it again."""
    async with factory() as session:
        return [(table, [dict(row) for row in (await session.execute(select(table))).mappings()])
                for table in Base.metadata.sorted_tables]


async def restore(factory: async_sessionmaker[AsyncSession], rows: Snapshot, telegram: dict[int, int]) -> None:
    """The snapshot again, with each user's Telegram account (and chat) replaced by a new one."""
    await wipe(factory)
    async with factory() as session:
        for table, values in rows:
            if not values:
                continue
            for column in ("telegram_user_id", "chat_id"):
                if column in table.c:
                    values = [{**v, column: telegram.get(v[column], v[column])} for v in values]
            await session.execute(insert(table), values)
            if session.bind.dialect.name == "postgresql" and "id" in table.c:
                # Rows went in with their ids: move the sequence past them for the rows to come.
                await session.execute(sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"))
        await session.commit()


# ---------------------------------------------------------------- what the user does


@dataclass(frozen=True)
class Action:
    """One thing a user does, with its parameters in `arg` (shown in Hypothesis' reports):

    - `tap(i)`: the i-th button (modulo their number) of the newest message with buttons;
    - `stale((m, i))`: the i-th button of the m-th older message with buttons;
    - `forge(data)`: a callback the bot never offered (`FormPress`, `Ref` or raw data);
    - `answer(text)`: what fits the question the draft is at (`Harness.fitting`), `text` itself
      where free text is asked;
    - `text(text)`: any text or command, whatever is asked;
    - `photo(caption)`, `voice()`, `sticker(emoji)`, `location((lat, lon))`, `document(name)`.
    """

    kind: str
    arg: Any = None

    def __repr__(self) -> str:
        shown = self.arg
        if isinstance(shown, str) and len(shown) > 60:
            shown = f"{shown[:20]!r}…({len(shown)} chars)"
        return f"{self.kind}({shown!r})" if self.arg is not None else f"{self.kind}()"


@dataclass(frozen=True)
class Ref:
    """Forged callback data naming a record of the seeded world (or a new or absurd id):
    `pattern` with `{}` replaced by the `index`-th id of `kind`."""

    pattern: str
    kind: str
    index: int
    suffix: str = ""  # after the data: does a pattern take `ent:show:1x` or `ent:show:1\n` for `ent:show:1`?


@dataclass(frozen=True)
class FormPress:
    """A forged form button `f:<draft>:<seq>:<key>` aimed at the caller's real draft (offsets
    0 make it look exactly like a button of the current question)."""

    key: str
    draft_offset: int
    seq_offset: int


# The conversations, by who starts them and with which commands (one is drawn per example).
# `/mine` opens the enterprise cards and their buttons, `/people` the person cards, `/feedback`
# the items' lifecycle and the owner links; the last group of each role is the small commands.
CONVERSATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "officer": {"visit": ("/visit",), "nominate": ("/nominate",), "feedback": ("/feedback",),
                "people": ("/people",), "found": ("/found",), "mine": ("/mine",), "away": ("/away", "/back"),
                # 调整党组织 from the card of an enterprise with an organisation (`ORG_CHANGE`).
                "org_change": ("org:change:{}",),
                "digest": ("/digest",), "small": ("/cancel", "/help", "/start", "/back")},
    "supervisor": {"review": ("/review",), "export": ("/export",), "digest": ("/digest",),
                   "feedback": ("/feedback",), "small": ("/help", "/cancel", "/mine", "/people", "/start")},
    "owner": {"feedback": ("/feedback",), "mine": ("/mine",), "small": ("/help", "/cancel", "/visit", "/start")},
}
MIDDLE_COMMANDS = ("/cancel", "/visit", "/help", "/mine", "/foo", "/feedback", "/start", "/start BADCODE",
                   "/start 自造", "/people", "/nominate", "/found", "/away", "/back", "/review", "/cancel 现在",
                   "/visit@liaison_sandbox_bot", "/visit@other_bot", "/", "/Visit", "/export", "/digest")
PLAUSIBLE = ("今天", "昨天", "前天", "2026-11-20", "11-20", "2026年11月24日", "11月1日", "2026-11-25", "2026-12-30",
             "12-30", "2025-11-25", "2026-02-29", "13-45", "1990-05-12", "1995/3/1", "2010-01-01", "1900-01-01",
             "0000-00-00", "3", "0", "5", "120", "-5", "１２０", "1,200", "130人", "99999999999999999999", "楚韵",
             "白洋", "dszjy", "茶业", "A&B", "<科技>", "张三", "李四、王五", "张三,李四,王五", "李明", "李　明", "男",
             "女", "紧急", "一般", "融资", "提交", "跳过", "取消", "下一步", "没有变化", "车间主任",
             "与董事长交流了用工难问题。", "  ", "𠀋𠀌", "a" * 33, "%", "_", "\\")
SPECIALS = "<>&\"'*_[]()~`#+-=|{}.!\\/@:;\n\t\r\x00\x1b\u200b\u202e\ufeff😀👍🏻👨‍👩‍👧中文楚韵"
STEP_NAMES = sorted({step.name for form in FORMS for step in form.steps} | {"confirm", "nope"})
OPTION_KEYS = ("~submit", "~cancel", "~skip", "~done", "~today", "~yesterday", "~other", "~search", "~edit:",
               "policy", "activists", "same", "update", "male", "female", "staff", "owner", "other", "applicant",
               "activist", "candidate", "probationary", "full", "withdrawn", "hiring", "urgent", "critical",
               "normal", "branch", "joint", "independent", "e1", "e3", "e5", "e0", "e999999999999", "x",
               "single", "attached", "committee", "general_branch", "category", "secretary", "split", "standard",
               "manager", "sent", "o1", "o2", "o0", "o999999999999")
REF_PATTERNS: dict[str, tuple[str, ...]] = {
    "enterprise": ("ent:show:{}", "visit:start:{}", "nominate:start:{}", "found:start:{}", "org:change:{}",
                   "fb:new:{}", "fb:link:{}",
                   "people:ent:{}", "people:page:1:e{}", "people:page:2:e{}"),
    "person": ("people:show:{}", "people:advance:{}:activist", "people:advance:{}:candidate",
               "people:advance:{}:probationary", "people:advance:{}:full", "people:advance:{}:withdrawn",
               "people:review:{}", "people:withdraw:{}", "people:talk:{}", "nominate:correct:{}", "review:ok:p:{}",
               "review:fix:p:{}"),
    "feedback": ("fb:show:{}", "fb:start:{}", "fb:resolve:{}", "fb:close:{}", "fb:correct:{}", "rate:{}:1",
                 "rate:{}:5", "rate:{}:0", "rate:{}:9", "review:ok:f:{}", "review:fix:f:{}"),
    "visit": ("visit:correct:{}", "review:ok:v:{}", "review:fix:v:{}"),
    "founding": ("found:correct:{}", "review:ok:o:{}", "review:fix:o:{}"),
    "outbox": ("remind:later:{}", "remind:skip:{}"),
    "draft": ("draft:resume:{}", "draft:restart:{}:visit", "draft:restart:{}:nominate", "draft:restart:{}:away",
              "draft:restart:{}:feedback", "draft:restart:{}:nope", "draft:restart:{}:owner_feedback",
              "draft:restart:{}:review_comment", "draft:restart:{}:advance"),
    "page": ("mine:page:{}", "people:page:{}", "fb:page:{}"),
}
# The seeded enterprise whose card opens 调整党组织: 董市镇酒业, in a joint branch with 白洋港.
ORG_CHANGE_ENTERPRISE = 3
PLAIN_DATA = ("fb:new", "fb:link", "owner:mine", "mine:page:1", "people:page:1", "fb:page:1", "f:", "draft:",
              "ent:show:", "rate::", " ", "f:1:1:~submit ", "\u200bf:1:1:~submit", "ＦＢ:new")


def _fit_64(text: str) -> str:
    data = text.encode()[:64]
    return data.decode(errors="ignore") or "x"


def forged() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(FormPress, st.sampled_from(OPTION_KEYS) | st.sampled_from(STEP_NAMES).map(lambda n: "~edit:" + n),
                  st.sampled_from((0, 0, 0, -1, 1)), st.sampled_from((0, 0, -1, 1, 7))),
        st.sampled_from(sorted(REF_PATTERNS)).flatmap(
            lambda kind: st.builds(Ref, st.sampled_from(REF_PATTERNS[kind]), st.just(kind), st.integers(0, 12),
                                   st.sampled_from(("", "", "", "x", "0", ":", " ", "\n")))),
        st.sampled_from(PLAIN_DATA),
        st.text(min_size=1, max_size=64).map(_fit_64),
        st.binary(min_size=1, max_size=64).map(lambda b: b.decode("latin-1")).map(_fit_64),
    )


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(PLAUSIBLE),
        st.text(max_size=80),
        st.text(alphabet=st.sampled_from(SPECIALS), min_size=1, max_size=60),
        st.sampled_from(("楚", "a", "<", "&", "😀", "*_")).map(lambda c: c * 5000),
    )


# How often each kind of action is drawn: mostly pressing what is shown and answering what is
# asked, so scripts get deep into the forms (to their confirmation cards) and not only past
# their first question; the rest is everything else a user or a modified client can send.
WEIGHTS = {"tap": 6, "answer": 8, "forge": 2, "stale": 2, "text": 2, "command": 1, "media": 2}


def _payload(kind: str) -> st.SearchStrategy[Action]:
    if kind == "tap":
        return st.builds(Action, st.just("tap"), st.integers(0, 40))
    if kind == "answer":
        return st.builds(Action, st.just("answer"), texts())
    if kind == "forge":
        return st.builds(Action, st.just("forge"), forged())
    if kind == "stale":
        return st.builds(Action, st.just("stale"), st.tuples(st.integers(0, 20), st.integers(0, 40)))
    if kind == "text":
        return st.builds(Action, st.just("text"), texts())
    if kind == "command":
        return st.builds(Action, st.just("text"), st.sampled_from(MIDDLE_COMMANDS))
    return st.one_of(
        st.builds(Action, st.just("photo"), st.none() | st.sampled_from(("现场照片", "<b>", "/cancel"))),
        st.builds(Action, st.just("voice")),
        st.builds(Action, st.just("sticker"), st.sampled_from(("👍", "😀", "🏳️‍🌈"))),
        st.builds(Action, st.just("location"), st.tuples(st.floats(-90, 90), st.floats(-180, 180))),
        st.builds(Action, st.just("document"), st.sampled_from(("a.xlsx", "<x>.txt", "名单.pdf"))),
    )


def actions() -> st.SearchStrategy[Action]:
    """The alphabet, weighted by `WEIGHTS` (Hypothesis shrinks towards taps)."""
    kinds = [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]
    return st.sampled_from(kinds).flatmap(_payload)


def _opening(command: str) -> Action:
    """A command typed, or a card's button (callback data naming a seeded enterprise) pressed."""
    if ":" in command:
        return Action("forge", Ref(command, "enterprise", ORG_CHANGE_ENTERPRISE))
    return Action("text", command)


def scenario(role: str, conversation: str, max_actions: int) -> st.SearchStrategy[list[Action]]:
    first = st.sampled_from([_opening(command) for command in CONVERSATIONS[role][conversation]])
    return st.tuples(first, st.lists(actions(), min_size=max_actions // 2, max_size=max_actions)).map(
        lambda t: [t[0], *t[1]])


FORMS_BY_NAME = {form.name: form for form in FORMS}
# Dates that fit each date question of the seeded world (and a few that do not).
FITTING_DATES: dict[str, tuple[str, ...]] = {
    "birth_date": ("1990-05-12", "1985-01-01", "2015-01-01"),
    "applied_on": ("2024-01-10", "2026-11-20", "1990-01-01"),
    "talked_on": ("2024-02-01", "今天"),
    "activist_on": ("2024-08-01", "2024-01-01"),
    "notice_started_on": ("2025-09-01",),
    "candidate_on": ("2025-09-15",),
    "probation_on": ("2025-10-20",),
    "full_on": ("2026-10-21",),
    "until": ("12-01", "2027-03-01", "昨天"),
    "founded_on": ("2026-11-01", "今天"),
    "changed_on": ("今天", "2026-11-24", "2020-01-01"),
    "written_on": ("今天", "2026-11-01"),
    "withdrawn_on": ("今天", "2026-11-20"),
}


# ---------------------------------------------------------------- playing and checking


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row if "callback_data" in button]


async def stored_texts(session: AsyncSession) -> set[tuple[str, str, str]]:
    """Every free text the database holds, as (table, column, value)."""
    columns = {
        Visit: ("summary", "follow_up"), Feedback: ("content", "resolution", "raised_by"),
        Founding: ("secretary",), Person: ("name", "position", "notes", "withdrawn_reason"),
        ReviewNote: ("content",), Review: ("comment",),
    }
    found: set[tuple[str, str, str]] = set()
    for model, names in columns.items():
        for name in names:
            for value in await session.scalars(select(getattr(model, name))):
                if value is not None:
                    found.add((model.__tablename__, name, value))
    # Contacts are names split out of one typed text.
    for contacts in await session.scalars(select(Person.contacts)):
        found.update(("people", "contacts", name) for name in contacts or [])
    return found


class Harness:
    """The emulator, the bot and the database of one test module, on a loop of its own."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.url = url
        self.errors = ErrorLog()
        self.telegram_ids = itertools.count(900_000_001)
        self.actions_played = 0
        self.paced = 0.0
        self.world: tuple[dict[str, int], Snapshot] | None = None
        self.reached: set[tuple[str, str]] = set()  # (form, step) the user's drafts reached
        self.saved: dict[str, int] = {}  # records added by 提交, per kind
        self.pressed: dict[str, int] = {}  # callback data prefixes pressed, for the survey
        # FUZZ_COLLECT=<file>: note every failing example there and go on (to survey bugs).
        self.collect: list[str] | None = [] if os.environ.get("FUZZ_COLLECT") else None
        self.examples_played = 0
        self.emu: BotApiEmulator
        self.app: Any
        self.factory: async_sessionmaker[AsyncSession]
        self.error_texts = {render("common/error", locale) for locale in LOCALES}
        self.unknown_buttons = {label("unknown_button", locale) for locale in LOCALES}

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)  # type: ignore[arg-type]

    async def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emu = BotApiEmulator()
        await self.emu.start()
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", self.emu.base_url)
        monkeypatch.setenv("DATABASE_URL", self.url)
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        self.app = await start_bot(self.emu, FixedClock(NOW))
        # The sender paces messages a second apart per chat, as Telegram wants; here on a clock of
        # its own that its sleeps advance, so notices and reminders go out without waiting.
        sender = self.app.bot_data.outbox
        sender.timer = lambda: self.paced

        async def sleep(seconds: float) -> None:
            self.paced += seconds

        sender.sleep = sleep
        self.engine = make_async_engine(self.url)
        self.factory = make_session_factory(self.engine)
        logging.getLogger().addHandler(self.errors)

    async def stop(self) -> None:
        if self.collect is not None:
            survey = [f"examples {self.examples_played}, actions {self.actions_played}, saved {self.saved}",
                      f"reached {sorted(self.reached)}", f"pressed {sorted(self.pressed.items())}"]
            Path(os.environ["FUZZ_COLLECT"]).write_text("\n".join(survey + self.collect) + "\n")
        logging.getLogger().removeHandler(self.errors)
        await stop_bot(self.app)
        await self.emu.stop()
        await self.engine.dispose()

    # ------------------------------------------------------------ one example

    async def play(self, role: str, script: list[Action], locale: str | None = None) -> None:
        """One example: `role` (in `locale`, or the bot's default) plays `script`."""
        telegram = {key: next(self.telegram_ids) for key in ("officer", "supervisor", "owner", "other_officer")}
        if self.world is None:
            await wipe(self.factory)
            self.seeded = await seed(self.factory, telegram)
            self.world = (telegram, await snapshot(self.factory))
        else:
            first, rows = self.world
            await restore(self.factory, rows, {first[key]: telegram[key] for key in telegram})
        self.typed: list[str] = []
        self.chats: dict[str, UserChat] = {}
        for key, telegram_id in telegram.items():
            chat = self.emu.user(telegram_id, key)
            # Each of them has talked to the bot before: their chats exist for it.
            self.emu.world.ensure_chat(chat.user).known = True
            self.chats[key] = chat
        self.me = self.chats[role]
        self.member_id = {"officer": self.seeded.officer, "supervisor": self.seeded.supervisor,
                          "owner": self.seeded.owner}[role]
        if locale is not None:
            async with unit_of_work(self.factory) as uow:
                await uow.session.execute(update(User).where(User.id == self.member_id).values(locale=locale))
                await uow.commit()
        self.errors.records.clear()
        violations = len(self.emu.violations)
        # The reminders of the morning sweep reach the officer, with their buttons.
        data = self.app.bot_data
        data.outbox.pacer = Pacer()
        await data.outbox.drain(self.app.bot, self.factory, limit=50)
        assert self.emu.violations[violations:] == [], "draining the seeded reminders broke the API contract"
        try:
            for step, action in enumerate(script):
                await self.act(step, action)
            await self.check_database()
        except AssertionError as failure:
            if self.collect is None:
                raise
            self.collect.append(f"{role} {locale} {script!r}\n    {str(failure).splitlines()[0][:400]}")
        self.examples_played += 1

    async def act(self, step: int, action: Action) -> None:
        emu, chat = self.emu, self.me
        calls, violations = len(emu.calls), len(emu.violations)
        counts = await self.counts()
        query_id: str | None = None
        data: str | None = None
        kind, arg = action.kind, action.arg
        if kind == "answer":
            kind, arg = await self.fitting(arg)
        if kind in ("tap", "stale"):
            data, message_id = self.pick_button(kind, arg)
            if data is None:
                kind, arg = "text", "/help"  # nothing to press: the user types instead
            else:
                update_id = chat.tap(data=data, message_id=message_id)
                query_id = self._last_query()
        if kind == "forge":
            data = await self.forge_data(arg)
            if not chat.messages:
                update_id = chat.send_text("/help")
                await emu.wait_processed(update_id)
                calls, violations = len(emu.calls), len(emu.violations)
            update_id = chat.forge_callback(data)
            query_id = self._last_query()
        elif kind == "text":
            self.typed.append(arg)
            update_id = chat.send_text(arg)
        elif kind == "photo":
            if arg:
                self.typed.append(arg)
            update_id = chat.send_photo(caption=arg)
        elif kind == "voice":
            update_id = chat.send_voice()
        elif kind == "sticker":
            update_id = chat.send_sticker(arg)
        elif kind == "location":
            update_id = chat.send_location(*arg)
        elif kind == "document":
            update_id = chat.send_document(arg, b"PK\x03\x04 not really")
        elif kind not in ("tap", "stale"):
            raise AssertionError(f"unknown action {action}")
        self.actions_played += 1
        where = f"step {step}: {action!r}" + (f" as {kind}({arg!r:.60})" if action.kind == "answer" else "")
        where += f" (callback data {data!r})" if data is not None else ""
        if data is not None:
            prefix = ":".join(data.split(":")[:2])[:20]
            self.pressed[prefix] = self.pressed.get(prefix, 0) + 1
        await emu.wait_processed(update_id, timeout=20)
        new = emu.calls[calls:]
        self.check_answered(where, new, query_id, shown=action.kind in ("tap", "stale") or kind == "tap")
        broken = [str(v) for v in emu.violations[violations:]]
        assert broken == [], f"{where}: the bot made calls Telegram refuses: {broken}"
        crashed = [r.getMessage() + (f" {r.exc_info[1]!r}" if r.exc_info else "") for r in self.errors.records]
        assert crashed == [], f"{where}: ERROR logged: {crashed}"
        await self.check_state(where, counts, data)

    async def fitting(self, text: str) -> tuple[str, Any]:
        """What answers the question the user's draft is at, mostly well (so the script gets on to
        the next one): a date, a number, a name, a search that finds something, a photo, a press
        of an option — or the random `text` itself where free text is asked."""
        async with self.factory() as session:
            draft = await session.scalar(select(Draft).where(Draft.user_id == self.member_id))
        pick = len(text)
        if draft is None or draft.form not in FORMS_BY_NAME:
            return "text", text
        form = FORMS_BY_NAME[draft.form]
        if form.confirm is not None and draft.step == form.confirm.name:
            return "tap", 0  # 提交
        step = form.step(draft.step)
        if isinstance(step, LookupStep):
            if (draft.mode and draft.mode.startswith("q:")) or pick % 2 == 0:
                return "tap", pick // 2 % 3  # one of the first suggestions or results
            return "text", ("楚韵", "dszjy", "A&B", "白洋", "酒业", "<科技>")[pick % 6]
        if isinstance(step, MultiStep):
            ticked = draft.answers.get(PENDING) or draft.answers.get(step.name)
            return "tap", -1 if ticked else pick % len(step.options)  # 下一步 once something is ticked
        if isinstance(step, MediaStep):
            return ("photo", None) if pick % 3 == 0 else ("location", (30.42, 111.76)) if pick % 3 == 1 else ("tap", 0)
        if isinstance(step, (DateStep, AwayStep)):
            dates = FITTING_DATES.get(step.name, ("今天", "昨天", "2026-11-20"))
            return "text", dates[pick % len(dates)]
        if isinstance(step, NumberStep):
            return "text", ("3", "5", "120", "40")[pick % 4]
        if isinstance(step, ContactsStep):
            return "text", ("张三、李四", "王五", "<赵>&钱")[pick % 3]
        if isinstance(step, NameStep):
            fits = any(ch.isalpha() for ch in text) and len(text.strip()) <= 32
            return "text", text if fits else ("李明", "王<小>明", "A&B 张")[pick % 3]
        if isinstance(step, TextStep):
            return "text", text
        return "tap", pick  # a choice: press one of its options

    def _last_query(self) -> str:
        return next(reversed(self.emu.world.callback_queries))

    def pick_button(self, kind: str, arg: Any) -> tuple[str | None, int | None]:
        with_buttons = [m for m in self.me.messages if _buttons(m)]
        if not with_buttons:
            return None, None
        if kind == "tap":
            message, index = with_buttons[-1], arg
        else:
            older = with_buttons[:-1] or with_buttons
            message, index = older[arg[0] % len(older)], arg[1]
        buttons = _buttons(message)
        return str(buttons[index % len(buttons)]["callback_data"]), int(message["message_id"])

    async def forge_data(self, arg: Any) -> str:
        if isinstance(arg, str):
            return arg
        async with self.factory() as session:
            if isinstance(arg, FormPress):
                draft = await session.scalar(select(Draft).where(Draft.user_id == self.member_id))
                draft_id, seq = (draft.id, draft.seq) if draft else (1, 1)
                return _fit_64(f"f:{max(draft_id + arg.draft_offset, 0)}:{max(seq + arg.seq_offset, 0)}:{arg.key}")
            assert isinstance(arg, Ref)
            seeded = self.seeded
            pool: list[int] = {
                "enterprise": seeded.enterprises, "person": seeded.people, "feedback": seeded.feedback,
                "visit": seeded.visits, "founding": seeded.foundings, "outbox": seeded.outbox,
                "page": [1, 2, 3],
            }.get(arg.kind, [])
            if arg.kind == "draft":
                pool = list(await session.scalars(select(Draft.id)))
            newest = {"person": Person, "feedback": Feedback, "visit": Visit, "founding": Founding}.get(arg.kind)
            if newest is not None:  # records made during this example
                top = await session.scalar(select(func.max(newest.id)))  # type: ignore[attr-defined]
                pool = [*pool, *(n for n in range(max(pool, default=0) + 1, (top or 0) + 1))]
            pool = [*pool, 0, 999_999_999_999, 2_147_483_648]
            return _fit_64(arg.pattern.format(pool[arg.index % len(pool)]) + arg.suffix)

    def check_answered(self, where: str, new: list[ApiCall], query_id: str | None, shown: bool) -> None:
        """`shown`: the press was of a button the bot itself sent (not forged)."""
        chat_id = str(self.me.id)
        mine = [c for c in new if str(c.chat_id) == chat_id and c.method in VISIBLE and c.ok]
        sent = [str(c.params.get("text") or c.params.get("caption") or "") for c in new
                if str(c.chat_id) == chat_id and c.method in VISIBLE]
        assert not self.error_texts & set(sent), f"{where}: the bot answered with the error template (a handler crashed)"
        if query_id is not None:
            answers = [c for c in new if c.method == "answerCallbackQuery"
                       and str(c.params.get("callback_query_id")) == query_id]
            assert len(answers) == 1 and answers[0].ok, f"{where}: the button press was answered {len(answers)} times"
            toast = str(answers[0].params.get("text") or "")
            assert toast or mine, f"{where}: the press was answered with nothing to see (no toast, no message)"
            assert not (shown and toast in self.unknown_buttons), f"{where}: a button the bot sent is not handled"
            if toast:
                sent.append(toast)
        else:
            assert mine, f"{where}: the bot did not answer at all; calls: {[c.method for c in new]}"
        assert len(mine) <= MAX_REPLIES, f"{where}: {len(mine)} messages in answer to one action"
        typed = " ".join(self.typed)
        for method, text in ((c.method, str(c.result.get("text") or c.result.get("caption") or ""))
                             for c in new if c.ok and isinstance(c.result, dict)):
            # What the user reads: neither template syntax nor HTML escaped twice (`&amp;lt;`).
            leaked = [leak for leak in (*LEAKS, *ESCAPED) if leak in text and leak not in typed]
            assert not leaked, f"{where}: {method} shows {leaked}: {text[:300]!r}"
        for text in sent:
            leaked = [leak for leak in LEAKS if leak in text and leak not in typed]
            assert not leaked, f"{where}: a reply shows {leaked}: {text[:300]!r}"

    async def counts(self) -> tuple[dict[str, int], dict[str, set[str]]]:
        """How many records of each guarded kind, and the rows only a 提交 may change."""
        async with self.factory() as session:
            counts = {name: await session.scalar(select(func.count()).select_from(model)) or 0
                      for name, model in GUARDED.items()}
            rows = {}
            for model in CONFIRMED:
                columns = [c for c in model.__table__.c if c.name != "updated_at"]  # type: ignore[attr-defined]
                rows[model.__tablename__] = {repr(tuple(row)) for row in await session.execute(select(*columns))}
        return counts, rows

    async def check_state(self, where: str, before: tuple[dict[str, int], dict[str, set[str]]],
                          data: str | None) -> None:
        (counts, rows), (after, rows_after) = before, await self.counts()
        grown = {name: after[name] - counts[name] for name in after if after[name] != counts[name]}
        submitted = data is not None and SUBMIT_PRESS.fullmatch(data) is not None
        if grown:
            assert submitted, f"{where}: records added without pressing 提交 on a confirmation card: {grown}"
            assert list(grown.values()) == [1], f"{where}: one 提交 added {grown}"
        changed = sorted(table for table in rows if rows[table] != rows_after[table])
        assert submitted or not changed, f"{where}: {changed} changed without pressing 提交 on a confirmation card"
        forms = {form.name: form for form in FORMS}
        async with self.factory() as session:
            drafts = list(await session.scalars(select(Draft)))
            users = set(await session.scalars(select(User.id)))
        self.reached.update((d.form, d.step) for d in drafts if d.user_id == self.member_id)
        for name, grew in grown.items():
            self.saved[name] = self.saved.get(name, 0) + grew
        for draft in drafts:
            assert draft.user_id in users, f"{where}: draft {draft.id} of a user that does not exist"
            assert draft.form in forms, f"{where}: draft {draft.id} names no form: {draft.form!r}"
            form = forms[draft.form]
            steps = {step.name for step in form.steps} | ({form.confirm.name} if form.confirm else set())
            assert draft.step in steps, f"{where}: draft {draft.id} of {draft.form} is at no step: {draft.step!r}"

    async def check_database(self) -> None:
        seeded = self.seeded
        async with self.factory() as session:
            regions = {u.id: u for u in await session.scalars(select(User))}
            enterprises = {e.id: e for e in await session.scalars(select(Enterprise))}
            created = {(a.entity, a.entity_id) for a in await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "create"))}
            for name, model in GUARDED.items():
                rows = await session.scalars(
                    select(model).where(model.id > seeded.max_ids[name]))  # type: ignore[attr-defined]
                for row in rows:
                    assert (name, row.id) in created, f"new {name} {row.id} has no audit entry"
                    region = enterprises[row.enterprise_id].region
                    author_id = row.owner_id if name == "feedback" and row.owner_id else row.officer_id
                    author = regions[author_id]
                    if author.role == Role.OWNER:
                        assert row.enterprise_id == author.enterprise_id, f"owner's {name} {row.id} is not theirs"
                    assert covers(author.region, region), f"{name} {row.id} at {region} outside {author.region}"
            texts = await stored_texts(session)
            await self.check_records(session, regions, enterprises)
        # As typed, but for NUL characters, which the bot drops (PostgreSQL cannot store them).
        said = [t.replace("\x00", "") for t in self.typed]
        typed = {t.strip() for t in said} | {clean_name(t) for t in said}
        typed |= {name for t in said for name in re.split(r"[、,，;；/\s]+", clean_name(t)) if name}
        derived = {e.owner_name for e in enterprises.values() if e.owner_name} | {u.name for u in regions.values()}
        derived |= {label(name, locale) for name in ("feedback.raised_owner", "feedback.owner_fallback_name")
                    for locale in LOCALES}
        for table, column, value in texts - seeded.texts:
            if (table, column) == ("feedback", "content") and feedbacks.voice_file(value):
                continue
            if (table, column) == ("feedback", "raised_by") and value in derived:
                continue
            assert value in typed, f"{table}.{column} holds {value!r}, which was never typed"


    async def check_records(self, session: AsyncSession, users: dict[int, User],
                            enterprises: dict[int, Enterprise]) -> None:
        """Whatever the script did, the records still make sense together."""
        for user_id, (role, region, telegram_id) in self.seeded.users.items():
            user = users[user_id]
            assert (user.role, user.region) == (role, region), f"user {user_id} became {user.role} of {user.region}"
            assert (telegram_id is None) == (user.telegram_user_id is None), f"user {user_id} (un)bound to Telegram"
        for item in await session.scalars(select(Feedback)):
            status = FeedbackStatus(item.status)
            final = status in feedbacks.FINAL
            assert final == (item.resolution is not None) == (item.closed_at is not None), (
                f"feedback {item.id} is {status} with resolution {item.resolution!r}, closed at {item.closed_at}")
            if item.rating is not None:
                assert final and item.owner_id is not None and item.rating in feedbacks.RATINGS, (
                    f"feedback {item.id} rated {item.rating} while {status}, owner {item.owner_id}")
        for person in await session.scalars(select(Person)):
            problem = development.check_dates(people.pipeline(person, None))
            assert problem is None, f"person {person.id} ({person.stage}) breaks {problem}"
        for review in await session.scalars(select(Review)):
            assert review.status in {s.value for s in ReviewStatus}, f"review {review.id}: {review.status!r}"
        for draft in await session.scalars(select(Draft)):
            owner = users[draft.user_id]
            enterprise = draft.answers.get("enterprise")
            if enterprise is not None:
                assert enterprise in enterprises and covers(owner.region, enterprises[enterprise].region), (
                    f"draft {draft.id} of {owner.name} names enterprise {enterprise} outside {owner.region}")
            # The other enterprises a joint branch is being formed with, or that leave one.
            if draft.form in ("found", "org_change"):
                for key in ("others", "leaving", "own", PENDING):
                    for other in draft.answers.get(key) or []:
                        assert other in enterprises and covers(owner.region, enterprises[other].region), (
                            f"draft {draft.id} of {owner.name} names enterprise {other} outside {owner.region}")


def module_harness(url: str) -> Iterator[Harness]:
    """A harness on the database at `url` (an empty, migrated one: it is wiped for each example)."""
    harness = Harness(url)
    with pytest.MonkeyPatch.context() as monkeypatch:
        harness.run(harness.start(monkeypatch))
        try:
            yield harness
        finally:
            harness.run(harness.stop())
            harness.loop.close()

