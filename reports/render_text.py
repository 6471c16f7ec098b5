"""The report as text: Markdown for e-mail (the executive summary, a summary per audience, the
main tables, data quality, the formulas) and a compact terminal summary (the executive summary,
then one line per audience). Both say SIMULATED at the top when any number comes from the
sandbox, and show a missing value as "n/a", never 0. In Markdown every name and text taken from
the data is escaped, so a campaign or post cannot inject HTML or Markdown into the e-mail.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

from reports.model import (
    NA,
    SIMULATED_NOTICE,
    Card,
    Column,
    Figure,
    Report,
    Table,
    format_amount,
    format_interval,
    format_value,
    is_missing,
)
from reports.summary import summary_text

MARKDOWN_TABLES = (
    "audience_volume",
    "audience_engagement",
    "amec",
    "fixed_age",
    "leaderboard_narrative",
    "ab_tests",
    "follower_growth",
    "data_quality",
)


def _cell_text(row: object, column: Column) -> str:
    get = row.get  # type: ignore[attr-defined]
    value = get(column.key)
    if column.key == "simulated":
        return "SIMULATED" if not is_missing(value) and bool(value) else ""
    text = format_value(value, column.kind)
    if text != NA and column.low and column.high:
        interval = format_interval(get(column.low), get(column.high), column.kind)
        if interval:
            text += f" ({interval})"
    if text != NA and column.median:
        text += f" (median {format_value(get(column.median), column.kind)})"
    return text


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}#|~!])")


def md(text: object) -> str:
    """Text from the data, safe in Markdown: HTML special characters as entities, Markdown's
    own characters backslash-escaped, line breaks as spaces."""
    plain = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    plain = _MARKDOWN_SPECIAL.sub(r"\\\1", plain)
    return " ".join(plain.split())


def markdown_table(table: Table) -> str:
    columns = [c for c in table.columns if c.html]
    lines = [f"### {md(table.title)}", "", f"_{md(table.description)}_", ""]
    if table.frame.empty:
        return "\n".join([*lines, "No rows.", ""])
    lines.append("| " + " | ".join(md(c.header) for c in columns) + " |")
    lines.append(
        "|" + "|".join("---:" if c.kind not in ("text", "url") else "---" for c in columns) + "|"
    )
    for _, row in table.frame.iterrows():
        lines.append("| " + " | ".join(md(_cell_text(row, c)) for c in columns) + " |")
    return "\n".join([*lines, ""])


def _card_lines(card: Card) -> list[str]:
    lines = [
        f"**{md(card.title)}** — {md(card.subtitle)}" + (" — SIMULATED" if card.simulated else "")
    ]
    for fig in card.figures:
        value = format_value(fig.value, fig.kind)
        interval = format_interval(fig.low, fig.high, fig.kind)
        text = f"- {md(fig.label)}: **{md(value)}**"
        if interval:
            text += f" (95% CI {md(interval)})"
        if fig.note:
            text += f" — {md(fig.note)}"
        if fig.trend:
            text += f"; {md(fig.trend)}"
        lines.append(text)
    if card.outcomes:
        lines.append(
            "- Outcomes: "
            + ", ".join(f"{md(m.replace('_', ' '))} {format_amount(v)}" for m, v in card.outcomes)
        )
    return [*lines, ""]


def to_markdown(report: Report) -> str:
    period = report.period_text
    lines = [f"# {md(report.title)}", ""]
    if report.simulated:
        lines += [f"> **{SIMULATED_NOTICE}**", ""]
    lines += [
        f"{md(report.scope)} · period {period} · counters as of {report.as_of:%Y-%m-%d %H:%M} UTC",
        "",
        "## Executive summary",
        "",
    ]
    if report.summary is not None:
        lines += [f"> {md(note)}" for note in report.summary.notes]
        for campaign in report.summary.campaigns:
            lines += ["", f"**{md(campaign.title)}** ({md(campaign.campaign_id)})", ""]
            lines += [f"- {md(sentence)}" for sentence in campaign.sentences]
    lines += ["", "## Summary by audience", ""]
    for card in report.cards:
        lines += _card_lines(card)
    lines += ["## Tables", ""]
    for name in MARKDOWN_TABLES:
        if name in report.tables:
            lines.append(markdown_table(report.tables[name]))
    lines += ["## How these numbers are computed", ""]
    lines += [f"- **{md(m.name)}**: {md(m.formula)}" for m in report.methods]
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _rate(fig: Figure | None) -> str:
    if fig is None:
        return NA
    interval = format_interval(fig.low, fig.high, fig.kind)
    mark = {1: " ▲", -1: " ▼"}.get(fig.trend_sign, "")
    return format_value(fig.value, fig.kind) + (f" [{interval}]" if interval else "") + mark


def terminal_summary(report: Report) -> str:
    """A few lines per audience: volume, reach and the engagement rates with intervals."""
    lines = [report.title, f"{report.scope} · counters as of {report.as_of:%Y-%m-%d %H:%M} UTC"]
    if report.simulated:
        lines.append(f"*** {SIMULATED_NOTICE} ***")
    if report.summary is not None:
        lines.append("")
        for paragraph in summary_text(report.summary).split("\n"):
            lines += textwrap.wrap(paragraph, 100) or [""]
    headers = [
        "Audience",
        "Published",
        "Missed",
        "Failed",
        "Impressions",
        "ER by impr.",
        "ER by foll.",
    ]
    rows: list[list[str]] = []
    volume_frame = report.tables["audience_volume"].frame
    volume = volume_frame.set_index("audience_label") if len(volume_frame) else volume_frame
    for card in report.cards:
        by_label = {f.label: f for f in card.figures}
        reach = by_label.get("Reach (impressions)")
        counts = volume.loc[f"{card.title} · {card.campaign_id}"]

        rows.append(
            [
                f"{card.title} · {card.campaign_id}" + (" (SIMULATED)" if card.simulated else ""),
                format_value(counts["published"], "int"),
                format_value(counts["missed"], "int"),
                format_value(counts["failed"], "int"),
                format_value(reach.value, "int") if reach else NA,
                _rate(by_label.get("Engagement rate by impressions")),
                _rate(by_label.get("Engagement rate by followers at posting")),
            ]
        )
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines.append("")
    lines.append("  ".join(_pad(h, widths[i], i > 0) for i, h in enumerate(headers)))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(_pad(v, widths[i], i > 0) for i, v in enumerate(row)))
    if not rows:
        lines.append("(no deliveries in scope)")
    quality = report.tables.get("data_quality")
    if quality is not None and len(quality.frame):
        issues = quality.frame[
            (quality.frame["count"] > 0) & ~quality.frame["check"].str.startswith("Counters")
        ]
        if len(issues):
            lines.append("")
            lines.append(
                "Data quality: "
                + "; ".join(
                    f"{str(check).lower()}: {count}"
                    for check, count in zip(issues["check"], issues["count"], strict=True)
                )
            )
    lines.append("")
    lines.append("Full report: elshi report --format html --out report.html")
    return "\n".join(lines)
