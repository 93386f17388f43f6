"""The Telegram side of the form engine: updates in, messages and keyboards out.

Each update runs in one unit of work: load the user and their draft (locked), let the engine
decide, write the draft back, commit — and only then talk to Telegram. So what the user sees
next is always what the database holds, and a crash before the commit leaves the previous,
consistent draft for the next try.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from handlers.context import BotContext
from handlers.forms import (
    NEXT,
    FormContext,
    FormEngine,
    FormState,
    Incoming,
    Option,
    Outcome,
    Prompt,
    Reply,
)
from output.render import label, render
from storage import drafts, enterprises, outbox
from storage.models import Draft
from storage.officers import Member
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

# Callback data of form buttons: `f:<draft id>:<question seq>:<option key>`, within 64 bytes.
# Every callback pattern is anchored `^…\Z`: PTB routes a press with `re.match`, and `$` also
# matches before a trailing newline, which sent `ent:show:1\n` to a handler whose `fullmatch`
# then refused it without answering. Ids that reach a query have at most 9 digits: PostgreSQL's
# INTEGER ids stop at 2³¹, and a query with a larger number fails instead of finding nothing.
FORM_BUTTON = re.compile(r"^f:(\d{1,12}):(\d{1,9}):([A-Za-z0-9_~:.-]{1,36})\Z")
DRAFT_BUTTON = re.compile(r"^draft:(resume|restart):(\d{1,12})(?::([a-z_]{1,16}))?\Z")
MAX_CALLBACK_BYTES = 64


def form_button(draft_id: int, seq: int, key: str) -> str:
    data = f"f:{draft_id}:{seq}:{key}"
    if len(data.encode()) > MAX_CALLBACK_BYTES or not FORM_BUTTON.fullmatch(data):
        raise ValueError(f"option key {key!r} does not fit Telegram's callback data")
    return data


def parse_form_button(data: str) -> tuple[int, int, str] | None:
    match = FORM_BUTTON.fullmatch(data)
    return (int(match[1]), int(match[2]), match[3]) if match else None


def draft_button(action: str, draft_id: int, form: str | None = None) -> str:
    data = f"draft:{action}:{draft_id}" + (f":{form}" if form else "")
    if not DRAFT_BUTTON.fullmatch(data):
        raise ValueError(f"not a draft button: {data!r}")
    return data


def keyboard(prompt: Prompt, draft_id: int | None, seq: int) -> InlineKeyboardMarkup | None:
    if not prompt.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(option.label, callback_data=_callback(option, draft_id, seq))
                                  for option in row] for row in prompt.buttons])


def _callback(option: Option, draft_id: int | None, seq: int) -> str:
    if option.callback is not None:
        if len(option.callback.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data {option.callback!r} is over Telegram's 64 bytes")
        return option.callback
    if draft_id is None:
        raise ValueError("a form question with buttons needs its draft")
    return form_button(draft_id, seq, option.key)


def incoming_from(update: Update) -> Incoming:
    message = update.effective_message
    if update.callback_query is not None or message is None:
        return Incoming(unsupported=True)
    if message.text is not None:
        # A NUL character cannot be stored in PostgreSQL (text or JSON), and no one means one.
        return Incoming(text=message.text.replace("\x00", ""), ref=str(message.message_id))
    if message.photo:
        return Incoming(photo=message.photo[-1].file_id)  # the largest size
    if message.voice is not None:
        return Incoming(voice=message.voice.file_id)
    if message.location is not None:
        return Incoming(location=(message.location.latitude, message.location.longitude))
    return Incoming(unsupported=True)


def _state(draft: Draft) -> FormState:
    return FormState(draft.form, draft.step, dict(draft.answers), draft.mode, draft.editing, draft.seq)


class FormRunner:
    """Runs the engine for Telegram updates; one instance serves every form."""

    def __init__(self, engine: FormEngine) -> None:
        self.engine = engine

    def _ctx(self, uow: UnitOfWork, context: BotContext, member: Member) -> FormContext:
        data = context.bot_data
        return FormContext(uow.session, member, context.locale(), data.today(), data.now(), bot_locale=data.locale)

    async def start(self, update: Update, context: BotContext, form: str, answers: dict[str, Any] | None = None) -> None:
        """Starts `form`, unless a draft is open: then offers to continue it or start anew."""
        member, chat = context.member, update.effective_chat
        if member is None or chat is None:
            return
        async with context.unit_of_work() as uow:
            draft = await drafts.for_update(uow.session, member.id)
            if draft is not None:
                draft.answers = {**draft.answers, NEXT: {"form": form, "answers": answers or {}}}
                offer = await self._offer(uow, context, member, draft, form)
                await uow.commit()
                await context.bot.send_message(chat.id, offer[0], parse_mode=ParseMode.HTML, reply_markup=offer[1])
                return
            outcome = await self.engine.start(self._ctx(uow, context, member), form, answers)
            draft_id = await self._persist(uow, context, member, None, outcome)
            await uow.commit()
        await self._deliver(context, chat.id, outcome, draft_id, None)

    async def start_from_button(self, update: Update, context: BotContext, form: str, pattern: re.Pattern[str]) -> None:
        """Starts `form` from a command, or from a button `<area>:start:<enterprise id>` (a
        receipt, an enterprise card, a reminder) with that enterprise already chosen — if it is
        in the caller's region; otherwise the form asks for the enterprise as usual."""
        query, member = update.callback_query, context.member
        match = pattern.fullmatch(query.data or "") if query is not None else None
        if query is not None:
            await query.answer()
        answers = None
        if match is not None and match[1] is not None and member is not None:
            async with context.unit_of_work() as uow:
                if await enterprises.get_in_scope(uow.session, int(match[1]), member.region) is not None:
                    answers = {"enterprise": int(match[1])}
        await self.start(update, context, form, answers)

    async def reopen(self, update: Update, context: BotContext, form: str, pattern: re.Pattern[str]) -> None:
        """Reopens a saved record (the button's id) on its form's confirmation card for a
        correction, if the caller may still correct it (`FormEngine.reopen`)."""
        query, member = update.callback_query, context.member
        match = pattern.fullmatch(query.data or "") if query is not None else None
        if query is None or member is None or match is None:
            return
        async with context.unit_of_work() as uow:
            answers = await self.engine.reopen(self._ctx(uow, context, member), form, int(match[1]))
        if answers is None:
            await query.answer(label("correction_closed", context.locale()), show_alert=True)
            return
        await query.answer()
        await self.start(update, context, form, answers)

    async def _offer(
        self, uow: UnitOfWork, context: BotContext, member: Member, draft: Draft, form: str
    ) -> tuple[str, InlineKeyboardMarkup]:
        ctx = self._ctx(uow, context, member)
        details = await self.engine.form(draft.form).describe(ctx, dict(draft.answers))
        # Forms describe themselves differently; the offer names what most of them have.
        text = render("forms/offer_resume", ctx.locale, form=draft.form, enterprise=details.get("enterprise"),
                      subject=details.get("name"), day=details.get("visit_date") or details.get("founded_on"))
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton(label("resume", ctx.locale), callback_data=draft_button("resume", draft.id)),
            InlineKeyboardButton(label("restart", ctx.locale), callback_data=draft_button("restart", draft.id, form)),
        ]])
        return text, markup

    async def on_message(self, update: Update, context: BotContext) -> None:
        """Feeds a typed text, photo, voice note or location to the open draft."""
        member, chat = context.member, update.effective_chat
        if member is None or chat is None:
            return
        incoming = incoming_from(update)
        async with context.unit_of_work() as uow:
            draft = await drafts.for_update(uow.session, member.id)
            if draft is None:
                if not await uow.handled_elsewhere():
                    await context.bot.send_message(chat.id, render("common/no_draft", context.locale(),
                                                                   role=member.role))
                return
            outcome = await self.engine.handle(self._ctx(uow, context, member), _state(draft), incoming)
            draft_id = await self._persist(uow, context, member, draft, outcome)
            await uow.commit()
        await self._deliver(context, chat.id, outcome, draft_id, None)

    async def on_edit(self, update: Update, context: BotContext) -> None:
        """An edited text corrects the free-text answer it typed, or the user is told how to
        change an answer; the draft stays on its question. Other edits (a live location
        moving, a caption) are not answered at all."""
        message, member, chat = update.edited_message, context.member, update.effective_chat
        if message is None or message.text is None or member is None or chat is None:
            return
        incoming = Incoming(text=message.text.replace("\x00", ""), ref=str(message.message_id))
        async with context.unit_of_work() as uow:
            draft = await drafts.for_update(uow.session, member.id)
            if draft is None:
                if not await uow.handled_elsewhere():
                    await context.bot.send_message(chat.id, render("forms/edit_not_taken", context.locale(),
                                                                   draft=False), parse_mode=ParseMode.HTML)
                return
            outcome = await self.engine.amend(self._ctx(uow, context, member), _state(draft), incoming)
            draft_id = await self._persist(uow, context, member, draft, outcome)
            await uow.commit()
        await self._deliver(context, chat.id, outcome, draft_id, None)

    async def on_button(self, update: Update, context: BotContext) -> None:
        """Applies a pressed form button, unless it belongs to an older question."""
        query, member = update.callback_query, context.member
        if query is None:
            return
        parsed = parse_form_button(query.data or "")
        if parsed is None or member is None or query.message is None:
            await query.answer(label("unknown_button", context.locale()))
            return
        draft_id, seq, key = parsed
        async with context.unit_of_work() as uow:
            draft = await drafts.for_update(uow.session, member.id)
            if draft is None or draft.id != draft_id or draft.seq != seq:
                if not await uow.handled_elsewhere():
                    await query.answer(label("stale_button", context.locale()), show_alert=False)
                return
            outcome = await self.engine.handle(self._ctx(uow, context, member), _state(draft), Incoming(key=key))
            new_id = await self._persist(uow, context, member, draft, outcome)
            await uow.commit()
        await query.answer(outcome.notice)
        await self._deliver(context, query.message.chat.id, outcome, new_id, query)

    async def on_draft_button(self, update: Update, context: BotContext) -> None:
        """Continue the open draft, or drop it and start the form that was asked for.

        Only that form: the command or button that asked for it checked the caller's role (a
        form's own steps do not), so a restart naming any other form is refused as stale."""
        query, member = update.callback_query, context.member
        if query is None:
            return
        match = DRAFT_BUTTON.fullmatch(query.data or "")
        if member is None or match is None or query.message is None:
            # `draft:` and nothing a button of ours would carry (a modified client).
            await query.answer(label("unknown_button", context.locale()))
            return
        action, draft_id, form = match[1], int(match[2]), match[3]
        async with context.unit_of_work() as uow:
            draft = await drafts.for_update(uow.session, member.id)
            asked = (draft.answers.get(NEXT) or {}) if draft is not None else {}
            unasked = action == "restart" and (asked.get("form") != form or form not in self.engine.forms)
            if draft is None or draft.id != draft_id or unasked:
                if not await uow.handled_elsewhere():
                    await query.answer(label("stale_button", context.locale()))
                return
            ctx = self._ctx(uow, context, member)
            if action == "resume":
                state = _state(draft)
                state.answers.pop(NEXT, None)
                outcome = await self.engine.prompt(ctx, state)
            else:
                await drafts.discard(uow.session, member.id)
                await uow.session.flush()
                draft = None
                outcome = await self.engine.start(ctx, str(form), asked.get("answers"))
            new_id = await self._persist(uow, context, member, draft, outcome)
            await uow.commit()
        await query.answer()
        await self._deliver(context, query.message.chat.id, outcome, new_id, None)

    async def _persist(
        self, uow: UnitOfWork, context: BotContext, member: Member, draft: Draft | None, outcome: Outcome
    ) -> int | None:
        # Messages for other people go through the outbox in the same unit of work as the record
        # they are about: committed together, sent within Telegram's limits, never lost.
        for notice in outcome.others:
            await outbox.enqueue(
                uow.session, dedupe_key=f"notice:{notice.chat_id}:{secrets.token_hex(8)}", chat_id=notice.chat_id,
                user_id=None, kind="notice", text=notice.prompt.text, buttons=_plain_buttons(notice.prompt),
                not_before=context.bot_data.now(),
            )
        if outcome.state is None:
            if draft is not None:
                await drafts.discard(uow.session, member.id)
            return None
        state = outcome.state
        saved = await drafts.put(
            uow.session, user_id=member.id, form=state.form, step=state.step, answers=state.answers,
            mode=state.mode, editing=state.editing, seq=state.seq, now=context.bot_data.now(), draft=draft,
        )
        return saved.id

    async def _deliver(
        self, context: BotContext, chat_id: int, outcome: Outcome, draft_id: int | None, query: CallbackQuery | None
    ) -> None:
        seq = outcome.state.seq if outcome.state else 0
        for reply in outcome.replies:
            markup = keyboard(reply.prompt, draft_id, seq)
            if reply.replace and query is not None and isinstance(query.message, Message):
                await _edit(query.message, reply, markup)
                continue
            await context.bot.send_message(chat_id, reply.prompt.text, parse_mode=ParseMode.HTML, reply_markup=markup)
        if outcome.others:
            # Told at once (quiet hours permitting): the outbox is drained now rather than at the
            # sender job's next run.
            data = context.bot_data
            await data.outbox.drain(context.bot, data.session_factory, limit=len(outcome.others) + 10)


def _plain_buttons(prompt: Prompt) -> list[list[dict[str, str]]]:
    """A notice's buttons as the outbox stores them; notices only carry complete callbacks."""
    return [[{"text": option.label, "callback_data": _callback(option, None, 0)} for option in row]
            for row in prompt.buttons]


def carries_button(message: object, data: str | None) -> bool:
    """True when `message` shows a button with this callback data: the keyboard a verdict or a
    rating was pressed on, which may then be taken off. A forged press arrives on any message
    (one without a keyboard, where removing it is an edit Telegram refuses as a no-op)."""
    markup = message.reply_markup if isinstance(message, Message) else None
    return markup is not None and any(button.callback_data == data for row in markup.inline_keyboard for button in row)


async def _edit(message: Message, reply: Reply, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(reply.prompt.text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as error:
        # Two quick taps can produce the same keyboard twice; Telegram refuses the no-op edit.
        if "not modified" not in error.message:
            raise
