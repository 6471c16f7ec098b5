"""Property-based: whatever a campaign file contains (generated documents, mutated examples,
random or truncated text), validation returns located problems and never raises, and the CLI
never ends in a traceback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.validation import Loaded, load_campaign
from campaigns.yamlsource import load_yaml
from elshi.cli import cli
from tests.campaigns.factory import BASE, CHANNELS, dump
from tests.campaigns.test_bad_input import GOOD

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "examples").glob("*.yaml")), ROOT / "tests/fixtures/germany-small.yaml"]
EXAMPLE_TEXTS = [*(p.read_text(encoding="utf-8") for p in SOURCES), GOOD, dump(BASE)]
EXAMPLES = [*(load_yaml(p)[0] for p in SOURCES), BASE]

KEYS = sorted(
    {
        *("campaign", "events", "audiences", "posts", "id", "title", "country", "narrative"),
        *("starts", "ends", "timezone", "hashtags", "utm", "approval", "grace", "narratives"),
        *("name", "group", "languages", "channels", "category", "when", "text", "event"),
        *("offset", "rrule", "cron", "from", "until", "limit", "media", "link", "reply_to"),
        *("variant", "default", "x", "mastodon", "de", "zh", "date", "time", "source"),
    }
)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "2027-03-28 02:30",
            "2027-10-31 02:30",
            "Europe/Berlin",
            "Asia/Almaty",
            "Mars/Olympus",
            "FREQ=DAILY;BYHOUR=10",
            "FREQ=SECONDLY",
            "* * * * *",
            "-2d 10:00",
            "99:99",
            "de-x",
            "public",
            "cultural_event",
            "#Kasachstan",
            "https://example.org",
            "你好" * 200,
        ]
    ),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=25,
)


def check(loaded: Loaded) -> None:
    for problem in loaded.problems:
        assert problem.line >= 0 and problem.column >= 0
        assert problem.message
        assert str(problem)
    if loaded.desired is None:
        assert loaded.errors


def validate_text(tmp_path: Path, text: str | bytes) -> Loaded:
    path = tmp_path / "campaign.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loaded = load_campaign(path, channels=CHANNELS)
    check(loaded)
    return loaded


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


def mutate(document: Any, path: tuple[Any, ...], action: str, value: Any, noise: str) -> Any:
    import copy

    document = copy.deepcopy(document)
    if not path:
        return value if action == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "drop":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "noise" and isinstance(parent[last], str):
        text = parent[last]
        cut = len(text) // 2
        parent[last] = text[:cut] + noise + text[cut:]
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    return document


@SETTINGS
@given(
    document=st.one_of(values, st.fixed_dictionaries({}, optional=dict.fromkeys(KEYS[:8], values)))
)
def test_generated_documents_give_problems_not_exceptions(tmp_path: Path, document: Any) -> None:
    validate_text(tmp_path, dump(document))


@settings(SETTINGS, max_examples=100)
@given(
    data=st.data(),
    action=st.sampled_from(["drop", "replace", "noise", "duplicate"]),
    value=values,
    noise=st.text(min_size=1, max_size=10),
)
def test_mutated_examples_give_problems_not_exceptions(
    tmp_path: Path, data: st.DataObject, action: str, value: Any, noise: str
) -> None:
    example = data.draw(st.sampled_from(EXAMPLES))
    path = data.draw(st.sampled_from(paths(example)))
    document = mutate(example, path, action, value, noise)
    (tmp_path / "media").mkdir(exist_ok=True)
    validate_text(tmp_path, dump(document))


@SETTINGS
@given(data=st.data(), insert=st.text(max_size=12))
def test_truncated_and_scribbled_text_gives_problems_not_exceptions(
    tmp_path: Path, data: st.DataObject, insert: str
) -> None:
    text = data.draw(st.sampled_from(EXAMPLE_TEXTS))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    at = data.draw(st.integers(min_value=0, max_value=cut))
    validate_text(tmp_path, text[:at] + insert + text[at:cut])


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_text_gives_problems_not_exceptions(tmp_path: Path, text: str | bytes) -> None:
    validate_text(tmp_path, text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), insert=st.text(max_size=12), value=values)
def test_the_cli_never_ends_in_a_traceback(
    workspace: Path, data: st.DataObject, insert: str, value: Any
) -> None:
    text = data.draw(st.sampled_from(EXAMPLE_TEXTS))
    if data.draw(st.booleans()):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + insert + text[at:]
    else:
        example = data.draw(st.sampled_from(EXAMPLES))
        path = data.draw(st.sampled_from(paths(example)))
        text = dump(mutate(example, path, "replace", value, insert))
    (workspace / "campaign.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    command = data.draw(st.sampled_from(["validate", "plan", "apply"]))
    result = CliRunner().invoke(cli, ["campaign", command, "campaign.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 2), result.output
