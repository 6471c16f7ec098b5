"""Reading YAML safely while remembering where every node was written.

`load_yaml` returns plain Python data (dicts, lists, str, int, float, bool, None) and a `Locator`
that maps a path such as ``("posts", 3, "when")`` to the ``(line, column)`` of that node in the
file, so every later error can say ``FILE:LINE:COL``.

The document is built from the parser's events here, not by a YAML constructor, so that nothing
is converted outside validation and nothing can hang or exhaust memory:

* only null, booleans, numbers and strings are typed (the YAML 1.2 core schema); a date stays
  the text that was written and is checked by the campaign validator, with its position (an
  impossible date such as ``2027-02-30`` is a located problem, not a crash in a constructor);
* the file size, the nesting depth, the number of aliases and the number of nodes they expand
  to are capped (`Limits`), so "billion laughs" and ``[[[[...`` end in one located message;
* bytes that are not UTF-8, control characters (NUL, ESC, ...) written raw or as escapes, tags
  (``!!python/...``), several documents in one file, complex keys and duplicate keys are
  refused with their line and column;
* the commonest slips get a hint: a tab in the indentation, an unquoted ``": "`` in a text.

This module knows nothing about campaigns; ``campaigns.validation`` gives the data its meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaigns.errors import CampaignInputError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, located in a file. ``line``/``column`` are 1-based (0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"
    path: Path_ = field(default=(), compare=False)
    """The YAML path it is about, e.g. ``("posts", 3, "text", "de")`` (empty when unknown)."""

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
    notes: list[Problem] = field(default_factory=list)
    """Warnings found while reading (a hashtag YAML took for a comment)."""

    def original(self, path: Sequence[str | int]) -> Path_:
        """``path`` as it is in the file (see ``campaigns.validation``'s remapping)."""
        return tuple(path)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """The closest known position: the node itself, else its nearest ancestor."""
        path = self.original(path)
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
        return Problem(self.file, line, column, message, severity, self.original(path))


class YamlError(CampaignInputError):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class Limits:
    """What one YAML file may ask of the reader. Campaign files are a few dozen kilobytes; these
    are two orders of magnitude above that and far below what would take seconds or gigabytes."""

    max_bytes: int = 2 * 1024 * 1024
    max_depth: int = 32
    max_aliases: int = 100
    max_nodes: int = 100_000
    """Nodes after expanding aliases (what the validator will walk)."""
    max_number_digits: int = 100


LIMITS = Limits()

# Characters that have no business in a campaign file: C0 controls except tab, newline and
# carriage return; DEL; C1 controls; lone surrogates (from "\ud800" escapes); non-characters;
# the line and paragraph separators, which YAML reads as line breaks and editors do not (every
# line number after one would be off, and text pasted with one breaks where nobody sees it).
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029]"
)
_SEPARATORS = {0x2028: "LINE SEPARATOR", 0x2029: "PARAGRAPH SEPARATOR"}


def control_character(text: str) -> tuple[int, str] | None:
    """The index and a description of the first forbidden character in ``text``, or None."""
    match = _FORBIDDEN.search(text)
    if match is None:
        return None
    code = ord(match.group())
    names = {0: "NUL", 0x1B: "ESC (a terminal escape)", 0x7F: "DEL"}
    name = names.get(code, "a control character")
    if code in _SEPARATORS:
        name = f"{_SEPARATORS[code]}, a line break most editors do not show"
    if 0xD800 <= code <= 0xDFFF:
        name = "half of a UTF-16 surrogate pair"
    return match.start(), f"U+{code:04X} ({name})"


def read_text(path: Path, name: str, *, max_bytes: int) -> str:
    """The file's text, or a located `YamlError` when it is too large, unreadable or not UTF-8."""
    from campaigns.inputfiles import NotARegularFile, TooLarge, read_bounded

    try:
        raw = read_bounded(path, max_bytes)
    except NotARegularFile as exc:
        raise YamlError(Problem(name, 0, 0, f"cannot read it: it {exc}")) from None
    except OSError as exc:
        raise YamlError(Problem(name, 0, 0, f"cannot read the file: {exc.strerror}")) from None
    except TooLarge:
        raise YamlError(
            Problem(
                name,
                0,
                0,
                f"the file is larger than {max_bytes // 1024:,} KiB; a campaign file is text of "
                "a few dozen KiB (split a large one into several campaigns)",
            )
        ) from None
    return decode(raw, name)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped); other encodings are refused at the first bad byte."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise YamlError(
            Problem(name, 1, 1, "the file is saved as UTF-16; save it as UTF-8 instead")
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        start = before.rfind(b"\n") + 1
        column = len(before[start:].decode("utf-8", errors="replace")) + 1
        byte = raw[exc.start : exc.start + 1].hex().upper()
        raise YamlError(
            Problem(
                name,
                line,
                column,
                f"byte 0x{byte} is not UTF-8 text; save the file as UTF-8 "
                "(in Windows programs: 'UTF-8', not 'ANSI' or 'Latin-1')",
            )
        ) from None


