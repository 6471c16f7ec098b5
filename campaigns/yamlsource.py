"""Reading YAML while remembering where every node was written.

`load_yaml` returns plain Python data (dicts, lists, str, int, float, bool, date, datetime) and a
`Locator` that maps a path such as ``("posts", 3, "when")`` to the ``(line, column)`` of that node
in the file, so every later error can say ``FILE:LINE:COL``. Duplicate keys and syntax errors are
reported the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, located in a file. ``line``/``column`` are 1-based (0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}: {prefix}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Locator:
    """Positions of the nodes of one YAML document, by path."""

    file: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """The closest known position: the node itself, else its nearest ancestor."""
        path = tuple(path)
        while True:
            table = self.keys if key else self.values
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return (1, 1)
            path = path[:-1]
            key = False

    def problem(
        self, path: Sequence[str | int], message: str, *, key: bool = False, severity: str = "error"
    ) -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, message, severity)


class YamlError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def load_yaml(path: Path, *, label: str | None = None) -> tuple[Any, Locator]:
    """Parse ``path``; raise `YamlError` (located) on bad syntax, duplicate keys or bad bytes."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(
            Problem(name, 0, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        ) from None
    except OSError as exc:
        raise YamlError(Problem(name, 0, 0, f"cannot read the file: {exc.strerror}")) from None
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = exc.problem or "YAML syntax error"
        if "duplicate key" in str(what) or "found duplicate key" in str(exc):
            what = f"duplicate key{_dup_key(str(exc))}: each key may appear once in a mapping"
        context = f" ({exc.context})" if exc.context and "duplicate" not in str(what) else ""
        raise YamlError(Problem(name, line, column, f"{what}{context}")) from None
    except YAMLError as exc:
        raise YamlError(Problem(name, 0, 0, f"YAML error: {exc}")) from None
    locator = Locator(name)
    return _plain(document, (), locator), locator


def _dup_key(message: str) -> str:
    import re

    match = re.search(r'found duplicate key "([^"]*)"', message)
    return f" {match.group(1)!r}" if match else ""


def _plain(node: Any, path: Path_, locator: Locator) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            plain_key = _scalar(key)
            try:
                kline, kcol = node.lc.key(key)
                locator.keys[(*path, plain_key)] = (kline + 1, kcol + 1)
                vline, vcol = node.lc.value(key)
                locator.values[(*path, plain_key)] = (vline + 1, vcol + 1)
            except (KeyError, TypeError):
                pass
            out[plain_key] = _plain(node[key], (*path, plain_key), locator)
        if path not in locator.values and node.lc.line is not None:
            locator.values[path] = (node.lc.line + 1, node.lc.col + 1)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            try:
                line, col = node.lc.item(index)
                locator.values[(*path, index)] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(item, (*path, index), locator))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses → plain Python types."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        return dt.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
