"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network) that
reads well on a laptop and prints cleanly. Order: the executive summary, a card per audience, charts
(engagement rate by audience with intervals, trends, best-hours heat maps, top and bottom
posts), the tables, data quality, then "How these numbers are computed". Simulated data carries
a SIMULATED badge on screen and on every printed page. Formats what `reports.model` holds;
computes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd

from reports import charts
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
    safe_url,
)
from reports.summary import summary_html

TEXT_LIMIT = 90
"""Longer texts (a post) are cut in the table; the link's tooltip has them whole."""
NUMERIC = {"int", "float", "pct", "pp", "hours", "index", "p"}
TABLE_ORDER = (
    "campaigns",
    "audience_volume",
    "audience_engagement",
    "audience_interactions",
    "fixed_age",
    "leaderboard_narrative",
    "leaderboard_variant",
    "ab_tests",
    "by_narrative",
    "by_category",
    "by_platform",
    "by_variant",
    "half_life",
    "follower_growth",
    "outcomes",
)

CSS = """
:root { --ink:#1d2733; --muted:#5b6b7b; --line:#e3e8ee; --panel:#f6f8fa; --accent:#1b7fa6;
  --gold:#d9a31a; --up:#2e7d4f; --down:#b5473a; --sim:#b5473a; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45; font-family: FONTS; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 28px 60px; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 8px; }
h1 { font-size: 1.75rem; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 1.3rem; margin: 38px 0 6px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02rem; margin: 22px 0 4px; }
p.lead, .meta { color: var(--muted); margin: 2px 0; font-size: .92rem; }
.badge-sim { display: inline-block; background: var(--sim); color: #fff; font-weight: 700;
  letter-spacing: .08em; border-radius: 4px; padding: 3px 10px; font-size: .8rem; margin-left: 10px;
  vertical-align: middle; }
.sim-banner { background: #fbecea; border: 1px solid #e6b8b1; color: #7a2a20; border-radius: 6px;
  padding: 8px 14px; margin: 12px 0; font-size: .92rem; }
.sim-print { display: none; }
nav.toc { font-size: .86rem; color: var(--muted); margin: 10px 0 0; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(350px, 1fr)); gap: 16px;
  margin-top: 14px; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px 10px; background: #fff;
  break-inside: avoid; box-shadow: 0 1px 2px rgba(29,39,51,.04); }
.card h3 { margin: 0; font-size: 1.08rem; }
.card .sub { color: var(--muted); font-size: .8rem; margin: 2px 0 10px; }
.fig { display: grid; grid-template-columns: 1fr auto; align-items: center; gap: 2px 10px;
  padding: 7px 0; border-top: 1px solid var(--line); }
.fig .label { font-size: .78rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.fig .value { font-size: 1.45rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.fig .ci { font-size: .78rem; color: var(--muted); }
.fig .note { font-size: .78rem; color: var(--muted); }
.fig .trend { font-size: .8rem; }
.trend.up { color: var(--up); } .trend.down { color: var(--down); } .trend.flat { color: var(--muted); }
.outcomes { font-size: .82rem; border-top: 1px solid var(--line); padding-top: 6px; margin-top: 2px; }
.outcomes b { color: var(--gold); font-weight: 650; }
.exec-summary h3 { margin: 14px 0 2px; } .exec-summary h3 small { color: var(--muted);
  font-weight: 400; }
.exec-summary ul { margin: 4px 0 6px; padding-left: 20px; max-width: 980px; }
.exec-summary li { margin: 3px 0; } .exec-summary p.note { background: var(--panel);
  border-left: 3px solid var(--gold); padding: 8px 12px; max-width: 980px; }
.chart-row { display: flex; flex-wrap: wrap; gap: 18px 28px; }
figure { margin: 10px 0 4px; break-inside: avoid; }
figcaption { font-size: .82rem; color: var(--muted); margin-top: 2px; max-width: 760px; }
svg { max-width: 100%; height: auto; font-family: inherit; }
table { border-collapse: collapse; width: 100%; font-size: .82rem; margin: 8px 0 4px;
  font-variant-numeric: tabular-nums; }
th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line);
  padding: 6px 8px; vertical-align: bottom; font-size: .76rem; }
td { border-bottom: 1px solid var(--line); padding: 5px 7px; vertical-align: top; }
tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
th.num { white-space: normal; }
td.key { min-width: 13em; font-weight: 550; }
tr.group td { border-top: 2px solid #cfd6de; }
td .ci, td .med { color: var(--muted); font-size: .74rem; display: block; }
.na { color: #97a3ae; font-style: italic; }
.tag-sim { color: var(--sim); font-weight: 700; font-size: .72rem; }
.desc { font-size: .84rem; color: var(--muted); margin: 2px 0 4px; max-width: 900px; }
.table-wrap { overflow-x: auto; }
a { color: var(--accent); }
dl.methods dt { font-weight: 650; margin-top: 12px; }
dl.methods dd { margin: 2px 0 0 0; }
dl.methods code { background: var(--panel); padding: 2px 6px; border-radius: 4px; font-size: .86rem;
  display: inline-block; }
dl.methods .why { color: var(--muted); font-size: .86rem; }
footer { margin-top: 40px; color: var(--muted); font-size: .8rem; border-top: 1px solid var(--line);
  padding-top: 10px; }
@media print {
  html { font-size: 12px; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; }
  .card, figure, tr { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  .sim-print { display: block; position: fixed; top: 0; right: 0; background: var(--sim); color: #fff;
    font-weight: 700; padding: 2px 8px; font-size: 9px; letter-spacing: .08em; }
  a { color: inherit; text-decoration: none; }
  tr:nth-child(even) td { background: none; }
}
@page { size: A4 landscape; margin: 12mm; }
"""


