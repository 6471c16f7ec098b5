"""What a command prints cannot drive the terminal: escape sequences and control characters in
user-supplied text (campaign files, platform answers, the database) are removed by one function,
`elshi.output.safe`, which every printer uses."""

from __future__ import annotations

import ast
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from elshi.output import safe, table, to_json
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run
from tests.conftest import ROOT

ATTACKS = {
    "colour": "\x1b[31mred\x1b[0m",
    "clear screen": "\x1b[2J\x1b[H",
    "window title": "\x1b]0;pwned\x07",
    "hyperlink": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "8-bit CSI": "\x9b2J",
    "bell and backspace": "\x07\x08\x08",
    "carriage return overwrite": "harmless\roverwritten",
    "bidi override": "\u202egnp.exe",
    "NUL": "a\x00b",
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_safe_removes_what_would_act_on_the_terminal(name: str) -> None:
    cleaned = safe(ATTACKS[name])
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in cleaned)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in cleaned)
    assert "\u202e" not in cleaned


def test_safe_keeps_text_line_ends_and_wide_characters() -> None:
    text = "Казахстан 哈萨克斯坦 — ok\n\tnext\r\nline"
    assert safe(text) == text


def test_tables_and_json_are_clean() -> None:
    printed = table(["a"], [[ATTACKS["window title"]], [ATTACKS["colour"]]])
    assert "\x1b" not in printed and "\x07" not in printed
    encoded = to_json({"t": ATTACKS["8-bit CSI"] + ATTACKS["bidi override"]})
    assert "\x9b" not in encoded and "\u202e" not in encoded
    assert json.loads(encoded)["t"] == ATTACKS["8-bit CSI"] + ATTACKS["bidi override"]


def test_text_from_the_database_with_escape_sequences_is_shown_harmlessly(
    run: Run, workspace: Path
) -> None:
    """Validation refuses control characters in campaign files, but the database also holds
    what platforms answered, what the web workspace stored and what older versions wrote."""
    (workspace / "campaign.yaml").write_text(GOOD, encoding="utf-8")
    run("campaign", "apply", "campaign.yaml")
    with closing(sqlite3.connect(workspace / "elshi.db")) as conn:
        conn.execute("UPDATE campaign SET title = ?", ("Test \x1b]0;pwned\x07 campaign \x1b[2J",))
        conn.commit()
    outputs = [
        run("campaign", "list"),
        run("campaign", "show", "de-test"),
        run("campaign", "list", "--json"),
        run("status"),
    ]
    for result in outputs:
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert "de-test: Test  campaign " in outputs[1].output  # the text stays, the commands go


def _printing_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "print":
                found.append(f"{path.name}:{node.lineno}: print")
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "click"
                and func.attr in ("echo", "secho")
            ):
                found.append(f"{path.name}:{node.lineno}: click.{func.attr}")
    return found


def test_commands_print_only_through_elshi_output() -> None:
    modules = [*sorted((ROOT / "elshi" / "commands").glob("*.py")), ROOT / "elshi" / "cli.py"]
    found = [call for path in modules for call in _printing_calls(path)]
    assert not found, "print through elshi.output.say instead:\n" + "\n".join(found)
