"""The report as plain data, between the figures and the renderers: tables (a pandas frame plus
typed column descriptions that say how each value is shown), per-audience summary cards, heat
maps and the "how these numbers are computed" notes. Renderers only format what is here; they
compute nothing. Missing values are NaN/None here and "n/a" in every human-facing output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import pandas as pd

from campaigns.calendar import FORMULA_STARTS, safe_cell
from campaigns.links import MAX_URL_LENGTH, is_web_url

if TYPE_CHECKING:
    from reports.summary import ExecutiveSummary

Kind = Literal[
    "text", "int", "float", "pct", "pp", "hours", "index", "p", "date", "datetime", "url"
]
NA = "n/a"


def posts_text(count: int) -> str:
    """A count of posts as the reader's text says it: "1 post", "2 posts"."""
    return f"{count} post" if count == 1 else f"{count} posts"


SIMULATED_NOTICE = (
    "SIMULATED: some numbers come from the sandbox's model, not from a real platform."
)


@dataclass(frozen=True)
class Column:
    """One column as shown: ``key`` in the frame; ``low``/``high`` name the interval's bounds;
    ``median`` names a median shown beside a mean."""

    key: str
    label: str
    kind: Kind = "text"
    low: str | None = None
    high: str | None = None
    median: str | None = None
    link: str | None = None
    """Key of a URL column that this text column links to (HTML)."""
    short: str | None = None
    """A shorter header for narrow human outputs (HTML, Markdown); data exports use ``label``."""
    html: bool = True
    """Shown in the HTML and Markdown reports (data exports always have it)."""
    clip: bool = False
    """A post's own text, cut short in the HTML (the whole of it in the cell's tooltip). The
    report's own words (data-quality details, notes, verdicts) are never cut."""

    @property
    def header(self) -> str:
        return self.short or self.label


@dataclass
class Table:
    name: str
    """Machine name: the CSV file, the XLSX sheet, the JSON key."""
    title: str
    description: str
    """What a row is, which aggregate (ratio of sums or mean of per-post rates), and whether it
    is by publish-date cohort or by activity in the period."""
    columns: list[Column]
    frame: pd.DataFrame
    html: bool = True
    """Shown in the HTML and Markdown reports (all tables go to XLSX, CSV and JSON)."""

    def data_columns(self) -> list[str]:
        """Every frame column a data export writes, in display order; the frame's own
        ``simulated`` column (whether a row's figures include a simulated post) when it has
        one, shown or not, so the exports never put the report's flag on a row of real posts."""
        out: list[str] = []
        for column in self.columns:
            for key in (column.key, column.low, column.high, column.median, column.link):
                if key is not None and key not in out and key in self.frame.columns:
                    out.append(key)
        if "simulated" in self.frame.columns and "simulated" not in out:
            out.append("simulated")
        return out


@dataclass(frozen=True)
class Figure:
    """One headline figure of an audience card."""

    label: str
    value: float | None
    kind: Kind
    low: float | None = None
    high: float | None = None
    note: str = ""
    trend: str = ""
    trend_sign: int = 0
    """+1 up and distinguishable from noise, -1 down and distinguishable, 0 no clear change."""
    series: tuple[float, ...] = ()
    """Weekly values for a sparkline (NaN where a week has no posts)."""


@dataclass(frozen=True)
class Card:
    audience_id: int
    campaign_id: str
    title: str
    subtitle: str
    figures: tuple[Figure, ...]
    outcomes: tuple[tuple[str, float], ...] = ()
    simulated: bool = False


@dataclass(frozen=True)
class HeatMap:
    """Weekday x local hour index for one audience (1.0 = the accounts' own baseline)."""

    audience_id: int
    title: str
    timezone: str
    index: tuple[tuple[float, ...], ...]
    """7 rows (Monday first) x 24 hours; NaN where no post."""
    posts: tuple[tuple[int, ...], ...]
    thin: int
    """Cells with fewer posts than this are greyed out."""


@dataclass(frozen=True)
class Method:
    name: str
    formula: str
    note: str = ""


@dataclass
class Report:
    title: str
    scope: str
    generated_at: datetime
    as_of: datetime
    period: tuple[datetime | None, datetime | None]
    simulated: bool
    cards: list[Card]
    tables: dict[str, Table]
    heatmaps: list[HeatMap]
    methods: list[Method]
    seed: int
    summary: ExecutiveSummary | None = None
    """The executive summary (`reports.summary`): sentences for the top of every format."""

    def table(self, name: str) -> Table:
        return self.tables[name]

    @property
    def period_text(self) -> str:
        """The period as the headers show it (`period_text`)."""
        return period_text(self.period)


