"""ORM classes: the liaison work as it is stored.

Regions are slash-separated paths (`宜昌市/枝江市/马家店街道`); a scope covers its own path and
everything below it (see `storage.scope`). Timestamps are timezone-aware UTC; calendar dates
(visit dates) are local dates in `BOT_TIMEZONE`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.enums import FoundingAction, OperatingStatus


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend.

    SQLite has no timezone type and hands back naive values; they were written as UTC, so they
    are read back as UTC instead of leaking naive datetimes into the rest of the code.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JsonType, list[Any]: JsonType}


class User(Base):
    """A person who may use the bot: created by an invite, bound to Telegram by `/start`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(255), index=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str | None] = mapped_column(String(8))
    # Owners (业主) reached through a one-time link see their own enterprise only.
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id", name="fk_users_enterprise_id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    # On leave until this local date (inclusive): no reminders, not counted as lagging.
    away_until: Mapped[date | None] = mapped_column(Date)
    joined_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invite(Base):
    """A single-use, expiring code that binds a Telegram account to a prepared `User`."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class PartyOrganisation(Base):
    """A party organisation 党组织 in the registry: what it is, how it was formed, whom it covers.

    The enterprises it covers are `PartyOrgCoverage` rows, with their history; an enterprise
    belongs to at most one organisation at a time (`Enterprise.party_org_id` is that one).
    """

    __tablename__ = "party_organisations"
    __table_args__ = (Index("ix_party_organisations_region", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Full name as the registry writes it: 中共枝江市楚韵纺织有限公司支部委员会.
    name: Mapped[str] = mapped_column(String(128))
    # True when the name was made up from an enterprise's ("…党组织"), not known.
    name_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str] = mapped_column(String(16))  # OrgCategory
    formation: Mapped[str] = mapped_column(String(16))  # Formation
    # 隶属: the organisation it reports to, a record when there is one, else its name.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("party_organisations.id",
                                                             name="fk_party_organisations_parent_id"))
    parent_name: Mapped[str | None] = mapped_column(String(128))
    # Where it is counted: the common region of the enterprises it was formed for.
    region: Mapped[str] = mapped_column(String(255))
    # None when not known (an imported registry without 成立时间): then it is new in no period.
    founded_on: Mapped[date | None] = mapped_column(Date, index=True)
    dissolved_on: Mapped[date | None] = mapped_column(Date)
    secretary: Mapped[str | None] = mapped_column(String(64))
    secretary_source: Mapped[str | None] = mapped_column(String(16))  # SecretarySource
    members: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PartyOrgCoverage(Base):
    """Which organisation covered which enterprise when: the history behind `party_org_id`."""

    __tablename__ = "party_org_coverage"
    __table_args__ = (Index("ix_party_org_coverage_enterprise", "enterprise_id", "ended_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("party_organisations.id"), index=True)
    # None: since before the registry knew (an organisation without a founding date).
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class Enterprise(Base):
    __tablename__ = "enterprises"
    __table_args__ = (Index("ix_enterprises_region_name", "region", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # Pinyin initials of the name ("zjscyfz…"), so officers can search with a Latin keyboard.
    name_initials: Mapped[str] = mapped_column(Text, default="")
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="private")
    region: Mapped[str] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(64))
    employees: Mapped[int | None] = mapped_column(Integer)
    # 正式党员数, and of them those whose 组织关系 is in the enterprise / elsewhere (流动、口袋党员).
    party_members: Mapped[int | None] = mapped_column(Integer)
    members_here: Mapped[int | None] = mapped_column(Integer)
    members_elsewhere: Mapped[int | None] = mapped_column(Integer)
    # The organisation covering it now (kept in step with `PartyOrgCoverage` by `storage.organisations`).
    party_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_organisations.id",
                                                                name="fk_enterprises_party_org_id"), index=True)
    unformed_reason: Mapped[str | None] = mapped_column(String(24))  # UnformedReason, without an organisation
    operating_status: Mapped[str] = mapped_column(String(16), default=OperatingStatus.OPERATING.value)
    above_scale: Mapped[bool | None] = mapped_column(Boolean)  # 规模以上
    revenue: Mapped[float | None] = mapped_column(Float)  # 年营业收入, 万元
    location_kind: Mapped[str | None] = mapped_column(String(16))  # LocationKind
    location_name: Mapped[str | None] = mapped_column(String(128))  # the 园区 or 楼宇
    mass_orgs: Mapped[list[Any]] = mapped_column(default=list)
    owner_name: Mapped[str | None] = mapped_column(String(64))
    owner_political_status: Mapped[str | None] = mapped_column(String(32))
    owner_is_member: Mapped[bool | None] = mapped_column(Boolean)
    owner_is_secretary: Mapped[bool | None] = mapped_column(Boolean)
    demonstration_point: Mapped[bool] = mapped_column(Boolean, default=False)
    visit_cadence_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Assignment(Base):
    """Which officer looks after which enterprise, with history: officers rotate."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_officer_open", "officer_id", "ended_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class Visit(Base):
    """A visit report 走访记录."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_enterprise_date", "enterprise_id", "visit_date"),
        Index("ix_visits_officer_date", "officer_id", "visit_date"),
        Index("ix_visits_date", "visit_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    activities: Mapped[list[Any]] = mapped_column(default=list)
    employees: Mapped[int | None] = mapped_column(Integer)
    party_members: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)
    summary_voice_file_id: Mapped[str | None] = mapped_column(String(255))
    follow_up: Mapped[str | None] = mapped_column(Text)
    # Telegram file ids of photos and voice notes: [{"type": "photo", "file_id": "..."}]
    media: Mapped[list[Any]] = mapped_column(default=list)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    enterprise: Mapped[Enterprise] = relationship()
    officer: Mapped[User] = relationship()


class HeadcountRecord(Base):
    """History of an enterprise's employees and party members, as reported."""

    __tablename__ = "headcount_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    employees: Mapped[int | None] = mapped_column(Integer)
    party_members: Mapped[int | None] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    """A conversation in progress: which form, which step, the answers so far.

    One per user. Read and written in the same unit of work as each update, so a restart or
    another bot instance carries on exactly where the user was.
    """

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    form: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    # A step's sub-state: typing a date instead of tapping, browsing search results.
    mode: Mapped[str | None] = mapped_column(String(255))
    # Set when the user jumped back from the confirmation card: answer, then return there.
    editing: Mapped[bool] = mapped_column(Boolean, default=False)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Increases with every question asked; buttons carry it, so a press on an older question
    # is recognised as stale instead of being applied to the current one.
    seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """Who changed what, when, before and after — and who exported what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # None for the command line (an operator on the server), else the acting user.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class Person(Base):
    """Someone in member development 党员发展: applicant → activist → development object →
    probationary → full member (or withdrawn), each stage with its date."""

    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_enterprise", "enterprise_id"),
        Index("ix_people_officer", "officer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # who nominated and follows them
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(Date)
    position: Mapped[str | None] = mapped_column(String(64))
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)  # owners who apply are counted apart
    stage: Mapped[str] = mapped_column(String(16))
    applied_on: Mapped[date] = mapped_column(Date)
    talked_on: Mapped[date | None] = mapped_column(Date)
    activist_on: Mapped[date | None] = mapped_column(Date)
    notice_started_on: Mapped[date | None] = mapped_column(Date)  # 公示 before listing as development object
    candidate_on: Mapped[date | None] = mapped_column(Date)
    probation_on: Mapped[date | None] = mapped_column(Date)
    full_on: Mapped[date | None] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[list[Any]] = mapped_column(default=list)  # 培养联系人, two names
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReviewNote(Base):
    """A half-yearly review 考察记录 of a person in development."""

    __tablename__ = "review_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    written_on: Mapped[date] = mapped_column(Date)
    content: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """An owner's request or problem 业主诉求, from an officer or from the owner directly."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_enterprise_status", "enterprise_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    raised_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # officer | owner
    category: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)  # 1–5, the owner's view of the liaison service
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]


