"""The executive summary: for each campaign, which audiences, narratives and message variants
did measurably better or worse than the campaign as a whole, in plain sentences with the
interval that justifies each, and "no audience stands out from noise" when that is the truth.

A group "stands out" when its 95% interval lies wholly above or below the campaign's own rate.
Everything is compared at 7 days after publication (younger posts are left out and counted) and
only within one rate basis: a rate by impressions is never set against a rate by followers.

`build_summary` makes the structured `ExecutiveSummary` from the report's frames; `summary_text`
and `summary_html` render it (the renderers of every format and the report e-mails use these).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from reports import stats
from reports.aggregates import Arrays, arrays, factorized, fixed_age_columns, grouped
from reports.model import posts_text
from reports.posts import BASES, BASIS_LABEL

AGE = "7d"
DIMENSIONS = (("audience", "audience", "audiences"), ("narrative", "narrative", "narratives"))
"""(dimension, singular, plural) compared against the campaign; variants are added below."""
_ALL_DIMENSIONS = (*DIMENSIONS, ("variant", "message variant", "message variants"))


@dataclass(frozen=True)
class Finding:
    """A group whose rate at 7 days is above (``direction`` +1) or below (-1) the campaign's,
    its whole interval on that side."""

    dimension: str
    name: str
    rate: float
    low: float
    high: float
    posts: int
    direction: int


@dataclass(frozen=True)
class BasisSummary:
    basis: str
    """``impressions`` or ``followers``."""
    label: str
    platforms: tuple[str, ...]
    rate: float
    low: float
    high: float
    posts: int
    young: int
    """Posts younger than 7 days, not compared yet."""
    findings: tuple[Finding, ...]
    compared: dict[str, int]
    """Dimension → groups with an interval (compared)."""
    too_few: dict[str, int]
    """Dimension → groups with too few posts for an interval (not compared)."""
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class CampaignSummary:
    campaign_id: str
    title: str
    bases: tuple[BasisSummary, ...]
    sentences: tuple[str, ...]
    simulated: bool = False
    """Whether any of the campaign's posts is simulated (a sandbox channel's)."""


@dataclass(frozen=True)
class ExecutiveSummary:
    campaigns: tuple[CampaignSummary, ...]
    notes: tuple[str, ...] = ()
    """Why figures are missing, when they are (e.g. nothing collected by the report time)."""
    simulated: bool = False
    sentences: tuple[str, ...] = field(default=())
    """Every sentence in reading order (notes first, then campaign by campaign)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready; NaN as None)."""

        def plain(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        return {
            "simulated": self.simulated,
            "notes": list(self.notes),
            "sentences": list(self.sentences),
            "campaigns": [
                {
                    "campaign_id": c.campaign_id,
                    "title": c.title,
                    "simulated": c.simulated,
                    "sentences": list(c.sentences),
                    "bases": [
                        {
                            "basis": b.basis,
                            "label": b.label,
                            "platforms": list(b.platforms),
                            "rate": plain(b.rate),
                            "low": plain(b.low),
                            "high": plain(b.high),
                            "posts": b.posts,
                            "young": b.young,
                            "compared": dict(b.compared),
                            "too_few": dict(b.too_few),
                            "findings": [
                                {
                                    "dimension": f.dimension,
                                    "name": f.name,
                                    "rate": plain(f.rate),
                                    "low": plain(f.low),
                                    "high": plain(f.high),
                                    "posts": f.posts,
                                    "direction": f.direction,
                                }
                                for f in b.findings
                            ],
                        }
                        for b in c.bases
                    ],
                }
                for c in self.campaigns
            ],
        }


DIGITS = 2
"""Decimals of a percentage in a sentence (3 where 2 would make a bound look equal to the
campaign's rate it is compared with)."""


def pct(value: float, digits: int = DIGITS) -> str:
    return f"{value * 100:.{digits}f}%"


def interval(low: float, high: float, digits: int = DIGITS) -> str:
    return f"[{low * 100:.{digits}f}–{high * 100:.{digits}f}]"


def _digits(finding: Finding, rate: float) -> int:
    bound = finding.low if finding.direction > 0 else finding.high
    return DIGITS if pct(bound) != pct(rate) else DIGITS + 1


def build_summary(
    posts: pd.DataFrame,
    aud: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    notes: tuple[str, ...] = (),
    simulated: bool = False,
    a: tuple[Arrays | None, Arrays | None] = (None, None),
    campaign_rows: pd.DataFrame | None = None,
) -> ExecutiveSummary:
    """The summary of every campaign in the per-post frames (``posts``: one row per delivery;
    ``aud``: one per delivery and audience; ``campaigns``: ids and titles). ``a``: the frames'
    `arrays`, when the caller has them; ``campaign_rows``: the campaign table's frame (one row
    per campaign of ``posts`` with its figures at 7 days), when the caller has it."""
    results: list[CampaignSummary] = []
    titles = dict(zip(campaigns["campaign_id"], campaigns["title"], strict=True))
    if len(posts):
        pa = a[0] if a[0] is not None else arrays(posts)
        aa = a[1] if a[1] is not None or not len(aud) else arrays(aud)
        # Every campaign's groups at once (a group's figures depend on its own rows only),
        # then each campaign's rows.
        variant = (posts["variant"] != "(none)").to_numpy(dtype=bool)
        wholes = _by_campaign(
            campaign_rows if campaign_rows is not None else _groups(posts, "campaign_id", pa, None)
        )
        frames = {
            "audience": _by_campaign(_groups(aud, "audience", aa, None)),
            "narrative": _by_campaign(_groups(posts, "narrative", pa, None)),
            "variant": _by_campaign(_groups(posts, "variant", pa, variant)),
        }
        platforms = _platforms(posts, pa)
        simulated_campaigns = set(posts.loc[posts["simulated"].astype(bool), "campaign_id"])
        # Per campaign, the measured posts left out of every rate (engagements or exposure
        # unknown): what an empty summary must name instead of "no figures yet".
        unrated_rows = posts["measured"].to_numpy(dtype=bool) & ~posts["rated"].to_numpy(dtype=bool)
        unrated = posts.loc[unrated_rows, "campaign_id"].value_counts().to_dict()
        for campaign_id in sorted(posts["campaign_id"].unique()):
            title = str(titles.get(campaign_id, campaign_id))
            results.append(
                _campaign(
                    campaign_id in simulated_campaigns,
                    str(campaign_id),
                    title,
                    wholes[campaign_id].iloc[0],
                    {name: own.get(campaign_id, _EMPTY) for name, own in frames.items()},
                    {basis: platforms.get((campaign_id, basis), ()) for basis, _p in BASES},
                    int(unrated.get(campaign_id, 0)),
                )
            )
    sentences = [*notes]
    for item in results:
        sentences += item.sentences
    return ExecutiveSummary(
        campaigns=tuple(results), notes=notes, simulated=simulated, sentences=tuple(sentences)
    )


_EMPTY = pd.DataFrame()


def _groups(
    frame: pd.DataFrame, column: str, a: Arrays | None, where: np.ndarray | None
) -> pd.DataFrame:
    """Figures at 7 days per campaign and ``column`` (per campaign alone for ``campaign_id``)."""
    if a is None:
        return pd.DataFrame(columns=["campaign_id"])
    by = ["campaign_id"] if column == "campaign_id" else ["campaign_id", column]
    return grouped(frame, by, [lambda a, g: fixed_age_columns(a, g, AGE)], a=a, where=where)


def _by_campaign(frame: pd.DataFrame) -> dict[Any, pd.DataFrame]:
    """Campaign id → its rows (in the frame's order)."""
    if not len(frame):
        return {}
    ids = frame["campaign_id"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], ids.size]
    return {
        ids[start]: frame.iloc[start:end].reset_index(drop=True)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    }


