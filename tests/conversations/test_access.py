"""Access: nobody reads or writes outside their scope, whatever they type or forge.

The cast: 王芳 (officer of 宜昌市/枝江市), 赵远山 (officer of 宜昌市/远安县), 枝江督导 (supervisor of the
枝江市 subtree), 李督导 (supervisor of all 宜昌市), 管理员 (admin of 宜昌市), 张总 (owner of 楚韵纺织),
白总 (owner of 白洋港机械) and a stranger. 远安县 and 荆州市 hold records with words found nowhere else
("远安", "嫘祖", "荆州", "鱼糕"…): what an actor may not see must never appear in anything the bot
sends them, and a button they forge must change nothing in the database.

Every callback pattern the application registers has forged cases here: a pattern added later
without one fails `test_every_registered_callback_pattern_has_forged_cases`.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import CallbackQueryHandler

from bot.app import FORMS
from bot.emulator import BotApiEmulator
from output.render import label, render
from storage import officers, throttle
from storage.clock import FixedClock
from storage.enums import Role
from storage.models import (
    Assignment,
    Base,
    Draft,
    Enterprise,
    Feedback,
    Founding,
    Invite,
    InviteAttempt,
    OutboxMessage,
    Person,
    User,
    Visit,
)
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, TODAY, Talk, World, _enterprise

# ---------------------------------------------------------------- the scene

# Words that exist only in the records of one place: finding one in a reply is a leak.
YUANAN = ("远安", "嫘祖", "赵远山")
JINGZHOU = ("荆州", "鱼糕")
ZHIJIANG = ("枝江", "楚韵", "王芳")
# An owner sees their own enterprise only: not its neighbours, not another owner's requests.
OTHER_ENTERPRISES = ("白洋", "董市", "邻居商贸")

TELEGRAM_IDS = {"officer": 501, "yuanan_officer": 502, "supervisor": 503, "city_supervisor": 504, "admin": 505,
                "owner": 506, "owner_b": 507, "stranger": 599}
# Who forges, the records (outside their reach) they name, and what must never reach them.
FORGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "officer": ("yuanan", YUANAN + JINGZHOU),
    "supervisor": ("yuanan", YUANAN + JINGZHOU),
    "owner": ("owner_b", YUANAN + JINGZHOU + OTHER_ENTERPRISES),
    "admin": ("jingzhou", JINGZHOU),
    "stranger": ("yuanan", YUANAN + JINGZHOU + ZHIJIANG + OTHER_ENTERPRISES),
}
# Tables a refused button may touch: the caller's own draft (checked apart), and bookkeeping
# that is not business data.
NOT_BUSINESS = {"drafts", "processed_updates", "invite_attempts"}


@dataclass(frozen=True)
class Scene:
    talks: dict[str, Talk]
    users: dict[str, int]  # actor -> users.id
    # "yuanan" | "jingzhou" | "owner_b" -> kind -> id, the values forged data is made of
    records: dict[str, dict[str, int]]


async def _seed(factory: async_sessionmaker[AsyncSession], world: World) -> tuple[dict[str, str], dict[str, int],
                                                                                  dict[str, dict[str, int]]]:
    earlier, older = NOW - timedelta(hours=1), NOW - timedelta(days=2)
    async with unit_of_work(factory) as uow:
        s = uow.session
        invites = {
            "yuanan_officer": await officers.create_invite(s, role=Role.OFFICER, name="赵远山", region="宜昌市/远安县",
                                                           now=NOW),
            "supervisor": await officers.create_invite(s, role=Role.SUPERVISOR, name="枝江督导", region="宜昌市/枝江市",
                                                       now=NOW),
            "admin": await officers.create_invite(s, role=Role.ADMIN, name="管理员", region="宜昌市", now=NOW),
            "owner": await officers.create_invite(s, role=Role.OWNER, name="张总", region="宜昌市/枝江市/马家店街道",
                                                  now=NOW),
            "owner_b": await officers.create_invite(s, role=Role.OWNER, name="白总", region="宜昌市/枝江市/白洋镇",
                                                    now=NOW),
        }
        (await s.get_one(User, invites["owner"].user_id)).enterprise_id = world.chuyun
        (await s.get_one(User, invites["owner_b"].user_id)).enterprise_id = world.baiyang
        wang = await s.scalar(select(User.id).where(User.name == "王芳"))
        assert wang is not None
        zhao = invites["yuanan_officer"].user_id
        jz_officer = User(name="荆州联络员", role=Role.OFFICER.value, region="荆州市/沙市区", active=True, created_at=NOW)
        lizu = _enterprise("远安县嫘祖秘境文旅有限公司", "宜昌市/远安县/嫘祖镇", "91420525MA4F00005X")
        neighbour = _enterprise("枝江市马家店邻居商贸有限公司", "宜昌市/枝江市/马家店街道", "91420583MA4F00006X")
        jingzhou = _enterprise("荆州市沙市鱼糕有限公司", "荆州市/沙市区", "91421002MA4F00007X")
        s.add_all([jz_officer, lizu, neighbour, jingzhou])
        await s.flush()
        s.add_all([
            Assignment(enterprise_id=world.yuanan, officer_id=zhao, started_on=TODAY - timedelta(days=100)),
            Assignment(enterprise_id=lizu.id, officer_id=zhao, started_on=TODAY - timedelta(days=100)),
            Assignment(enterprise_id=jingzhou.id, officer_id=jz_officer.id, started_on=TODAY - timedelta(days=100)),
        ])

        def records(enterprise: int, officer: int, tag: str, created: datetime) -> tuple[Visit, Person, Feedback,
                                                                                        Founding]:
            return (
                Visit(enterprise_id=enterprise, officer_id=officer, visit_date=TODAY - timedelta(days=1),
                      activities=["policy"], summary=f"{tag}走访情况", created_at=created, updated_at=created),
                Person(enterprise_id=enterprise, officer_id=officer, name=f"{tag}申请人", gender="male",
                       birth_date=date(1990, 1, 1), stage="applicant", applied_on=date(2026, 11, 1), contacts=[],
                       created_at=created, updated_at=created),
                Feedback(enterprise_id=enterprise, raised_by=f"{tag}厂长", channel="officer", category="hiring",
                         content=f"{tag}招工难", urgency="normal", status="open", officer_id=officer,
                         created_at=created, updated_at=created),
                Founding(enterprise_id=enterprise, founded_on=date(2026, 11, 10), category="branch",
                         formation="single", secretary=f"{tag}书记", members=3, officer_id=officer,
                         created_at=created, updated_at=created),
            )

        ya = records(world.yuanan, zhao, "远安", earlier)
        jz = records(jingzhou.id, jz_officer.id, "荆州", earlier)
        zj = records(world.chuyun, wang, "枝江", older)
        own = Feedback(enterprise_id=world.chuyun, raised_by="张总", channel="owner", category="financing",
                       content="楚韵业主的贷款诉求", urgency="normal", status="resolved", resolution="已对接银行",
                       owner_id=invites["owner"].user_id, created_at=older, updated_at=earlier, closed_at=earlier)
        other_owner = Feedback(enterprise_id=world.baiyang, raised_by="白总", channel="owner", category="financing",
                               content="白洋业主的秘密诉求", urgency="normal", status="resolved", resolution="已办",
                               owner_id=invites["owner_b"].user_id, created_at=older, updated_at=earlier,
                               closed_at=earlier)
        draft = Draft(user_id=zhao, form="visit", step="visit_date", answers={"enterprise": world.yuanan}, seq=3,
                      created_at=earlier, updated_at=earlier)
        reminder = OutboxMessage(dedupe_key=f"overdue_visit:enterprise:{world.yuanan}:officer:{zhao}:2026-W48",
                                 user_id=zhao, chat_id=TELEGRAM_IDS["yuanan_officer"], kind="overdue_visit",
                                 text="远安县楚韵茶业有限公司已超期未走访", status="sent", sent_at=earlier,
                                 not_before=earlier, created_at=earlier)
        s.add_all([*ya, *jz, *zj, own, other_owner, draft, reminder])
        await s.flush()
        codes = {actor: invite.code for actor, invite in invites.items()}
        users = {actor: invite.user_id for actor, invite in invites.items()} | {"officer": wang}
        common = {"draft": draft.id, "seq": draft.seq, "reminder": reminder.id}
        found = {
            "yuanan": {"enterprise": world.yuanan, "visit": ya[0].id, "person": ya[1].id, "feedback": ya[2].id,
                       "founding": ya[3].id, **common},
            "jingzhou": {"enterprise": jingzhou.id, "visit": jz[0].id, "person": jz[1].id, "feedback": jz[2].id,
                         "founding": jz[3].id, **common},
            # An owner forges their neighbour's enterprise and the other owner's request.
            "owner_b": {"enterprise": world.baiyang, "visit": ya[0].id, "person": ya[1].id,
                        "feedback": other_owner.id, "founding": ya[3].id, **common},
            "own": {"enterprise": world.chuyun, "visit": zj[0].id, "person": zj[1].id, "feedback": zj[2].id,
                    "founding": zj[3].id, "other_owner_feedback": other_owner.id},
        }
        await uow.commit()
    return codes, users, found


@pytest.fixture
async def scene(bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]) -> Scene:
    codes, users, records = await _seed(factory, world)
    codes |= {"officer": world.officer_code, "city_supervisor": world.supervisor_code}
    talks = {actor: Talk(emulator, emulator.user(telegram_id, actor)) for actor, telegram_id in TELEGRAM_IDS.items()}
    # Everyone joins at once (chats are handled concurrently); the stranger only says hello.
    sent = [talk.chat.send_text(f"/start {codes[actor]}" if actor != "stranger" else "/start")
            for actor, talk in talks.items()]
    for update_id in sent:
        await emulator.wait_processed(update_id)
    for actor, talk in talks.items():
        expected = "您还没有加入" if actor == "stranger" else "您好"
        assert expected in talk.chat.plain(), (actor, talk.chat.plain())
    async with factory() as session:
        city = await session.scalar(select(User.id).where(User.name == "李督导"))
    assert city is not None
    return Scene(talks, users | {"city_supervisor": city}, records)


# ---------------------------------------------------------------- what the bot said, what changed


def said_since(emulator: BotApiEmulator, talk: Talk, since: int) -> str:
    """Everything the bot sent this user since call `since` (texts, captions, buttons, toasts),
    as one string; fails if the bot wrote to anyone else meanwhile."""
    mine = {call.index for call in talk.chat.callback_answers}
    parts = []
    for call in emulator.calls[since:]:
        if call.method in ("getUpdates", "getMe", "setMyCommands", "sendChatAction"):
            continue
        if call.method == "answerCallbackQuery":
            assert call.index in mine, f"answered someone else's button: {call.params}"
        elif "chat_id" in call.params:
            assert str(call.params["chat_id"]) == str(talk.chat.id), f"wrote to another chat: {call.method}"
        parts.append(json.dumps(call.params, ensure_ascii=False, default=str))
    return "\n".join(parts)


@dataclass(frozen=True)
class Snapshot:
    business: dict[str, list[str]]  # every row of every business table
    drafts: dict[int, tuple[str, dict[str, Any]]]  # user id -> (form, answers)


async def snapshot(factory: async_sessionmaker[AsyncSession]) -> Snapshot:
    business: dict[str, list[str]] = {}
    async with factory() as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in NOT_BUSINESS:
                business[table.name] = sorted(repr(tuple(row)) for row in (await session.execute(select(table))))
        drafts = {d.user_id: (d.form, dict(d.answers)) for d in await session.scalars(select(Draft))}
    return Snapshot(business, drafts)


# The record a draft's answers name, by the key the forms use.
RECORD_OF_FORM = {"visit": "visit", "nominate": "person", "found": "founding", "org_change": "founding",
                  "feedback": "feedback"}


def draft_references(form: str, answers: dict[str, Any]) -> set[tuple[str, int]]:
    """(kind, id) of every record a draft's answers name, including a form waiting to start."""
    refs: set[tuple[str, int]] = set()
    for key, kind in (("enterprise", "enterprise"), ("person", "person"), ("item", "feedback")):
        if isinstance(answers.get(key), int):
            refs.add((kind, answers[key]))
    # The other enterprises of a joint branch, chosen or being chosen.
    for key in ("others", "_pending"):
        if isinstance(answers.get(key), list):
            refs |= {("enterprise", i) for i in answers[key] if isinstance(i, int)}
    if isinstance(answers.get("entity_id"), int):
        refs.add((str(answers.get("entity")), answers["entity_id"]))
    if isinstance(answers.get("_record"), int) and form in RECORD_OF_FORM:
        refs.add((RECORD_OF_FORM[form], answers["_record"]))
    waiting = answers.get("_next")
    if isinstance(waiting, dict) and isinstance(waiting.get("answers"), dict):
        refs |= draft_references(str(waiting.get("form")), waiting["answers"])
    return refs


