"""Where each key of a TOML document is written: ``(table, ..., key) → line``.

``tomllib`` gives values without positions, so configuration errors would point at nothing. This
scanner reads the text line by line (the document has already been parsed, so it only has to be
right for valid TOML): table headers (``[a.b]``, ``[[a]]``), dotted and quoted keys, inline
tables on one line, and it skips the inside of multi-line strings and arrays.
"""

from __future__ import annotations

import json
import re

Path = tuple[str, ...]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY_PART = rf"\s*(?:{_BARE}|{_QUOTED})\s*"
_DOTTED = re.compile(rf"{_KEY_PART}(?:\.{_KEY_PART})*")
_HEADER = re.compile(rf"^\s*(\[\[?)({_DOTTED.pattern})\]\]?")
_ASSIGNMENT = re.compile(rf"^\s*({_DOTTED.pattern})=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_DOTTED.pattern})=")


def _split(dotted: str) -> Path:
    parts = re.findall(rf"{_BARE}|{_QUOTED}", dotted)
    return tuple(_unquote(p) for p in parts)


def _unquote(part: str) -> str:
    if part[:1] == '"':
        try:
            return str(json.loads(part))
        except ValueError:
            return part[1:-1]
    if part[:1] == "'":
        return part[1:-1]
    return part


def _strip_strings(line: str) -> str:
    """The line with string contents blanked (so brackets and '#' inside them do not count)."""
    return re.sub(_QUOTED, lambda m: m.group(0)[0] * 2, line)


def key_lines(text: str) -> dict[Path, int]:
    """Every table header and key in ``text`` with its 1-based line number. Arrays of tables
    are indexed (``("notify", "0", "url")``)."""
    lines: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    table: Path = ()
    depth = 0  # open brackets of a multi-line array or inline table
    in_string: str | None = None  # the delimiter of an open multi-line string
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_string is not None:
            end = line.find(in_string)
            if end < 0:
                continue
            line, in_string = line[end + 3 :], None
            if depth == 0:
                continue
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                path = _split(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    lines.setdefault(path, number)
                    path = (*path, str(index))
                table = path
                lines.setdefault(table, number)
                continue
            assignment = _ASSIGNMENT.match(line)
            if assignment:
                key = (*table, *_split(assignment.group(1)))
                lines.setdefault(key, number)
                rest = line[assignment.end() :]
                for inline in _INLINE_KEY.finditer(_strip_strings(rest)):
                    lines.setdefault((*key, *_split(inline.group(1))), number)
                line = rest
        for delimiter in ('"""', "'''"):
            if line.count(delimiter) % 2 == 1:
                in_string = delimiter
                line = line[: line.find(delimiter)]
        code = _strip_strings(line).split("#", 1)[0]
        depth = max(
            0, depth + code.count("[") + code.count("{") - code.count("]") - code.count("}")
        )
    return lines


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, or of the nearest table or key that contains it."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None