def _campaign(
    simulated: bool,
    campaign_id: str,
    title: str,
    row: pd.Series,
    frames: dict[str, pd.DataFrame],
    platforms: dict[str, tuple[str, ...]],
    unrated: int = 0,
) -> CampaignSummary:
    """``row``: the campaign's figures at 7 days; ``frames``: its audiences', narratives' and
    variants'; ``platforms``: basis → the platforms of its posts rated on that basis;
    ``unrated``: its measured posts whose engagements or exposure are unknown."""
    active = [
        (basis, f"{prefix}_{AGE}")
        for basis, prefix in BASES
        if row[f"{prefix}_{AGE}_posts"] or row[f"{prefix}_{AGE}_young"]
    ]
    both = len(active) == 2
    bases = [
        _basis(basis, key, row, frames, platforms[basis], both)
        if row[f"{key}_posts"]
        else _empty_basis(basis, platforms[basis], int(row[f"{key}_young"]))
        for basis, key in active
    ]
    heading = f"{title} ({campaign_id})"
    if not bases:
        sentences = [f"{heading}: {_why_no_rate(row, unrated)}"]
    elif len(bases) == 2:
        sentences = [
            f"{heading}: engagement at 7 days after publication. Its rates by impressions and by "
            "followers come from different platforms and are compared only within their own "
            "basis."
        ]
    else:
        sentences = [f"{heading}: engagement at 7 days after publication."]
    for item in bases:
        sentences += item.sentences
    return CampaignSummary(campaign_id, title, tuple(bases), tuple(sentences), simulated)