def _check_characters(text: str, name: str) -> None:
    found = control_character(text)
    if found is None:
        return
    index, what = found
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    raise YamlError(Problem(name, line, column, f"{what} is not allowed in the file; delete it"))


def load_yaml(
    path: Path, *, label: str | None = None, limits: Limits = LIMITS
) -> tuple[Any, Locator]:
    """Parse ``path``; raise `YamlError` (located) on anything the module docstring refuses."""
    name = label or str(path)
    return parse_yaml(read_text(path, name, max_bytes=limits.max_bytes), name, limits=limits)


def parse_yaml(text: str, name: str, *, limits: Limits = LIMITS) -> tuple[Any, Locator]:
    """`load_yaml` for text already read."""
    import yaml

    if len(text.encode("utf-8", errors="surrogatepass")) > limits.max_bytes:
        raise YamlError(Problem(name, 0, 0, f"the text is larger than {limits.max_bytes:,} bytes"))
    _check_characters(text, name)
    builder = _Builder(name, limits, text)
    # libyaml's parser when PyYAML has it (ten times faster than any pure-Python one); only
    # its events are used, never a constructor.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_syntax_problem(name, exc, text)) from None
    except yaml.YAMLError as exc:
        raise YamlError(Problem(name, 0, 0, f"YAML error: {exc}")) from None
    return builder.result, builder.locator