CSS = CSS.replace("FONTS", charts.FONT_STACK.replace("'", '"'))


def render(report: Report) -> str:
    period = report.period_text
    sim = report.simulated
    badge = '<span class="badge-sim">SIMULATED</span>' if sim else ""
    banner = f'<div class="sim-banner">{escape(SIMULATED_NOTICE)}</div>' if sim else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}{' (SIMULATED)' if sim else ''}</title>",
        f"<style>{CSS}</style></head><body>",
        '<div class="sim-print">SIMULATED</div>' if sim else "",
        "<main>",
        '<header class="top">',
        f"<h1>{escape(report.title)}{badge}</h1>",
        f'<p class="meta">{escape(report.scope)} · period {escape(period)} · counters as of '
        f"{report.as_of:%Y-%m-%d %H:%M} UTC · generated {report.generated_at:%Y-%m-%d %H:%M} "
        f"UTC</p>",
        '<nav class="toc"><a href="#executive">Summary</a><a href="#summary">Audiences</a>'
        '<a href="#charts">Charts</a>'
        '<a href="#posts">Top and bottom posts</a><a href="#tables">Tables</a>'
        '<a href="#quality">Data quality</a><a href="#methods">How these numbers are computed</a>'
        "</nav></header>",
        banner,
        '<section id="executive"><h2>Executive summary</h2>',
        '<p class="desc">Which audiences, narratives and message variants did measurably better '
        "or worse than their campaign as a whole, compared at 7 days after publication and only "
        "within one rate basis. 95% intervals in brackets.</p>",
        summary_html(report.summary) if report.summary else "",
        "</section>",
        '<section id="summary"><h2>Summary by audience</h2>',
        '<p class="desc">Posts published in the period, counters as of the report time. '
        "Intervals are 95% intervals over messages (Fieller); a trend is called only when it "
        "is beyond noise.</p>",
        '<div class="cards">',
        *(_card(card) for card in report.cards),
        "</div>"
        if report.cards
        else '<p class="na">No audience has deliveries in scope.</p></div>',
        "</section>",
        _charts(report),
        _posts_section(report),
        '<section id="tables"><h2>Tables</h2>',
        *(
            _table(report.tables[n])
            for n in TABLE_ORDER
            if n in report.tables and report.tables[n].html
        ),
        "</section>",
        '<section id="quality"><h2>Data quality</h2>',
        _table(report.tables["data_quality"], heading=False),
        _table(report.tables["platform_counters"]),
        "</section>",
        _methods(report),
        f"<footer>Elshi · intervals are deterministic; permutation tests seeded with "
        f"{report.seed} · "
        f"{'SIMULATED data · ' if sim else ''}all times UTC unless marked local.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _card(card: Card) -> str:
    figures = "".join(_figure(f, card) for f in card.figures)
    outcomes = (
        '<div class="outcomes">Outcomes: '
        + " · ".join(
            f"{escape(m.replace('_', ' '))} <b>{format_amount(v)}</b>" for m, v in card.outcomes
        )
        + "</div>"
        if card.outcomes
        else ""
    )
    sim = ' <span class="tag-sim">SIMULATED</span>' if card.simulated else ""
    return (
        f'<article class="card"><h3>{escape(card.title)}{sim}</h3>'
        f'<div class="sub">{escape(card.subtitle)}</div>{figures}{outcomes}</article>'
    )


