"""A property-based fuzzer driving every conversation of the bot through the Bot API emulator.

Officers (/visit, /nominate, /feedback, /people and a person's card, /found, /mine and the
enterprise card, /away, /back, /digest, /cancel, /help), supervisors (/review, /export,
/digest, /feedback) and owners (/feedback, /mine, rating) each get random scripts: taps on the
buttons shown and on older messages, forged callback data, random and 5,000-character texts,
HTML and Markdown specials, plausible answers, commands in the middle of a step, stickers,
photos, voice notes, locations and files. `tests/conversations/fuzzing.py` holds the alphabet
and the properties checked after every action and at the end of every example.

The examples are derandomized, so CI replays the same ones. Environment:
FUZZ_EXAMPLES=<n> examples per conversation (a longer, still reproducible search),
FUZZ_ACTIONS=<n> actions per script at most, FUZZ_SHRINK=1 to shrink a failure (slow),
FUZZ_COLLECT=<file> to note every failing example there and go on (a survey of bugs),
FUZZ_DATABASE=postgresql to run on PostgreSQL (127.0.0.1:5432) instead of SQLite.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.emulator import BotApiEmulator
from tests.conversations.conftest import Talk
from tests.conversations.fuzzing import CONVERSATIONS, LOCALES, Action, Harness, module_harness, scenario

# Examples per conversation by default: about 45 s for the whole file on two cores.
DEFAULT_EXAMPLES = 3
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
MAX_ACTIONS = int(os.environ.get("FUZZ_ACTIONS") or 20)
# An example is a second of real traffic, so shrinking a failure can take minutes: off unless
# FUZZ_SHRINK=1 (the failing script is reported as played, and replays: the world is reset).
PHASES = tuple(Phase) if os.environ.get("FUZZ_SHRINK") == "1" else (Phase.explicit, Phase.generate)
CASES = [(role, name) for role, conversations in CONVERSATIONS.items() for name in conversations]


@pytest.fixture(scope="module")
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            sqlite_template: Path) -> Iterator[Harness]:
    """SQLite; FUZZ_DATABASE=postgresql runs the same examples on this test run's PostgreSQL."""
    if os.environ.get("FUZZ_DATABASE") == "postgresql":
        pg_run_database = request.getfixturevalue("pg_run_database")
        if pg_run_database is None:
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        yield from module_harness(pg_run_database)
        return
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    shutil.copy(sqlite_template, path)
    yield from module_harness(f"sqlite:///{path}")


@pytest.mark.parametrize(("role", "conversation"), CASES, ids=[f"{role}-{name}" for role, name in CASES])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_conversation(harness: Harness, role: str, conversation: str, data: st.DataObject) -> None:
    locale = data.draw(st.sampled_from(LOCALES), label="locale")
    script: list[Action] = data.draw(scenario(role, conversation, MAX_ACTIONS), label="script")
    harness.run(harness.play(role, script, locale))


def test_the_fuzzer_played(harness: Harness) -> None:
    """The properties were checked on real traffic, deep in the forms, not on empty scripts."""
    if harness.examples_played == 0:
        pytest.skip("runs after the fuzz tests above")
    assert harness.examples_played >= len(CASES) * EXAMPLES
    assert harness.actions_played >= harness.examples_played * MAX_ACTIONS // 2
    if EXAMPLES >= DEFAULT_EXAMPLES:  # fewer examples (FUZZ_EXAMPLES=1) may well stay shallow
        carded = {form for form, step in harness.reached if step == "confirm"}
        assert len(carded) >= 3 and harness.saved, f"too shallow: cards of {carded}, saved {harness.saved}"


# ---------------------------------------------------------------- what the fuzzer found, pinned down


@pytest.mark.parametrize("data", ["visit:correct:1\n", "rate:1:5\n", "remind:skip:1\n", "fb:link:1\n", "ent:show:1\n",
                                  "people:show:1\n", "review:ok:v:1\n", "mine:page:1\n", "draft:resume:1\n",
                                  "visit:start:1x", "review:ok:v:1x", "people:talk:1:"])
async def test_callback_data_with_a_trailing_newline_or_more_is_answered(
    officer: Talk, emulator: BotApiEmulator, data: str
) -> None:
    # PTB routes a press with `re.match`; the patterns ended in `$`, which also matches before a
    # trailing newline, so `visit:correct:1\n` reached a handler whose `fullmatch` then refused
    # it without answering: the button spun until the client gave up.
    replies = await officer.forge(data)
    assert replies == [] and officer.toasts()[-1] == "这个按钮已失效。"
    assert emulator.violations == []
