"""`/start`, `/help`, `/cancel`, the access gate, the error handler, and what every list shares."""

from __future__ import annotations

import html
import logging
import math
import re
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers.adapter import FormRunner, draft_button
from handlers.context import BotContext, BotData
from output.render import label, render
from storage import drafts, enterprises, officers, overview, throttle, updates
from storage.db import unavailable as database_unavailable
from storage.enums import Role
from storage.officers import InviteRefused, Member, locale_of
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

# The commands each role sees in Telegram's menu (setMyCommands per chat). Only commands that
# exist are listed; later capabilities add theirs here.
ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.OFFICER: ("visit", "nominate", "feedback", "people", "mine", "found", "away", "back", "digest", "cancel",
                   "help"),
    Role.SUPERVISOR: ("review", "feedback", "digest", "export", "cancel", "help"),
    Role.ADMIN: ("export", "cancel", "help"),
    Role.OWNER: ("feedback", "mine", "cancel", "help"),
}
DEFAULT_COMMANDS = ("start", "help")


def command_descriptions(role: Role | None, names: tuple[str, ...], locale: str) -> list[tuple[str, str]]:
    # An owner's /mine lists their requests, not enterprises: same command, own description.
    return [(name, label(f"command_{name}_owner" if role == Role.OWNER and name == "mine" else f"command_{name}",
                         locale)) for name in names]


def commands_for(role: Role | None, names: tuple[str, ...], locale: str) -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in command_descriptions(role, names, locale)]


async def allowed(update: Update, context: BotContext, *roles: Role) -> bool:
    """True when the user's role may use this command; otherwise says so politely."""
    member, message = context.member, update.effective_message
    if member is not None and member.role in roles:
        return True
    if update.callback_query is not None:  # a button: stop the client's spinner too
        await update.callback_query.answer()
    if message is not None:
        await message.reply_text(render("common/not_for_role", context.locale(), roles=[r.value for r in roles]),
                                 parse_mode=ParseMode.HTML)
    return False


async def gate(update: Update, context: BotContext) -> None:
    """Lets known users through with their `member`; everyone else gets a polite refusal.

    Only `/start <code>` passes for strangers. Nothing about a stranger is stored, except the
    numeric Telegram id of one who sends wrong codes, for an hour (`storage.throttle`). A
    stranger is answered only for what they send or tap: not for an edit (its message was
    answered), nor for blocking or unblocking the bot (`my_chat_member`, nothing to answer).
    """
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        raise ApplicationHandlerStop  # the bot works in private chats only
    handling = context.handling
    if handling is not None and handling.sender_id == user.id:
        row = handling.sender  # read by the update processor with its redelivery check, under the chat's lock
    else:
        async with context.unit_of_work() as uow:
            row = await officers.by_telegram_id(uow.session, user.id)
    context.member = Member.of(row) if row else None
    if row is not None:
        if row.blocked_bot and update.my_chat_member is None:
            await _reachable_again(context, row.id, row.name)
        return
    message = update.message  # not an edited one: an edited `/start <code>` redeems nothing
    if message is not None and message.text and re.match(r"^/start(@\w+)?\s+\S", message.text):
        return
    refusal = render("common/not_joined", context.bot_data.locale)
    if update.callback_query is not None:
        await update.callback_query.answer(refusal, show_alert=True)
    elif message is not None:
        await message.reply_text(refusal, parse_mode=ParseMode.HTML)
    raise ApplicationHandlerStop


async def _reachable_again(context: BotContext, user_id: int, name: str) -> None:
    """Clears the flag of a user marked as having blocked the bot who writes or taps again:
    they have unblocked it, so digests and reminders reach them again.

    In a unit of work of its own, not the update's: the update's first commit records it as
    handled (`storage.updates`), which must stay with the handler's own change."""
    async with unit_of_work(context.bot_data.session_factory) as uow:
        await officers.set_blocked_bot(uow.session, user_id, False, actor_id=user_id, actor_label=name)
        await uow.commit()
    logger.info("User %s is reachable again: the blocked-bot flag is cleared", user_id)


