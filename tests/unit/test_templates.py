"""The message templates: both locales have the same files and labels, every template renders
with realistic values, user text is escaped, and what comes out is HTML Telegram accepts."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.runtime import Macro

from bot.emulator import parse_html, utf16_len
from bot.render import LOCALES, TEMPLATES, environment, label, render
from handlers.common import ROLE_COMMANDS, command_descriptions
from storage.enterprises import EnterpriseRow
from storage.enums import Activity, Role

TODAY = date(2026, 11, 20)
NASTY = '<b>&"'
NASTY_ESCAPED = ("&lt;b&gt;&amp;&#34;", "&lt;b&gt;&amp;&quot;")  # markupsafe writes &#34;; both are valid
TELEGRAM_LIMIT = 4096
ALLOWED_TAGS = {"b", "i", "code"}
HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def _message_templates(locale: str) -> set[str]:
    root = TEMPLATES / locale
    return {str(p.relative_to(root)).removesuffix(".html.j2") for p in root.rglob("*.html.j2")}


def _label_macros(locale: str) -> dict[str, tuple[str, ...]]:
    module = environment().get_template(f"{locale}/labels.txt.j2").module
    return {name: tuple(value.arguments) for name, value in vars(module).items() if isinstance(value, Macro)}


def _error_codes_in_code() -> set[str]:
    """Every code passed to `invalid(...)` anywhere in handlers/ (the first argument's strings)."""
    codes: set[str] = set()
    for path in HANDLERS.glob("*.py"):
        for call in re.finditer(r"\binvalid\(([^,)]*)", path.read_text(encoding="utf-8")):
            codes |= set(re.findall(r'"([a-z_]+)"', call[1]))
    return codes


def _row(id: int, name: str, last_visit: date | None, days: int | None, overdue: bool) -> EnterpriseRow:
    return EnterpriseRow(id=id, name=name, region="宜昌市/枝江市", cadence_days=30, last_visit=last_visit,
                         days_since=days, overdue=overdue)


ROWS = [
    _row(1, "枝江市楚韵纺织有限公司", date(2026, 10, 6), 45, True),
    _row(2, "枝江市白洋港机械制造有限公司", date(2026, 11, 8), 12, False),
    _row(3, "新开业的小超市", None, None, True),
]


def _step(**extra: Any) -> dict[str, Any]:
    """What `BaseStep._text` passes to every question template."""
    return {"answers": {"enterprise": 1}, "mode": None, "today": TODAY, **extra}


def _card(**changes: Any) -> dict[str, Any]:
    """What `handlers.visit.describe` returns for the confirmation card."""
    values: dict[str, Any] = {
        "enterprise": "枝江市楚韵纺织有限公司",
        "visit_date": TODAY,
        "activities": [label("activity_policy", "zh_CN"), label("activity_activists", "zh_CN")],
        "employees": None,
        "party_members": None,
        "summary": "与董事长交流了用工难问题。",
        "summary_voice": False,
        "follow_up": None,
        "photos": 0,
        "voices": 0,
        "located": False,
    }
    return {**values, **changes}


ERROR_VALUES: dict[str, dict[str, Any]] = {
    "use_buttons": {},
    "choose_at_least_one": {},
    "date_format": {},
    "date_future": {},
    "date_too_old": {"earliest": date(2025, 11, 24)},
    "number_format": {},
    "number_range": {"minimum": 0, "maximum": 1_000_000},
    "members_exceed_employees": {"employees": 120},
    "text_expected": {},
    "text_expected_voice": {},
    "text_empty": {},
    "text_too_long": {"maximum": 1500, "length": 1732},
    "media_expected": {},
    "media_full": {"maximum": 10},
    "lookup_expected": {},
    "no_match": {"query": "楚韵"},
    "not_available": {},
}
INVITE_REASONS = ("used", "expired", "bound_elsewhere", "unknown")

# Template name -> named cases of the values its callers pass.
SAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "common/error": {"plain": {}},
    "common/help": {role.value: {"role": role, "commands": [("visit", "填写走访记录"), ("help", "帮助")]}
                    for role in Role},
    "common/invite_refused": {reason: {"reason": reason} for reason in INVITE_REASONS},
    "common/mine": {
        "not_officer": {"rows": [], "total": 0, "page": 1, "pages": 1, "overdue": 0, "role": Role.SUPERVISOR,
                        "first": 0},
        "none_assigned": {"rows": [], "total": 0, "page": 1, "pages": 1, "overdue": 0, "role": Role.OFFICER,
                          "first": 0},
        "one_page": {"rows": ROWS, "total": 3, "page": 1, "pages": 1, "overdue": 2, "role": Role.OFFICER,
                     "first": 0},
        "none_overdue": {"rows": ROWS[1:2], "total": 1, "page": 1, "pages": 1, "overdue": 0, "role": Role.OFFICER,
                         "first": 0},
        "second_page": {"rows": ROWS, "total": 23, "page": 2, "pages": 3, "overdue": 5, "role": Role.OFFICER,
                        "first": 10},
        "full_page_of_long_names": {
            "rows": [_row(i, "很" * 128, date(2026, 1, 1), 323, True) for i in range(10)],
            "total": 10, "page": 1, "pages": 1, "overdue": 10, "role": Role.OFFICER, "first": 0,
        },
    },
    "common/no_draft": {role.value: {"role": role} for role in Role},
    "common/not_for_role": {
        "one_role": {"roles": ["officer"]},
        "several_roles": {"roles": ["supervisor", "admin", "owner"]},
    },
    "common/not_joined": {"plain": {}},
    "common/unknown_command": {"plain": {}},
    "common/welcome": {
        **{role.value: {"name": "张三", "role": role, "region": "宜昌市/枝江市", "assigned": 12, "overdue": 3,
                        "in_scope": 340} for role in Role},
        "officer_none_overdue": {"name": "张三", "role": Role.OFFICER, "region": "宜昌市/枝江市", "assigned": 0,
                                 "overdue": 0, "in_scope": 0},
    },
    "forms/ask_date_typed": {"plain": {"today": TODAY}},
    "forms/ask_search": {"plain": {}},
    "forms/cancelled": {"plain": {}},
    "forms/error": {code: {"code": code, "today": TODAY, **values} for code, values in ERROR_VALUES.items()},
    "forms/nothing_to_cancel": {"plain": {}},
    "forms/offer_resume": {
        "both": {"form": "visit", **_card()},
        "enterprise_only": {"form": "visit", **_card(visit_date=None)},
        "date_only": {"form": "visit", **_card(enterprise=None)},
        "nothing_yet": {"form": "visit", **_card(enterprise=None, visit_date=None, activities=[], summary=None)},
    },
    "forms/search_results": {
        "some": {"query": "楚韵", "count": 3},
        "one": {"query": "cyfz", "count": 1},
    },
    "visit/ask_activities": {
        "nothing_chosen": _step(chosen=[]),
        "some_chosen": _step(chosen=["policy", "help"]),
    },
    "visit/ask_date": {"plain": _step()},
    "visit/ask_employees": {"plain": _step()},
    "visit/ask_enterprise": {
        "with_suggestions": _step(answers={}, suggested=3),
        "without_suggestions": _step(answers={}, suggested=0),
    },
    "visit/ask_follow_up": {"plain": _step()},
    "visit/ask_headcount": {"plain": _step()},
    "visit/ask_media": {
        "nothing_yet": _step(counts={"photo": 0, "voice": 0, "location": 0}, received=False),
        "photos_only": _step(counts={"photo": 2, "voice": 0, "location": 0}, received=True),
        "voice_only": _step(counts={"photo": 0, "voice": 1, "location": 0}, received=True),
        "everything": _step(counts={"photo": 8, "voice": 1, "location": 1}, received=True),
        "location_only": _step(counts={"photo": 0, "voice": 0, "location": 1}, received=True),
    },
    "visit/ask_party_members": {"plain": _step(answers={"employees": 120})},
    "visit/ask_summary": {"plain": _step()},
    "visit/confirm": {
        "minimal": _card(),
        "with_counts": _card(employees=120, party_members=0),
        "voice_summary": _card(summary=None, summary_voice=True),
        "everything": _card(employees=1_000_000, party_members=35, follow_up="下周送政策汇编。", photos=3, voices=2,
                            located=True, activities=[label(f"activity_{a.value}", "zh_CN") for a in Activity]),
        "location_only": _card(located=True),
        "no_activities": _card(activities=[]),
        "longest": _card(enterprise="楚" * 128, summary="情" * 1500, follow_up="跟" * 500, employees=1_000_000,
                         party_members=1_000_000, photos=9, voices=9, located=True,
                         activities=[label(f"activity_{a.value}", "en") for a in Activity]),
    },
    "visit/saved": {
        "plain": {"number": 42, "enterprise": "枝江市楚韵纺织有限公司"},
        "big_number": {"number": 999_999_999_999, "enterprise": "楚" * 128},
    },
}

