"""Owner feedback 业主诉求: recording it, its lifecycle, the owner's rating, and owner links.

The lifecycle is a small graph: open → in progress → resolved | closed, or open → resolved |
closed directly; resolved and closed are final. A final transition keeps its note in
`resolution` and its time in `closed_at`. Every write is audited.

Who sees an item: officers and supervisors when its enterprise lies in their scope; an owner
only the items of their own enterprise (their user row's `enterprise_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, reviews
from storage.enums import FeedbackCategory, FeedbackStatus, Role, Urgency
from storage.models import Assignment, Enterprise, Feedback, Invite, User
from storage.officers import INVITE_LIFETIME, Member, new_invite_code
from storage.rules import FEEDBACK_REMIND_DAYS
from storage.scope import in_scope

ENTITY = "feedback"
CHANNELS = ("officer", "owner")
MAX_CONTENT = 1000
MAX_RAISED_BY = 64
RATINGS = range(1, 6)
# A voice note given as the content is stored as its Telegram file id behind this mark (the
# schema has no voice column). Typed content is stored stripped, never in this shape.
VOICE_CONTENT = re.compile(r"voice:([A-Za-z0-9_-]{8,200})")
OPEN_STATUSES = (FeedbackStatus.OPEN.value, FeedbackStatus.IN_PROGRESS.value)
FINAL = frozenset({FeedbackStatus.RESOLVED, FeedbackStatus.CLOSED})
TRANSITIONS: dict[FeedbackStatus, frozenset[FeedbackStatus]] = {
    FeedbackStatus.OPEN: frozenset({FeedbackStatus.IN_PROGRESS, FeedbackStatus.RESOLVED, FeedbackStatus.CLOSED}),
    FeedbackStatus.IN_PROGRESS: frozenset({FeedbackStatus.RESOLVED, FeedbackStatus.CLOSED}),
    FeedbackStatus.RESOLVED: frozenset(),
    FeedbackStatus.CLOSED: frozenset(),
}


class FeedbackRefused(Exception):
    """Why a write was refused: `transition`, `note_required`, `rating_range`, `not_owner`,
    `not_final`, `already_rated`, `invalid`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NewFeedback:
    enterprise_id: int
    raised_by: str
    channel: str
    category: str
    content: str
    urgency: str
    officer_id: int | None = None
    owner_id: int | None = None


def _check(new: NewFeedback) -> None:
    """The handlers validate each answer; this guards the stored vocabulary all the same."""
    valid = (
        new.channel in CHANNELS
        and new.category in {c.value for c in FeedbackCategory}
        and new.urgency in {u.value for u in Urgency}
        and 0 < len(new.content.strip()) <= MAX_CONTENT
        and 0 < len(new.raised_by.strip()) <= MAX_RAISED_BY
    )
    if not valid:
        raise FeedbackRefused("invalid")


def voice_content(file_id: str) -> str:
    return f"voice:{file_id}"


def voice_file(content: str) -> str | None:
    """The file id of a content that is a voice note, else None."""
    match = VOICE_CONTENT.fullmatch(content)
    return match[1] if match else None


def allowed_next(status: str) -> frozenset[FeedbackStatus]:
    return TRANSITIONS.get(FeedbackStatus(status), frozenset())


def is_final(status: str) -> bool:
    return FeedbackStatus(status) in FINAL


async def create(session: AsyncSession, new: NewFeedback, *, actor_id: int, actor_label: str,
                 now: datetime) -> Feedback:
    """Records the item as open."""
    _check(new)
    item = Feedback(**new.__dict__, status=FeedbackStatus.OPEN.value, created_at=now, updated_at=now)
    session.add(item)
    await session.flush()
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="create", entity=ENTITY,
                       entity_id=item.id, after=audit.snapshot(item))
    return item


async def correct(session: AsyncSession, item: Feedback, new: NewFeedback, *, actor_id: int, actor_label: str,
                  now: datetime) -> None:
    """The author's correction of what was recorded (status, resolution and rating stay):
    audited as a correction, and the item goes back to review."""
    _check(new)
    before = audit.snapshot(item)
    for key in ("enterprise_id", "raised_by", "category", "content", "urgency"):
        setattr(item, key, getattr(new, key))
    item.updated_at = now
    await session.flush()
    await reviews.record_correction(session, entity=ENTITY, entity_id=item.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(item), now=now)


