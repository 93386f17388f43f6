"""`/start`, `/help`, `/cancel`, `/mine`, the access gate and the error handler."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.render import label, render
from handlers.adapter import FormRunner
from handlers.context import BotContext
from handlers.pickers import card_button
from storage import drafts, enterprises, officers, overview
from storage.enums import Role
from storage.officers import InviteRefused, Member
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

MINE_PAGE = re.compile(r"^mine:page:(\d{1,4})$")
MINE_PAGE_SIZE = 10
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
    if message is not None:
        await message.reply_text(render("common/not_for_role", context.locale(), roles=[r.value for r in roles]),
                                 parse_mode=ParseMode.HTML)
    return False


async def gate(update: Update, context: BotContext) -> None:
    """Lets known users through with their `member`; everyone else gets a polite refusal.

    Only `/start <code>` passes for strangers. Nothing about a stranger is stored.
    """
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        raise ApplicationHandlerStop  # the bot works in private chats only
    async with unit_of_work(context.bot_data.session_factory) as uow:
        row = await officers.by_telegram_id(uow.session, user.id)
        context.member = Member.of(row) if row else None
    if context.member is not None:
        return
    message = update.effective_message
    if message is not None and message.text and re.match(r"^/start(@\w+)?\s+\S", message.text):
        return
    refusal = render("common/not_joined", context.bot_data.locale)
    if update.callback_query is not None:
        await update.callback_query.answer(refusal, show_alert=True)
    elif message is not None:
        await message.reply_text(refusal, parse_mode=ParseMode.HTML)
    raise ApplicationHandlerStop


async def start(update: Update, context: BotContext) -> None:
    """Redeems an invite code (`/start <code>`) or greets a known user again."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    locale = context.locale()
    async with unit_of_work(context.bot_data.session_factory) as uow:
        if context.args:
            try:
                row = await officers.redeem_invite(
                    uow.session, code=context.args[0], telegram_user_id=user.id, chat_id=chat.id,
                    now=context.bot_data.now(),
                )
                context.member = Member.of(row)
            except InviteRefused as refused:
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
        commands_for(member.role, ROLE_COMMANDS[member.role], member.locale or locale), scope=BotCommandScopeChat(chat.id)
    )


async def _greeting(session: Any, context: BotContext, member: Member) -> str:
    today = context.bot_data.today()
    assigned = await enterprises.assigned_to(session, member.id, today) if member.role == Role.OFFICER else []
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
    async with unit_of_work(context.bot_data.session_factory) as uow:
        discarded = await drafts.discard(uow.session, context.member.id)
        await uow.commit()
    name = "forms/cancelled" if discarded else "forms/nothing_to_cancel"
    await update.effective_message.reply_text(render(name, context.locale()), parse_mode=ParseMode.HTML)


async def mine(update: Update, context: BotContext) -> None:
    """Lists the officer's enterprises, overdue first, a page at a time (an owner's /mine is
    their own requests)."""
    if context.member is not None and context.member.role == Role.OWNER:
        from handlers.owner import owner_items  # owner.py builds on this module

        await owner_items(update, context)
        return
    query = update.callback_query
    turned = MINE_PAGE.fullmatch(query.data or "") if query is not None else None
    page = int(turned[1]) if turned else 1
    member, chat = context.member, update.effective_chat
    if member is None or chat is None:
        return
    async with unit_of_work(context.bot_data.session_factory) as uow:
        rows = await enterprises.assigned_to(uow.session, member.id, context.bot_data.today())
    pages = max(1, math.ceil(len(rows) / MINE_PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * MINE_PAGE_SIZE : page * MINE_PAGE_SIZE]
    text = render("common/mine", context.locale(), rows=shown, total=len(rows), page=page, pages=pages,
                  overdue=sum(1 for r in rows if r.overdue), role=member.role, first=(page - 1) * MINE_PAGE_SIZE)
    nav = [
        InlineKeyboardButton(label(name, context.locale()), callback_data=f"mine:page:{target}")
        for name, target in (("previous_page", page - 1), ("next_page", page + 1))
        if 1 <= target <= pages
    ]
    # One button per enterprise opens its card: two a row keeps ten of them on one phone screen.
    cards = [
        InlineKeyboardButton(label("card_button", context.locale(), number=(page - 1) * MINE_PAGE_SIZE + i + 1,
                                   name=row.name, overdue=row.overdue), callback_data=card_button(row.id))
        for i, row in enumerate(shown)
    ]
    keyboard = [cards[i : i + 2] for i in range(0, len(cards), 2)] + ([nav] if nav else [])
    markup = InlineKeyboardMarkup(keyboard) if keyboard else None
    if query is not None:
        await query.answer()
        if query.message is not None:
            await context.bot.edit_message_text(text, chat.id, query.message.message_id,
                                                parse_mode=ParseMode.HTML, reply_markup=markup)
        return
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def unknown_command(update: Update, context: BotContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(render("common/unknown_command", context.locale()),
                                                  parse_mode=ParseMode.HTML)


async def unknown_button(update: Update, context: BotContext) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(label("unknown_button", context.locale()))


async def on_error(update: object, context: BotContext) -> None:
    """Logs first (with the traceback), then tells the user plainly that nothing was saved."""
    logger.error("Update %s failed", getattr(update, "update_id", None), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, render("common/error", context.locale()),
                                       parse_mode=ParseMode.HTML)
    except Exception:  # the error may be Telegram itself being unreachable
        logger.warning("Could not tell chat about the failure", exc_info=True)


def gate_handler() -> BaseHandler[Update, BotContext, Any]:
    return TypeHandler(Update, gate)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("cancel", cancel),
        CommandHandler("mine", mine),
        CallbackQueryHandler(mine, pattern=MINE_PAGE),
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