class Founding(Base):
    """An officer's record of a party organisation founded 新建党组织 (or changed) with their
    guidance: reviewed and correctable like every record, counted in the 年终统计 as
    指导新建党组织. The organisation itself is the `PartyOrganisation` it made or changed."""

    __tablename__ = "foundings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The enterprise it was recorded from (its scope); a joint branch covers `enterprise_ids`.
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("party_organisations.id"), index=True)
    action: Mapped[str] = mapped_column(String(16), default=FoundingAction.FOUND.value)  # FoundingAction
    enterprise_ids: Mapped[list[Any]] = mapped_column(default=list)
    name: Mapped[str | None] = mapped_column(String(128))
    founded_on: Mapped[date] = mapped_column(Date, index=True)
    category: Mapped[str] = mapped_column(String(16))  # OrgCategory
    formation: Mapped[str] = mapped_column(String(16))  # Formation
    secretary: Mapped[str] = mapped_column(String(64))
    secretary_source: Mapped[str | None] = mapped_column(String(16))  # SecretarySource
    members: Mapped[int] = mapped_column(Integer)
    # What a `change` changed, for its review and its correction: {"kind": "category"|"secretary",
    # "from": {field: value before}} or {"kind": "split", "own": [ids of the enterprises that left
    # to form their own], "created": [their new organisations' ids], "dissolved": bool}.
    change: Mapped[dict[str, Any] | None]
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the guiding officer
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Review(Base):
    """A supervisor's verdict on a record: approved, or needs fixing with a comment.

    One row per record (entity + id); a correction by the officer sets it back to pending.
    The history of verdicts is in the audit log.
    """

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("entity", "entity_id", name="uq_reviews_entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | needs_fixing
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message the bot sends on its own (reminders, digests, notices), queued here first.

    The dedupe key (`overdue_visit:enterprise:42:2026-W47`) is unique, so the sweep can run
    any number of times without queueing a reminder twice. A sender claims rows, sends them
    within Telegram's limits and marks them sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    # None: composed when sent, by the renderer registered for the kind (reminders: the key
    # names the subject, `storage.sweep`); the buttons are then composed too.
    text: Mapped[str | None] = mapped_column(Text)
    # [[{"text": ..., "callback_data": ...}]] — an inline keyboard, or none.
    buttons: Mapped[list[Any]] = mapped_column(default=list)
    # XLSX or PNG attachments of a digest: [{"filename": ..., "path": ...}].
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sending|sent|failed|dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderSnooze(Base):
    """An officer's answer to a reminder: remind me tomorrow, or not again this period."""

    __tablename__ = "reminder_snoozes"
    __table_args__ = (UniqueConstraint("user_id", "subject", name="uq_snooze_user_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(128))  # the dedupe key without its period
    until: Mapped[datetime | None]  # remind again after this moment
    skip_period: Mapped[str | None] = mapped_column(String(32))  # not again in this period
    created_at: Mapped[datetime] = mapped_column(default=utcnow)



class ProcessedUpdate(Base):
    """A Telegram update this bot has handled, so a redelivered one (same update_id, after a
    crash or a webhook retry) is recognised and not applied twice.

    The row is written in the same transaction as the first thing the update changed (see
    `storage.updates`), so "changed" and "recorded as handled" commit together. Telegram
    keeps undelivered updates for 24 hours; a daily job prunes rows older than `updates.KEEP_FOR`.
    """

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InviteAttempt(Base):
    """A `/start <code>` with a code that was not valid: counted per Telegram user to throttle
    guessing. Only the numeric Telegram id and the time are kept, and only for the window."""

    __tablename__ = "invite_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)



class SchedulerStart(Base):
    """When the scheduler first ran on this database (one row, id 1): report runs due before
    then are not made up at start (`bot.scheduler.catch_up`), so a new database does not begin
    with last week's digest."""

    __tablename__ = "scheduler_start"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    started_at: Mapped[datetime]


# Indexes the weekly digests need to stay bounded by the week after years of history (migration
# 005; bench/digests.py measures them). Declared here, after the classes, so the classes above
# keep their lines.
Index("ix_people_activist_on", Person.activist_on)  # new activists of a week
Index("ix_feedback_closed_at", Feedback.closed_at)  # resolved in a week; closed after it (overdue)
Index("ix_feedback_officer_status", Feedback.officer_id, Feedback.status)  # an officer's open items