CASES = [
    pytest.param(locale, name, values, id=f"{locale}-{name}-{case}")
    for locale in LOCALES
    for name, cases in SAMPLES.items()
    for case, values in cases.items()
]

# (template, values) where a piece of user text is `NASTY`: names, summaries, typed queries.
USER_TEXT = [
    pytest.param("visit/confirm", _card(enterprise=NASTY), id="confirm-enterprise"),
    pytest.param("visit/confirm", _card(summary=NASTY), id="confirm-summary"),
    pytest.param("visit/confirm", _card(follow_up=NASTY), id="confirm-follow_up"),
    pytest.param("visit/saved", {"number": 1, "enterprise": NASTY}, id="saved-enterprise"),
    pytest.param("forms/offer_resume", {"form": "visit", **_card(enterprise=NASTY)}, id="offer_resume-enterprise"),
    pytest.param("forms/search_results", {"query": NASTY, "count": 1}, id="search_results-query"),
    pytest.param("forms/error", {"code": "no_match", "today": TODAY, "query": NASTY}, id="error-no_match-query"),
    pytest.param("common/welcome", {**SAMPLES["common/welcome"]["officer"], "name": NASTY}, id="welcome-name"),
    pytest.param("common/welcome", {**SAMPLES["common/welcome"]["officer"], "region": NASTY}, id="welcome-region"),
    pytest.param("common/mine", {**SAMPLES["common/mine"]["one_page"], "rows": [_row(1, NASTY, None, None, False)]},
                 id="mine-row-name"),
]