def assert_nothing_written(before: Snapshot, after: Snapshot, actor_user: int | None,
                           foreign: dict[str, int], what: str) -> None:
    for table, rows in before.business.items():
        assert after.business[table] == rows, f"{what}: table {table} changed"
    others_before = {k: v for k, v in before.drafts.items() if k != actor_user}
    others_after = {k: v for k, v in after.drafts.items() if k != actor_user}
    assert others_after == others_before, f"{what}: another user's draft changed"
    if actor_user is not None and actor_user in after.drafts:
        form, answers = after.drafts[actor_user]
        named = {(kind, record) for kind, record in foreign.items() if kind in
                 ("enterprise", "visit", "person", "feedback", "founding")}
        leaked = draft_references(form, answers) & named
        assert not leaked, f"{what}: the caller's draft now names {leaked}"


# ---------------------------------------------------------------- every callback pattern, forged

# Registered pattern (its regex source; None for the catch-all) -> forged data, with the ids
# of records outside the forger's reach filled in. A pattern without an id still gets cases:
# what it lists must stay within the caller's scope.
CASES: dict[str | None, tuple[str, ...]] = {
    r"^mine:page:(\d{1,4})\Z": ("mine:page:1", "mine:page:2"),
    r"^visit:start:(\d{1,9})\Z": ("visit:start:{enterprise}",),
    r"^visit:correct:(\d{1,9})\Z": ("visit:correct:{visit}",),
    r"^found:start:(\d{1,9})\Z": ("found:start:{enterprise}",),
    r"^found:correct:(\d{1,9})\Z": ("found:correct:{founding}",),
    r"^org:change:(\d{1,9})\Z": ("org:change:{enterprise}",),
    r"^nominate:start:(\d{1,9})\Z": ("nominate:start:{enterprise}",),
    r"^nominate:correct:(\d{1,9})\Z": ("nominate:correct:{person}",),
    # Page 2 of a one-page list is page 1 again: the same page twice must not fail either.
    r"^people:page:(\d{1,4})(?::e(\d{1,9}))?\Z": ("people:page:1", "people:page:2", "people:page:1:e{enterprise}"),
    r"^people:ent:(\d{1,9})\Z": ("people:ent:{enterprise}",),
    r"^people:show:(\d{1,9})\Z": ("people:show:{person}",),
    r"^people:advance:(\d{1,9}):([a-z]{1,16})\Z": ("people:advance:{person}:activist",),
    r"^people:review:(\d{1,9})\Z": ("people:review:{person}",),
    r"^people:withdraw:(\d{1,9})\Z": ("people:withdraw:{person}",),
    r"^people:talk:(\d{1,9})\Z": ("people:talk:{person}",),
    r"^fb:new(?::(\d{1,9}))?\Z": ("fb:new", "fb:new:{enterprise}"),
    r"^fb:page:(\d{1,4})\Z": ("fb:page:1", "fb:page:2"),
    r"^fb:show:(\d{1,9})\Z": ("fb:show:{feedback}",),
    r"^fb:(start|resolve|close):(\d{1,9})\Z": ("fb:start:{feedback}", "fb:resolve:{feedback}",
                                                "fb:close:{feedback}"),
    r"^fb:correct:(\d{1,9})\Z": ("fb:correct:{feedback}",),
    r"^fb:link(?::(\d{1,9}))?\Z": ("fb:link:{enterprise}",),
    r"^rate:(\d{1,9}):(\d)\Z": ("rate:{feedback}:5",),
    r"^owner:mine\Z": ("owner:mine",),
    r"^ent:show:(\d{1,9})\Z": ("ent:show:{enterprise}",),
    r"^review:(ok|fix):([vpfo]):(\d{1,9})\Z": tuple(
        f"review:{verdict}:{code}:{{{kind}}}" for verdict in ("ok", "fix")
        for code, kind in (("v", "visit"), ("p", "person"), ("f", "feedback"), ("o", "founding"))),
    r"^remind:later:(\d{1,9})\Z": ("remind:later:{reminder}",),
    r"^remind:skip:(\d{1,9})\Z": ("remind:skip:{reminder}",),
    # Another user's draft: its id and current question, a lookup key and the submit key.
    r"^f:": ("f:{draft}:{seq}:e{enterprise}", "f:{draft}:{seq}:~submit"),
    r"^draft:": ("draft:resume:{draft}", "draft:restart:{draft}:visit"),
    None: ("ent:open:{enterprise}", "people:{person}"),
}