async def chat_member_changed(update: Update, context: BotContext) -> None:
    """Records that the user blocked the bot (`kicked`) or unblocked it (`member`)."""
    change, member = update.my_chat_member, context.member
    if change is None or member is None:
        return
    status = change.new_chat_member.status
    if status not in (ChatMemberStatus.BANNED, ChatMemberStatus.MEMBER):
        return
    blocked = status == ChatMemberStatus.BANNED
    async with context.unit_of_work() as uow:
        changed = await officers.set_blocked_bot(uow.session, member.id, blocked, actor_id=member.id,
                                                 actor_label=member.name)
        await uow.commit()
    if changed:
        logger.info("User %s %s the bot", member.id, "blocked" if blocked else "unblocked")


async def start(update: Update, context: BotContext) -> None:
    """Redeems an invite code (`/start <code>`) or greets a known user again.

    Wrong codes are counted per Telegram account; after too many within the hour the code is
    not even looked up (`storage.throttle`).
    """
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    locale = context.locale()
    async with context.unit_of_work() as uow:
        if context.args:
            now = context.bot_data.now()
            until = await throttle.blocked_until(uow.session, user.id, now)
            if until is not None:
                minutes = max(1, math.ceil((until - now).total_seconds() / 60))
                await message.reply_text(render("common/invite_throttled", locale, minutes=minutes),
                                         parse_mode=ParseMode.HTML)
                return
            try:
                row = await officers.redeem_invite(
                    uow.session, code=context.args[0], telegram_user_id=user.id, chat_id=chat.id, now=now,
                )
                context.member = Member.of(row)
                await throttle.forget(uow.session, user.id)
            except InviteRefused as refused:
                if refused.reason in throttle.COUNTED_REASONS:
                    await throttle.record_failure(uow.session, user.id, now)
                    await uow.commit()
                if context.member is None or refused.reason != "used":
                    await message.reply_text(render("common/invite_refused", locale, reason=refused.reason,
                                                    role=refused.role),
                                             parse_mode=ParseMode.HTML)
                    return
        member = context.member
        if member is None:
            return
        greeting = await _greeting(uow.session, context, member)
        await uow.commit()
    await message.reply_text(greeting, parse_mode=ParseMode.HTML)
    await context.bot.set_my_commands(
        commands_for(member.role, ROLE_COMMANDS[member.role], context.locale()), scope=BotCommandScopeChat(chat.id)
    )


async def _greeting(session: Any, context: BotContext, member: Member) -> str:
    today = context.bot_data.today()
    assigned = (await enterprises.assigned_to(session, member.id, today, member.region)
                if member.role == Role.OFFICER else [])
    own = await overview.own_enterprise_name(session, member.id) if member.role == Role.OWNER else None
    return render(
        "common/welcome", context.locale(), name=member.name, role=member.role, region=member.region,
        assigned=len(assigned), overdue=sum(1 for row in assigned if row.overdue),
        in_scope=await overview.enterprises_in_scope(session, member.region), enterprise=own,
    )


async def help_command(update: Update, context: BotContext) -> None:
    """Explains what this user's role can do."""
    if update.effective_message is None or context.member is None:
        return
    role = context.member.role
    commands = command_descriptions(role, ROLE_COMMANDS[role], context.locale())
    text = render("common/help", context.locale(), role=role, commands=commands)
    await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)


async def cancel(update: Update, context: BotContext) -> None:
    """Discards the open draft, whatever step it is at."""
    if update.effective_message is None or context.member is None:
        return
    async with context.unit_of_work() as uow:
        discarded = await drafts.discard(uow.session, context.member.id)
        await uow.commit()
    name = "forms/cancelled" if discarded else "forms/nothing_to_cancel"
    await update.effective_message.reply_text(render(name, context.locale()), parse_mode=ParseMode.HTML)


