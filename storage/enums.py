"""Domain vocabularies, stored as short codes.

The codes are what the database and callback data hold; the Chinese (or English) words users
see come from `templates/<locale>/labels.txt.j2`, and the Chinese words of imported files are
mapped in `bot/importer.py`.
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