LABEL_SAMPLES: dict[str, list[dict[str, Any]]] = {
    "ticked": [{"text": "宣传政策"}],
    "unticked": [{"text": "宣传政策"}],
    "today": [{"day": TODAY}],
    "yesterday": [{"day": date(2026, 11, 19)}],
    "edit": [{"field": "企业"}],
    "enterprise_button": [
        {"name": "枝江市楚韵纺织有限公司", "days": 45, "overdue": True},
        {"name": "白洋港机械", "days": 12, "overdue": False},
        {"name": "新开业的小超市", "days": None, "overdue": False},
        {"name": "新开业的小超市", "days": None, "overdue": True},
        {"name": "刚走访过", "days": 0, "overdue": False},
    ],
    "role": [{"code": role} for role in Role],
    "form_name": [{"code": "visit"}],
}


# ---------------------------------------------------------------- the locales match


def test_both_locales_have_the_same_message_templates() -> None:
    assert _message_templates("en") == _message_templates("zh_CN")


def test_both_locales_have_the_same_label_macros_with_the_same_arguments() -> None:
    assert _label_macros("en") == _label_macros("zh_CN")


def test_every_message_template_has_samples() -> None:
    for locale in LOCALES:
        assert set(SAMPLES) == _message_templates(locale)


def test_every_label_macro_with_arguments_has_samples() -> None:
    needing = {name for name, arguments in _label_macros("zh_CN").items() if arguments}
    assert needing == set(LABEL_SAMPLES)


