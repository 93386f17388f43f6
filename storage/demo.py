"""A realistic, modest Yichang demo data set (`python -m bot seed-demo`).

Everything comes from one `random.Random(seed)`, so the same seed and the same `today` give the
same people, enterprises and visits on every database: screenshots, the offline sandbox and
tests can rely on it. The sandbox logs in as the officer 王芳 of 枝江市, whose list has one
overdue enterprise (枝江市楚韵纺织有限公司, visited 45 days ago) and one recently visited
(枝江市白洋港机械制造有限公司, 12 days ago).

The registry has the shape a county's has (OFFICIAL-FORMATS.md): party organisations as records
— their own (党支部, 党总支, 党委 of the large and restructured firms), joint branches of 2 to 5
small firms of a township, 园区 or 楼宇, 挂靠 to a community's, village's or market's organisation —
each with its 隶属, secretary and where the secretary comes from (a few sent by the county), founded
over ten years (a few this quarter, some on a date not known); enterprises with 经营状态, 年营业收入
and 规上, 园区/楼宇, members' 组织关系 here or elsewhere, and, without an organisation, the reason;
and the officers' /found records of the organisations founded on their watch.

Like every storage function, `seed_demo` never commits; each row it creates gets an audit
entry labelled `seed-demo`, so demo rows can be told apart from real ones.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, development, divisions, rules
from storage.creditcode import ALPHABET, check_character
from storage.enums import (
    Activity,
    EnterpriseKind,
    FeedbackCategory,
    FeedbackStatus,
    Formation,
    FoundingAction,
    LocationKind,
    MassOrg,
    OperatingStatus,
    OrgCategory,
    Role,
    SecretarySource,
    Stage,
    UnformedReason,
    Urgency,
)
from storage.foundings import joint_name, place_of, standard_name
from storage.models import (
    Assignment,
    Enterprise,
    Feedback,
    Founding,
    HeadcountRecord,
    PartyOrganisation,
    PartyOrgCoverage,
    Person,
    User,
    Visit,
)
from storage.organisations import common_region, numbered
from storage.pinyin import initials
from storage.scope import SEPARATOR, covers

logger = logging.getLogger(__name__)

ACTOR_LABEL = "seed-demo"
SANDBOX_OFFICER = "王芳"
SANDBOX_COUNTY = "枝江市"
OVERDUE_SHOWCASE = "枝江市楚韵纺织有限公司"
RECENT_SHOWCASE = "枝江市白洋港机械制造有限公司"
HISTORY_DAYS = 180


@dataclass(frozen=True)
class DemoSummary:
    users: int
    officers: int
    enterprises: int
    assignments: int
    visits: int
    headcount_records: int
    audit_entries: int
    overdue_enterprises: int
    ready_to_form: int
    priority: int
    sandbox_officer_id: int
    people: int = 0
    feedback: int = 0
    organisations: int = 0
    foundings: int = 0


# --- people -------------------------------------------------------------------------------

# (name, role, county, township): None for the county means the whole city.
_STAFF: tuple[tuple[str, Role, str | None, str | None], ...] = (
    ("陈建国", Role.ADMIN, None, None),
    ("刘海燕", Role.SUPERVISOR, None, None),
    ("周志刚", Role.SUPERVISOR, "枝江市", None),
    ("黄晓丽", Role.SUPERVISOR, "夷陵区", None),
)
CITY_SUPERVISOR = "刘海燕"

# Officers; the ones with a township look after enterprises of that township only.
_OFFICERS: tuple[tuple[str, str, str | None], ...] = (
    (SANDBOX_OFFICER, SANDBOX_COUNTY, None),
    ("李志强", "枝江市", None),
    ("张伟", "夷陵区", None),
    ("刘洋", "夷陵区", "小溪塔街道"),
    ("陈静", "西陵区", None),
    ("杨帆", "伍家岗区", None),
    ("赵敏", "点军区", None),
    ("黄勇", "猇亭区", "古老背街道"),
    ("周婷", "远安县", None),
    ("吴昊", "兴山县", None),
    ("覃红梅", "秭归县", None),
    ("向华", "长阳土家族自治县", None),
    ("谭俊", "五峰土家族自治县", None),
    ("朱丽萍", "宜都市", None),
    ("胡斌", "当阳市", None),
)
# 王芳's first enterprise was looked after by 李志强 until officers rotated.
_ROTATED_FROM = "李志强"
_ROTATION_DAYS_AGO = 150

_SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
    "覃向谭"  # common among the Tujia of 长阳 and 五峰
)
_GIVEN_NAMES = (
    "建国", "志强", "海峰", "红梅", "晓燕", "俊", "丽", "军", "斌", "敏", "德华", "明", "国庆", "春林",
    "桂芳", "德胜", "小平", "卫东", "玉兰", "家豪", "文杰", "雪梅", "永红", "正清", "秀英", "立新",
    "万福", "金凤", "开云", "少华", "慧", "磊", "静", "涛", "鹏", "婷", "雄", "兵", "刚", "琴",
)
# Owners are mostly 群众; political status is stored as the Chinese word, as imports bring it.
_OWNER_STATUSES = (("群众", 64), ("中共党员", 20), ("民主党派", 7), ("无党派人士", 9))


# --- enterprises --------------------------------------------------------------------------

_PER_COUNTY = {
    "西陵区": 12, "伍家岗区": 10, "点军区": 8, "猇亭区": 10, "夷陵区": 22, "远安县": 8, "兴山县": 7,
    "秭归县": 9, "长阳土家族自治县": 9, "五峰土家族自治县": 7, "宜都市": 14, "当阳市": 14, "枝江市": 20,
}

# Industry -> words a company of it has in its name.
_PRODUCTS: dict[str, tuple[str, ...]] = {
    "纺织": ("纺织", "服饰", "针织", "家纺"),
    "机械制造": ("机械制造", "机电设备", "汽车配件", "精密机械", "重工"),
    "农产品加工": ("食品", "粮油", "农产品加工", "生态农业", "菌业"),
    "建材": ("建材", "新型建材", "陶瓷", "水泥制品"),
    "化工": ("化工", "精细化工", "磷化工", "新材料"),
    "物流": ("物流", "运输", "供应链管理"),
    "电商": ("电子商务", "网络科技"),
    "茶叶": ("茶业", "生态茶业"),
    "柑橘": ("果业", "柑橘"),
    "生物医药": ("生物医药", "药业", "生物科技"),
    "旅游": ("旅游开发", "文化旅游"),
    "酿酒": ("酒业",),
    "矿业": ("矿业", "磷矿"),
    "信息技术": ("信息技术", "软件"),
}

# What each county is known for, roughly (repeats weigh).
_COUNTY_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "西陵区": ("电商", "信息技术", "物流", "生物医药", "旅游"),
    "伍家岗区": ("物流", "电商", "机械制造", "信息技术", "建材"),
    "点军区": ("农产品加工", "旅游", "茶叶", "建材"),
    "猇亭区": ("化工", "化工", "生物医药", "机械制造", "物流"),
    "夷陵区": ("机械制造", "机械制造", "茶叶", "化工", "矿业", "柑橘", "物流", "农产品加工"),
    "远安县": ("矿业", "农产品加工", "建材", "化工"),
    "兴山县": ("化工", "矿业", "茶叶", "旅游", "柑橘"),
    "秭归县": ("柑橘", "柑橘", "旅游", "农产品加工"),
    "长阳土家族自治县": ("农产品加工", "旅游", "建材", "茶叶"),
    "五峰土家族自治县": ("茶叶", "茶叶", "旅游", "农产品加工"),
    "宜都市": ("柑橘", "茶叶", "建材", "化工", "机械制造"),
    "当阳市": ("建材", "建材", "农产品加工", "机械制造", "化工"),
    "枝江市": ("纺织", "机械制造", "酿酒", "农产品加工", "化工", "柑橘"),
}

_BRANDS = (
    "三峡", "清江", "鑫源", "华康", "宏达", "金桥", "荆楚", "长江", "峡江", "昭君", "屈乡", "恒信", "兴隆",
    "丰泽", "惠民", "宏图", "鼎盛", "瑞丰", "新联", "腾飞", "博远", "天润", "华茂", "绿源", "山水", "楚天",
    "金穗", "正大", "远航", "中诚", "万家", "嘉禾", "宜兴", "安泰", "永固", "福源", "汇通", "晨光", "润康",
)
# Foreign-invested firms here are factories.
_FOREIGN_INDUSTRIES = ("机械制造", "化工", "生物医药", "纺织", "建材")
_FOREIGN_BRANDS = ("中德", "中日", "中意", "港宜", "台宜", "中韩")

# Cooperatives (农民专业合作社) carry kind `other` and credit codes with `93`.
_COOPERATIVES: dict[str, tuple[str, ...]] = {
    "柑橘": ("柑橘专业合作社", "脐橙种植专业合作社"),
    "茶叶": ("茶叶专业合作社", "茶叶种植专业合作社"),
    "农产品加工": ("香菇专业合作社", "高山蔬菜专业合作社", "生猪养殖专业合作社", "中药材种植专业合作社"),
}
_COUNTY_CROPS: dict[str, tuple[str, ...]] = {
    "秭归县": ("柑橘",), "宜都市": ("柑橘", "茶叶"), "五峰土家族自治县": ("茶叶",), "夷陵区": ("柑橘", "茶叶"),
    "枝江市": ("柑橘", "农产品加工"), "远安县": ("农产品加工",), "长阳土家族自治县": ("农产品加工",),
    "兴山县": ("柑橘", "茶叶"), "当阳市": ("农产品加工",), "点军区": ("茶叶", "农产品加工"),
}

# Individual businesses (个体工商户): (industry, shop).
_SHOPS = (
    ("餐饮", "热干面馆"), ("餐饮", "牛肉面馆"), ("餐饮", "土菜馆"), ("餐饮", "萝卜饺子店"),
    ("餐饮", "凉虾店"), ("餐饮", "农家乐"), ("汽车维修", "汽车修理店"), ("零售", "便利店"),
    ("零售", "农资店"), ("电商", "土特产网店"),
)
# Kinds of the generated enterprises; `other` stands for farmers' cooperatives here.
_KINDS = (
    (EnterpriseKind.PRIVATE.value, 68), (EnterpriseKind.INDIVIDUAL.value, 18), (EnterpriseKind.OTHER.value, 6),
    (EnterpriseKind.RESTRUCTURED.value, 5), (EnterpriseKind.FOREIGN.value, 3),
)
_SHOP_NICKNAMES = ("老{s}家", "{s}记", "{s}师傅", "{s}姐")


class _Org(StrEnum):
    """What the generator gives an enterprise; `_organisations` makes the records. A joint branch
    is a wish: firms that wish one are grouped by township, 园区 or 楼宇, and one left alone in its
    place has none."""

    NONE = "none"
    JOINT_BRANCH = "joint_branch"
    ATTACHED = "attached"
    BRANCH = "branch"
    GENERAL_BRANCH = "general_branch"
    COMMITTEE = "committee"


_ORG_KINDS = {_Org.JOINT_BRANCH: (OrgCategory.BRANCH, Formation.JOINT),
              _Org.ATTACHED: (OrgCategory.BRANCH, Formation.ATTACHED),
              _Org.BRANCH: (OrgCategory.BRANCH, Formation.SINGLE),
              _Org.GENERAL_BRANCH: (OrgCategory.GENERAL_BRANCH, Formation.SINGLE),
              _Org.COMMITTEE: (OrgCategory.COMMITTEE, Formation.SINGLE)}
_OWN = (_Org.BRANCH, _Org.GENERAL_BRANCH, _Org.COMMITTEE)  # 单独组建
JOINT_BRANCH_SIZE = 5  # enterprises of one township, 园区 or 楼宇 per joint branch, at most

# Where secretaries come from (书记来源): firms with their own organisation mostly choose a manager,
# or the owner where the owner is a member; joint branches are where the county sends cadres. The
# practice's county "下派了24名干部任书记": a few in a hundred organisations.
_OWN_SOURCES = ((SecretarySource.MANAGER.value, 75), (SecretarySource.SENT.value, 5),
                (SecretarySource.OTHER.value, 20))
_OWNER_SECRETARY = 0.45  # of the firms with their own organisation whose owner is a member
_JOINT_SOURCES = ((SecretarySource.SENT.value, 28), (SecretarySource.MANAGER.value, 30),
                  (SecretarySource.OWNER.value, 25), (SecretarySource.OTHER.value, 17))

# 园区 and 楼宇 of each county: (kind, name, the industries settled there; empty: any of
# `_MANUFACTURING`). Chemical firms sit in the chemical parks (化工园), offices in the city's towers.
_PARK, _BUILDING = LocationKind.PARK, LocationKind.BUILDING
_LOCATIONS: dict[str, tuple[tuple[LocationKind, str, tuple[str, ...]], ...]] = {
    "枝江市": ((_PARK, "枝江经济开发区", ()), (_PARK, "枝江姚家港化工园", ("化工",))),
    "宜都市": ((_PARK, "宜都化工园", ("化工",)), (_PARK, "宜都高新技术产业园", ())),
    "当阳市": ((_PARK, "当阳经济开发区", ()),),
    "夷陵区": ((_PARK, "夷陵经济开发区", ()),),
    "猇亭区": ((_PARK, "猇亭化工园", ("化工", "生物医药")), (_PARK, "猇亭工业园", ())),
    "远安县": ((_PARK, "远安经济开发区", ()),),
    "兴山县": ((_PARK, "兴山县古夫工业园", ()),),
    "秭归县": ((_PARK, "秭归县茅坪工业园", ()),),
    "长阳土家族自治县": ((_PARK, "长阳经济开发区", ()),),
    "五峰土家族自治县": ((_PARK, "五峰渔洋关工业园", ()),),
    "点军区": ((_PARK, "点军电商产业园", ("电商", "农产品加工")),),
    "伍家岗区": ((_PARK, "伍家岗工业园", ()), (_BUILDING, "宜昌环球金融中心", ("电商", "信息技术", "物流"))),
    "西陵区": ((_BUILDING, "宜昌国贸大厦", ("电商", "信息技术", "物流", "旅游", "生物医药")),
             (_BUILDING, "万达广场写字楼", ("电商", "信息技术", "旅游"))),
}
_MANUFACTURING = ("纺织", "机械制造", "农产品加工", "建材", "化工", "生物医药", "酿酒")

# 规模以上 (the statistics bureau's 四上): 主营业务收入 in 万元 at which a firm of the industry counts
# (工业、批发 2000; 零售 500; 信息技术、旅游等服务业 1000; 住宿餐饮 200), and the revenue a worker brings in.
_ABOVE_SCALE = {"零售": 500, "信息技术": 1000, "旅游": 1000, "汽车维修": 1000, "餐饮": 200}
_INDUSTRY_THRESHOLD = 2000
_REVENUE_PER_WORKER: dict[str, tuple[float, float]] = {
    "化工": (40, 120), "矿业": (30, 90), "生物医药": (30, 90), "酿酒": (25, 70), "机械制造": (15, 50),
    "建材": (15, 50), "纺织": (8, 25), "农产品加工": (12, 40), "茶叶": (6, 25), "柑橘": (6, 25),
    "物流": (15, 50), "电商": (15, 60), "信息技术": (10, 35), "旅游": (5, 15), "餐饮": (4, 12),
    "零售": (8, 30), "汽车维修": (5, 15),
}
_SUSPENDED, _DEREGISTERED = 0.03, 0.015  # shares of 停业 and 注销 firms still in the registry

# Hosts of 挂靠: the community (社区) or village (村) party organisation where the firm is, or the
# market's branch for a shop.
_NEIGHBOURHOODS = ("团结", "新华", "胜利", "建设", "光明", "幸福", "和平", "东风", "红星", "桂花", "柳林",
                   "青龙", "白鹤", "双桥", "石岭", "清溪", "三星", "向阳", "金湾", "杨柳")
# Why there is no organisation (未建立党组织原因): too few members, mostly; where there are enough,
# the owner or the guidance.
_UNFORMED_FEW = ((UnformedReason.TOO_FEW_MEMBERS.value, 85), (UnformedReason.OTHER.value, 5), ("", 10))
_UNFORMED_ENOUGH = ((UnformedReason.OWNER_UNSUPPORTIVE.value, 45), (UnformedReason.NO_GUIDANCE.value, 40),
                    (UnformedReason.OTHER.value, 10), ("", 5))
# Founding dates: over ten years (a year brings about one organisation in ten, a quarter two or
# three in a hundred, as at the city's scale), some not known (imported). The demo's sample of
# some 60 organisations draws a few more in this quarter and this year, so that the sandbox's
# 季报 and 年终统计 have some whatever the day.
_UNDATED = 0.10
DEMO_RECENT = (0.03, 0.05)  # shares drawn in this quarter and in this year besides
_GUIDED = 0.85  # of the organisations founded while an officer looked after the firm, those recorded by /found
# The fields `_organisations` settles on each enterprise (the city copies them into its rows).
SETTLED = ("party_members", "members_here", "members_elsewhere", "unformed_reason", "owner_is_secretary")


@dataclass(frozen=True)
class _Fixed:
    """An enterprise the demo needs by name (the sandbox's showcases, the design's examples)."""

    name: str
    county: str
    township: str
    kind: EnterpriseKind
    industry: str
    employees: int
    party_members: int
    party_org: _Org
    owner_name: str
    owner_status: str
    mass_orgs: tuple[MassOrg, ...] = ()
    demonstration_point: bool = False
    cadence: int = 30
    cooperative: bool = False
    members_elsewhere: int = 0
    unformed: UnformedReason | None = None
    secretary_source: SecretarySource | None = None
    location: tuple[LocationKind, str] | None = None


_FIXED = (
    # Priority and ready to form at once: 260 workers, 4 members, no organisation yet.
    _Fixed(OVERDUE_SHOWCASE, "枝江市", "马家店街道", EnterpriseKind.PRIVATE, "纺织", 260, 4, _Org.NONE,
           "胡德明", "群众", (MassOrg.UNION, MassOrg.WOMEN), unformed=UnformedReason.NO_GUIDANCE),
    # The owner, a member, is the secretary of the firm's own branch.
    _Fixed(RECENT_SHOWCASE, "枝江市", "白洋镇", EnterpriseKind.PRIVATE, "机械制造", 85, 6, _Org.BRANCH,
           "李国华", "中共党员", (MassOrg.UNION,), demonstration_point=True, members_elsewhere=1,
           secretary_source=SecretarySource.OWNER, location=(_PARK, "枝江经济开发区")),
    # Two members, attached (挂靠) to the village's organisation.
    _Fixed("宜都市红花套柑橘专业合作社", "宜都市", "红花套镇", EnterpriseKind.OTHER, "柑橘", 23, 2, _Org.ATTACHED,
           "向光明", "中共党员", cooperative=True),
    _Fixed("夷陵区鸦鹊岭汽车配件厂", "夷陵区", "鸦鹊岭镇", EnterpriseKind.PRIVATE, "机械制造", 140, 1, _Org.NONE,
           "郑永红", "群众", (MassOrg.UNION,), cadence=15, unformed=UnformedReason.TOO_FEW_MEMBERS),
    _Fixed("当阳市玉阳建材有限公司", "当阳市", "玉阳街道", EnterpriseKind.PRIVATE, "建材", 65, 3, _Org.NONE,
           "杜立新", "无党派人士", unformed=UnformedReason.OWNER_UNSUPPORTIVE),
    # A former state firm that kept its party committee, a demonstration point.
    _Fixed("宜昌三峡船舶机械有限责任公司", "伍家岗区", "伍家岗街道", EnterpriseKind.RESTRUCTURED, "机械制造", 520, 64,
           _Org.COMMITTEE, "邓卫东", "中共党员", (MassOrg.UNION, MassOrg.YOUTH_LEAGUE, MassOrg.WOMEN),
           demonstration_point=True, members_elsewhere=5, secretary_source=SecretarySource.MANAGER,
           location=(_PARK, "伍家岗工业园")),
    _Fixed("西陵区老王家热干面馆", "西陵区", "学院街道", EnterpriseKind.INDIVIDUAL, "餐饮", 6, 0, _Org.NONE,
           "王德福", "群众", cadence=60, unformed=UnformedReason.TOO_FEW_MEMBERS),
)
_FIXED_BY_NAME = {fixed.name: fixed for fixed in _FIXED}
_SANDBOX_ENTERPRISES = 8


# --- visits -------------------------------------------------------------------------------

_TITLES = {"company": ("董事长", "总经理", "负责人"), "cooperative": ("理事长", "负责人"), "shop": ("店主",)}
_TOPICS = ("用工难", "融资难", "订单下滑", "原材料涨价", "物流成本高", "环保改造", "技术人才短缺", "市场拓展")
_STAFF_ROLES = {"company": ("车间主任", "技术骨干", "销售经理", "办公室主任", "质检员"),
                "cooperative": ("技术员", "社员"), "shop": ("店员", "厨师")}
_PHRASES: dict[Activity, tuple[str, ...]] = {
    Activity.POLICY: (
        "宣讲了减税降费政策", "解读了稳岗返还和社保补贴政策", "宣传了支持民营经济发展的若干措施",
        "讲解了小微企业所得税优惠政策", "宣传了技改补贴申报政策",
    ),
    Activity.ACTIVISTS: (
        "{role}{person}递交了入党申请书", "与入党积极分子{person}谈心谈话", "推荐{role}{person}为入党积极分子",
        "对入党积极分子{person}进行了半年考察",
    ),
    Activity.HELP: (
        "企业反映融资难，已联系{bank}对接", "协调人社部门帮助招聘{count}名技术工人", "协助办理{permit}",
        "协调供电所解决了厂区用电问题", "帮助对接商务部门拓展销售渠道",
    ),
    Activity.MEMBER_EVENTS: (
        "组织党员开展主题党日活动", "组织党员学习党的二十大精神", "带领党员参加社区志愿服务", "为党员讲了一堂专题党课",
    ),
    Activity.BUSINESS: (
        "了解了企业生产经营情况，订单较为饱满", "企业反映原材料价格上涨，利润有所下滑",
        "企业上半年产值同比增长约{percent}%", "了解到企业正在筹划新生产线", "企业反映{topic}",
    ),
    Activity.OTHER: ("走访慰问了困难职工", "参加了企业职工代表大会", "看望了企业老党员"),
}
# Guiding a party organisation means founding one where there is none, else running it well.
_GUIDE_FOUND = ("与业主商议组建党支部事宜", "指导企业梳理在职党员名单、转接组织关系", "介绍了联合党支部的组建方式")
_GUIDE_RUN = ("指导党支部规范“三会一课”台账", "指导党支部做好换届准备", "督促党支部落实党员积分管理")
_BANKS = ("三峡农商行", "湖北银行宜昌分行", "邮储银行", "农业银行")
_PERMITS = ("排污许可证延续", "食品经营许可证", "消防验收手续", "不动产权证")
_FOLLOW_UPS = (
    "下周协调人社局对接专场招聘会", "月底前回访，跟进党支部组建进度", "联系农商行客户经理上门对接贷款需求",
    "安排培养联系人跟踪考察入党申请人", "向组织部报送企业用工需求", "下次走访带去技改补贴申报材料",
)
# The sandbox's showcase visits, so the demo tells a story (an application to follow up).
_SHOWCASE_VISITS = {
    OVERDUE_SHOWCASE: (
        (Activity.BUSINESS, Activity.ACTIVISTS),
        "与董事长交流了用工难问题，车间主任李明递交了入党申请书。",
        "一个月内安排与李明谈话",
    ),
    RECENT_SHOWCASE: (
        (Activity.POLICY, Activity.HELP),
        "宣讲了减税降费政策，企业反映融资难。",
        "联系农商行客户经理上门对接贷款需求",
    ),
}
_SHOWCASE_LAST_VISIT = {OVERDUE_SHOWCASE: 45, RECENT_SHOWCASE: 12}


@dataclass
class _Tenure:
    officer: User
    started_on: date
    ended_on: date | None


_Row = User | Enterprise | PartyOrganisation | Assignment | Founding | Visit | HeadcountRecord | Person | Feedback


@dataclass
class _Book:
    """Every row created, in order, for the audit entries."""

    rows: list[tuple[str, _Row]] = field(default_factory=list)

    def add(self, entity: str, objs: Sequence[_Row]) -> None:
        self.rows.extend((entity, obj) for obj in objs)


async def seed_demo(session: AsyncSession, *, today: date, seed: int = 2026) -> DemoSummary:
    """Fills an empty database with the demo; refuses if enterprises exist. Does not commit."""
    existing = await session.scalar(select(func.count()).select_from(Enterprise))
    if existing:
        raise ValueError(f"the database already holds {existing} enterprises; seed-demo only fills an empty one")
    rng = random.Random(seed)
    book = _Book()

    staff, officers = _people()
    session.add_all([*staff, *officers])
    await session.flush()
    book.add("user", [*staff, *officers])

    generated = _enterprises(rng)
    enterprises = [enterprise for enterprise, _org in generated]
    session.add_all(enterprises)
    await session.flush()
    book.add("enterprise", enterprises)

    formed = _organisations(rng, generated, today)
    organisations = [organisation for organisation, _firms in formed]
    session.add_all(organisations)
    await session.flush()
    book.add("party_organisation", organisations)
    session.add_all(_coverage(formed))
    await session.flush()

    tenures = _tenures(rng, officers, enterprises, today)
    assignments = [
        Assignment(enterprise_id=e.id, officer_id=t.officer.id, started_on=t.started_on, ended_on=t.ended_on)
        for e in enterprises for t in tenures.get(e.id, [])
    ]
    session.add_all(assignments)
    await session.flush()
    book.add("assignment", assignments)

    founded = _foundings(rng, formed, tenures, today)
    session.add_all(founded)
    await session.flush()
    book.add("founding", founded)

    visits = _visits(rng, enterprises, tenures, today)
    session.add_all(visits)
    await session.flush()
    book.add("visit", visits)

    records = _headcount_updates(rng, enterprises, visits)
    session.add_all(records)
    await session.flush()
    book.add("headcount_record", records)

    people = _development(rng, enterprises, tenures, today)
    session.add_all(people)
    await session.flush()
    book.add("person", people)

    requests = _requests(rng, enterprises, tenures, today)
    session.add_all(requests)
    await session.flush()
    book.add("feedback", requests)

    # One entry per created row, as for every other write; written after the flushes, when
    # the ids exist, and flushed together.
    for entity, obj in book.rows:
        await audit.record(
            session, actor_id=None, actor_label=ACTOR_LABEL, action="create",
            entity=entity, entity_id=obj.id, after=audit.snapshot(obj),
        )
    await session.flush()

    last_visit: dict[int, date] = {}
    for v in visits:
        last_visit[v.enterprise_id] = max(v.visit_date, last_visit.get(v.enterprise_id, v.visit_date))
    summary = DemoSummary(
        users=len(staff) + len(officers),
        officers=len(officers),
        enterprises=len(enterprises),
        assignments=len(assignments),
        visits=len(visits),
        headcount_records=len(records),
        audit_entries=len(book.rows),
        overdue_enterprises=sum(
            rules.overdue(last_visit.get(e.id), e.visit_cadence_days, today) for e in enterprises
        ),
        ready_to_form=sum(rules.ready_to_form(rules.founding_members(e.party_members, e.members_here),
                                              e.party_org_id is not None) for e in enterprises),
        priority=sum(rules.priority(e.employees, e.party_org_id is not None) for e in enterprises),
        sandbox_officer_id=next(o.id for o in officers if o.name == SANDBOX_OFFICER),
        people=len(people),
        feedback=len(requests),
        organisations=len(organisations),
        foundings=len(founded),
    )
    logger.info(
        "Demo data built: %s users, %s enterprises, %s visits",
        summary.users, summary.enterprises, summary.visits,
    )
    return summary


_Formed = list[tuple[PartyOrganisation, list[Enterprise]]]


def _organisations(rng: random.Random, generated: list[tuple[Enterprise, _Org]], today: date, *,
                   recent: tuple[float, float] = DEMO_RECENT) -> _Formed:
    """The party organisations of the generated enterprises, as a county's registry has them:
    one of its own (单独组建) for each enterprise given one; joint branches of 2 to
    `JOINT_BRANCH_SIZE` small firms of one 园区, 楼宇 or township (联合组建); one attached (挂靠) to
    its community's, village's or market's organisation for a shop or co-operative. Each with its
    隶属, secretary and founding date (`recent`: the shares founded this quarter and this year
    besides the ten years' pace); the enterprises get their settled fields (`SETTLED`)."""
    formed: _Formed = []
    places: dict[str, list[Enterprise]] = defaultdict(list)
    for enterprise, org in generated:
        if org == _Org.JOINT_BRANCH:
            places[enterprise.location_name or enterprise.region].append(enterprise)
        elif org == _Org.ATTACHED:
            formed.append((_attached(rng, enterprise, _Dates(today, recent)), [enterprise]))
        elif org != _Org.NONE:
            formed.append((_own(rng, enterprise, org, _Dates(today, recent)), [enterprise]))
    for _place, firms in sorted(places.items()):
        for n, group in enumerate(_groups(rng, firms), start=1):
            formed.append((_joint(rng, group, n, _Dates(today, recent)), group))
    organised = {id(firm) for _organisation, firms in formed for firm in firms}
    for enterprise, _org in generated:
        if id(enterprise) not in organised:
            _unorganised(rng, enterprise)
    return formed


def _groups(rng: random.Random, firms: list[Enterprise]) -> list[list[Enterprise]]:
    """The firms of one place in joint branches of 2 to `JOINT_BRANCH_SIZE`; a firm left alone
    has none (a joint branch covers several enterprises)."""
    groups: list[list[Enterprise]] = []
    rest = list(firms)
    while len(rest) >= 2:
        size = min(len(rest), rng.randint(2, JOINT_BRANCH_SIZE))
        if len(rest) - size == 1 and size < JOINT_BRANCH_SIZE:
            size += 1  # rather than leave one alone
        groups.append(rest[:size])
        rest = rest[size:]
    return groups


def _own(rng: random.Random, enterprise: Enterprise, org: _Org, dates: _Dates) -> PartyOrganisation:
    """单独组建: the enterprise's own 党支部, 党总支 or 党委, its secretary the owner where the owner
    is a member and holds it."""
    category, formation = _ORG_KINDS[org]
    fixed = _FIXED_BY_NAME.get(enterprise.name)
    _relations(rng, enterprise, floor=rules.READY_TO_FORM_MIN_MEMBERS)
    if fixed is not None and fixed.secretary_source is not None:
        source = fixed.secretary_source.value
    elif enterprise.owner_is_member and rng.random() < _OWNER_SECRETARY:
        source = SecretarySource.OWNER.value
    else:
        source = _weighted(rng, _OWN_SOURCES)
    enterprise.owner_is_secretary = source == SecretarySource.OWNER.value
    county, township = _places(enterprise)
    if category != OrgCategory.BRANCH:
        parent = _county_committee(county)  # 党委 and 党总支 report to the county's 两新工委
    elif enterprise.location_kind == LocationKind.PARK.value and rng.random() < 0.5:
        parent = _park_committee(enterprise.location_name or "")
    else:
        parent = _township_committee(county, township) if rng.random() < 0.6 else _county_committee(county)
    secretary = enterprise.owner_name if enterprise.owner_is_secretary else _person(rng)
    return _organisation(rng, standard_name(enterprise.name, category), category, formation, [enterprise],
                         parent=parent, secretary=secretary, source=source, dates=dates)


def _joint(rng: random.Random, firms: list[Enterprise], n: int, dates: _Dates) -> PartyOrganisation:
    """联合组建: the `n`-th joint branch of its place (第二…), at least three members together."""
    short = rules.READY_TO_FORM_MIN_MEMBERS - sum(firm.party_members or 0 for firm in firms)
    for firm in firms:
        if short <= 0:
            break
        added = min(short, (firm.employees or 0) - (firm.party_members or 0))
        firm.party_members = (firm.party_members or 0) + added
        short -= added
    for firm in firms:
        # Members of a joint branch moved their 组织关系 into it: none elsewhere, where reported.
        _relations(rng, firm, floor=firm.party_members or 0)
    source = _weighted(rng, _JOINT_SOURCES)
    owners = [firm for firm in firms if firm.owner_is_member]
    if source == SecretarySource.OWNER.value and not owners:
        source = SecretarySource.MANAGER.value
    holder = rng.choice(owners) if source == SecretarySource.OWNER.value else None
    for firm in firms:
        firm.owner_is_secretary = firm is holder
    county, township = _places(firms[0])
    location = {firm.location_name for firm in firms}.pop()
    if location is None:
        parent = _township_committee(county, township)
    elif firms[0].location_kind == LocationKind.PARK.value:
        parent = _park_committee(location)
    else:
        parent = _county_committee(county)  # 楼宇党建 under the district's 两新工委
    name = joint_name(place_of(firms), OrgCategory.BRANCH)
    secretary = holder.owner_name if holder is not None and holder.owner_name else _person(rng)
    return _organisation(rng, numbered(name, n) if n > 1 else name, OrgCategory.BRANCH, Formation.JOINT, firms,
                         parent=parent, secretary=secretary, source=source, dates=dates)


def _attached(rng: random.Random, enterprise: Enterprise, dates: _Dates) -> PartyOrganisation:
    """挂靠: the firm's members belong to the community's or village's organisation (a shop's,
    sometimes to the market's): recorded as /found records it, named after the firm, with the
    host as its 隶属 and the host's secretary."""
    _relations(rng, enterprise, floor=enterprise.party_members or 0)
    enterprise.owner_is_secretary = False
    county, township = _places(enterprise)
    neighbourhood = rng.choice(_NEIGHBOURHOODS)
    if enterprise.kind == EnterpriseKind.INDIVIDUAL.value and rng.random() < 0.4:
        host = f"中共{county}{township}{neighbourhood}农贸市场支部委员会"
    else:
        host = f"中共{county}{township}{neighbourhood}{'社区' if township.endswith('街道') else '村'}委员会"
    return _organisation(rng, standard_name(enterprise.name, OrgCategory.BRANCH), OrgCategory.BRANCH,
                         Formation.ATTACHED, [enterprise], parent=host, secretary=_person(rng),
                         source=SecretarySource.OTHER.value, dates=dates)


def _organisation(rng: random.Random, name: str, category: OrgCategory, formation: Formation,
                  firms: list[Enterprise], *, parent: str, secretary: str | None, source: str,
                  dates: _Dates) -> PartyOrganisation:
    # Its members are the covered enterprises' formal members whose 组织关系 is there.
    members = sum(rules.founding_members(firm.party_members, firm.members_here) for firm in firms)
    return PartyOrganisation(
        name=name, name_inferred=False, category=category.value, formation=formation.value, parent_name=parent,
        region=common_region(firm.region for firm in firms), founded_on=_founded_on(rng, dates),
        secretary=secretary, secretary_source=source, members=members,
    )


@dataclass(frozen=True)
class _Dates:
    today: date
    recent: tuple[float, float]  # shares founded this quarter and this year besides the ten years'


def _founded_on(rng: random.Random, dates: _Dates) -> date | None:
    """Over the last ten years, and `dates.recent` this quarter and this year besides; some not
    known (imported from a registry without 成立时间). Never today: the records of a founding are
    filed the day it was."""
    today, (this_quarter, this_year) = dates.today, dates.recent
    roll = rng.random()
    if roll < this_quarter:
        since = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    elif roll < this_quarter + this_year:
        since = date(today.year, 1, 1)
    elif roll < this_quarter + this_year + _UNDATED:
        return None
    else:
        since = today - timedelta(days=3650)
    return today - timedelta(days=rng.randint(1, max(1, (today - since).days)))


def _relations(rng: random.Random, enterprise: Enterprise, *, floor: int) -> None:
    """组织关系: how many of the formal members have it in the enterprise (at least `floor`) and
    elsewhere (流动、口袋党员); a quarter of the enterprises do not report it."""
    members = enterprise.party_members or 0
    fixed = _FIXED_BY_NAME.get(enterprise.name)
    if fixed is not None:
        enterprise.members_here, enterprise.members_elsewhere = members - fixed.members_elsewhere, fixed.members_elsewhere
        return
    if rng.random() < 0.25:
        enterprise.members_here = enterprise.members_elsewhere = None
        return
    elsewhere = min(sum(rng.random() < 0.12 for _ in range(members)), max(0, members - floor))
    enterprise.members_here, enterprise.members_elsewhere = members - elsewhere, elsewhere


def _unorganised(rng: random.Random, enterprise: Enterprise) -> None:
    """An enterprise without an organisation: its members' 组织关系 and the reason (未建原因); a
    closed one (注销) reports none."""
    _relations(rng, enterprise, floor=0)
    enterprise.owner_is_secretary = None
    fixed = _FIXED_BY_NAME.get(enterprise.name)
    if fixed is not None:
        enterprise.unformed_reason = fixed.unformed.value if fixed.unformed else None
        return
    members = rules.founding_members(enterprise.party_members, enterprise.members_here)
    options = _UNFORMED_ENOUGH if members >= rules.READY_TO_FORM_MIN_MEMBERS else _UNFORMED_FEW
    reason = _weighted(rng, options)
    enterprise.unformed_reason = reason or None
    if enterprise.operating_status == OperatingStatus.DEREGISTERED.value:
        enterprise.unformed_reason = None


def _places(enterprise: Enterprise) -> tuple[str, str]:
    """(county, township) of the enterprise's region (宜昌市/枝江市/马家店街道)."""
    parts = enterprise.region.split(SEPARATOR)
    return parts[1], parts[2] if len(parts) > 2 else ""


def _county_committee(county: str) -> str:
    """The county's 两新工委 (非公有制经济组织和社会组织工作委员会), as registries abbreviate it."""
    return f"中共{county}委两新工委"


def _township_committee(county: str, township: str) -> str:
    """A 镇/乡 has a 党委 (中共枝江市白洋镇委员会), a 街道 a 党工委 (…街道工作委员会)."""
    return f"中共{county}{township}{'工作委员会' if township.endswith('街道') else '委员会'}"


def _park_committee(park: str) -> str:
    return f"中共{park}工作委员会"


def _coverage(formed: _Formed) -> list[PartyOrgCoverage]:
    rows: list[PartyOrgCoverage] = []
    for organisation, firms in formed:
        for firm in firms:
            firm.party_org_id = organisation.id
            firm.unformed_reason = None
            rows.append(PartyOrgCoverage(enterprise_id=firm.id, organisation_id=organisation.id,
                                         started_on=organisation.founded_on))
    return rows


def _foundings(rng: random.Random, formed: _Formed, tenures: dict[int, list[_Tenure]], today: date) -> list[Founding]:
    """The officers' /found records of the organisations founded while one of them looked after
    an enterprise they cover (most, not all, were recorded), as /found saves them: from that
    enterprise, every covered one listed, the organisation's name, kind, date and secretary."""
    records: list[Founding] = []
    for organisation, firms in formed:
        day = organisation.founded_on
        if day is None or day >= today:
            continue
        guided = [(firm, tenure) for firm in firms if (tenure := _tenure_on(tenures.get(firm.id, []), day))]
        if not guided or rng.random() >= _GUIDED:
            continue
        firm, tenure = guided[0]
        filed = datetime.combine(day, time(7, 0), tzinfo=UTC) + timedelta(minutes=rng.randint(0, 240))
        records.append(Founding(
            enterprise_id=firm.id, organisation_id=organisation.id, action=FoundingAction.FOUND.value,
            enterprise_ids=[firm.id, *(other.id for other in firms if other is not firm)], name=organisation.name,
            founded_on=day, category=organisation.category, formation=organisation.formation,
            secretary=organisation.secretary or _person(rng), secretary_source=organisation.secretary_source,
            members=max(organisation.members or 0, 1), officer_id=tenure.officer.id, created_at=filed,
            updated_at=filed,
        ))
    records.sort(key=lambda r: (r.founded_on, r.enterprise_id))
    return records


def _people() -> tuple[list[User], list[User]]:
    """Staff and officers; nobody is bound to Telegram (invites or the sandbox do that)."""
    staff = [
        User(name=name, role=role.value, region=_region(county, township), active=True)
        for name, role, county, township in _STAFF
    ]
    officers = [
        User(name=name, role=Role.OFFICER.value, region=_region(county, township), active=True)
        for name, county, township in _OFFICERS
    ]
    return staff, officers


def _region(county: str | None, township: str | None) -> str:
    return divisions.CITY if county is None else divisions.region_path(county, township)


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN_NAMES)


