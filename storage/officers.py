"""Users (officers, supervisors, admins) and their invites."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.enums import Role
from storage.models import Invite, User
from storage.scope import normalize_region

INVITE_LIFETIME = timedelta(days=7)
# Telegram deep-link payloads allow up to 64 characters of A-Z a-z 0-9 _ -. A code is 16 bytes
# from the OS's CSPRNG written as 22 URL-safe characters: 128 bits, far beyond guessing (and
# guessing is throttled per account, `storage.throttle`).
INVITE_CODE_BYTES = 16
INVITE_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def locale_of(own: str | None, default: str) -> str:
    """A person's locale, wherever a text is made for them (a reply, a reminder, a digest, a
    report): their own if they have one, else the bot's (`BOT_LOCALE`)."""
    return own or default


@dataclass(frozen=True)
class Member:
    """A detached snapshot of the user behind an update: what handlers need to decide."""

    id: int
    name: str
    role: Role
    region: str
    locale: str | None

    @classmethod
    def of(cls, user: User) -> Member:
        return cls(user.id, user.name, Role(user.role), user.region, user.locale)


def new_invite_code() -> str:
    return secrets.token_urlsafe(INVITE_CODE_BYTES)


async def create_invite(
    session: AsyncSession, *, role: Role, name: str, region: str, now: datetime
) -> Invite:
    """Prepares the person (so enterprises can be assigned before they join) and their code."""
    name = name.strip()
    if not name:
        raise ValueError("name must not be empty")
    region = normalize_region(region)
    if not region:
        raise ValueError("region must not be empty")
    user = await session.scalar(
        select(User).where(User.name == name, User.region == region, User.role == role.value)
    )
    if user is None:
        user = User(name=name, role=role.value, region=region, active=True, created_at=now)
        session.add(user)
        await session.flush()
        await audit.record(
            session, actor_id=None, actor_label=audit.CLI_ACTOR, action="create",
            entity="user", entity_id=user.id, after=audit.snapshot(user),
        )
    invite = Invite(code=new_invite_code(), user_id=user.id, expires_at=now + INVITE_LIFETIME, created_at=now)
    session.add(invite)
    await session.flush()
    await audit.record(
        session, actor_id=None, actor_label=audit.CLI_ACTOR, action="create",
        entity="invite", entity_id=invite.id, after={"user_id": user.id, "expires_at": invite.expires_at.isoformat()},
    )
    return invite


class InviteRefused(Exception):
    """Why a code could not be redeemed: `unknown`, `used`, `expired`, `bound_elsewhere`."""

    def __init__(self, reason: str, role: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # Whom to ask for a new link depends on who it was for: owners ask their officer.
        self.role = role


async def redeem_invite(
    session: AsyncSession, *, code: str, telegram_user_id: int, chat_id: int, now: datetime
) -> User:
    """Binds the Telegram account to the invited person; the code cannot be used again."""
    if not INVITE_CODE_PATTERN.match(code):
        raise InviteRefused("unknown")
    invite = await session.scalar(select(Invite).where(Invite.code == code).with_for_update())
    if invite is None:
        raise InviteRefused("unknown")
    if invite.used_at is not None:
        raise InviteRefused("used", (await session.get_one(User, invite.user_id)).role)
    if invite.expires_at <= now:
        raise InviteRefused("expired", (await session.get_one(User, invite.user_id)).role)
    existing = await by_telegram_id(session, telegram_user_id)
    if existing is not None and existing.id != invite.user_id:
        raise InviteRefused("bound_elsewhere")
    user = await session.get_one(User, invite.user_id)
    before = audit.snapshot(user)
    user.telegram_user_id = telegram_user_id
    user.chat_id = chat_id
    user.joined_at = now
    user.active = True
    invite.used_at = now
    await session.flush()
    old, new = audit.changed(before, audit.snapshot(user))
    await audit.record(
        session, actor_id=user.id, actor_label=user.name, action="redeem_invite",
        entity="user", entity_id=user.id, before=old, after=new,
    )
    return user


async def by_telegram_id(session: AsyncSession, telegram_user_id: int) -> User | None:
    return await session.scalar(select(User).where(*active_with_telegram_id(telegram_user_id)))


def active_with_telegram_id(telegram_user_id: int | BindParameter[int]) -> tuple[ColumnElement[bool], ...]:
    """Who an update comes from: the active user with this Telegram account (the access gate's
    question, also asked together with the redelivery check by `storage.updates`)."""
    return User.telegram_user_id == telegram_user_id, User.active.is_(True)


async def set_blocked_bot(session: AsyncSession, user_id: int, blocked: bool, *, actor_id: int | None,
                          actor_label: str) -> bool:
    """Records whether the user has blocked the bot (nothing is sent to them while they have);
    True when that changed, and then audited. One conditional UPDATE: two updates racing to
    change it write (and audit) it once."""
    changed = await session.scalar(
        update(User).where(User.id == user_id, User.blocked_bot.is_(not blocked)).values(blocked_bot=blocked)
        .returning(User.id))
    if changed is None:
        return False
    await audit.record(session, actor_id=actor_id, actor_label=actor_label,
                       action="blocked_bot" if blocked else "unblocked_bot", entity="user", entity_id=user_id,
                       before={"blocked_bot": not blocked}, after={"blocked_bot": blocked})
    return True
