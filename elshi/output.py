"""Terminal output: every line a command prints goes through `say` (or `table`, `echo_json`),
which neutralise what user-supplied text could do to a terminal (`safe`); aligned tables that
respect wide (CJK) characters; JSON. Kept free of heavy imports so that every command starts
fast."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import click

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks, clipboard
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_UNPRINTABLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)"
)
"""Control characters (but tab, newline and CRLF line ends), and the bidirectional overrides
that make a terminal show text in another order than it is."""


def safe(text: str) -> str:
    """``text`` without terminal escape sequences and control characters: what a campaign file,
    a platform's answer or the database holds is shown, never executed by the terminal."""
    return _UNPRINTABLE.sub("", _ESCAPE.sub("", text))


def say(text: object = "", *, err: bool = False, fg: str | None = None, nl: bool = True) -> None:
    """Print one message (to standard error with ``err``; coloured with ``fg`` on a terminal)."""
    click.secho(safe(str(text)), err=err, fg=fg, nl=nl)


def width(text: str) -> int:
    return sum(
        2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
        for ch in text
    )


def clip(text: str, limit: int) -> str:
    text = " ".join(safe(text).split())
    if width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if width(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [width(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], width(value))

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (widths[i] - width(v)) for i, v in enumerate(values)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(safe(str(value)).split())


def to_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=_json_default)
    # json escapes C0 controls; escape C1 controls and bidi overrides too (still valid JSON).
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def echo_json(value: Any) -> None:
    click.echo(to_json(value))