def registered_patterns(app: Any) -> list[str | None]:
    """The callback patterns in the order the application tries them."""
    found: list[str | None] = []
    for group in sorted(app.handlers):
        for handler in app.handlers[group]:
            if isinstance(handler, CallbackQueryHandler):
                pattern = handler.pattern
                if isinstance(pattern, re.Pattern):
                    found.append(pattern.pattern)
                elif pattern is None or isinstance(pattern, str):
                    found.append(pattern)
                else:
                    raise AssertionError(f"a callback pattern this test cannot forge data for: {pattern!r}")
    return found


def first_match(patterns: list[str | None], data: str) -> str | None:
    """The pattern whose handler gets `data` (python-telegram-bot tries them with re.match)."""
    return next(p for p in patterns if p is None or re.match(p, data))


async def test_every_registered_callback_pattern_has_forged_cases(bot: Any) -> None:
    patterns = registered_patterns(bot)
    assert set(patterns) == set(CASES), "a callback pattern without forged cases here (or a stale case)"
    ids = {"enterprise": 123456789, "visit": 2, "person": 3, "feedback": 4, "founding": 5, "draft": 6, "seq": 7,
           "reminder": 8}
    for pattern, templates in CASES.items():
        for template in templates:
            data = template.format(**ids)
            assert len(data.encode()) <= 64
            # The case reaches its own pattern's handler, not an earlier one.
            assert first_match(patterns, data) == pattern, data