def _figure(fig: Figure, card: Card) -> str:
    value = format_value(fig.value, fig.kind)
    value_html = f'<span class="na">{NA}</span>' if value == NA else escape(value)
    interval = format_interval(fig.low, fig.high, fig.kind)
    ci = f'<div class="ci">95% CI {escape(interval)}</div>' if interval else ""
    trend_class = {1: "up", -1: "down"}.get(fig.trend_sign, "flat")
    trend = f'<div class="trend {trend_class}">{escape(fig.trend)}</div>' if fig.trend else ""
    spark = charts.sparkline(fig.series, f"{fig.label}, weekly at 7 d: {card.title}")
    return (
        f'<div class="fig"><div><div class="label">{escape(fig.label)}</div>'
        f'<div class="value">{value_html}</div>{ci}'
        f'<div class="note">{escape(fig.note)}</div>{trend}</div><div>{spark}</div></div>'
    )


def _charts(report: Report) -> str:
    engagement = report.tables["audience_engagement"].frame
    parts = ['<section id="charts"><h2>Charts</h2>']
    for prefix, label in (("er_impr", "by impressions"), ("er_foll", "by followers at posting")):
        if engagement.empty or engagement[f"{prefix}_posts"].sum() == 0:
            continue
        rows = engagement[engagement[f"{prefix}_posts"] > 0].sort_values(prefix, ascending=False)
        items = [
            charts.Interval(
                f"{r['audience_label']} (n={int(r[f'{prefix}_posts'])})",
                _f(r[prefix]),
                _f(r[f"{prefix}_low"]),
                _f(r[f"{prefix}_high"]),
            )
            for r in _records(rows)
        ]
        parts.append(
            f"<figure>{charts.interval_chart(items, f'Engagement rate {label} per audience')}"
            f"<figcaption>Engagement rate {escape(label)} per audience: ratio of sums (dot) with "
            "its 95% interval over messages (bar; none with fewer than 5 messages)."
            "</figcaption></figure>"
        )
    weekly = report.tables["trend_weekly"].frame
    if len(weekly):
        panels = []
        for audience, rows in weekly.groupby("audience_label", sort=True):
            prefix = "er_impr_7d" if rows["er_impr_7d_posts"].sum() else "er_foll_7d"
            basis = "by impressions" if prefix == "er_impr_7d" else "by followers"
            points = [
                (
                    format_value(r["week"], "date"),
                    _f(r[prefix]),
                    _f(r[f"{prefix}_low"]),
                    _f(r[f"{prefix}_high"]),
                )
                for r in _records(rows)
            ]
            panels.append(
                charts.trend_chart(
                    charts.Series(f"{audience} · ER {basis}", points),
                    f"Weekly engagement rate {basis} at 7 days: {audience}",
                    width=560,
                )
            )
        parts.append(
            '<h3>Trend over time</h3><figure><div class="chart-row">'
            + "".join(panels)
            + "</div><figcaption>Engagement rate at 7 days after publication by week of "
            "publication (ratio of sums; band = 95% interval). Weeks whose posts are not yet 7 "
            "days old are left blank.</figcaption></figure>"
        )
    if report.heatmaps:
        parts.append(
            '<h3>Best local hours</h3><figure><div class="chart-row">'
            + "".join(charts.heatmap(h) for h in report.heatmaps)
            + "</div><figcaption>Index vs each account's own baseline (1.00 = as usual; blue "
            "better, terracotta worse), in the audience's local time. Hatched grey: too few "
            "posts to judge.</figcaption></figure>"
        )
    if len(parts) == 1:
        parts.append('<p class="na">Nothing to chart yet: no measured posts in scope.</p>')
    parts.append("</section>")
    return "".join(parts)