async def transition(session: AsyncSession, item: Feedback, to: FeedbackStatus, *, note: str | None,
                     actor_id: int, actor_label: str, now: datetime) -> None:
    """Moves the item along the graph; a final status needs its note (kept in `resolution`)."""
    if to not in allowed_next(item.status):
        raise FeedbackRefused("transition")
    note = (note or "").strip() or None
    if to in FINAL and note is None:
        raise FeedbackRefused("note_required")
    before = {"status": item.status, "resolution": item.resolution,
              "closed_at": item.closed_at.isoformat() if item.closed_at else None}
    item.status = to.value
    if to in FINAL:
        item.resolution = note
        item.closed_at = now
    item.updated_at = now
    await session.flush()
    after = {"status": item.status, "resolution": item.resolution,
             "closed_at": item.closed_at.isoformat() if item.closed_at else None}
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="transition", entity=ENTITY,
                       entity_id=item.id, before=before, after=after)


async def rate(session: AsyncSession, item: Feedback, rating: int, *, owner: User, now: datetime) -> None:
    """The owner's 1–5 rating of the liaison service, once the item is resolved or closed."""
    if rating not in RATINGS:
        raise FeedbackRefused("rating_range")
    if owner.role != Role.OWNER.value or owner.enterprise_id != item.enterprise_id:
        raise FeedbackRefused("not_owner")
    if not is_final(item.status):
        raise FeedbackRefused("not_final")
    if item.rating is not None:
        raise FeedbackRefused("already_rated")
    item.rating = rating
    item.updated_at = now
    await session.flush()
    await audit.record(session, actor_id=owner.id, actor_label=owner.name, action="rate", entity=ENTITY,
                       entity_id=item.id, before={"rating": None}, after={"rating": rating})


# ---------------------------------------------------------------- reading, always within a scope


async def get_in_scope(session: AsyncSession, feedback_id: int, scope: str) -> Feedback | None:
    """An item whose enterprise lies in the scope (officers, supervisors); None otherwise."""
    return await session.scalar(
        select(Feedback).join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .where(Feedback.id == feedback_id, in_scope(Enterprise.region, scope))
    )


async def get_for_owner(session: AsyncSession, feedback_id: int, owner_id: int) -> Feedback | None:
    """An item of the owner's own enterprise; None for any other (forged buttons)."""
    return await session.scalar(
        select(Feedback).join(User, User.enterprise_id == Feedback.enterprise_id)
        .where(Feedback.id == feedback_id, User.id == owner_id, User.role == Role.OWNER.value,
               User.active.is_(True))
    )


async def get_visible(session: AsyncSession, feedback_id: int, member: Member) -> Feedback | None:
    """The item if this user may see it: an owner their enterprise's, anyone else their scope's."""
    if member.role == Role.OWNER:
        return await get_for_owner(session, feedback_id, member.id)
    return await get_in_scope(session, feedback_id, member.region)


@dataclass(frozen=True)
class FeedbackRow:
    """An item as lists and cards show it: plain values."""

    id: int
    enterprise_id: int
    enterprise: str
    raised_by: str
    channel: str
    category: str
    content: str
    urgency: str
    status: str
    resolution: str | None
    rating: int | None
    created_at: datetime
    closed_at: datetime | None
    age_days: int
    overdue: bool
    officer_id: int | None
    owner_id: int | None

    @property
    def voice_file_id(self) -> str | None:
        return voice_file(self.content)

    @property
    def text(self) -> str | None:
        """The typed content; None when it is a voice note."""
        return None if self.voice_file_id else self.content


def _row(item: Feedback, enterprise: str, now: datetime) -> FeedbackRow:
    end = item.closed_at or now
    age = max(0, (end - item.created_at).days)
    return FeedbackRow(
        id=item.id, enterprise_id=item.enterprise_id, enterprise=enterprise, raised_by=item.raised_by,
        channel=item.channel, category=item.category, content=item.content, urgency=item.urgency,
        status=item.status, resolution=item.resolution, rating=item.rating, created_at=item.created_at,
        closed_at=item.closed_at, age_days=age,
        overdue=item.status in OPEN_STATUSES and age > FEEDBACK_REMIND_DAYS,
        officer_id=item.officer_id, owner_id=item.owner_id,
    )


async def row(session: AsyncSession, item: Feedback, now: datetime) -> FeedbackRow:
    enterprise = await session.get_one(Enterprise, item.enterprise_id)
    return _row(item, enterprise.name, now)


@dataclass(frozen=True)
class OpenPage:
    rows: list[FeedbackRow]
    total: int
    overdue: int


