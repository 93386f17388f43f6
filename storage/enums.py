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


class OrgCategory(StrEnum):
    """党组织类别: what a party organisation is (党章第三十条)."""

    COMMITTEE = "committee"  # 党委 (基层委员会)
    GENERAL_BRANCH = "general_branch"  # 党总支 (总支部委员会)
    BRANCH = "branch"  # 党支部 (支部委员会)


class Formation(StrEnum):
    """组建方式: how an enterprise is covered by its organisation."""

    SINGLE = "single"  # 单独组建: its own organisation
    JOINT = "joint"  # 联合组建: one organisation for several enterprises (联合党支部)
    ATTACHED = "attached"  # 挂靠: its members belong to another unit's organisation


class SecretarySource(StrEnum):
    """书记来源."""

    OWNER = "owner"  # 出资人兼任
    MANAGER = "manager"  # 企业管理人员
    SENT = "sent"  # 上级选派
    OTHER = "other"


class UnformedReason(StrEnum):
    """未建立党组织原因."""

    TOO_FEW_MEMBERS = "too_few_members"  # 正式党员不足三人
    OWNER_UNSUPPORTIVE = "owner_unsupportive"  # 出资人不支持
    NO_GUIDANCE = "no_guidance"  # 上级党组织未及时指导
    OTHER = "other"


class UnorganisedClass(StrEnum):
    """未建 enterprises by their formal members, each with the response the practice prescribes."""

    SHOULD_FORM = "should_form"  # 应建未建: 3 or more → 单独组建
    FEW_MEMBERS = "few_members"  # 1–2 → 联合组建或挂靠
    NO_MEMBERS = "no_members"  # none → 派指导员, 先建群团


class OperatingStatus(StrEnum):
    """经营状态: shells and closed firms leave the statistics' denominator."""

    OPERATING = "operating"  # 在营
    SUSPENDED = "suspended"  # 停业
    DEREGISTERED = "deregistered"  # 注销


class LocationKind(StrEnum):
    """坐落: where an enterprise sits decides how it can be covered (园区、楼宇 → 联合/区域性)."""

    PARK = "park"  # 园区
    BUILDING = "building"  # 楼宇
    OTHER = "other"


class MarketEntity(StrEnum):
    """市场主体类型, from the credit code's second character (GB 32100: registered by 市场监管, 9)."""

    ENTERPRISE = "enterprise"  # 1 企业 (法人)
    INDIVIDUAL = "individual"  # 2 个体工商户, counted apart
    COOPERATIVE = "cooperative"  # 3 农民专业合作社
    OTHER = "other"


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


class FoundingAction(StrEnum):
    """What an officer's /found record reports."""

    FOUND = "found"  # a new organisation
    CHANGE = "change"  # a change of an existing one (a 党支部 becoming a 党委, a split)


class ChangeKind(StrEnum):
    """What a `change` record changed (调整党组织)."""

    CATEGORY = "category"  # 党支部 → 党总支 / 党委 (or back), renamed to match
    SECRETARY = "secretary"  # a new secretary 书记
    SPLIT = "split"  # enterprises leave a joint branch, to form their own or to none


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    NEEDS_FIXING = "needs_fixing"