def _weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _place(county: str) -> str:
    # Companies of the autonomous counties usually carry the short name (长阳, 五峰).
    return county.removesuffix("土家族自治县")


def _town_short(township: str) -> str:
    for suffix in ("土家族乡", "街道", "镇", "乡"):
        if township.endswith(suffix):
            return township.removesuffix(suffix)
    return township


def _org_code(rng: random.Random, new_style: bool) -> str:
    """The 9-character organisation part of a credit code."""
    if new_style:
        # Registered since the 2015 reform: `MA` + Hubei's `4` + six characters.
        return "MA4" + "".join(rng.choice(ALPHABET) for _ in range(6))
    # Older firms kept their GB 11714 organisation code: 8 digits and its own check character.
    digits = [rng.randrange(10) for _ in range(8)]
    check = 11 - sum(d * w for d, w in zip(digits, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "".join(map(str, digits)) + {10: "X", 11: "0"}.get(check, str(check))


def _credit_code(rng: random.Random, prefix: str, county: str, new_style: bool, taken: set[str]) -> str:
    while True:
        first17 = prefix + divisions.county(county).code + _org_code(rng, new_style)
        code = first17 + check_character(first17)
        if code not in taken:
            taken.add(code)
            return code


def _enterprises(rng: random.Random) -> list[tuple[Enterprise, _Org]]:
    """The enterprises, each with the organisation the generator gives it (made by `_organisations`)."""
    names: set[str] = set()
    codes: set[str] = set()
    result: list[tuple[Enterprise, _Org]] = []
    for fixed in _FIXED:
        names.add(fixed.name)
        prefix = "93" if fixed.cooperative else "92" if fixed.kind == EnterpriseKind.INDIVIDUAL else "91"
        economics = _economics(rng, fixed.kind, fixed.cooperative, fixed.county, fixed.industry, fixed.employees)
        if fixed.location is not None:
            economics |= {"location_kind": fixed.location[0].value, "location_name": fixed.location[1]}
        result.append((Enterprise(
            name=fixed.name, name_initials=initials(fixed.name),
            credit_code=_credit_code(rng, prefix, fixed.county, prefix != "91", codes),
            kind=fixed.kind.value, region=divisions.region_path(fixed.county, fixed.township),
            industry=fixed.industry, employees=fixed.employees, party_members=fixed.party_members,
            mass_orgs=[m.value for m in fixed.mass_orgs],
            owner_name=fixed.owner_name, owner_political_status=fixed.owner_status,
            owner_is_member=fixed.owner_status == "中共党员",
            demonstration_point=fixed.demonstration_point, visit_cadence_days=fixed.cadence,
            **(economics | {"operating_status": OperatingStatus.OPERATING.value}),  # the showcases operate
        ), fixed.party_org))
    # Township officers need enough enterprises in their township.
    township_officers = {county: township for _, county, township in _OFFICERS if township}
    for division in divisions.counties():
        county = division.name
        wanted = _PER_COUNTY[county] - sum(f.county == county for f in _FIXED)
        towns = divisions.townships(county)
        for i in range(wanted):
            if county in township_officers and i < 8:
                township = township_officers[county]
            elif rng.random() < 0.3:
                township = towns[0]  # the county seat has the most firms
            else:
                township = rng.choice(towns)
            result.append(_random_enterprise(rng, county, township, names, codes))
    return result


def _random_enterprise(
    rng: random.Random, county: str, township: str, names: set[str], codes: set[str]
) -> tuple[Enterprise, _Org]:
    crops = _COUNTY_CROPS.get(county, ())
    kind = EnterpriseKind(_weighted(rng, _KINDS))
    cooperative = kind == EnterpriseKind.OTHER
    if cooperative and not crops:
        kind, cooperative = EnterpriseKind.PRIVATE, False  # no farming to speak of in the city districts
    owner = _person(rng)
    status = _weighted(rng, _OWNER_STATUSES)
    if kind == EnterpriseKind.INDIVIDUAL:
        prefix = "92"
        status = "群众" if status != "中共党员" else status
        while True:
            industry, shop = rng.choice(_SHOPS)
            name = county + rng.choice(_SHOP_NICKNAMES).format(s=owner[0]) + shop
            if name not in names:
                break
            owner = _person(rng)
        employees = rng.randint(2, 12)
    elif cooperative:
        prefix = "93"
        while True:
            industry = rng.choice(crops)
            name = county + _town_short(township) + rng.choice(_COOPERATIVES[industry])
            if name not in names:
                break
        employees = rng.randint(5, 40)
    else:
        prefix = "91"
        industries = _COUNTY_INDUSTRIES[county]
        if kind == EnterpriseKind.FOREIGN:
            industries = tuple(i for i in industries if i in _FOREIGN_INDUSTRIES) or ("机械制造",)
        while True:
            industry = rng.choice(industries)
            name = _company_name(rng, kind, county, township, industry)
            if name not in names:
                break
        employees = _company_size(rng, kind)
    names.add(name)
    economics = _economics(rng, kind, cooperative, county, industry, employees)
    party_org, members = _party(rng, kind, employees, cooperative=cooperative,
                                status=OperatingStatus(economics["operating_status"]),
                                above_scale=bool(economics["above_scale"]))
    if status == "中共党员":
        members = max(members, 1)  # the owner is a member too
    members = min(members, employees)
    cadence = 30
    if party_org == _Org.NONE and employees >= 100 and rng.random() < 0.5:
        cadence = 15  # priority enterprises are visited more often (盯住不放)
    elif employees < 10 and rng.random() < 0.5:
        cadence = 60
    return (Enterprise(
        name=name, name_initials=initials(name),
        # Older companies kept their old organisation code inside the credit code.
        credit_code=_credit_code(rng, prefix, county, prefix != "91" or rng.random() < 0.6, codes),
        kind=kind.value, region=divisions.region_path(county, township), industry=industry,
        employees=employees, party_members=members, owner_is_member=status == "中共党员",
        mass_orgs=_mass_orgs(rng, kind, employees), owner_name=owner, owner_political_status=status,
        demonstration_point=party_org in _OWN and rng.random() < 0.25,
        visit_cadence_days=cadence, **economics,
    ), party_org)


def _economics(rng: random.Random, kind: EnterpriseKind, cooperative: bool, county: str, industry: str,
               employees: int) -> dict[str, Any]:
    """经营状态, 年营业收入 (万元) and 规上 that goes with it, and the 园区 or 楼宇 a firm sits in."""
    roll = rng.random()
    status = (OperatingStatus.SUSPENDED if roll < _SUSPENDED else
              OperatingStatus.DEREGISTERED if roll < _SUSPENDED + _DEREGISTERED else OperatingStatus.OPERATING)
    low, high = _REVENUE_PER_WORKER.get(industry, (12, 40))
    revenue: float | None = round(employees * rng.uniform(low, high), 1)
    # Small firms and shops often leave 营业收入 blank; 规上 is then not known either.
    if employees < 50 and rng.random() < (0.3 if kind == EnterpriseKind.INDIVIDUAL or cooperative else 0.12):
        revenue = None
    legal_person = kind not in (EnterpriseKind.INDIVIDUAL,) and not cooperative
    above: bool | None = None
    if revenue is not None:
        above = legal_person and revenue >= _ABOVE_SCALE.get(industry, _INDUSTRY_THRESHOLD)
    location_kind: str | None = None
    location_name: str | None = None
    if legal_person:
        places = [(where, name) for where, name, industries in _LOCATIONS.get(county, ())
                  if industry in (industries or _MANUFACTURING)]
        chance = 0.45 if any(where == _BUILDING for where, _ in places) else 0.35
        if places and rng.random() < chance:
            where, location_name = rng.choice(places)
            location_kind = where.value
    return {"operating_status": status.value, "revenue": revenue, "above_scale": above,
            "location_kind": location_kind, "location_name": location_name}


def _company_name(rng: random.Random, kind: EnterpriseKind, county: str, township: str, industry: str) -> str:
    product = rng.choice(_PRODUCTS[industry])
    if kind == EnterpriseKind.FOREIGN:
        return "宜昌" + rng.choice(_FOREIGN_BRANDS) + product + "有限公司"
    if kind == EnterpriseKind.RESTRUCTURED:
        # Former state or collective firms: 有限责任公司, often under the city's name.
        return rng.choice(("宜昌", _place(county))) + rng.choice(_BRANDS) + product + "有限责任公司"
    roll = rng.random()
    if roll < 0.12 and industry in ("机械制造", "建材", "农产品加工", "纺织"):
        return _place(county) + _town_short(township) + product + "厂"
    if roll < 0.25:
        return rng.choice(("宜昌", "湖北")) + rng.choice(_BRANDS) + product + "有限公司"
    return _place(county) + rng.choice(_BRANDS) + product + "有限公司"


def _company_size(rng: random.Random, kind: EnterpriseKind) -> int:
    if kind == EnterpriseKind.RESTRUCTURED:
        return rng.randint(80, 600)
    if kind == EnterpriseKind.FOREIGN:
        return rng.randint(40, 400)
    roll = rng.random()
    if roll < 0.82:
        return int(rng.triangular(5, 80, 18))
    if roll < 0.96:
        return rng.randint(100, 300)
    return rng.randint(301, 600)


def _party(rng: random.Random, kind: EnterpriseKind, employees: int, *, cooperative: bool = False,
           status: OperatingStatus = OperatingStatus.OPERATING, above_scale: bool = False) -> tuple[_Org, int]:
    """The party organisation (a joint branch: one wished) and the formal members it goes with."""
    roll = rng.random()
    if status == OperatingStatus.DEREGISTERED:
        org = _Org.NONE  # a closed firm's organisation went with it
    elif kind == EnterpriseKind.INDIVIDUAL:
        org = _Org.JOINT_BRANCH if roll < 0.06 else _Org.ATTACHED if roll < 0.16 else _Org.NONE
    elif cooperative:
        org = (_Org.BRANCH if roll < 0.12 else _Org.ATTACHED if roll < 0.27 else _Org.JOINT_BRANCH if roll < 0.37
               else _Org.NONE)
    elif employees >= 100:
        # Restructured firms mostly kept the organisation they had as state firms.
        none_share = 0.1 if kind == EnterpriseKind.RESTRUCTURED else 0.16
        if roll < none_share:
            org = _Org.NONE
        elif roll < none_share + 0.05:
            org = _Org.JOINT_BRANCH
        elif employees >= 300 and roll > (0.75 if kind == EnterpriseKind.RESTRUCTURED else 0.92):
            # Former state firms keep a committee (党委) of this size; a few large private ones have one.
            org = _Org.COMMITTEE
        elif employees >= 200 and roll > 0.8:
            org = _Org.GENERAL_BRANCH
        else:
            org = _Org.BRANCH
    elif above_scale:
        # A small firm above the scale (规上) is where the county pushes first.
        org = (_Org.NONE if roll < 0.14 else _Org.ATTACHED if roll < 0.16 else _Org.JOINT_BRANCH if roll < 0.56
               else _Org.BRANCH)
    else:
        # Most small firms are covered by a joint branch; a few with one or two members attach.
        org = (_Org.NONE if roll < 0.28 else _Org.ATTACHED if roll < 0.32 else _Org.JOINT_BRANCH if roll < 0.8
               else _Org.BRANCH)
    if org == _Org.NONE:
        if kind == EnterpriseKind.INDIVIDUAL:
            return org, rng.choice((0, 0, 0, 1))
        # A few have enough members for their own branch but none yet: the officers' targets.
        return org, rng.randint(3, 7) if rng.random() < 0.08 else rng.choice((0, 0, 0, 1, 1, 2))
    if org in (_Org.JOINT_BRANCH, _Org.ATTACHED):
        # Too few for a branch of their own: that is why they join or attach.
        return org, rng.choice((0, 1, 1, 2, 2)) if org == _Org.JOINT_BRANCH else rng.randint(1, 2)
    if org == _Org.BRANCH:
        return org, rng.randint(3, max(3, min(20, employees // 6)))
    if org == _Org.GENERAL_BRANCH:
        return org, rng.randint(15, max(15, min(45, employees // 6)))
    return org, rng.randint(50, max(50, employees // 5))


def _mass_orgs(rng: random.Random, kind: EnterpriseKind, employees: int) -> list[str]:
    if kind == EnterpriseKind.INDIVIDUAL:
        return []
    big, medium = employees >= 100, employees >= 30
    chances = {
        MassOrg.UNION: 0.85 if big else 0.45 if medium else 0.1,
        MassOrg.YOUTH_LEAGUE: 0.4 if big else 0.12 if medium else 0.0,
        MassOrg.WOMEN: 0.45 if big else 0.15 if medium else 0.03,
    }
    return [org.value for org, chance in chances.items() if rng.random() < chance]


def _tenures(
    rng: random.Random, officers: list[User], enterprises: list[Enterprise], today: date
) -> dict[int, list[_Tenure]]:
    """Who looks after which enterprise, oldest tenure first; a few enterprises have nobody."""
    by_name = {e.name: e for e in enterprises}
    sandbox = next(o for o in officers if o.name == SANDBOX_OFFICER)
    # The sandbox officer first (her list is fixed), then township officers, whose choice is
    # narrower, then county officers from what is left.
    ordered = sorted(officers, key=lambda o: (o is not sandbox, -o.region.count(SEPARATOR)))
    tenures: dict[int, list[_Tenure]] = {}
    for officer in ordered:
        # Nobody looks after a closed firm (注销) any more.
        free = [e for e in enterprises if e.id not in tenures and covers(officer.region, e.region)
                and e.operating_status != OperatingStatus.DEREGISTERED.value]
        if officer is sandbox:
            showcases = [by_name[OVERDUE_SHOWCASE], by_name[RECENT_SHOWCASE]]
            rest = [e for e in free if e not in showcases]
            mine = showcases + rng.sample(rest, _SANDBOX_ENTERPRISES - len(showcases))
        else:
            mine = rng.sample(free, min(len(free), rng.randint(7, 12)))
        for enterprise in mine:
            # Most were assigned long ago; some recently (new officers, new enterprises).
            days = rng.randint(200, 900) if rng.random() < 0.8 else rng.randint(20, 170)
            tenures[enterprise.id] = [_Tenure(officer, today - timedelta(days=days), None)]
    # Officers rotate: 王芳 took over the textile mill from 李志强.
    previous = next(o for o in officers if o.name == _ROTATED_FROM)
    handover = today - timedelta(days=_ROTATION_DAYS_AGO)
    tenures[by_name[OVERDUE_SHOWCASE].id] = [
        _Tenure(previous, today - timedelta(days=700), handover),
        _Tenure(sandbox, handover, None),
    ]
    return tenures


def _visits(
    rng: random.Random, enterprises: list[Enterprise], tenures: dict[int, list[_Tenure]], today: date
) -> list[Visit]:
    """Visits of the last ~180 days by whoever looked after the enterprise on the day."""
    visits: list[Visit] = []
    for enterprise in enterprises:
        history = tenures.get(enterprise.id)
        if not history:
            continue
        cadence = enterprise.visit_cadence_days
        if enterprise.name in _SHOWCASE_LAST_VISIT:
            last_days = _SHOWCASE_LAST_VISIT[enterprise.name]
        elif rng.random() < 0.15:
            last_days = cadence + rng.randint(3, 60)  # overdue
        else:
            # Not today: the demo's visits must all lie in the past, whatever the clock says.
            last_days = rng.randint(1, cadence - 2)
        day = today - timedelta(days=last_days)
        latest = True
        while (today - day).days <= HISTORY_DAYS:
            tenure = _tenure_on(history, day)
            if tenure is None:
                break
            visits.append(_visit(rng, enterprise, tenure.officer, day, showcase=latest))
            latest = False
            # Officers fall behind now and then, so the history has gaps beyond the cadence.
            day -= timedelta(days=rng.randint(cadence, round(cadence * 2.6)))
    visits.sort(key=lambda v: (v.visit_date, v.enterprise_id))
    return visits


def _tenure_on(history: list[_Tenure], day: date) -> _Tenure | None:
    """Who looked after the enterprise that day (a handover day belongs to the newcomer)."""
    return next((t for t in history if t.started_on <= day and (t.ended_on is None or day < t.ended_on)), None)


def _visit(rng: random.Random, enterprise: Enterprise, officer: User, day: date, *, showcase: bool) -> Visit:
    if showcase and enterprise.name in _SHOWCASE_VISITS:
        chosen, summary, follow_up = _SHOWCASE_VISITS[enterprise.name]
        activities: list[Activity] = list(chosen)
        follow: str | None = follow_up
    else:
        activities = _activities(rng, enterprise)
        summary = _summary(rng, enterprise, activities)
        follow = rng.choice(_FOLLOW_UPS) if rng.random() < 0.3 else None
    # Filed in the afternoon of the visit day (Beijing time is UTC+8).
    filed = datetime.combine(day, time(6, 0), tzinfo=UTC) + timedelta(minutes=rng.randint(0, 360))
    return Visit(
        enterprise_id=enterprise.id, officer_id=officer.id, visit_date=day,
        activities=[a.value for a in Activity if a in activities],
        summary=summary, follow_up=follow, media=[], created_at=filed, updated_at=filed,
    )


def _activities(rng: random.Random, enterprise: Enterprise) -> list[Activity]:
    members = enterprise.party_members or 0
    has_org = enterprise.party_org_id is not None
    weights = {
        Activity.POLICY: 3.0,
        Activity.BUSINESS: 3.0,
        Activity.HELP: 2.0,
        Activity.GUIDE_ORG: 2.5 if (members >= 1 and not has_org) else 1.0,
        Activity.ACTIVISTS: 1.5,
        Activity.MEMBER_EVENTS: 1.5 if members >= 3 else 0.0,
        Activity.OTHER: 0.4,
    }
    count = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
    chosen: list[Activity] = []
    for _ in range(count):
        options = [a for a in weights if a not in chosen and weights[a] > 0]
        chosen.append(rng.choices(options, weights=[weights[a] for a in options])[0])
    return chosen


def _summary(rng: random.Random, enterprise: Enterprise, activities: list[Activity]) -> str:
    if enterprise.kind == EnterpriseKind.INDIVIDUAL.value:
        setting = "shop"
    elif enterprise.credit_code.startswith("93"):
        setting = "cooperative"
    else:
        setting = "company"
    pieces: list[str] = []
    # An opening remark on the owner's worries, unless the help given already names one.
    if Activity.HELP not in activities and rng.random() < 0.35:
        pieces.append(f"与{rng.choice(_TITLES[setting])}交流了{rng.choice(_TOPICS)}问题")
    for activity in sorted(activities, key=list(Activity).index):
        phrases: tuple[str, ...]
        if activity == Activity.GUIDE_ORG:
            phrases = _GUIDE_RUN if enterprise.party_org_id is not None else _GUIDE_FOUND
        else:
            phrases = _PHRASES[activity]
        pieces.append(rng.choice(phrases).format(
            role=rng.choice(_STAFF_ROLES[setting]), person=_person(rng), bank=rng.choice(_BANKS),
            count=rng.randint(3, 20), permit=rng.choice(_PERMITS), percent=rng.randint(5, 30),
            topic=rng.choice(_TOPICS),
        ))
    return "，".join(pieces) + "。"


def _headcount_updates(rng: random.Random, enterprises: list[Enterprise], visits: list[Visit]) -> list[HeadcountRecord]:
    """A few latest visits reported new head counts: the enterprise's current figures."""
    latest: dict[int, Visit] = {}
    for v in visits:
        latest[v.enterprise_id] = v  # visits are sorted by date, so the last one wins
    by_id = {e.id: e for e in enterprises}
    candidates = [v for v in latest.values() if by_id[v.enterprise_id].kind != EnterpriseKind.INDIVIDUAL.value]
    records: list[HeadcountRecord] = []
    for visit in rng.sample(candidates, min(12, len(candidates))):
        enterprise = by_id[visit.enterprise_id]
        visit.employees = enterprise.employees
        visit.party_members = enterprise.party_members
        records.append(HeadcountRecord(
            enterprise_id=enterprise.id, visit_id=visit.id, employees=enterprise.employees,
            party_members=enterprise.party_members, recorded_by_id=visit.officer_id, recorded_at=visit.created_at,
        ))
    records.sort(key=lambda r: r.enterprise_id)
    return records


# --- member development and owners' requests ----------------------------------------------

_POSITIONS = ("车间主任", "技术员", "销售经理", "财务主管", "班组长", "质检员", "仓库主管", "办公室主任")
_REQUESTS = {
    FeedbackCategory.HIRING: "旺季缺熟练工人二十名左右，希望对接人社部门招聘会。",
    FeedbackCategory.FINANCING: "扩建厂房资金缺口较大，想了解助企贷款贴息政策。",
    FeedbackCategory.POLICY: "咨询小微企业所得税优惠政策的申报流程。",
    FeedbackCategory.PERMITS: "新生产线环评手续办理进度较慢，请求协调。",
    FeedbackCategory.MARKET: "希望参加市里组织的产销对接会，拓展省外市场。",
    FeedbackCategory.PARTY: "有三名党员职工，想了解成立党支部的程序。",
}


def _current_officer(tenures: dict[int, list[_Tenure]], enterprise_id: int) -> User | None:
    current = [t for t in tenures.get(enterprise_id, []) if t.ended_on is None]
    return current[0].officer if current else None


def _development(rng: random.Random, enterprises: list[Enterprise], tenures: dict[int, list[_Tenure]],
                 today: date) -> list[Person]:
    """People at every stage, with dates in the order and intervals the rules ask for (each
    checked with `development.check_dates`), so /people and the reminders have work to show."""
    stages = (Stage.APPLICANT, Stage.APPLICANT, Stage.ACTIVIST, Stage.ACTIVIST, Stage.CANDIDATE,
              Stage.PROBATIONARY)
    people: list[Person] = []
    staffed = [e for e in enterprises if _current_officer(tenures, e.id) is not None and (e.employees or 0) >= 20]
    for index, enterprise in enumerate(rng.sample(staffed, min(24, len(staffed)))):
        stage = stages[index % len(stages)]
        officer = _current_officer(tenures, enterprise.id)
        assert officer is not None
        dates: dict[str, date | None] = {}
        if stage == Stage.APPLICANT:
            applied = today - timedelta(days=rng.randint(5, 50))
            dates |= {"applied_on": applied,
                      "talked_on": applied + timedelta(days=12) if rng.random() < 0.5 else None}
        elif stage == Stage.ACTIVIST:
            activist = today - timedelta(days=rng.randint(60, 420))
            dates |= {"activist_on": activist, "applied_on": activist - timedelta(days=rng.randint(60, 180))}
        else:
            candidate = today - timedelta(days=rng.randint(150, 300))
            activist = candidate - timedelta(days=rng.randint(380, 500))
            dates |= {"candidate_on": candidate, "activist_on": activist,
                      "notice_started_on": candidate - timedelta(days=10),  # ≥ 5 working days
                      "applied_on": activist - timedelta(days=rng.randint(60, 180))}
            if stage == Stage.PROBATIONARY:
                dates["probation_on"] = candidate + timedelta(days=rng.randint(60, 120))
        birth = date(rng.randint(1975, 2000), rng.randint(1, 12), rng.randint(1, 28))
        person = Person(
            enterprise_id=enterprise.id, officer_id=officer.id, name=_person(rng),
            gender=rng.choice(("male", "female")), birth_date=birth, position=rng.choice(_POSITIONS),
            is_owner=False, stage=stage.value, contacts=[] if stage == Stage.APPLICANT else [_person(rng), _person(rng)],
            **{key: value for key, value in dates.items()},
        )
        problem = development.check_dates(development.Pipeline(
            stage, birth, person.applied_on, talked_on=person.talked_on, activist_on=person.activist_on,
            notice_started_on=person.notice_started_on, candidate_on=person.candidate_on,
            probation_on=person.probation_on))
        if problem is not None:  # the demo must follow the rules it demonstrates
            raise AssertionError(f"demo person breaks {problem.code}")
        people.append(person)
    return people


def _requests(rng: random.Random, enterprises: list[Enterprise], tenures: dict[int, list[_Tenure]],
              today: date) -> list[Feedback]:
    """Owners' requests of every age and status: some fresh, some over 7 and 14 days open."""
    statuses = (FeedbackStatus.OPEN, FeedbackStatus.OPEN, FeedbackStatus.IN_PROGRESS, FeedbackStatus.RESOLVED)
    staffed = [e for e in enterprises if _current_officer(tenures, e.id) is not None]
    requests: list[Feedback] = []
    morning = datetime.combine(today, time(9, 0), tzinfo=UTC)
    for index, enterprise in enumerate(rng.sample(staffed, min(16, len(staffed)))):
        officer = _current_officer(tenures, enterprise.id)
        assert officer is not None
        category = rng.choice(list(_REQUESTS))
        status = statuses[index % len(statuses)]
        created = morning - timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 6))
        closed = created + timedelta(days=rng.randint(1, 6)) if status == FeedbackStatus.RESOLVED else None
        requests.append(Feedback(
            enterprise_id=enterprise.id, raised_by=enterprise.owner_name or "企业负责人", channel="officer",
            category=category.value, content=_REQUESTS[category], urgency=rng.choice(list(Urgency)).value,
            status=status.value, resolution="已协调相关部门办结。" if closed else None, officer_id=officer.id,
            created_at=created, updated_at=closed or created, closed_at=closed,
        ))
    return requests

