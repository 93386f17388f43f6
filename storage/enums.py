"""Domain vocabularies, stored as short codes.

The codes are what the database and callback data hold; the Chinese (or English) words users
see come from `templates/<locale>/labels.txt.j2`, and the Chinese words of imported files are
mapped in `storage/importer.py`.
"""

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    OWNER = "owner"


class EnterpriseKind(StrEnum):
    PRIVATE = "private"
    INDIVIDUAL = "individual"
    RESTRUCTURED = "restructured"
    FOREIGN = "foreign"
    OTHER = "other"


class PartyOrg(StrEnum):
    NONE = "none"
    JOINT_BRANCH = "joint_branch"
    BRANCH = "branch"
    GENERAL_BRANCH = "general_branch"
    COMMITTEE = "committee"


class MassOrg(StrEnum):
    UNION = "union"
    YOUTH_LEAGUE = "youth_league"
    WOMEN = "women"


class Activity(StrEnum):
    POLICY = "policy"
    GUIDE_ORG = "guide_org"
    ACTIVISTS = "activists"
    HELP = "help"
    MEMBER_EVENTS = "member_events"
    BUSINESS = "business"
    OTHER = "other"


class Stage(StrEnum):
    """Member development stages, in order (withdrawn ends it at any point)."""

    APPLICANT = "applicant"  # 入党申请人
    ACTIVIST = "activist"  # 入党积极分子
    CANDIDATE = "candidate"  # 发展对象
    PROBATIONARY = "probationary"  # 预备党员
    FULL = "full"  # 正式党员
    WITHDRAWN = "withdrawn"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class FeedbackCategory(StrEnum):
    FINANCING = "financing"  # 融资
    HIRING = "hiring"  # 用工招工
    POLICY = "policy"  # 政策咨询
    PERMITS = "permits"  # 审批办证
    MARKET = "market"  # 市场拓展
    PARTY = "party"  # 党建工作
    OTHER = "other"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class FeedbackStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class FoundingMethod(StrEnum):
    INDEPENDENT = "independent"  # 独立组建
    JOINT = "joint"  # 联合组建


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    NEEDS_FIXING = "needs_fixing"