async def turn_page(query: CallbackQuery, context: BotContext, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Shows a list's page in the message whose page button was pressed.

    A second tap on the same button, or a page past the last (which shows the last), asks for
    what the message shows already: Telegram refuses an edit that changes nothing, so the press
    is answered with a note instead (and a refusal that slips through is no error either).
    """
    message = query.message
    plain = html.unescape(re.sub(r"<[^>]*>", "", text))
    if isinstance(message, Message) and message.text == plain and message.reply_markup == markup:
        await query.answer(label("page_shown", context.locale()))
        return
    await query.answer()
    if message is None:
        return
    try:
        await context.bot.edit_message_text(text, message.chat.id, message.message_id, parse_mode=ParseMode.HTML,
                                            reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in error.message:
            raise


async def unknown_command(update: Update, context: BotContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(render("common/unknown_command", context.locale()),
                                                  parse_mode=ParseMode.HTML)


async def unknown_button(update: Update, context: BotContext) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(label("unknown_button", context.locale()))


async def on_error(update: object, context: BotContext) -> None:
    """Logs first (with the traceback), then tells the user plainly what became of their input:
    saved, when the update had committed before the failure (what failed came after, most
    likely the reply: a button asks the open draft's question again); not saved because the
    database was away for a moment (send it again shortly); or not saved (try again)."""
    if isinstance(context.error, updates.AlreadyHandled):
        # Another instance handled the same (redelivered) update a moment ago; it answered.
        logger.info("Update %s was handled by another instance; this copy was rolled back", context.error)
        return
    logger.error("Update %s failed", getattr(update, "update_id", None), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    text, markup = await _failure_notice(update, context)
    query = update.callback_query
    # A query the handler answered already cannot be answered again (Telegram refuses it).
    if query is not None and not context.bot_data.answered(query.id):
        try:
            await query.answer()
        except Exception:
            logger.warning("Could not answer the button of the failed update", exc_info=True)
    try:
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except Exception:  # the error may be Telegram itself being unreachable
        logger.warning("Could not tell chat about the failure", exc_info=True)
    # PTB goes on with the next handler group after an error (after the gate: the handlers, with
    # no member); the user has been told, so this update ends here.
    raise ApplicationHandlerStop


async def _failure_notice(update: Update, context: BotContext) -> tuple[str, InlineKeyboardMarkup | None]:
    # The error handler gets a context of its own: the gate's `member` is not in it.
    handling = context.handling
    saved = handling is not None and handling.recorded
    draft_id = None
    if update.effective_user is not None and not database_unavailable(context.error):
        try:
            async with context.unit_of_work() as uow:
                row = await officers.by_telegram_id(uow.session, update.effective_user.id)
                context.member = Member.of(row) if row is not None else None
                draft = await drafts.for_update(uow.session, row.id) if row is not None and saved else None
                draft_id = draft.id if draft is not None else None
        except Exception:  # the database may be what failed after all
            logger.warning("Could not look up the user of the failed update", exc_info=True)
    locale = context.locale()
    if saved:
        # The update's change is committed. Saying "not saved" now would make the user send the
        # same answer again, and it would be taken as the answer to the next question.
        markup = None
        if draft_id is not None:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(label("resume", locale),
                                                                 callback_data=draft_button("resume", draft_id))]])
        return render("common/saved_reply_failed", locale, resume=markup is not None), markup
    if database_unavailable(context.error):
        return render("common/db_unavailable", locale), None
    return render("common/error", locale), None


async def after_redelivery(update: Update, data: BotData, bot: Any) -> None:
    """A redelivered update was skipped (it was handled before a crash). Its reply may never
    have gone out, so a user in the middle of a form is told their input was saved and given
    the button that shows the current question; otherwise a retyped answer would be taken as
    the answer to the next question."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    async with unit_of_work(data.session_factory) as uow:
        row = await officers.by_telegram_id(uow.session, user.id)
        draft = await drafts.for_update(uow.session, row.id) if row is not None else None
        if row is None or draft is None:
            return
        draft_id, locale = draft.id, locale_of(row.locale, data.locale)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(label("resume", locale),
                                                         callback_data=draft_button("resume", draft_id))]])
    await bot.send_message(chat.id, render("common/saved_reply_failed", locale, resume=True),
                           parse_mode=ParseMode.HTML, reply_markup=markup)


def gate_handler() -> BaseHandler[Update, BotContext, Any]:
    return TypeHandler(Update, gate)


def handlers(runner: FormRunner) -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        # First: PTB's CommandHandler (and every MessageHandler without an update-type filter)
        # also takes edited messages, so an edited `/visit` would start a form, and an edited
        # answer would be taken as the answer to the next question (`FormRunner.on_edit`).
        MessageHandler(filters.UpdateType.EDITED_MESSAGE, runner.on_edit),
        ChatMemberHandler(chat_member_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("cancel", cancel),
    ]


def fallback_handlers(runner: FormRunner) -> list[BaseHandler[Update, BotContext, Any]]:
    """Registered last: commands nobody claimed, then inputs for the open form."""
    return [
        MessageHandler(filters.COMMAND, unknown_command),
        CallbackQueryHandler(runner.on_button, pattern=r"^f:"),
        CallbackQueryHandler(runner.on_draft_button, pattern=r"^draft:"),
        CallbackQueryHandler(unknown_button),
        MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, runner.on_message),
    ]
