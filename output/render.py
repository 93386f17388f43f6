"""Every text the bot shows comes from a Jinja2 template under `templates/<locale>/`.

`render("visit/ask_date", locale, ...)` loads `templates/<locale>/visit/ask_date.html.j2`:
HTML-escaped, since users' free text goes into HTML messages. `label("today", locale, ...)`
calls a macro of `templates/<locale>/labels.txt.j2`: plain text for buttons and file headers.
StrictUndefined makes a missing value fail loudly in a test rather than send a blank.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALES = ("zh_CN", "en")


def _mmdd(value: Any) -> str:
    return f"{value.month:02d}-{value.day:02d}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Templates change with a deployment, not while the bot runs: no stat() of the file
        # behind every render and label to see whether it changed.
        auto_reload=False,
    )
    env.filters["mmdd"] = _mmdd
    return env


def render(name: str, locale: str, /, **values: Any) -> str:
    """The message `name` in `locale`, as Telegram HTML. The template may call `label(name,
    **values)` for a label of its locale (a category's or a stage's word for a code it got)."""
    return environment().get_template(f"{locale}/{name}.html.j2").render(label=_labels_of(locale), **values).strip()


@lru_cache(maxsize=len(LOCALES))
def _labels_of(locale: str) -> Any:
    def of_locale(name: str, **values: Any) -> str:
        return cached_label(name, locale, **values)

    return of_locale


def label(name: str, locale: str, /, **values: Any) -> str:
    """A short plain text (button label, header) from the locale's `labels.txt.j2`.

    `label("people.stage", ...)` reads the macro `stage` of `<locale>/people/labels.txt.j2`:
    each area keeps its own labels next to its messages.
    """
    area, _, macro_name = name.rpartition(".")
    path = f"{locale}/{area}/labels.txt.j2" if area else f"{locale}/labels.txt.j2"
    macro = getattr(environment().get_template(path).module, macro_name, None)
    if macro is None:
        raise KeyError(f"no label {macro_name!r} in {path}")
    return str(macro(**values)).strip()


def labels(locale: str) -> Any:
    """`label` with the locale given, as `labels(name, **values)`: how a layer below this one is
    handed the words of a vocabulary (the importer reads the ledger's own words with it)."""
    return _labels_of(locale)


# A drain composes thousands of reminders whose labels (stages, categories) take a handful of
# values: each is rendered once.
cached_label = lru_cache(maxsize=1024)(label)