def _why_no_rate(row: pd.Series, unrated: int) -> str:
    """Why a campaign has no rate at 7 days on either basis: its posts are left out (their
    engagements or exposure unknown, or no snapshot at or after 7 days), or none has figures."""
    missing = sum(int(row.get(f"{prefix}_{AGE}_missing", 0) or 0) for _basis, prefix in BASES)
    reasons = []
    if unrated:
        reasons.append(
            "the engagements or exposure of the post are unknown"
            if unrated == 1
            else f"the engagements or exposure of {unrated} posts are unknown"
        )
    if missing:
        reasons.append(f"{_posts(missing)} without a snapshot at or after 7 days")
    if not reasons:
        return "no post has engagement figures yet."
    return "no engagement rate at 7 days: " + "; ".join(reasons) + " (see data quality)."


def _platforms(
    posts: pd.DataFrame, a: Arrays | None = None
) -> dict[tuple[Any, str], tuple[str, ...]]:
    """(campaign id, basis) → the platforms behind the campaign's rate on that basis at 7 days:
    those of the posts it counts (a value at 7 days known), or, when it counts none yet, of
    the posts too young for it. A platform whose posts are all left out (engagements or
    exposure unknown, no value at 7 days) is not named beside a figure it took no part in.
    ``a``: the frame's `arrays`, when the caller has them (the columns' codes are kept there)."""
    known = posts[f"known_{AGE}"].to_numpy(dtype=bool)
    young = posts[f"immature_{AGE}"].to_numpy(dtype=bool)
    # The distinct (campaign, basis, platform) triples of the rows, in order of first
    # appearance (as ``drop_duplicates`` keeps them), by the columns' codes.
    coded = [factorized(posts, name, a) for name in ("campaign_id", "basis", "platform_label")]
    triple = np.zeros(len(posts), dtype=np.int64)
    for codes, values in coded:
        triple = triple * max(len(values), 1) + codes
    found: dict[tuple[Any, str], set[str]] = {}
    for rows in (known, young):
        at = np.flatnonzero(rows)
        _distinct, first = np.unique(triple[at], return_index=True)
        firsts = at[np.sort(first)]
        seen: dict[tuple[Any, str], set[str]] = {}
        for campaign_id, basis, platform in zip(
            *(values.take(codes[firsts]).tolist() for codes, values in coded), strict=True
        ):
            seen.setdefault((campaign_id, str(basis)), set()).add(str(platform))
        for key, names in seen.items():
            found.setdefault(key, names)
    return {key: tuple(sorted(names)) for key, names in found.items()}


def _empty_basis(basis: str, platforms: tuple[str, ...], young: int) -> BasisSummary:
    label = BASIS_LABEL[basis]
    sentence = (
        f"Engagement rate {label}: no post is 7 days old yet ({_posts(young)} younger), so "
        "nothing is compared yet."
    )
    return BasisSummary(
        basis,
        label,
        platforms,
        math.nan,
        math.nan,
        math.nan,
        0,
        young,
        (),
        {},
        {},
        (sentence,),
    )