def _case_id(pattern: str | None) -> str:
    return "catch-all" if pattern is None else re.sub(r"[^a-z:]+", "", pattern.split("(")[0]).strip(":") or pattern


@pytest.mark.parametrize("pattern", list(CASES), ids=[_case_id(p) for p in CASES])
async def test_a_forged_button_naming_another_scope_shows_and_changes_nothing(
    pattern: str | None, scene: Scene, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    error = render("common/error", "zh_CN")
    not_joined = render("common/not_joined", "zh_CN")
    before = await snapshot(factory)
    for actor, (records, forbidden) in FORGERS.items():
        talk, foreign = scene.talks[actor], scene.records[records]
        for template in CASES[pattern]:
            data = template.format(**foreign)
            what = f"{actor} forging {data!r}"
            since = len(emulator.calls)
            await talk.forge(data)
            after = await snapshot(factory)
            assert_nothing_written(before, after, scene.users.get(actor), foreign, what)
            before = after
            said = said_since(emulator, talk, since)
            for word in forbidden:
                assert word not in said, f"{what}: the bot showed {word!r}: {said}"
            assert error not in said, f"{what}: the handler failed"
            if actor == "stranger":
                assert talk.toasts()[-1] == not_joined
    # Page 2 of a one-page list is the page already shown: no edit Telegram would refuse.
    assert emulator.violations == []


# The detectors above must be able to fail: the same kind of button, pressed by someone whose
# scope covers the record, does show it (or write).
CONTROLS = (
    ("yuanan_officer", "people:show:{person}", "远安申请人"),
    ("yuanan_officer", "ent:show:{enterprise}", "远安县楚韵茶业有限公司"),
    ("yuanan_officer", "fb:show:{feedback}", "远安招工难"),
    ("yuanan_officer", "visit:correct:{visit}", "远安走访情况"),
    ("city_supervisor", "people:show:{person}", "远安申请人"),
    ("admin", "ent:show:{enterprise}", "远安县楚韵茶业有限公司"),
)


async def test_the_leak_and_write_detectors_see_permitted_reads_and_writes(
    scene: Scene, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await scene.talks["yuanan_officer"].say("/cancel")  # his open draft would be offered back first
    for actor, template, word in CONTROLS:
        talk, since = scene.talks[actor], len(emulator.calls)
        await talk.forge(template.format(**scene.records["yuanan"]))
        assert word in said_since(emulator, talk, since), (actor, template)
    owner_b, since = scene.talks["owner_b"], len(emulator.calls)
    await owner_b.forge(f"fb:show:{scene.records['own']['other_owner_feedback']}")
    assert "白洋业主的秘密诉求" in said_since(emulator, owner_b, since)
    for actor, data in (("city_supervisor", "review:ok:v:{visit}"), ("yuanan_officer", "fb:start:{feedback}")):
        before = await snapshot(factory)
        await scene.talks[actor].forge(data.format(**scene.records["yuanan"]))
        with pytest.raises(AssertionError):
            assert_nothing_written(before, await snapshot(factory), scene.users[actor], scene.records["yuanan"],
                                   actor)


async def test_a_draft_is_restarted_only_into_the_form_asked_for(
    scene: Scene, bot: Any, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The offer to drop a draft names the form the user asked for (and was let into); a forged
    offer naming any other form would skip that form's role check: an owner could make owner
    links for the enterprises around theirs, a supervisor file visits."""
    owner = scene.talks["owner"]
    await owner.say("/feedback")
    [offer] = await owner.say("/feedback")
    assert "未完成" in offer and owner.buttons() == ["继续填写", "放弃并新建"]
    async with factory() as session:
        draft = await session.scalar(select(Draft).where(Draft.user_id == scene.users["owner"]))
        assert draft is not None
    forms = sorted(form.name for form in FORMS)
    for form in forms:
        if form == "owner_feedback":
            continue
        before, since = await snapshot(factory), len(emulator.calls)
        await owner.forge(f"draft:restart:{draft.id}:{form}")
        assert owner.toasts()[-1] == label("stale_button", "zh_CN"), form
        after = await snapshot(factory)
        assert after == before, form
        assert "为哪家企业" not in said_since(emulator, owner, since)
    # Still on the owner's own form: a typed name is an answer there, never an enterprise search.
    since = len(emulator.calls)
    await owner.say("邻居")
    assert "邻居商贸" not in said_since(emulator, owner, since)
    # The form that was asked for does restart (the offer's own button).
    [ask] = await owner.tap("放弃并新建")
    assert "枝江市楚韵纺织有限公司" in ask

    supervisor = scene.talks["city_supervisor"]
    await supervisor.forge(f"review:fix:v:{scene.records['yuanan']['visit']}")
    async with factory() as session:
        review_draft = await session.scalar(select(Draft).where(Draft.user_id == scene.users["city_supervisor"]))
        assert review_draft is not None and review_draft.form == "review_comment"
    for form in ("visit", "found", "nominate", "owner_link", "feedback"):
        await supervisor.forge(f"draft:restart:{review_draft.id}:{form}")
        assert supervisor.toasts()[-1] == label("stale_button", "zh_CN"), form
    async with factory() as session:
        assert (await session.get_one(Draft, review_draft.id)).form == "review_comment"


# ---------------------------------------------------------------- typed paths and lists


async def test_searching_enterprises_never_offers_another_countys(scene: Scene, emulator: BotApiEmulator) -> None:
    officer = scene.talks["officer"]
    await officer.say("/visit")
    await officer.tap("搜索其他企业")
    since = len(emulator.calls)
    [found] = await officer.say("楚韵")  # 枝江市楚韵纺织 and 远安县楚韵茶业 share the word
    assert "找到 1 家" in found and officer.buttons() == ["枝江市楚韵纺织有限公司 · 1天前"]
    said = said_since(emulator, officer, since)
    assert not [word for word in YUANAN + JINGZHOU if word in said]
    # Words and pinyin initials found only in 远安县 and 荆州市 (the reply repeats the query).
    for query in ("嫘祖", "茶业", "远安", "鱼糕", "lzmj", "yax", "jzs"):
        [none] = await officer.say(query)
        assert f"没有找到名称含“{query}”的企业" in none, query
        assert not [word for word in YUANAN + JINGZHOU for button in officer.buttons() if word in button]
    # The county's own officer finds his.
    yuanan = scene.talks["yuanan_officer"]
    await yuanan.say("/cancel")
    await yuanan.say("/visit")
    await yuanan.tap("搜索其他企业")
    [found] = await yuanan.say("楚韵")
    assert "找到 1 家" in found and yuanan.buttons() == ["远安县楚韵茶业有限公司 · 1天前"]


async def test_lists_show_only_rows_in_the_callers_scope(scene: Scene, emulator: BotApiEmulator) -> None:
    async def listing(actor: str, *commands: str) -> str:
        talk, since = scene.talks[actor], len(emulator.calls)
        for command in commands:
            await talk.say(command)
        return said_since(emulator, talk, since)

    mine = await listing("officer", "/mine", "/people", "/feedback")
    officer = scene.talks["officer"]
    await officer.say("/mine")  # one page: page 2 is the page shown, answered without an edit
    assert await officer.forge("mine:page:2") == [] and officer.toasts()[-1] == label("page_shown", "zh_CN")
    assert "枝江市楚韵纺织有限公司" in mine and "枝江申请人" in mine and "枝江市楚韵纺织" in mine
    assert not [word for word in YUANAN + JINGZHOU if word in mine]

    subtree = await listing("supervisor", "/review", "/feedback")
    assert "枝江走访情况" in subtree and "枝江招工难" in subtree
    assert not [word for word in YUANAN + JINGZHOU if word in subtree]

    city = await listing("city_supervisor", "/review")
    assert "远安" in city and not [word for word in JINGZHOU if word in city]

    owner = await listing("owner", "/mine")
    assert "楚韵业主的贷款诉求" in owner
    assert not [word for word in YUANAN + JINGZHOU + OTHER_ENTERPRISES if word in owner]
    assert "白洋业主的秘密诉求" not in owner and "枝江招工难" not in owner


async def test_an_enterprise_moved_to_another_county_leaves_the_officers_lists(
    scene: Scene, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession], world: World
) -> None:
    """A re-import moved 白洋港机械 to 远安县 without naming its officers, so 王芳's assignment
    stayed open: her lists and suggestions must still keep to 枝江市."""
    async with unit_of_work(factory) as uow:
        (await uow.session.get_one(Enterprise, world.baiyang)).region = "宜昌市/远安县/茅坪场镇"
        await uow.commit()
    officer, since = scene.talks["officer"], len(emulator.calls)
    [listing] = await officer.say("/mine")
    assert "我的企业（1 家" in listing
    [greeting] = await officer.say("/start")
    assert "您联系的企业：1 家" in greeting
    await officer.say("/visit")
    said = said_since(emulator, officer, since)
    assert "白洋港" not in said and "枝江市楚韵纺织有限公司" in said


def _cells(data: bytes) -> str:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
                     for value in row if value is not None)


async def _documents(emulator: BotApiEmulator, talk: Talk, command: str) -> tuple[str, list[bytes]]:
    since = len(emulator.calls)
    await talk.say(command)
    documents = [call.files["document"][1] for call in emulator.calls[since:] if call.method == "sendDocument"]
    return said_since(emulator, talk, since), documents


async def test_exports_contain_only_rows_in_scope(scene: Scene, emulator: BotApiEmulator) -> None:
    said, [ledger] = await _documents(emulator, scene.talks["supervisor"], "/export")
    cells = _cells(ledger)
    for word in ("枝江市楚韵纺织有限公司", "枝江申请人", "枝江招工难", "枝江书记", "王芳"):
        assert word in cells, word
    assert not [word for word in YUANAN + JINGZHOU if word in cells + said]

    said, [ledger] = await _documents(emulator, scene.talks["admin"], "/export")
    cells = _cells(ledger)
    assert "远安申请人" in cells and "远安书记" in cells and "枝江申请人" in cells
    assert not [word for word in JINGZHOU if word in cells + said]


async def test_digests_contain_only_rows_in_scope(scene: Scene, emulator: BotApiEmulator) -> None:
    said, [ledger] = await _documents(emulator, scene.talks["supervisor"], "/digest")
    assert "宜昌市/枝江市</b> · 第 48 周" in said
    cells = _cells(ledger)
    assert "枝江申请人" in cells
    assert not [word for word in YUANAN + JINGZHOU if word in cells + said]

    said, [ledger] = await _documents(emulator, scene.talks["city_supervisor"], "/digest")
    assert "远安县" in said and "远安申请人" in _cells(ledger)
    assert not [word for word in JINGZHOU if word in said + _cells(ledger)]

    said, documents = await _documents(emulator, scene.talks["officer"], "/digest")
    assert documents == [] and "本周走访" in said
    assert not [word for word in YUANAN + JINGZHOU if word in said]


# What each role may not do at all: the command is refused and nothing is stored (no draft either).
REFUSED_COMMANDS = {
    "officer": ("/review", "/export"),
    "supervisor": ("/visit", "/nominate", "/people", "/found", "/away", "/back"),
    "admin": ("/visit", "/nominate", "/people", "/found", "/away", "/back", "/review", "/feedback"),
    "owner": ("/visit", "/nominate", "/people", "/found", "/away", "/back", "/review", "/export", "/digest"),
}


@pytest.mark.parametrize("actor", list(REFUSED_COMMANDS))
async def test_each_role_is_refused_the_commands_of_others(
    actor: str, scene: Scene, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    talk = scene.talks[actor]
    before = await snapshot(factory)
    for command in REFUSED_COMMANDS[actor]:
        since = len(emulator.calls)
        [reply] = await talk.say(command)
        assert "只供" in reply, (command, reply)
        assert [call.method for call in emulator.calls[since:] if call.method not in ("getUpdates",)] == \
            ["sendMessage"], command
    assert await snapshot(factory) == before


async def test_strangers_read_and_write_nothing(
    scene: Scene, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    stranger = scene.talks["stranger"]
    before, since = await snapshot(factory), len(emulator.calls)
    for text in ("/mine", "/people", "/review", "/export", "/digest", "/feedback", "楚韵", "/visit"):
        [reply] = await stranger.say(text)
        assert reply == render("common/not_joined", "zh_CN")
    said = said_since(emulator, stranger, since)
    assert not [word for word in YUANAN + JINGZHOU + ZHIJIANG if word in said]
    assert await snapshot(factory) == before


# ---------------------------------------------------------------- invite codes


def test_invite_codes_are_unguessable_and_fit_a_deep_link() -> None:
    codes = {officers.new_invite_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert officers.INVITE_CODE_PATTERN.fullmatch(code) and len(code) <= 64
        # 16 random bytes: 128 bits, written in the deep-link alphabet.
        assert len(base64.urlsafe_b64decode(code + "==")) >= 16
    # Every character position varies (no fixed prefix or counter).
    assert all(len({code[i] for code in codes}) > 30 for i in range(21))


async def _attempts(factory: async_sessionmaker[AsyncSession], telegram_id: int | None = None) -> int:
    async with factory() as session:
        query = select(func.count(InviteAttempt.id))
        if telegram_id is not None:
            query = query.where(InviteAttempt.telegram_user_id == telegram_id)
        return await session.scalar(query) or 0


async def test_a_right_code_still_works_after_a_few_wrong_ones(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(factory) as uow:
        expired = await officers.create_invite(uow.session, role=Role.OFFICER, name="过期者", region="宜昌市/枝江市",
                                               now=NOW - timedelta(days=8))
        await uow.commit()
    guesser = Talk(emulator, emulator.user(610, "猜"))
    for code in ("not-a-real-code", "x" * 65, "%%%", expired.code):
        [refused] = await guesser.say(f"/start {code}")
        assert "邀请码无效" in refused or "已过期" in refused
    assert await _attempts(factory, 610) == throttle.MAX_FAILURES - 1
    [greeting] = await guesser.say(f"/start {world.officer_code}")
    assert "王芳同志，您好" in greeting
    # Joined: nothing about the earlier guesses is kept.
    assert await _attempts(factory) == 0


async def test_too_many_wrong_codes_lock_the_account_out_for_the_hour_even_with_the_right_code(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    guesser = Talk(emulator, emulator.user(611, "猜"))
    for n in range(throttle.MAX_FAILURES):
        [refused] = await guesser.say(f"/start wrong-code-{n}")
        assert "邀请码无效" in refused
        clock.advance(timedelta(minutes=1))
    # Minute 5: the first failure was at minute 0, so the lock lasts until minute 60.
    [locked] = await guesser.say(f"/start {world.officer_code}")
    assert locked == "错误的邀请码尝试次数过多，请 55 分钟后再试。\n如果链接已失效，请向发给您链接的人索取新的邀请链接。"
    async with factory() as session:
        invite = await session.scalar(select(Invite).where(Invite.code == world.officer_code))
        assert invite is not None and invite.used_at is None  # not even looked up
        assert await session.scalar(select(User).where(User.telegram_user_id == 611)) is None
    assert await _attempts(factory, 611) == throttle.MAX_FAILURES  # a refused try is not counted
    [refused] = await guesser.say("/visit")
    assert "您还没有加入" in refused
    # Another account is not affected.
    [greeting] = await Talk(emulator, emulator.user(612, "督")).say(f"/start {world.supervisor_code}")
    assert "李督导同志，您好" in greeting

    clock.advance(timedelta(minutes=54, seconds=59))  # 59:59 after the first failure
    [locked] = await guesser.say(f"/start {world.officer_code}")
    assert "请 1 分钟后再试" in locked
    clock.advance(timedelta(seconds=1))  # the first failure leaves the window
    [greeting] = await guesser.say(f"/start {world.officer_code}")
    assert "王芳同志，您好" in greeting
    assert await _attempts(factory) == 0


async def test_old_attempts_are_forgotten_when_new_ones_are_recorded(
    bot: Any, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    first, second = Talk(emulator, emulator.user(620, "甲")), Talk(emulator, emulator.user(621, "乙"))
    for _ in range(3):
        await first.say("/start nope")
    assert await _attempts(factory, 620) == 3
    clock.advance(throttle.WINDOW)
    await second.say("/start nope")
    # Only the numeric id and the time, and only within the window: 甲's are gone.
    assert await _attempts(factory, 620) == 0 and await _attempts(factory, 621) == 1
    async with factory() as session:
        [row] = (await session.scalars(select(InviteAttempt))).all()
        assert (row.telegram_user_id, row.attempted_at) == (621, clock.now())


async def test_used_codes_and_a_members_own_link_are_not_counted_as_guesses(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    member = Talk(emulator, emulator.user(630, "芳"))
    await member.say(f"/start {world.officer_code}")
    for _ in range(throttle.MAX_FAILURES + 1):
        [again] = await member.say(f"/start {world.officer_code}")  # her own link, tapped again
        assert "王芳同志，您好" in again
    stranger = Talk(emulator, emulator.user(631, "某"))
    [refused] = await stranger.say(f"/start {world.officer_code}")
    assert "已经用过了" in refused
    assert await _attempts(factory) == 0
