"""Validating campaign files: every problem, each located as ``FILE:LINE:COL: message``.

`load_campaign` reads one YAML file, validates it into the typed models of
``campaigns.definition``, checks references (audiences, events, narratives, threads, channels in
the configuration, duplicate ids), expands it into deliveries (``campaigns.expansion``: languages,
time zones, DST, text limits, media files) and returns the desired state with all problems found.
Nothing here touches the database. It never raises on bad input: bad input is a list of problems.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from campaigns import definition as model
from campaigns import textrules
from campaigns.definition import CampaignFile
from campaigns.expansion import DesiredCampaign, expand
from campaigns.media import FolderSource, MediaSource
from campaigns.yamlsource import (
    LIMITS,
    Locator,
    Problem,
    YamlError,
    lookalike_in,
    lookalike_key,
    parse_yaml,
    read_text,
)

_EVENTS: TypeAdapter[Any] = TypeAdapter(cast(Any, CampaignFile.model_fields["events"].annotation))


@dataclass
class Loaded:
    path: Path
    desired: DesiredCampaign | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def ok(self) -> bool:
        return self.desired is not None and not self.errors


@functools.cache
def _vocabulary() -> dict[str, set[str]]:
    """Field names (and aliases) of every model, for "did you mean" on unknown keys."""
    words: dict[str, set[str]] = {}
    for obj in vars(model).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            names = set(obj.model_fields)
            names |= {f.alias for f in obj.model_fields.values() if f.alias}
            words[obj.__name__] = names
    return words


_PATTERN_HELP = {
    model.ID_PATTERN: "an id: lower-case letters, digits, '-' and '_', starting with a letter or "
    "digit (e.g. 'abai-day')",
    r"^[A-Z]{2}$": "a two-letter country code in capitals, e.g. DE or CN",
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$": "a language code such as de, zh, kk, en",
}


_EXPECTED = {
    "string_type": "text",
    "list_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping (lines of 'key: value')",
    "model_type": "a mapping (lines of 'key: value')",
    "model_attributes_type": "a mapping (lines of 'key: value')",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
}


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    return repr(_clip(str(value)))


def _is_tag(step: object) -> bool:
    """Discriminated-union tags (``when:at``), pydantic's own steps (``function-after[...]``)
    and the members of a union (``constrained-str``, ``MediaItem``) appear in error paths but
    are not YAML keys."""
    return isinstance(step, str) and (":" in step or "[" in step or _member_kind(step) is not None)


_SCALAR_MEMBERS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "constrained-str": (str,),
    "bool": (bool,),
    "int": (int,),
    "constrained-int": (int,),
    "float": (int, float),
}
_MEMBER_WORDS = {
    str: "text",
    bool: "true or false",
    int: "a number",
    list: "a list",
    dict: "a mapping",
}


def _member_kind(label: str) -> tuple[type, ...] | None:
    """The Python types a union member accepts, from its label in an error path."""
    if label in _SCALAR_MEMBERS:
        return _SCALAR_MEMBERS[label]
    if label.startswith("list["):
        return (list,)
    if label.startswith("dict[") or label in _vocabulary():
        return (dict,)
    return None


def _member_at(loc: tuple[Any, ...]) -> int | None:
    return next(
        (i for i, step in enumerate(loc) if isinstance(step, str) and _member_kind(step)), None
    )


def _union_errors(errors: list[Any]) -> list[Any]:
    """A value that fits no member of a union gets an error from every member (``media: [5]``:
    "expected text" and "expected a mapping"). Keep those of the member the written value's
    type belongs to (a mapping: the mapping's own problems); when none fits, one error saying
    what the place takes."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    out: list[Any] = []
    for error in errors:
        at = _member_at(tuple(error["loc"]))
        if at is None:
            out.append(error)
        else:
            groups.setdefault(tuple(error["loc"])[:at], []).append(error)
    for prefix, members in groups.items():
        labels = list(dict.fromkeys(e["loc"][len(prefix)] for e in members))
        raw = next((e.get("input") for e in members if len(e["loc"]) == len(prefix) + 1), _NOTHING)
        if raw is _NOTHING or len(labels) < 2:
            out.extend(members)
            continue

        def fits(label: str, value: Any = raw) -> bool:
            kinds = _member_kind(label) or ()
            if isinstance(value, bool):
                return bool in kinds
            return isinstance(value, kinds)

        chosen = [label for label in labels if fits(label)]
        if chosen:
            out.extend(e for e in members if e["loc"][len(prefix)] in chosen)
            continue
        words = list(
            dict.fromkeys(
                _MEMBER_WORDS.get(kind, kind.__name__)
                for label in labels
                for kind in (_member_kind(label) or ())[:1]
            )
        )
        out.append(
            {
                "type": "union_mismatch",
                "loc": prefix,
                "input": raw,
                "msg": f"expected {' or '.join(words)}, found {_describe(raw)}",
            }
        )
    return out


_NOTHING = object()


def _message(error: Mapping[str, Any], candidates: Iterable[str] = ()) -> str:
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    shown = repr(_clip(value)) if isinstance(value, str) else repr(value)
    field_name = next((p for p in reversed(loc) if isinstance(p, str) and not _is_tag(p)), "value")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), list(candidates), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {loc[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        note = lookalike_in(value) if isinstance(value, str) else None
        said = f"{field_name}: {shown} is not {_PATTERN_HELP.get(pattern, 'valid: ' + pattern)}"
        return said + (f"; {note}" if note else "")
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{field_name}: {shown} is not one of {expected}"
    expected = _EXPECTED.get(kind)
    if expected:
        note = lookalike_key(value) if isinstance(value, str) and "mapping" in expected else None
        return f"{field_name}: expected {expected}, found {_describe(value)}" + (
            f"; {note}" if note else ""
        )
    text = str(error["msg"]).removeprefix("Value error, ")
    reason = error.get("ctx", {}).get("error")
    why = f" ({reason})" if isinstance(reason, str) and "range" in reason else ""
    if kind in ("datetime_from_date_parsing", "datetime_parsing", "datetime_type"):
        text = f'{shown} is not a date-time{why}; write e.g. "2027-03-22 10:00"'
    elif kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        text = f"{shown} is not a date{why}; write e.g. 2027-03-22"
    elif kind in ("time_parsing", "time_type"):
        text = f'{shown} is not a time of day; write e.g. "18:00"'
    elif kind in ("too_short", "too_long"):
        ctx = error.get("ctx", {})
        if kind == "too_short":
            least = ctx.get("min_length", 1)
            text = f"needs at least {least} item{'s' if least != 1 else ''}, found none"
            if ctx.get("actual_length"):
                text = f"needs at least {least} items, found {ctx['actual_length']}"
        else:
            text = f"has {ctx.get('actual_length', '?')} items; at most {ctx.get('max_length')}"
    elif kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        ctx = error.get("ctx", {})
        bound = next(iter(ctx.values()), "?")
        words = {
            "less_than_equal": "at most",
            "less_than": "less than",
            "greater_than_equal": "at least",
            "greater_than": "more than",
        }[kind]
        text = f"{shown} is too {'large' if kind.startswith('less') else 'small'}: {words} {bound}"
    elif kind == "string_too_long":
        text = f"{len(value) if isinstance(value, str) else '?':,} characters is too long"
        text += f" (at most {error.get('ctx', {}).get('max_length', '?')})"
    return text if text.startswith(f"{field_name} ") else f"{field_name}: {text}"


_SECTIONS: dict[tuple[str | int, ...], tuple[str, ...]] = {
    (): ("CampaignFile",),
    ("campaign",): ("CampaignSpec",),
    ("campaign", "utm"): ("Utm",),
    ("events", "*"): ("EventSpec",),
    ("audiences", "*"): ("AudienceSpec",),
    ("posts", "*"): ("PostSpec",),
    ("posts", "*", "when"): ("AtEvent", "Recurrence"),
}


def _keys_at(path: Sequence[str | int]) -> set[str]:
    """The keys allowed in the mapping at ``path`` (for "did you mean"); all keys of the format
    when the place is not one of its mappings."""
    vocab = _vocabulary()
    shape = tuple(
        "*" if (i == 1 and path[0] in ("events", "audiences", "posts")) else step
        for i, step in enumerate(path)
    )
    models = _SECTIONS.get(shape)
    if models is None:
        return set().union(*vocab.values())
    return set().union(*(vocab[name] for name in models))


def _model_problems(
    locator: Locator, exc: ValidationError, *, reported: set[tuple[str | int, ...]]
) -> list[Problem]:
    """One problem per (place, kind); places in ``reported`` already have a clearer message."""
    problems: dict[tuple[Any, ...], Problem] = {}
    for error in _union_errors(list(exc.errors())):
        loc = tuple(error["loc"])
        path = tuple(p for p in loc if not _is_tag(p))
        is_key = error["type"] == "extra_forbidden"
        key = (path, error["type"])
        if key in problems or any(path[: len(r)] == r for r in reported):
            continue
        words = _keys_at(path[:-1]) if is_key else set()
        problems[key] = locator.problem(path, _message(error, words), key=is_key)
    return sorted(problems.values())


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}\s*$")


def _shape_problems(
    data: Mapping[str, Any], locator: Locator
) -> list[tuple[tuple[str | int, ...], Problem]]:
    """Values the models would coerce into something the writer did not mean: a number read as
    seconds since 1970 (``when: 12``, ``time: 1080``), a date without a time of day read as
    midnight. Checked on the raw document, before the models see it."""
    out: list[tuple[tuple[str | int, ...], Problem]] = []
    example = 'e.g. "2027-03-22 10:00"'

    def number(value: Any) -> bool:
        return isinstance(value, bool | int | float)

    def not_a(path: tuple[str | int, ...], what: str, hint: str) -> None:
        value = _get(data, path)
        if number(value):
            message = f"{path[-1]}: {value!r} is not {what}; write {hint}"
            out.append((path, locator.problem(path, message)))

    not_a(("campaign", "starts"), "a date", "e.g. 2027-03-01")
    not_a(("campaign", "ends"), "a date", "e.g. 2027-11-30")
    events = data.get("events")
    for name, event in events.items() if isinstance(events, dict) else []:
        if isinstance(event, dict):
            not_a(("events", name, "date"), "a date", "e.g. 2027-03-21")
            not_a(("events", name, "time"), "a time of day", 'e.g. "18:00" (in quotes)')
        else:
            not_a(("events", name), "a date", "e.g. 2027-03-21")
    for i, post in _items(data, "posts"):
        when = post.get("when")
        where: tuple[str | int, ...] = ("posts", i, "when")
        if isinstance(when, dict):
            not_a((*where, "from"), "a date", "e.g. 2027-03-01")
            not_a((*where, "until"), "a date", "e.g. 2027-11-30")
        elif number(when):
            message = f"when: {when!r} is not a date-time; write {example}"
            out.append((where, locator.problem(where, message)))
        elif (isinstance(when, date) and not isinstance(when, datetime)) or (
            isinstance(when, str) and _DATE_ONLY.match(when)
        ):
            day = str(when).strip()
            message = f'when: {day} has no time of day; write e.g. "{day} 10:00" (in quotes)'
            out.append((where, locator.problem(where, message)))
    return out


def _get(data: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        else:
            return None
    return data


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _items(data: Mapping[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _strings(value: Any) -> list[tuple[int, str]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )


def _reference_problems(
    data: Mapping[str, Any],
    locator: Locator,
    channels: Mapping[str, str] | None,
    unsure: set[str],
) -> list[Problem]:
    """Cross-references, checked on the raw document so that an invalid item elsewhere does not
    hide (or fake) a broken reference. The ids of posts with a broken reference are added to
    ``unsure`` (their threads are then not checked: that would only repeat the problem)."""
    out: list[Problem] = []

    def ids(section: str) -> dict[str, int]:
        first: dict[str, int] = {}
        for i, item in _items(data, section):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in first:
                if section == "posts":
                    unsure.add(ident)
                line = locator.position((section, first[ident], "id"))[0]
                out.append(
                    locator.problem(
                        (section, i, "id"),
                        f"duplicate {section[:-1]} id {ident!r} (first at line {line})",
                    )
                )
            first.setdefault(ident, i)
        return first

    audiences = ids("audiences")
    out.extend(_same_names(data, locator))
    posts = ids("posts")
    campaign = data.get("campaign") if isinstance(data.get("campaign"), dict) else {}
    assert isinstance(campaign, dict)
    declared = campaign.get("narratives")
    main = campaign.get("narrative")
    narratives: set[object] = (
        set(declared)
        if isinstance(declared, dict) and declared
        else {main if isinstance(main, str) else None}
    )
    if isinstance(declared, dict) and declared and isinstance(main, str) and main not in declared:
        out.append(
            locator.problem(
                ("campaign", "narrative"),
                f"narrative {main!r} is not among "
                f"the campaign's narratives ({', '.join(sorted(declared))})",
            )
        )
    events = data.get("events") if isinstance(data.get("events"), dict) else {}
    assert isinstance(events, dict)
    reach: dict[str, set[str]] = {}
    for i, audience in _items(data, "audiences"):
        for j, channel in _strings(audience.get("channels")):
            reach.setdefault(str(audience.get("id")), set()).add(channel)
            if channels is not None and channel not in channels:
                out.append(
                    locator.problem(
                        ("audiences", i, "channels", j),
                        f"channel {channel!r} is not in the configuration"
                        f"{_suggest(channel, channels)}; add [channels.{channel}] to elshi.toml",
                    )
                )
    parents = {
        item["id"]: item.get("reply_to")
        for _, item in _items(data, "posts")
        if isinstance(item.get("id"), str)
    }
    for i, post in _items(data, "posts"):
        before = len(out)
        targeted = _strings(post.get("audiences"))
        for j, name in targeted:
            if name not in audiences:
                out.append(
                    locator.problem(
                        ("posts", i, "audiences", j),
                        f"unknown audience {name!r}{_suggest(name, audiences)}",
                    )
                )
        narrative = post.get("narrative")
        if isinstance(narrative, str) and None not in narratives and narrative not in narratives:
            out.append(
                locator.problem(
                    ("posts", i, "narrative"),
                    f"unknown narrative {narrative!r}{_suggest(narrative, map(str, narratives))}",
                )
            )
        when = post.get("when")
        event = when.get("event") if isinstance(when, dict) else None
        if isinstance(event, str) and event not in events:
            out.append(
                locator.problem(
                    ("posts", i, "when", "event"),
                    f"unknown event {event!r}{_suggest(event, events)}; define it under 'events:'",
                )
            )
        parent = post.get("reply_to")
        if isinstance(parent, str):
            if parent == post.get("id"):
                out.append(
                    locator.problem(("posts", i, "reply_to"), "a post cannot reply to itself")
                )
            elif parent not in posts:
                out.append(
                    locator.problem(
                        ("posts", i, "reply_to"),
                        f"unknown post {parent!r}{_suggest(parent, posts)}",
                    )
                )
            elif _cycle(parents, str(post.get("id"))):
                out.append(locator.problem(("posts", i, "reply_to"), "replies form a loop"))
        reachable = {c for _, a in targeted for c in reach.get(a, set())}
        for j, channel in _strings(post.get("channels")):
            if channel not in reachable:
                out.append(
                    locator.problem(
                        ("posts", i, "channels", j),
                        f"channel {channel!r} reaches none of the post's audiences",
                    )
                )
        if len(out) > before:
            unsure.add(str(post.get("id")))
    return out


def _text_problems(data: Mapping[str, Any], locator: Locator) -> list[Problem]:
    """The invisible characters of the posts' texts and alt texts that change how a text reads
    (`textrules.hidden_characters`: refused, or a warning), each at its text and character,
    and a byte-order mark (U+FEFF) inside a text: shown as nothing, counted by every platform
    (a spreadsheet cell's leading one is dropped by the import)."""
    out: list[Problem] = []
    for i, post in _items(data, "posts"):
        texts = _texts(post.get("text"), ("posts", i, "text"))
        media = post.get("media")
        for j, item in enumerate(media if isinstance(media, list) else []):
            if isinstance(item, dict):  # an image's description is read (by screen readers) too
                texts += _texts(item.get("alt"), ("posts", i, "media", j, "alt"))
        for path, text in texts:
            for hidden in textrules.hidden_characters(text):
                severity = "error" if hidden.refused else "warning"
                out.append(locator.problem(path, hidden.message, severity=severity))
            at = text.find("\ufeff")
            if at >= 0:
                out.append(
                    locator.problem(
                        path,
                        f"U+FEFF (a byte-order mark, an invisible zero-width no-break space) at "
                        f"character {at + 1}: it is not shown but the platforms count it; "
                        "delete it",
                        severity="warning",
                    )
                )
    return out


def _texts(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """The texts of a post's ``text`` (one text, per language, per language and platform) with
    their paths."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            if isinstance(key, str)
            for found in _texts(item, (*path, key))
        ]
    return []


def name_key(name: str) -> str:
    """What makes two names the same name to a reader: compared after NFKC (full-width and
    compatibility forms as their plain ones), case folding and collapsing white space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _same_names(data: Mapping[str, Any], locator: Locator) -> list[Problem]:
    """Two audiences of one campaign with the same name (`name_key`): every table of a report
    and every page names an audience by its name, so two of one name read as one."""
    out: list[Problem] = []
    first: dict[str, int] = {}
    items = dict(_items(data, "audiences"))
    for i, audience in items.items():
        name = audience.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        key = name_key(name)
        if key not in first:
            first[key] = i
            continue
        other = items[first[key]]
        line = locator.position(("audiences", first[key], "name"))[0]
        same = "" if other.get("name") == name else f" (written {other.get('name')!r} there)"
        out.append(
            locator.problem(
                ("audiences", i, "name"),
                f"audience name {name!r} is already the name of audience {other.get('id')!r} "
                f"at line {line}{same}; give each audience its own name (names are compared "
                "ignoring case, spacing and full-width forms)",
            )
        )
    return out


def _cycle(parents: Mapping[str, Any], start: str) -> bool:
    """Whether following replies from ``start`` comes back to ``start``: a post that only leads
    into a loop (or to a post replying to itself) is not in it, and that loop is reported at
    its own posts."""
    seen = {start}
    current = parents.get(start)
    while isinstance(current, str):
        if current == start:
            return True
        if current in seen:
            return False
        seen.add(current)
        current = parents.get(current)
    return False


class _Remapped(Locator):
    """A locator for a document from which invalid posts or audiences were dropped: paths into
    the kept lists are mapped back to the items' places in the file."""

    def __init__(self, base: Locator, origins: Mapping[str, list[int]]):
        super().__init__(base.file, base.keys, base.values)
        self._origins = origins

    def original(self, path: Sequence[str | int]) -> tuple[str | int, ...]:
        path = tuple(path)
        if len(path) >= 2 and path[0] in self._origins and isinstance(path[1], int):
            path = (path[0], self._origins[str(path[0])][path[1]], *path[2:])
        return path


_STAND_INS: dict[type[BaseModel], dict[str, Any]] = {
    model.CampaignSpec: {
        "id": "invalid",
        "title": "invalid",
        "country": "XX",
        "narrative": "x",
        "starts": "2000-01-01",
        "ends": "2199-12-31",
    },
    model.AudienceSpec: {"name": "invalid", "group": "other"},
    model.PostSpec: {"category": "media_pr"},
}
"""Valid stand-ins for fields that no later check depends on, so that one bad value (already
reported) does not hide the timing and text problems of the rest of the item."""


def _lenient(cls: type[BaseModel], item: Any) -> tuple[Any, set[str]]:
    """``item`` validated as ``cls`` without its unknown keys, its invalid optional fields and
    its invalid stand-in fields (all reported already), with the names of the fields that were
    stood in for; None when it is invalid otherwise."""
    try:
        return cls.model_validate(item), set()
    except ValidationError as exc:
        failures = exc.errors()
    if not isinstance(item, dict):
        return None, set()
    trimmed = copy.deepcopy(item)
    stand_ins = _STAND_INS.get(cls, {})
    stood: set[str] = set()
    for error in failures:
        path = [step for step in error["loc"] if not _is_tag(step)]
        if not path:
            return None, set()
        name = path[0]
        holder = _get(trimmed, path[:-1])
        if error["type"] == "extra_forbidden" and isinstance(holder, dict):
            holder.pop(path[-1], None)
        elif name in stand_ins:
            trimmed[name] = stand_ins[str(name)]
            stood.add(str(name))
        elif isinstance(name, str) and name in cls.model_fields:
            if cls.model_fields[name].is_required():
                return None, set()
            trimmed.pop(name, None)
        else:
            return None, set()
    try:
        return cls.model_validate(trimmed), stood
    except ValidationError:
        return None, set()


_WINDOW = ("starts", "ends")


def _salvage(
    data: dict[str, Any], locator: Locator, bad: set[tuple[str | int, ...]]
) -> tuple[CampaignFile, Locator, bool, bool]:
    """The valid parts of an invalid document, so that reference and timing checks can still
    report their problems in the same run; the flags say whether the campaign block is valid
    (without it, timing and text checks cannot run) and whether its dates are (without them,
    times are not held against the campaign's dates). Items under a path in ``bad`` are left
    out (their values would be misread)."""

    def spoilt(*path: str | int) -> bool:
        return any(b[: len(path)] == path for b in bad)

    raw = data.get("campaign")
    bad_dates = {str(b[1]) for b in bad if len(b) == 2 and b[0] == "campaign" and b[1] in _WINDOW}
    campaign: Any = None
    stood: set[str] = set()
    if isinstance(raw, dict) and not any(
        b[:1] == ("campaign",) and (len(b) == 1 or b[1] not in _WINDOW) for b in bad
    ):
        raw = {**raw, **{k: _STAND_INS[model.CampaignSpec][k] for k in bad_dates}}
        campaign, stood = _lenient(model.CampaignSpec, raw)
    kept: dict[str, list[Any]] = {"audiences": [], "posts": []}
    origins: dict[str, list[int]] = {"audiences": [], "posts": []}
    for section, cls in (("audiences", model.AudienceSpec), ("posts", model.PostSpec)):
        items = data.get(section)
        for index, item in enumerate(items if isinstance(items, list) else []):
            valid = None if spoilt(section, index) else _lenient(cls, item)[0]
            if valid is not None:
                kept[section].append(valid)
                origins[section].append(index)
    events: dict[str, Any] = {}
    raw_events = data.get("events")
    for key, value in raw_events.items() if isinstance(raw_events, dict) else []:
        if spoilt("events", key):
            continue
        try:
            events.update(_EVENTS.validate_python({key: value}))
        except ValidationError:
            continue
    doc = CampaignFile.model_construct(
        campaign=cast(model.CampaignSpec, campaign),
        events=events,
        audiences=kept["audiences"],
        posts=kept["posts"],
    )
    window_known = not (bad_dates | (stood & set(_WINDOW)))
    return doc, _Remapped(locator, origins), campaign is not None, window_known


def _model_unsure(data: Mapping[str, Any], exc: ValidationError) -> set[str]:
    """Ids of the posts with a problem in their values (their threads are not checked)."""
    out = set()
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "posts" and isinstance(loc[1], int):
            post = _get(data, loc[:2])
            if isinstance(post, dict) and isinstance(post.get("id"), str):
                out.add(post["id"])
    return out


_NOT_A_CAMPAIGN = "a campaign file is a mapping with 'campaign', 'audiences' and 'posts'"


def load_campaign(
    path: Path,
    *,
    channels: Mapping[str, str] | None,
    now: datetime | None = None,
    label: str | None = None,
    text: str | None = None,
    media: MediaSource | None = None,
    channel_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Loaded:
    """Validate one campaign file; see the module docstring. ``channels`` maps the configured
    channel names to platforms (None when there is no configuration: names are not checked).
    ``text`` is the file's content when it was read already (``path`` then only names it and
    the folder its media are in). ``media`` resolves the media paths; by default they must be
    files inside the campaign file's folder."""
    name = label or str(path)
    try:
        if text is None:
            text = read_text(path, name, max_bytes=LIMITS.max_bytes)
        data, locator = parse_yaml(text, name)
    except YamlError as exc:
        return Loaded(path, None, [exc.problem])
    if not isinstance(data, dict):
        return Loaded(path, None, [Problem(name, 1, 1, _NOT_A_CAMPAIGN)])
    notes = list(locator.notes)
    shapes = _shape_problems(data, locator)
    problems = [problem for _, problem in shapes]
    bad = {path for path, _ in shapes}
    unsure: set[str] = set()
    window_known = True
    try:
        doc = CampaignFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_model_problems(locator, exc, reported=bad))
        unsure |= _model_unsure(data, exc)
    problems.extend(_reference_problems(data, locator, channels, unsure))
    for problem in _text_problems(data, locator):
        (problems if problem.is_error else notes).append(problem)
    if problems:
        doc, locator, campaign_ok, window_known = _salvage(data, locator, bad)
        if not campaign_ok:
            return Loaded(path, None, sorted(set(problems) | set(notes)))
    spec = doc.campaign
    if window_known and spec.ends < spec.starts:
        problems.append(
            locator.problem(
                ("campaign", "ends"),
                f"ends: {spec.ends} is before the campaign starts ({spec.starts}); "
                "write the last day of the campaign",
            )
        )
        window_known = False
    if channels is None:
        problems.append(
            Problem(
                name,
                0,
                0,
                "no elshi.toml found: channel names and platform "
                "text limits were not checked (run 'elshi init')",
                "warning",
            )
        )

    def report(where: Sequence[str | int], message: str) -> None:
        problems.append(locator.problem(where, message))

    def warn(where: Sequence[str | int], message: str) -> None:
        problems.append(locator.problem(where, message, severity="warning"))

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    desired = expand(
        doc,
        source=str(path),
        media=media if media is not None else FolderSource(path.parent),
        channels=channels,
        report=report,
        warn=warn,
        definition_hash=digest,
        unsure=frozenset(unsure),
        window_known=window_known,
        channel_options=channel_options,
    )
    if now is not None:
        for post in desired.posts:
            past = [d for d in post.deliveries if d.due_at < now]
            if past:
                index = next(j for j, p in enumerate(doc.posts) if p.id == post.key)
                warn(
                    ("posts", index, "when"),
                    f"{len(past)} of its deliveries are due in the "
                    f"past (first {past[0].local_label} {past[0].timezone}); applied now they "
                    "would be marked missed",
                )
    problems = sorted(set(problems) | set(notes))
    return Loaded(path, None if any(p.is_error for p in problems) else desired, problems)


def load_campaigns(
    paths: Sequence[Path],
    *,
    channels: Mapping[str, str] | None,
    now: datetime | None = None,
    media_dir: Path | None = None,
    channel_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Loaded]:
    """`load_campaign` for each file; ``media_dir``: the configured media folder (media paths
    are then inside it, not inside each campaign file's folder); ``channel_options``: the
    channels' options from the configuration (rules that depend on the account, such as
    Weibo's safe domain)."""
    loaded = [
        load_campaign(
            p,
            channels=channels,
            now=now,
            media=FolderSource(media_dir, what="the media folder") if media_dir else None,
            channel_options=channel_options,
        )
        for p in paths
    ]
    ids: dict[str, Path] = {}
    for item in loaded:
        if item.desired is None:
            continue
        cid = item.desired.spec.id
        if cid in ids:
            same = _same_file(item.path, ids[cid])
            said = (
                f"the same file is given twice (also as {ids[cid]}); name it once"
                if same
                else f"campaign id {cid!r} is also used by {ids[cid]}"
            )
            item.problems.append(Problem(str(item.path), 0, 0, said))
        ids.setdefault(cid, item.path)
    return loaded


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