def test_samples_cover_every_error_code_the_handlers_use() -> None:
    assert _error_codes_in_code() == set(ERROR_VALUES)


@pytest.mark.parametrize("locale", LOCALES)
def test_templates_use_only_their_own_locale_and_telegram_tags(locale: str) -> None:
    other = [name for name in LOCALES if name != locale]
    for path in (TEMPLATES / locale).rglob("*.j2"):
        source = path.read_text(encoding="utf-8")
        for name in other:
            assert f'"{name}/' not in source, path
        tags = {tag.lower() for tag in re.findall(r"</?([A-Za-z][A-Za-z0-9-]*)", source)}
        assert tags <= (ALLOWED_TAGS if path.name.endswith(".html.j2") else set()), path


# ---------------------------------------------------------------- every message renders


def _parsed(text: str) -> str:
    plain, _entities = parse_html(text)  # raises EntityParseError where Telegram would refuse
    return plain


@pytest.mark.parametrize(("locale", "name", "values"), CASES)
def test_message_renders_as_telegram_html_within_the_limit(locale: str, name: str, values: dict[str, Any]) -> None:
    text = render(name, locale, **values)
    plain = _parsed(text)
    assert plain.strip(), "a message must not be empty"
    assert utf16_len(plain) <= TELEGRAM_LIMIT
    assert "Undefined" not in plain


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("code", sorted(ERROR_VALUES))
def test_each_error_code_has_its_own_message(locale: str, code: str) -> None:
    text = _parsed(render("forms/error", locale, code=code, today=TODAY, **ERROR_VALUES[code]))
    others = {
        _parsed(render("forms/error", locale, code=other, today=TODAY, **values))
        for other, values in ERROR_VALUES.items()
        if other != code
    }
    assert text.startswith("⚠")
    assert text not in others


@pytest.mark.parametrize("locale", LOCALES)
def test_error_messages_show_their_numbers(locale: str) -> None:
    def error(code: str, **values: Any) -> str:
        return render("forms/error", locale, code=code, today=TODAY, **values)

    assert "11-20" in error("date_future")
    assert "120" in error("members_exceed_employees", employees=120)
    assert "1732" in error("text_too_long", maximum=1500, length=1732)
    assert "1500" in error("text_too_long", maximum=1500, length=1732)
    assert "1000000" in error("number_range", minimum=0, maximum=1_000_000)
    assert "10" in error("media_full", maximum=10)
    assert "楚韵" in error("no_match", query="楚韵")


@pytest.mark.parametrize("locale", LOCALES)
def test_an_unknown_error_code_fails_loudly(locale: str) -> None:
    with pytest.raises(UndefinedError):
        render("forms/error", locale, code="no_such_code", today=TODAY)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_missing_value_fails_loudly(locale: str) -> None:
    with pytest.raises(UndefinedError):
        render("visit/saved", locale, number=1)


@pytest.mark.parametrize("locale", LOCALES)
def test_each_role_gets_its_own_help(locale: str) -> None:
    texts = [render("common/help", locale, role=role, commands=command_descriptions(role, ROLE_COMMANDS[role], locale))
             for role in (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)]
    assert len(set(texts)) == 3
    assert "/visit" in texts[0]
    assert "/visit" not in texts[1] and "/visit" not in texts[2]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_invite_refusal_reason_has_its_own_message(locale: str) -> None:
    assert len({render("common/invite_refused", locale, reason=reason) for reason in INVITE_REASONS}) == 4


@pytest.mark.parametrize("locale", LOCALES)
def test_card_shows_head_counts_only_when_updated(locale: str) -> None:
    without = render("visit/confirm", locale, **_card())
    with_counts = render("visit/confirm", locale, **_card(employees=120, party_members=35))
    assert "120" not in without
    assert "120" in with_counts and "35" in with_counts