def _syntax_problem(name: str, exc: Any, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    what = str(exc.problem or "YAML syntax error")
    context = f" ({exc.context})" if exc.context else ""
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    if "tab" in what or source[: max(column, 1)].lstrip(" ").startswith("\t"):
        return Problem(
            name, line, column, "a tab character in the indentation: indent with spaces, not tabs"
        )
    if "nesting depth" in what:
        return Problem(
            name, line, column, "nested more than a thousand levels deep; a campaign needs a few"
        )
    previous = next((ln for ln in reversed(lines[: max(line - 1, 0)]) if ln.strip()), "")
    above = (line - 1 - lines[: max(line - 1, 0)][::-1].index(previous)) if previous else 0
    for at, candidate in ((line, source), (above, previous)):
        found = _lookalike(candidate) if at else None
        if found is not None:
            return Problem(name, at, found[0], f"{what}{context}: {found[1]}")
    if "mapping values are not allowed" in what:
        return Problem(
            name,
            line,
            column,
            "mapping values are not allowed here: a ': ' inside a text makes YAML read a new "
            'key; put the text in quotes, e.g. text: "Astana: the capital"',
        )
    for at, hint in (
        (line, _hint(what, source, previous, context)),
        (above, _hint_above(what, previous)),
    ):
        if hint:
            shown = column if at == line else len(previous) - len(previous.lstrip()) + 1
            return Problem(name, at, shown, f"{what}{context}: {hint}")
    return Problem(name, line, column, f"{what}{context}")


_LOOKALIKES = {
    **dict.fromkeys("\u00a0\u202f", ("a no-break space", "space")),
    "\u3000": ("an ideographic (full-width) space", "space"),
    **dict.fromkeys(
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a",
        ("a typographic space", "space"),
    ),
    **dict.fromkeys("\u200b\ufeff", ("an invisible zero-width space", "space")),
    **dict.fromkeys("\uff1a\ufe55\ufe13\u02d0\u2236", ("a colon of another script", "colon ':'")),
    **dict.fromkeys(
        "\u2010\u2011\u2012\u2013\u2014\u2212\uff0d", ("a dash of another kind", "dash '-'")
    ),
    **dict.fromkeys("\uff0c\u3001", ("a comma of another script", "comma ','")),
}
"""Characters a word processor, a web page or an input method (full-width punctuation in
Chinese) puts where YAML needs an ordinary space, colon or dash: the syntax error YAML reports
then names something else."""
_STRUCTURE = re.compile(r"\s*(?:-\s*)*[\w.-]*:?\s*")


def _lookalike(text: str) -> tuple[int, str] | None:
    """The column and a description of a look-alike character where ``text`` has its
    structure (indentation, list dash, key, colon, the space after it), or None."""
    for index, char in enumerate(text):
        if char in _LOOKALIKES and _STRUCTURE.fullmatch(text[:index]):
            return index + 1, lookalike_note(char, f"at column {index + 1}")
    return None


def lookalike_note(char: str, where: str) -> str:
    """What to say of the look-alike ``char`` found ``where``."""
    what, meant = _LOOKALIKES[char]
    return (
        f"U+{ord(char):04X} ({what}) {where} looks like an ordinary {meant} but YAML does not "
        f"read it as one; type it again as an ordinary {meant}"
    )


def lookalike_in(text: str) -> str | None:
    """A note on the first look-alike character in ``text`` (an id, a language code: values
    that never hold one), or None: ``[de，en]`` is one item 'de，en' to YAML."""
    char = next((c for c in text if c in _LOOKALIKES), None)
    return lookalike_note(char, f"in {text!r}") if char is not None else None


_KEY_COLON = re.compile(r"^[A-Za-z0-9_.-]+(?P<colon>[\uff1a\ufe55\ufe13\u02d0\u2236])")


def lookalike_key(text: str) -> str | None:
    """A note when ``text``, a value found where a mapping was expected, is ``key: value``
    written with a look-alike colon (``nauryz： 2027-03-21``), else None."""
    match = _KEY_COLON.match(text)
    if match is None:
        return None
    return lookalike_note(match["colon"], f"after {text[: match.start('colon')]!r}")


_KEY_VALUE = re.compile(r"^(?P<indent>\s*(?:-\s+)?)(?P<key>[\w-]+):[ \t]+(?P<value>\S.*?)\s*$")
_QUOTE_IT = "put the whole text in quotes"


def _hint(what: str, source: str, previous: str, context: str = "") -> str | None:
    """How to fix the commonest slips YAML reports at this line."""
    match = _KEY_VALUE.match(source)
    value = match["value"] if match else ""
    key = match["key"] if match else "text"
    first = value[:1]
    if first in ("@", "`", "%") and "cannot start any token" in what:
        return f'a value cannot start with {first!r} unquoted; {_QUOTE_IT}: {key}: "{value}"'
    if first in ("*", "&") and ("alias" in what or "anchor" in what or "alias" in context):
        return (
            f"{first!r} at the start makes YAML read an alias or anchor; {_QUOTE_IT}: "
            f'{key}: "{value}"'
        )
    if first in ("[", "{") and "expected" in what:
        return (
            f"a text that starts with {first!r} is read as a list or mapping; {_QUOTE_IT}: "
            f'{key}: "{value}"'
        )
    if first in ('"', "'") and "expected" in what:
        other = "'" if first == '"' else '"'
        return (
            f"the text ends at its second {first} and more follows; write the quotes inside "
            f"with the other kind around it: {key}: {other}{value}{other}"
        )
    if value.startswith("- ") and "sequence entries are not allowed" in what:
        return f'a text starting with "- " needs quotes: {key}: "{value}"'
    indent = len(source) - len(source.lstrip(" "))
    above = len(previous) - len(previous.lstrip(" "))
    if "did not find expected key" in what and match and indent != above and previous:
        return (
            f"this line is indented {indent} spaces, the line above {above}: keys of one "
            "block start in the same column"
        )
    if re.match(r"^\s*-[^\s-]", source) and "expected '-'" in what:
        return "a list item needs a space after its dash: '- id: ...'"
    return None


def _hint_above(what: str, previous: str) -> str | None:
    """A slip on the line above that YAML reports only at the next one: ``key:value``
    without the space after the colon, or a text continued on a line of its own."""
    if "could not find expected ':'" not in what or not previous.strip():
        return None
    if re.match(r"^\s*(?:-\s+)?[\w-]+:[^\s:/]", previous) and ": " not in previous:
        key = previous.strip().lstrip("- ").split(":", 1)[0]
        return f"put a space after the colon: '{key}: ...'"
    if ":" not in previous and not previous.lstrip().startswith(("-", "#")):
        return (
            "this line has no 'key:'; if it continues the text above, indent it further "
            "than that text's key, or put the whole text in quotes"
        )
    return None


# YAML 1.2 core schema, written out so that nothing else (dates, YAML 1.1 'yes') is typed.
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    ".inf": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    ".nan": float("nan"),
}
_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_MERGE = "<<"


class _Container:
    """A mapping or sequence being built, with the bookkeeping for its next child."""

    def __init__(self, value: dict[Any, Any] | list[Any], path: Path_, anchor: str | None):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_is_merge = False
        self.key_mark: tuple[int, int] = (0, 0)
        self.nodes = 1
        self.merged: set[Any] = set()


_NO_KEY = object()