async def open_for_officer(session: AsyncSession, officer_id: int, scope: str, now: datetime, *,
                           limit: int = 10, offset: int = 0) -> OpenPage:
    """Open and in-progress items in the region: the officer's assigned enterprises' first,
    then the rest of the region; oldest first within each. A page, with the totals."""
    assigned = exists().where(Assignment.enterprise_id == Feedback.enterprise_id,
                              Assignment.officer_id == officer_id, Assignment.ended_on.is_(None))
    where = (Feedback.status.in_(OPEN_STATUSES), in_scope(Enterprise.region, scope))
    # Overdue means more than FEEDBACK_REMIND_DAYS whole days old, as `_row` counts them.
    overdue_before = now - timedelta(days=FEEDBACK_REMIND_DAYS + 1)
    counts = (await session.execute(
        select(func.count(Feedback.id), func.count(case((Feedback.created_at <= overdue_before, Feedback.id))))
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id).where(*where)
    )).tuples().one()
    result = await session.execute(
        select(Feedback, Enterprise.name).join(Enterprise, Enterprise.id == Feedback.enterprise_id).where(*where)
        .order_by(case((assigned, 0), else_=1), Feedback.created_at, Feedback.id).limit(limit).offset(offset)
    )
    return OpenPage([_row(item, name, now) for item, name in result.tuples()], counts[0], counts[1])


async def for_owner(session: AsyncSession, owner_id: int, now: datetime, limit: int = 20) -> list[FeedbackRow]:
    """The owner's own items (sent through their link), newest first."""
    result = await session.execute(
        select(Feedback, Enterprise.name).join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .join(User, User.id == Feedback.owner_id)
        .where(Feedback.owner_id == owner_id, User.enterprise_id == Feedback.enterprise_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit)
    )
    return [_row(item, name, now) for item, name in result.tuples()]


async def owner_of(session: AsyncSession, item: Feedback) -> User | None:
    """The bound owner who sent the item through their link, to be told of its progress."""
    if item.channel != "owner" or item.owner_id is None:
        return None
    return await session.scalar(
        select(User).where(User.id == item.owner_id, User.enterprise_id == item.enterprise_id,
                           User.role == Role.OWNER.value, User.active.is_(True), User.chat_id.is_not(None))
    )


async def assigned_officers(session: AsyncSession, enterprise_id: int) -> list[User]:
    """The officers now looking after the enterprise who can be reached in Telegram."""
    return list(await session.scalars(
        select(User).join(Assignment, Assignment.officer_id == User.id)
        .where(Assignment.enterprise_id == enterprise_id, Assignment.ended_on.is_(None), User.active.is_(True),
               User.chat_id.is_not(None)).order_by(User.id)
    ))


async def owner_enterprise(session: AsyncSession, owner_id: int) -> Enterprise | None:
    """The enterprise an owner speaks for."""
    return await session.scalar(
        select(Enterprise).join(User, User.enterprise_id == Enterprise.id)
        .where(User.id == owner_id, User.role == Role.OWNER.value)
    )


# ---------------------------------------------------------------- owner links


async def create_owner_invite(session: AsyncSession, enterprise: Enterprise, officer: Member, now: datetime, *,
                              fallback_name: str = "业主") -> Invite:
    """A one-time link (7 days) that makes its opener the owner of this enterprise.

    The enterprise's owner user not yet bound to Telegram is reused, so links sent again do not
    pile up people; its earlier unused links stop working, so only the newest link binds it.
    """
    user = await session.scalar(
        select(User).where(User.role == Role.OWNER.value, User.enterprise_id == enterprise.id,
                           User.telegram_user_id.is_(None), User.active.is_(True)).order_by(User.id).limit(1)
    )
    if user is None:
        name = (enterprise.owner_name or "").strip() or fallback_name
        user = User(name=name[:MAX_RAISED_BY], role=Role.OWNER.value, region=enterprise.region,
                    enterprise_id=enterprise.id, active=True, created_at=now)
        session.add(user)
        await session.flush()
        await audit.record(session, actor_id=officer.id, actor_label=officer.name, action="create", entity="user",
                           entity_id=user.id, after=audit.snapshot(user))
    else:
        retired = await session.execute(
            update(Invite).where(Invite.user_id == user.id, Invite.used_at.is_(None), Invite.expires_at > now)
            .values(expires_at=now).returning(Invite.id)
        )
        for invite_id in retired.scalars():
            await audit.record(session, actor_id=officer.id, actor_label=officer.name, action="expire",
                               entity="invite", entity_id=invite_id, after={"expires_at": now.isoformat()})
    invite = Invite(code=new_invite_code(), user_id=user.id, expires_at=now + INVITE_LIFETIME, created_at=now)
    session.add(invite)
    await session.flush()
    await audit.record(session, actor_id=officer.id, actor_label=officer.name, action="create", entity="invite",
                       entity_id=invite.id, after={"user_id": user.id, "enterprise_id": enterprise.id,
                                                   "expires_at": invite.expires_at.isoformat()})
    return invite