def _basis(
    basis: str,
    key: str,
    whole: pd.Series,
    frames: dict[str, pd.DataFrame],
    platforms: tuple[str, ...],
    both: bool,
) -> BasisSummary:
    """``both``: the campaign has rates of both bases, so every sentence names its own."""
    label = BASIS_LABEL[basis]
    of = f" {label}" if both else ""
    rate, low, high = float(whole[key]), float(whole[f"{key}_low"]), float(whole[f"{key}_high"])
    count, young = int(whole[f"{key}_posts"]), int(whole[f"{key}_young"])
    findings: list[Finding] = []
    compared: dict[str, int] = {}
    too_few: dict[str, int] = {}
    for dimension, column in (
        ("audience", "audience"),
        ("narrative", "narrative"),
        ("variant", "variant"),
    ):
        frame = frames[dimension]
        if frame.empty or f"{key}_posts" not in frame:
            continue
        # On the columns' arrays (the rows with posts, those of them with an interval).
        posts = frame[f"{key}_posts"].to_numpy(dtype="float64", na_value=np.nan)
        lows = frame[f"{key}_low"].to_numpy(dtype="float64", na_value=np.nan)
        with_posts = posts > 0
        with_interval = np.flatnonzero(with_posts & ~np.isnan(lows))
        compared[dimension] = int(with_interval.size)
        too_few[dimension] = int(with_posts.sum()) - int(with_interval.size)
        if not with_interval.size:
            continue
        names = frame[column].to_numpy(dtype=object)
        rates = frame[key].to_numpy(dtype="float64", na_value=np.nan)
        highs = frame[f"{key}_high"].to_numpy(dtype="float64", na_value=np.nan)
        for i in with_interval.tolist():
            g_low, g_high = float(lows[i]), float(highs[i])
            direction = 1 if g_low > rate else -1 if g_high < rate else 0
            if direction:
                findings.append(
                    Finding(
                        dimension,
                        str(names[i]),
                        float(rates[i]),
                        g_low,
                        g_high,
                        int(posts[i]),
                        direction,
                    )
                )
    order = {d: i for i, (d, _s, _p) in enumerate(_ALL_DIMENSIONS)}
    findings.sort(key=lambda f: (-f.direction, order[f.dimension], -f.rate * f.direction))
    sentences = [
        f"Engagement rate {label} ({', '.join(platforms)}): "
        + (f"{pct(rate)} {interval(low, high)}" if math.isfinite(low) else pct(rate))
        + f" over {_posts(count)}"
        + (
            ""
            if math.isfinite(low)
            else f" (too few posts for an interval; at least "
            f"{stats.MIN_CLUSTERS} messages are needed)"
        )
        + "."
    ]
    for direction, word in ((1, "Higher"), (-1, "Lower")):
        chosen = [f for f in findings if f.direction == direction]
        if chosen:
            sentences.append(
                f"{word} than the campaign's {pct(rate)}{of}: "
                + "; ".join(
                    f"{_name(f)} {pct(f.rate, _digits(f, rate))} "
                    f"{interval(f.low, f.high, _digits(f, rate))} ({_posts(f.posts)})"
                    for f in chosen
                )
                + "."
            )
    quiet = [
        plural
        for dimension, _singular, plural in _ALL_DIMENSIONS
        if compared.get(dimension) and not any(f.dimension == dimension for f in findings)
    ]
    if quiet:
        singulars = [s for d, s, p in _ALL_DIMENSIONS if p in quiet]
        sentences.append(f"No {_join(singulars, 'or')} stands out from noise{of}.")
    skipped = [
        f"{n} {plural if n != 1 else singular}"
        for dimension, singular, plural in _ALL_DIMENSIONS
        if (n := too_few.get(dimension, 0))
    ]
    if skipped:
        sentences.append(
            f"Too few posts for an interval{of}, not compared: {_join(skipped, 'and')}."
        )
    if young:
        sentences.append(
            f"{_posts(young).capitalize()}{of} younger than 7 days "
            f"{'is' if young == 1 else 'are'} not compared yet."
        )
    return BasisSummary(
        basis,
        label,
        platforms,
        rate,
        low,
        high,
        count,
        young,
        tuple(findings),
        compared,
        too_few,
        tuple(sentences),
    )


_posts = posts_text


def _name(finding: Finding) -> str:
    if finding.dimension == "audience":
        return finding.name
    if finding.dimension == "narrative":
        return f"narrative {finding.name}"
    return f"variant {finding.name}"


def _join(words: list[str], last: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def summary_text(summary: ExecutiveSummary) -> str:
    """The summary as plain text: one paragraph per campaign."""
    lines: list[str] = [*summary.notes]
    for campaign in summary.campaigns:
        if lines:
            lines.append("")
        lines.append(" ".join(campaign.sentences))
    return "\n".join(lines)


def summary_html(summary: ExecutiveSummary) -> str:
    """The summary as an HTML fragment (escaped; no script, no style beyond class names)."""
    parts = ['<div class="exec-summary">']
    for note in summary.notes:
        parts.append(f'<p class="note">{escape(note)}</p>')
    for campaign in summary.campaigns:
        parts.append(
            f"<h3>{escape(campaign.title)} <small>({escape(campaign.campaign_id)})</small></h3>"
        )
        title = f"{campaign.title} ({campaign.campaign_id}): "
        lead, *rest = campaign.sentences
        text = lead.removeprefix(title)
        parts.append(f"<p>{escape(text[:1].upper() + text[1:])}</p>")
        parts.append("<ul>" + "".join(f"<li>{escape(s)}</li>" for s in rest) + "</ul>")
    parts.append("</div>")
    return "".join(parts)