class _Builder:
    """Turns parser events into plain data and a `Locator`, enforcing `Limits`."""

    def __init__(self, name: str, limits: Limits, text: str = ""):
        self.name = name
        self.limits = limits
        self.text = text
        self.locator = Locator(name)
        self.stack: list[_Container] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.aliases = 0
        self.nodes = 0
        self.documents = 0
        self.result: Any = None

    def fail(self, event: Any, message: str) -> None:
        mark = event.start_mark
        raise YamlError(Problem(self.name, mark.line + 1, mark.column + 1, message))

    def feed(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "DocumentStartEvent":
            self.documents += 1
            if self.documents > 1:
                self.fail(event, "a second YAML document ('---'); a file holds one campaign")
        elif kind == "ScalarEvent":
            if not event.style and self.stack and self.stack[-1].key is not _NO_KEY:
                self._comment_after_text(event)
            self._add(event, self._scalar(event), 1, event.anchor)
        elif kind == "AliasEvent":
            self._alias(event)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            self._start(event, {} if kind == "MappingStartEvent" else [])
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            done = self.stack.pop()
            if done.anchor is not None:
                self.anchors[done.anchor] = (done.value, done.nodes)
                self.open_anchors.discard(done.anchor)
            self._attach(event, done.value, done.nodes, mark=None)

    # -- nodes ---------------------------------------------------------------------------------

    def _comment_after_text(self, event: Any) -> None:
        """An unquoted text followed by `` #word`` on its line: YAML drops that part as a
        comment, which silently loses a hashtag; a warning says so."""
        parent = self.stack[-1]
        path = (*parent.path, parent.key)
        if "text" not in path[:4] or event.end_mark.line != event.start_mark.line:
            return
        end = event.end_mark.index
        stop = self.text.find("\n", end)
        rest = self.text[end : stop if stop >= 0 else len(self.text)]
        found = re.match(r"[ \t]+#(\S+)", rest)
        if found:
            self.locator.notes.append(
                Problem(
                    self.name,
                    event.end_mark.line + 1,
                    event.end_mark.column + rest.index("#") + 1,
                    f"'#{found.group(1)}' after the text is a YAML comment and is left out of "
                    "the text; to publish it (a hashtag), put the whole text in quotes",
                    "warning",
                    path,
                )
            )

    def _count(self, event: Any, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > self.limits.max_nodes:
            self.fail(
                event,
                f"the document has more than {self.limits.max_nodes:,} values (counting what "
                "its aliases repeat); split it or write the repeated parts out",
            )

    def _tag(self, event: Any) -> str | None:
        tag = getattr(event, "tag", None)
        if tag is None:
            return None
        tag = str(getattr(tag, "value", tag))
        if tag == "!":  # a non-specific tag: a quoted scalar's own mark
            return None
        if tag not in _ALLOWED_TAGS:
            shown = tag.replace(_CORE, "!!")
            self.fail(
                event,
                f"the YAML tag {shown!r} is not used in campaign files; remove it "
                "(values are plain text, numbers, true/false, lists and mappings)",
            )
        return tag

    def _start(self, event: Any, value: dict[Any, Any] | list[Any]) -> None:
        self._tag(event)
        if len(self.stack) >= self.limits.max_depth:
            self.fail(
                event,
                f"nested more than {self.limits.max_depth} levels deep; a campaign file needs "
                "a handful",
            )
        self._count(event, 1)
        path = self._child_path(event, value)
        mark = (event.start_mark.line + 1, event.start_mark.column + 1)
        if path not in self.locator.values:
            self.locator.values[path] = mark
        if event.anchor is not None:
            self._anchor(event)
            self.open_anchors.add(event.anchor)
        self.stack.append(_Container(value, path, event.anchor))

    def _anchor(self, event: Any) -> None:
        if len(self.anchors) + len(self.open_anchors) >= self.limits.max_aliases:
            self.fail(event, f"more than {self.limits.max_aliases} anchors ('&name') in one file")

    def _alias(self, event: Any) -> None:
        name = event.anchor
        if name in self.open_anchors:
            self.fail(event, f"the alias '*{name}' refers to the value it is inside")
        if name not in self.anchors:
            self.fail(event, f"the alias '*{name}' has no anchor '&{name}' before it")
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            self.fail(
                event,
                f"more than {self.limits.max_aliases} aliases ('*name') in one file; write the "
                "repeated values out",
            )
        value, nodes = self.anchors[name]
        self._count(event, nodes)
        self._attach(
            event, value, nodes, mark=(event.start_mark.line + 1, event.start_mark.column + 1)
        )

    def _add(self, event: Any, value: Any, nodes: int, anchor: str | None) -> None:
        self._count(event, nodes)
        if anchor is not None:
            self._anchor(event)
            self.anchors[anchor] = (value, nodes)
        self._attach(
            event, value, nodes, mark=(event.start_mark.line + 1, event.start_mark.column + 1)
        )

    def _child_path(self, event: Any, value: Any) -> Path_:
        """The path a node starting now will have (its parent's key or index)."""
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value))
        if parent.key is _NO_KEY:
            self.fail(event, "a key must be plain text, not a list or a mapping")
        return (*parent.path, parent.key)

    def _attach(self, event: Any, value: Any, nodes: int, mark: tuple[int, int] | None) -> None:
        """Put a finished node into its parent (or make it the document)."""
        if not self.stack:
            self.result = value
            if mark is not None:
                self.locator.values[()] = mark
            return
        parent = self.stack[-1]
        parent.nodes += nodes
        if isinstance(parent.value, list):
            if mark is not None:
                self.locator.values[(*parent.path, len(parent.value))] = mark
            parent.value.append(value)
            return
        if parent.key is _NO_KEY:
            self._key(event, parent, value, mark)
            return
        key, parent.key = parent.key, _NO_KEY
        if parent.key_is_merge:
            parent.key_is_merge = False
            self._merge(event, parent, value)
            return
        if mark is not None:
            self.locator.values[(*parent.path, key)] = mark
        parent.value[key] = value

    def _key(
        self, event: Any, parent: _Container, value: Any, mark: tuple[int, int] | None
    ) -> None:
        if isinstance(value, dict | list) or mark is None:
            self.fail(event, "a key must be plain text, not a list or a mapping")
        if not isinstance(value, str | int | float | bool) and value is not None:
            self.fail(event, "a key must be plain text")
        odd = next((c for c in value if c in _LOOKALIKES), None) if isinstance(value, str) else None
        if odd is not None:  # keys are ids, languages, platforms: never such a character
            self.fail(event, lookalike_note(odd, f"in the key {value!r}"))
        assert isinstance(parent.value, dict)
        if value in parent.value and value not in parent.merged:
            first = self.locator.keys.get((*parent.path, value), (0, 0))[0]
            self.fail(
                event,
                f"duplicate key {value!r}: each key may appear once in a mapping"
                + (f" (first at line {first})" if first else ""),
            )
        parent.merged.discard(value)
        parent.key = value
        assert mark is not None
        parent.key_mark = mark
        parent.key_is_merge = value == _MERGE and not getattr(event, "style", None)
        self.locator.keys[(*parent.path, value)] = mark

    def _merge(self, event: Any, parent: _Container, value: Any) -> None:
        """``<<: *defaults`` (or a list of them): keys not written in this mapping."""
        assert isinstance(parent.value, dict)
        del self.locator.keys[(*parent.path, _MERGE)]
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                self.fail(event, "'<<' merges mappings: write '<<: *name' with a mapping's anchor")
            for key, item in source.items():
                if key not in parent.value:
                    parent.value[key] = item
                    parent.merged.add(key)
                    self.locator.values[(*parent.path, key)] = parent.key_mark

    def _scalar(self, event: Any) -> Any:
        tag = self._tag(event)
        value: str = event.value
        found = control_character(value)
        if found is not None:
            self.fail(
                event,
                f"{found[1]} is not allowed in a text (written as an escape such as \\0 or "
                "\\x1b); delete it",
            )
        plain = not event.style and event.implicit[0]
        if tag is None and not plain:
            return value
        if tag == f"{_CORE}str":
            return value
        if tag in (None, f"{_CORE}null") and value in _NULL:
            return None
        if tag in (None, f"{_CORE}bool") and value in _TRUE | _FALSE:
            return value in _TRUE
        if tag in (None, f"{_CORE}int") and _INT.fullmatch(value):
            return self._number(event, value, int)
        if tag in (None, f"{_CORE}float") and (
            _FLOAT.fullmatch(value) or value.lower() in _SPECIAL_FLOATS
        ):
            special = _SPECIAL_FLOATS.get(value.lower())
            return special if special is not None else self._number(event, value, float)
        if tag is not None:
            self.fail(event, f"{value!r} is not a {tag.removeprefix(_CORE)}")
        return value

    def _number(self, event: Any, text: str, kind: type[int] | type[float]) -> Any:
        if len(text) > self.limits.max_number_digits:
            self.fail(
                event, f"a number with {len(text):,} digits; no value here needs more than a few"
            )
        if kind is int:
            for prefix, base in (("0o", 8), ("0x", 16)):
                if text.startswith(prefix):
                    return int(text[2:], base)
            return int(text)
        return float(text)