def period_text(period: tuple[datetime | None, datetime | None]) -> str:
    """A period [start, end) as people read it: a start at midnight UTC as its day, else with
    its time; an end at midnight UTC as the day before it (the last day included, as
    ``--until 2027-03-31`` gives it), else with its time (the report time, when no end is
    given). Every figure over the period (follower growth too) uses these instants, so the
    header and the figures agree."""
    start, end = period
    first = "…" if start is None else _instant(start, end=False)
    last = "…" if end is None else _instant(end, end=True)
    return f"{first} – {last}"


def _instant(moment: datetime, *, end: bool) -> str:
    at = pd.Timestamp(moment).tz_convert("UTC") if moment.tzinfo else pd.Timestamp(moment)
    if at == at.normalize():
        return f"{(at - pd.Timedelta(days=1) if end else at):%Y-%m-%d}"
    return f"{at:%Y-%m-%d %H:%M} UTC"


def is_missing(value: object) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def format_value(value: object, kind: Kind) -> str:
    """The human form of one value (terminal, Markdown, HTML): NaN/None is "n/a", never 0."""
    if is_missing(value):
        return NA
    if kind == "int":
        return f"{float(value):,.0f}"  # type: ignore[arg-type]
    if kind == "float":
        return f"{float(value):,.1f}"  # type: ignore[arg-type]
    if kind == "pct":
        number = float(value) * 100  # type: ignore[arg-type]
        return f"{number:.2f}%" if abs(number) < 10 else f"{number:.1f}%"
    if kind == "pp":
        return f"{float(value) * 100:+.2f} pp"  # type: ignore[arg-type]
    if kind == "hours":
        return f"{float(value):.1f} h"  # type: ignore[arg-type]
    if kind == "index":
        return f"{float(value):.2f}"  # type: ignore[arg-type]
    if kind == "p":
        number = float(value)  # type: ignore[arg-type]
        return "< 0.001" if number < 0.001 else f"{number:.3f}"
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")  # type: ignore[arg-type]
    if kind == "datetime":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_amount(value: float) -> str:
    """An imported outcome: whole numbers with separators, small fractions as written."""
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.3g}"


def format_interval(low: object, high: object, kind: Kind) -> str:
    if is_missing(low) or is_missing(high):
        return ""
    return f"{format_value(low, kind)} – {format_value(high, kind)}"


def neutralise(text: str) -> str:
    """A text cell for CSV and XLSX exports, made inert by the one rule for that
    (`campaigns.calendar.safe_cell`: text starting with =, +, -, @, a tab or a carriage return
    gets a leading apostrophe). Numbers are written as numbers and never pass here."""
    return str(safe_cell(text))


_FORMULA_AFTER_NUL = re.compile("\0[" + re.escape("".join(FORMULA_STARTS)) + "]")


def neutralise_all(texts: list[str]) -> list[str]:
    """`neutralise` of each of ``texts``: one search over them all (joined by NUL, one before
    each) for a text that starts as a formula, instead of a call each (a large report's
    workbook has a text or two per post); each in turn only when one does or holds a NUL."""
    joined = "\0" + "\0".join(texts)
    if joined.count("\0") == len(texts) and _FORMULA_AFTER_NUL.search(joined) is None:
        return list(texts)
    return [neutralise(text) for text in texts]


_SIMPLE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#][!#-\[\]-~]*)?")
"""The usual shape of a stored permalink: http(s), a host of letters, digits, dots and hyphens
(no port, no user name), then printable ASCII other than spaces, quotes and backslashes. Every
such address passes `campaigns.links.web_url` (tested against it), so the full check, which
parses the URL, runs only for the others."""


_SIMPLE_URLS = re.compile(f"(?:{_SIMPLE_URL.pattern}\n)*{_SIMPLE_URL.pattern}")


def all_simple_urls(texts: list[str]) -> bool:
    """Whether every one of ``texts`` (at least one) is a web address of the usual shape
    (`_SIMPLE_URL`, within `MAX_URL_LENGTH`), which `safe_url` gives back as it is: one
    pattern over them all instead of one per text (a large report has a permalink per post)."""
    joined = "\n".join(texts)
    return (
        bool(texts)
        and joined.count("\n") == len(texts) - 1  # no text holds a line break
        and max(map(len, texts)) <= MAX_URL_LENGTH
        and _SIMPLE_URLS.fullmatch(joined) is not None
    )


def safe_url(value: object) -> str | None:
    """``value`` when it is a web address a report may link to (`campaigns.links.is_web_url`:
    http(s), a host, no spaces or control characters), else None: a ``javascript:`` or
    ``data:`` URL stored anywhere is shown as text, never as a link."""
    if not isinstance(value, str):
        return None
    if len(value) <= MAX_URL_LENGTH and _SIMPLE_URL.fullmatch(value) is not None:
        return value
    return value if is_web_url(value) else None