@pytest.mark.parametrize("locale", LOCALES)
def test_card_with_the_longest_answers_fits_one_message(locale: str) -> None:
    text = render("visit/confirm", locale, **SAMPLES["visit/confirm"]["longest"])
    plain = _parsed(text)
    assert "情" * 1500 in plain and "跟" * 500 in plain
    assert utf16_len(plain) <= TELEGRAM_LIMIT


@pytest.mark.parametrize("locale", LOCALES)
def test_card_with_the_longest_emoji_answers_fits_one_message(locale: str) -> None:
    # The longest answers the form accepts: limits are in UTF-16 units, an emoji is two.
    values = _card(enterprise="😀" * 128, summary="😀" * 750, follow_up="😀" * 250, employees=1_000_000,
                   party_members=1_000_000, photos=9, voices=9, located=True)
    assert utf16_len(_parsed(render("visit/confirm", locale, **values))) <= TELEGRAM_LIMIT


def test_zh_card_never_shows_python_none() -> None:
    assert "None" not in render("visit/confirm", "zh_CN", **_card(enterprise=None))


def test_en_card_never_shows_python_none() -> None:
    assert "None" not in render("visit/confirm", "en", **_card(enterprise=None))


@pytest.mark.parametrize("locale", LOCALES)
def test_offer_resume_shows_what_the_draft_has(locale: str) -> None:
    both = _parsed(render("forms/offer_resume", locale, form="visit", **_card()))
    nothing = _parsed(render("forms/offer_resume", locale, form="visit", **_card(enterprise=None, visit_date=None)))
    assert "枝江市楚韵纺织有限公司" in both and "11-20" in both
    assert "(" not in nothing and "（" not in nothing


# ---------------------------------------------------------------- user text is escaped


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("name", "values"), USER_TEXT)
def test_user_text_is_html_escaped(locale: str, name: str, values: dict[str, Any]) -> None:
    text = render(name, locale, **values)
    assert NASTY not in text
    assert any(escaped in text for escaped in NASTY_ESCAPED)
    assert NASTY in _parsed(text)  # and Telegram shows it as typed


# ---------------------------------------------------------------- labels are plain text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_label_renders_as_short_plain_text(locale: str) -> None:
    for name, arguments in _label_macros(locale).items():
        for values in LABEL_SAMPLES.get(name, [{}]) if arguments else [{}]:
            text = label(name, locale, **values)
            assert text, name
            assert "<" not in text and "&" not in text, name
            assert len(text) <= 64, name


@pytest.mark.parametrize("locale", LOCALES)
def test_labels_are_not_html_escaped(locale: str) -> None:
    assert label("ticked", locale, text=NASTY) == f"✅ {NASTY}"
    assert NASTY in label("enterprise_button", locale, name=NASTY, days=3, overdue=False)


@pytest.mark.parametrize("locale", LOCALES)
def test_enterprise_button_truncates_a_long_name(locale: str) -> None:
    name = "枝江市楚韵纺织有限公司" * 5
    text = label("enterprise_button", locale, name=name, days=45, overdue=True)
    assert text.startswith("⚠ " + name[:21] + "…")
    assert name[:22] not in text
    assert len(text) <= 45


@pytest.mark.parametrize("locale", LOCALES)
def test_enterprise_button_keeps_a_short_name_whole(locale: str) -> None:
    text = label("enterprise_button", locale, name="白洋港机械", days=12, overdue=False)
    assert text.startswith("白洋港机械 · ")
    assert "12" in text and "…" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_each_enterprise_button_state_reads_differently(locale: str) -> None:
    texts = {label("enterprise_button", locale, **values) for values in LABEL_SAMPLES["enterprise_button"]}
    assert len(texts) == len(LABEL_SAMPLES["enterprise_button"])


def test_an_unknown_label_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        label("no_such_label", "en")
