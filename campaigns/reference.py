"""The campaign format reference (docs/campaign-format.md), generated from the models in
``campaigns.definition`` so that it cannot drift from what the validator accepts."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel

from campaigns import definition as d
from campaigns.textrules import LIMITS

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("campaign", d.CampaignSpec),
    ("events.NAME", d.EventSpec),
    ("audiences[]", d.AudienceSpec),
    ("posts[]", d.PostSpec),
    ("posts[].when: {event: ...}", d.AtEvent),
    ("posts[].when: {rrule: ...} or {cron: ...}", d.Recurrence),
    ("posts[].media[]: {file: ..., alt: ...}", d.MediaItem),
    ("posts[].article", d.ArticleSpec),
    ("campaign.utm", d.Utm),
    ("campaign.approval[]", d.ApprovalStep),
]


_SPECIAL_TYPES = {
    "text": "text; or per language `{de: ..., zh: ...}`; each may be per platform "
    "`{default: ..., x: ...}`",
    "when": "local date-time, event form or recurrence form (below)",
}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(names))
        return text + (" (optional)" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}" if args else "mapping"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, BaseModel):
            return annotation.__name__
        return {
            "str": "text",
            "int": "whole number",
            "bool": "true/false",
            "date": "date (2027-03-21)",
            "datetime": 'local date-time ("2027-03-22 10:00")',
            "time": "time (18:00)",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return "empty"
    value = field.default
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def render() -> str:
    lines = [
        "# Campaign file format",
        "",
        "<!-- Generated from campaigns/definition.py by `python -m elshi.docs`; do not edit."
        " A test fails when this file and the models disagree. -->",
        "",
        "A campaign is one YAML file with four blocks: `campaign`, `events`, `audiences` and "
        "`posts`. `elshi campaign validate FILE` checks it and names the line of every problem.",
        "",
    ]
    for title, model in SECTIONS:
        lines += [f"## `{title}`", "", " ".join((model.__doc__ or "").split()), ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(
                f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |"
            )
        lines.append("")
    lines += [
        "## Categories",
        "",
        *[f"- `{c.value}`" for c in d.Category],
        "",
        "## Roles",
        "",
        *[f"- `{r.value}`: {d.ROLE_MEANING[r]}" for r in d.Role],
        "",
        "## Audience groups",
        "",
        *[f"- `{g.value}`" for g in d.AudienceGroup],
        "",
        "## Text limits per platform",
        "",
        "Checked on the final text (with the link and the brand hashtags appended).",
        "",
        "| platform | limit | counted in |",
        "|---|---|---|",
        *[f"| {key} | {limit.maximum} | {limit.unit} |" for key, limit in LIMITS.items()],
        "",
    ]
    return "\n".join(lines)