def _posts_section(report: Report) -> str:
    return (
        '<section id="posts"><h2>Top and bottom posts</h2>'
        + _table(report.tables["top_posts"])
        + _table(report.tables["bottom_posts"])
        + "</section>"
    )


def _f(value: object) -> float:
    return math.nan if is_missing(value) else float(value)  # type: ignore[arg-type]


def _table(table: Table, *, heading: bool = True) -> str:
    head = f'<h3 id="t-{table.name}">{escape(table.title)}</h3>' if heading else ""
    desc = f'<p class="desc">{escape(table.description)}</p>'
    if table.frame.empty:
        return f'{head}{desc}<p class="na">No rows.</p>'
    flagged = "simulated" in table.frame and bool(table.frame["simulated"].fillna(False).any())
    columns = [c for c in table.columns if c.html and (c.key != "simulated" or flagged)]
    header = "".join(
        f'<th class="{"num" if c.kind in NUMERIC else ""}" title="{escape(c.label)}">'
        f"{escape(c.header)}</th>"
        for c in columns
    )
    body = []
    labels = table.frame.get("audience_label")
    grouped = (
        columns[0].key == "audience_label" and labels is not None and labels.duplicated().any()
    )
    previous: object = None
    for row in _records(table.frame):
        cells = [_cell(row, c) for c in columns]
        css = ""
        if grouped:
            if row["audience_label"] == previous:
                cells[0] = '<td class="key"></td>'
            else:
                css = ' class="group"' if previous is not None else ""
                cells[0] = f'<td class="key">{escape(str(row["audience_label"]))}</td>'
            previous = row["audience_label"]
        body.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return (
        f'{head}{desc}<div class="table-wrap"><table><thead><tr>{header}</tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table></div>"
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as column → value, the values `DataFrame.iterrows` gives (the rows of
    one interleaved array: Python objects when the columns' types are mixed) without a Series
    per row."""
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy()]


def _cell(row: Mapping[str, Any], column: Column) -> str:
    value = row.get(column.key)
    css = "num" if column.kind in NUMERIC else ""
    if column.key == "simulated":
        flag = not is_missing(value) and bool(value)
        return f"<td>{'<span class=tag-sim>SIMULATED</span>' if flag else ''}</td>"
    if is_missing(value):
        return f'<td class="{css}"><span class="na">{NA}</span></td>'
    shown = format_value(value, column.kind)
    clipped = column.clip and len(shown) > TEXT_LIMIT
    text = escape(shown[: TEXT_LIMIT - 1] + "…" if clipped else shown)
    if column.kind == "url":
        href = safe_url(value)
        text = f'<a href="{escape(href)}">{text}</a>' if href else text
    elif column.link and (href := safe_url(row.get(column.link))):
        text = f'<a href="{escape(href)}" title="{escape(shown)}">{text}</a>'
    elif clipped:
        text = f'<span title="{escape(shown)}">{text}</span>'
    if column.low and column.high:
        interval = format_interval(row.get(column.low), row.get(column.high), column.kind)
        if interval:
            text += f'<span class="ci">{escape(interval)}</span>'
    if column.median:
        median = format_value(row.get(column.median), column.kind)
        text += f'<span class="med">median {escape(median)}</span>'
    return f'<td class="{css}">{text}</td>'


def _methods(report: Report) -> str:
    items = "".join(
        f"<dt>{escape(m.name)}</dt><dd><code>{escape(m.formula)}</code>"
        + (f'<div class="why">{escape(m.note)}</div>' if m.note else "")
        + "</dd>"
        for m in report.methods
    )
    return (
        '<section id="methods"><h2>How these numbers are computed</h2>'
        f'<dl class="methods">{items}</dl></section>'
    )
