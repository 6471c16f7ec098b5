"""The command line as a whole: every command's help carries an example, and every command a
document or a message tells the user to run exists."""

from __future__ import annotations

import re

import pytest

from elshi.docs import command_paths, root_context, walk
from tests.conftest import ROOT

PATHS = command_paths()


def _helps() -> dict[str, str]:
    cli, root = root_context()
    return {ctx.command_path: command.get_help(ctx) for command, ctx in walk(cli, root)}


HELPS = _helps()


@pytest.mark.parametrize("path", PATHS)
def test_every_command_has_help_with_an_example(path: str) -> None:
    text = HELPS[path]
    assert re.search(r"\bExamples?:", text), f"{path} --help has no example"
    example = text.split("Example", 1)[1]
    lines = [line.strip() for line in example.splitlines()]
    assert any(re.search(r"(^|\s)elshi( |$)", line) for line in lines), (
        f"{path} --help: the example does not show an `elshi ...` command line"
    )
    assert all(len(line) <= 100 for line in text.splitlines())


def test_every_command_and_group_is_reached_by_the_walk() -> None:
    assert {"elshi campaign apply", "elshi deliveries resolve", "elshi db upgrade"} <= set(PATHS)
    assert len(PATHS) == len(set(PATHS))


_MENTION = re.compile(r"(?<![\w./-])elshi((?: [a-z][a-z-]*)+)")
_SOURCES = [
    "README.md",
    "CHANGELOG.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
    *sorted(
        str(p.relative_to(ROOT))
        for package in ("elshi", "campaigns", "scheduler", "reports", "connectors")
        for p in (ROOT / package).rglob("*.py")
    ),
    *sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "elshi" / "templates").glob("*")
        if p.suffix != ".png"
    ),
]


def _mentions() -> list[tuple[str, int, str]]:
    found = []
    for name in _SOURCES:
        path = ROOT / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.match(r"\s*(from|import) ", line):
                continue
            for match in _MENTION.finditer(line):
                found.append((name, number, "elshi" + match.group(1)))
    return found


def _is_command(mention: str) -> bool:
    """True when the words after ``elshi`` name a real command: a group's name followed by a
    word must be followed by one of its commands; words after a leaf command are arguments."""
    path = "elshi"
    for word in mention.split()[1:]:
        candidate = f"{path} {word}"
        if candidate not in PATHS:
            return path != "elshi" and path not in GROUPS
        path = candidate
        if path not in GROUPS:
            return True
    return True


GROUPS = {p for p in PATHS if any(q.startswith(p + " ") for q in PATHS)}


def _checked(name: str, text: str) -> bool:
    """In source code, ``elshi`` followed by a word that is no command at all is prose (a
    byte-string label, a module name); a known command followed by a wrong one is checked."""
    return not name.endswith(".py") or f"elshi {text.split()[1]}" in PATHS


def test_every_command_named_in_the_docs_and_messages_exists() -> None:
    wrong = [
        f"{name}:{line}: {text}"
        for name, line, text in _mentions()
        if _checked(name, text) and not _is_command(text)
    ]
    assert not wrong, "commands that do not exist:\n" + "\n".join(wrong)


SHARED = ("--json", "--by", "--campaign", "--out", "--force")


def test_shared_options_are_declared_once() -> None:
    """``--json``, ``--by``... come from elshi/commands/options.py, so they read alike."""
    found = []
    for path in sorted((ROOT / "elshi" / "commands").glob("*.py")):
        if path.name == "options.py":
            continue
        text = path.read_text(encoding="utf-8")
        for option in SHARED:
            for match in re.finditer(rf"click\.option\(\s*\"{option}\"", text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.name}:{line}: {option}")
    assert not found, "use elshi.commands.options instead:\n" + "\n".join(found)
