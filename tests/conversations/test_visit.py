"""Filing a visit report, as an officer on a phone would."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import AuditEntry, Draft, Enterprise, HeadcountRecord, Visit
from tests.conversations.conftest import Talk, World


async def test_officer_files_a_visit_in_a_few_taps(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    [ask] = await officer.say("/visit")
    assert "走访哪家企业" in ask
    # Overdue first, with the days since the last visit; then a way to search.
    assert officer.buttons() == [
        "⚠ 枝江市楚韵纺织有限公司 · 45天未访", "枝江市白洋港机械制造有限公司 · 12天前", "🔍 搜索其他企业",
    ]
    [ask] = await officer.tap("枝江市楚韵纺织有限公司")
    assert ask == "走访日期？"
    assert officer.buttons() == ["今天 11-25", "昨天 11-24", "其他日期"]
    [ask] = await officer.tap("今天")
    assert "哪些工作" in ask
    [redrawn] = await officer.tap("培养入党积极分子")
    assert "✅ 培养入党积极分子" in officer.buttons()
    assert "哪些工作" in redrawn
    await officer.tap("宣传政策")
    [ask] = await officer.tap("下一步")
    assert "人数" in ask
    [ask] = await officer.tap("没有变化")
    assert "走访情况" in ask
    [ask] = await officer.say("与董事长交流了用工难问题，车间主任李明递交了入党申请书。")
    assert "跟进" in ask
    await officer.tap("跳过")
    [card] = await officer.tap("跳过")
    assert "请确认" in card
    assert "企业：枝江市楚韵纺织有限公司" in card
    assert "日期：2026-11-25" in card
    assert "工作：宣传政策、培养入党积极分子" in card
    [receipt] = await officer.tap("提交")
    assert "已保存（编号 V-" in receipt

    async with factory() as session:
        visit = (await session.scalars(select(Visit).order_by(Visit.id.desc()))).first()
        assert visit is not None
        assert visit.enterprise_id == world.chuyun
        assert visit.activities == ["policy", "activists"]
        assert visit.summary == "与董事长交流了用工难问题，车间主任李明递交了入党申请书。"
        assert str(visit.visit_date) == "2026-11-25"
        assert await session.scalar(select(Draft)) is None
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "visit"))
        assert audit is not None and audit.actor_label == "王芳" and audit.after is not None
    assert emulator.violations == []


async def test_wrong_date_gets_a_clear_message_and_the_same_question(officer: Talk) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市白洋港机械制造有限公司")
    [ask] = await officer.tap("其他日期")
    assert "请输入日期" in ask
    [again] = await officer.say("12-30")
    assert "日期不能晚于今天（11-25）" in again
    assert "请输入日期" in again
    [again] = await officer.say("昨天的昨天的")
    assert "没看懂这个日期" in again
    [ask] = await officer.say("11-20")
    assert "哪些工作" in ask


async def test_head_counts_update_the_enterprise_with_history(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("昨天")
    [refused] = await officer.tap("下一步")
    assert "至少选一项" in refused
    await officer.tap("了解经营情况")
    await officer.tap("下一步")
    await officer.tap("更新人数")
    [again] = await officer.say("-5")
    assert "整数" in again
    await officer.say("130人")
    [again] = await officer.say("131")
    assert "党员人数不能多于职工人数（130 人）" in again
    await officer.say("４")  # a full-width digit from a Chinese keyboard
    await officer.voice()  # the summary as a voice note
    await officer.say("下月再访")
    await officer.photo()
    [more] = await officer.location(30.42, 111.76)
    assert "照片 1 张" in more and "定位" in more
    [card] = await officer.tap("完成")
    assert "职工 130 人，党员 4 人" in card and "（语音）" in card and "跟进：下月再访" in card
    await officer.tap("提交")

    async with factory() as session:
        enterprise = await session.get_one(Enterprise, world.chuyun)
        assert (enterprise.employees, enterprise.party_members) == (130, 4)
        history = (await session.scalars(select(HeadcountRecord))).all()
        assert [(h.employees, h.party_members) for h in history] == [(130, 4)]
        visit = (await session.scalars(select(Visit).order_by(Visit.id.desc()))).first()
        assert visit is not None and visit.summary is None and visit.summary_voice_file_id
        assert visit.latitude == 30.42 and [m["type"] for m in visit.media] == ["photo"]
        assert str(visit.visit_date) == "2026-11-24"


async def test_edit_from_the_card_jumps_back_and_returns_to_the_card(officer: Talk) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    await officer.tap("没有变化")
    await officer.say("第一次的内容")
    await officer.tap("跳过")
    await officer.tap("跳过")
    [ask] = await officer.tap("修改日期")
    assert ask == "走访日期？"
    [card] = await officer.tap("昨天")
    assert "日期：2026-11-24" in card and "第一次的内容" in card
    await officer.tap("修改内容")
    [card] = await officer.say("改过的<内容> & 😀")
    assert "改过的<内容> & 😀" in card  # escaped on the way out, shown as typed


async def test_search_by_pinyin_initials_and_region_is_enforced(officer: Talk, world: World) -> None:
    await officer.say("/visit")
    [ask] = await officer.tap("搜索其他企业")
    assert "拼音首字母" in ask
    [found] = await officer.say("dszjy")
    assert "找到 1 家" in found
    assert officer.buttons() == ["⚠ 枝江市董市镇酒业有限公司 · 从未走访"]
    [none] = await officer.say("茶业")  # only in another county
    assert "没有找到" in none
    # A forged button naming another region's enterprise is refused.
    draft_button = officer.chat.last_message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    forged = ":".join(draft_button.split(":")[:3] + [f"e{world.yuanan}"])
    [refused] = await officer.forge(forged)
    assert "不在您的负责区域内" in refused
