"""Effectiveness figures: shaping the store's frames (`reports.data`) into the report's tables
with pandas, and the statistics of `reports.stats` for intervals, shrinkage and comparisons.

Two aggregates are kept apart everywhere and named in each table: the *ratio of sums*
(exposure-weighted: total engagements / total impressions) and the *mean of per-post rates*
(each post counts once), with the median beside the mean. Rates by impressions and rates by
followers at posting time are never mixed in one figure. Campaign rows count each delivery
once; audience rows count a delivery for every audience it reaches (its post targets the
audience AND its channel reaches it), so audience rows can add up to more than the campaign.
All tables are publish-date cohorts: posts published in the period, counters as of the
report's "as of" time. Nothing here reads the database or renders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reports import stats
from reports.data import FIXED_AGES, StoreData
from reports.model import (
    Card,
    Column,
    Figure,
    HeatMap,
    Method,
    Report,
    Table,
    format_amount,
)

DEFAULT_SEED = 20270321
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BASES = (("impressions", "er_impr"), ("followers", "er_foll"))
BASIS_LABEL = {"impressions": "by impressions", "followers": "by followers at posting"}
WAITING = ("draft", "approved", "scheduled", "publishing")


@dataclass(frozen=True)
class Options:
    seed: int = DEFAULT_SEED
    reps: int = stats.DEFAULT_REPS
    min_posts: int = 5
    """Leaderboards rank only groups with at least this many posts."""
    thin_cell: int = 3
    """Heat-map cells with fewer posts are greyed out."""
    top: int = 10


# --- per-post frame ---------------------------------------------------------------------------


def _sum_given(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Row sums of the given counters; NaN when none of them is given."""
    return frame[list(columns)].sum(axis=1, min_count=1)


def posts_frame(data: StoreData) -> pd.DataFrame:
    """One row per delivery in scope with its state flags, current counters and rates."""
    d = data.deliveries.copy()
    as_of = pd.Timestamp(data.scope.as_of)
    d["published"] = (d["state"] == "published") & d["published_at"].notna()
    d["deleted"] = d["published"] & (d["remote_deleted_at"].notna() | d["deleted_snapshot"])
    d["measured"] = d["published"] & ~d["deleted"] & (d["snapshots"] > 0)
    d["simulated"] = d["simulated_snapshot"] | (d["platform"] == "sandbox")
    d["amplification"] = _sum_given(d, ["reposts", "quotes"])
    d["applause"] = d["likes"]
    d["conversation"] = d["replies"]
    by_impressions = d["measured"] & (d["impressions"] > 0)
    by_followers = d["measured"] & ~by_impressions & (d["followers_at_post"] > 0)
    d["basis"] = np.select(
        [by_impressions.to_numpy(), by_followers.to_numpy()], ["impressions", "followers"], ""
    )
    d["exposure"] = (
        d["impressions"]
        .where(by_impressions, d["followers_at_post"])
        .where(by_impressions | by_followers)
    )
    rate = d["eng"] / d["exposure"]
    d["rate"] = rate
    d["er_impr"] = rate.where(by_impressions)
    d["er_foll"] = rate.where(by_followers)
    with_clicks = d["measured"] & (d["impressions"] > 0) & d["link_clicks"].notna()
    d["ctr"] = (d["link_clicks"] / d["impressions"]).where(with_clicks)
    age = (as_of - d["published_at"]).dt.total_seconds()
    d["age_hours"] = age / 3600.0
    for label, seconds in FIXED_AGES.items():
        d[f"immature_{label}"] = d["measured"] & (age < seconds)
        exposure = d[f"impressions_{label}"].where(by_impressions, d["followers_at_post"])
        fixed = (d[f"eng_{label}"] / exposure).where(d["measured"] & (age >= seconds))
        d[f"rate_{label}"] = fixed.where(exposure > 0)
        d[f"exposure_{label}"] = exposure
    published = d["published_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    d["week"] = published.dt.to_period("W-SUN").dt.start_time
    d["variant"] = d["variant"].fillna("(none)")
    return d


def attributed_frame(posts: pd.DataFrame, data: StoreData) -> pd.DataFrame:
    """One row per (delivery, audience it reaches), with the audience's local weekday and hour."""
    audiences = data.audiences.drop(columns="campaign_id")
    a = posts.merge(data.attribution, on="delivery_id").merge(audiences, on="audience_id")
    a["audience_label"] = _audience_labels(a)
    a["weekday"] = pd.Series(np.nan, index=a.index)
    a["hour"] = pd.Series(np.nan, index=a.index)
    for zone, rows in a.groupby("audience_timezone").groups.items():
        local = a.loc[rows, "published_at"].dt.tz_convert(str(zone))
        a.loc[rows, "weekday"] = local.dt.day_of_week.astype("float64")
        a.loc[rows, "hour"] = local.dt.hour.astype("float64")
    return a


def audience_names(aud: pd.DataFrame) -> pd.Series:
    """Delivery id → the names of the audiences it reaches, comma-separated."""
    pairs = (
        aud[["delivery_id", "audience"]].drop_duplicates().sort_values(["delivery_id", "audience"])
    )
    several = pairs["delivery_id"].duplicated(keep=False)
    single = pairs[~several].set_index("delivery_id")["audience"]
    joined = pairs[several].groupby("delivery_id")["audience"].agg(", ".join)
    names: pd.Series = pd.concat([single, joined]).astype(str)
    return names


def _audience_labels(frame: pd.DataFrame) -> pd.Series:
    return frame["audience"].astype(str) + " · " + frame["campaign_id"].astype(str)


# --- group aggregates -------------------------------------------------------------------------


Arrays = dict[str, np.ndarray]
"""Columns of a per-post frame as numpy arrays: groups are index arrays into them, which keeps
per-group figures cheap (no DataFrame copies)."""
_FLOAT_COLUMNS = (
    "impressions",
    "eng",
    "exposure",
    "er_impr",
    "er_foll",
    "amplification",
    "applause",
    "conversation",
    "ctr",
    "link_clicks",
    *(f"{kind}_{age}" for age in FIXED_AGES for kind in ("eng", "exposure", "rate")),
)


def arrays(frame: pd.DataFrame) -> Arrays:
    out: Arrays = {name: frame[name].to_numpy(dtype="float64") for name in _FLOAT_COLUMNS}
    for name in ("measured", "deleted", "simulated"):
        out[name] = frame[name].to_numpy(dtype=bool)
    out["post_id"] = frame["post_id"].to_numpy(dtype="int64")
    out["state"] = frame["state"].to_numpy(dtype=object)
    out["basis"] = frame["basis"].to_numpy(dtype=object)
    return out


def _ratio_ci(
    a: Arrays,
    idx: np.ndarray,
    num: str,
    den: str,
    seed: int,
    opts: Options,
    interval: bool = True,
) -> tuple[float, float, float]:
    """Ratio of sums and its cluster-bootstrap interval (posts resampled whole)."""
    numerator, denominator = a[num][idx], a[den][idx]
    total = float(denominator.sum())
    if idx.size == 0 or total <= 0:
        return math.nan, math.nan, math.nan
    if not interval:
        return float(numerator.sum()) / total, math.nan, math.nan
    low, high = stats.bootstrap_ratio(
        numerator, denominator, a["post_id"][idx], seed=seed, reps=opts.reps
    )
    return float(numerator.sum()) / total, low, high


def _given(values: np.ndarray) -> np.ndarray:
    given: np.ndarray = values[~np.isnan(values)]
    return given


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan


def engagement_row(
    a: Arrays,
    idx: np.ndarray,
    key: tuple[Any, ...],
    opts: Options,
    *,
    intervals: bool = True,
    ctr_interval: bool = True,
) -> dict[str, Any]:
    """Engagement figures of one group of deliveries (see the module docstring). Without
    ``intervals`` (or ``ctr_interval``) the bootstrap is skipped and the bounds are NaN."""
    m = idx[a["measured"][idx]]
    impressions = _given(a["impressions"][m])
    eng = _given(a["eng"][m])
    row: dict[str, Any] = {
        "posts": int(m.size),
        "messages": int(np.unique(a["post_id"][m]).size),
        "deleted": int(a["deleted"][idx].sum()),
        "posts_with_impressions": int(impressions.size),
        "impressions": float(impressions.sum()) if impressions.size else math.nan,
        "engagements": float(eng.sum()) if eng.size else math.nan,
    }
    for basis, prefix in BASES:
        b = m[~np.isnan(a[prefix][m])]
        ratio, low, high = _ratio_ci(
            a, b, "eng", "exposure", stats.seed_for(opts.seed, "er", basis, *key), opts, intervals
        )
        rates = a[prefix][b]
        row[prefix] = ratio
        row[f"{prefix}_low"] = low
        row[f"{prefix}_high"] = high
        row[f"{prefix}_mean"] = _mean(rates)
        row[f"{prefix}_median"] = _median(rates)
        row[f"{prefix}_posts"] = int(b.size)
    for name in ("amplification", "applause", "conversation"):
        given = _given(a[name][m])
        row[f"{name}_mean"] = _mean(given)
        row[f"{name}_median"] = _median(given)
    c = m[~np.isnan(a["ctr"][m])]
    ratio, low, high = _ratio_ci(
        a,
        c,
        "link_clicks",
        "impressions",
        stats.seed_for(opts.seed, "ctr", *key),
        opts,
        intervals and ctr_interval,
    )
    row.update(ctr=ratio, ctr_low=low, ctr_high=high, ctr_posts=int(c.size))
    row["simulated"] = bool(a["simulated"][idx].any())
    return row


def volume_row(a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    names, counts = np.unique(a["state"][idx].astype(str), return_counts=True)
    states = dict(zip(names.tolist(), counts.tolist(), strict=True))
    published = int(states.get("published", 0))
    missed = int(states.get("missed", 0))
    failed = int(states.get("failed", 0))
    settled = published + missed + failed
    return {
        "published": published,
        "missed": missed,
        "failed": failed,
        "needs_review": int(states.get("needs_review", 0)),
        "cancelled": int(states.get("cancelled", 0)),
        "waiting": int(sum(int(states.get(s, 0)) for s in WAITING)),
        "deleted_after": int(a["deleted"][idx].sum()),
        "published_share": published / settled if settled else math.nan,
    }


def fixed_age_row(
    a: Arrays, idx: np.ndarray, key: tuple[Any, ...], opts: Options, age: str = "7d"
) -> dict[str, Any]:
    """Ratio of sums of the values at a fixed age, per basis, over posts old enough."""
    row: dict[str, Any] = {}
    for basis, prefix in BASES:
        b = idx[(a["basis"][idx] == basis) & ~np.isnan(a[f"rate_{age}"][idx])]
        ratio, low, high = _ratio_ci(
            a, b, f"eng_{age}", f"exposure_{age}", stats.seed_for(opts.seed, age, basis, *key), opts
        )
        row[f"{prefix}_{age}"] = ratio
        row[f"{prefix}_{age}_low"] = low
        row[f"{prefix}_{age}_high"] = high
        row[f"{prefix}_{age}_posts"] = int(b.size)
    return row


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, k) if isinstance(k, int | float | np.number) else (1, str(k)) for k in key)


def group_indices(
    frame: pd.DataFrame, by: Sequence[str]
) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """(key, row positions) of each group, keys in natural order (numbers numerically)."""
    if frame.empty:
        return []
    indices = frame.groupby(list(by), sort=False, dropna=False).indices
    items = [((k if isinstance(k, tuple) else (k,)), np.asarray(v)) for k, v in indices.items()]
    return sorted(items, key=lambda item: _sort_key(item[0]))


def grouped(
    frame: pd.DataFrame,
    by: Sequence[str],
    row: Callable[[Arrays, np.ndarray, tuple[Any, ...]], dict[str, Any]],
) -> pd.DataFrame:
    """Apply ``row`` to each group (keys in natural order); an empty frame gives no rows."""
    records: list[dict[str, Any]] = []
    if not frame.empty:
        a = arrays(frame)
        for keys, idx in group_indices(frame, by):
            records.append({**dict(zip(by, keys, strict=True)), **row(a, idx, keys)})
    out = pd.DataFrame.from_records(records)
    return out if not out.empty else pd.DataFrame(columns=list(by))


# --- column sets ------------------------------------------------------------------------------

VOLUME_COLUMNS = [
    Column("published", "Published", "int"),
    Column("missed", "Missed", "int"),
    Column("failed", "Failed", "int"),
    Column("needs_review", "Needs review", "int"),
    Column("cancelled", "Cancelled", "int"),
    Column("waiting", "Not yet due", "int"),
    Column("deleted_after", "Deleted later", "int"),
    Column("published_share", "Published of due", "pct"),
]
RATE_COLUMNS = [
    Column("posts", "Posts measured", "int", short="Posts"),
    Column("impressions", "Impressions", "int"),
    Column(
        "posts_with_impressions",
        "Posts giving impressions",
        "int",
        short="Posts with impr.",
        html=False,
    ),
    Column(
        "er_impr",
        "ER by impressions (ratio of sums, 95% CI)",
        "pct",
        "er_impr_low",
        "er_impr_high",
        short="ER by impressions",
    ),
    Column(
        "er_impr_mean",
        "ER by impressions: mean of posts (median)",
        "pct",
        median="er_impr_median",
        short="mean of posts",
    ),
    Column("er_impr_posts", "n (impr.)", "int", short="n"),
    Column(
        "er_foll",
        "ER by followers (ratio of sums, 95% CI)",
        "pct",
        "er_foll_low",
        "er_foll_high",
        short="ER by followers",
    ),
    Column(
        "er_foll_mean",
        "ER by followers: mean of posts (median)",
        "pct",
        median="er_foll_median",
        short="mean of posts",
    ),
    Column("er_foll_posts", "n (foll.)", "int", short="n"),
]
INTERACTION_COLUMNS = [
    Column(
        "amplification_mean",
        "Amplification / post (median)",
        "float",
        median="amplification_median",
        short="Amplification / post",
    ),
    Column(
        "applause_mean",
        "Applause / post (median)",
        "float",
        median="applause_median",
        short="Applause / post",
    ),
    Column(
        "conversation_mean",
        "Conversation / post (median)",
        "float",
        median="conversation_median",
        short="Conversation / post",
    ),
    Column(
        "ctr", "Link CTR (ratio of sums, 95% CI)", "pct", "ctr_low", "ctr_high", short="Link CTR"
    ),
    Column("ctr_posts", "n (CTR)", "int", short="n"),
]
BREAKDOWNS: tuple[tuple[str, str], ...] = (
    ("narrative", "Narrative"),
    ("category", "Category"),
    ("platform", "Platform"),
    ("channel", "Channel"),
    ("language", "Language"),
    ("variant", "Message variant"),
    ("weekday_name", "Local weekday"),
    ("hour", "Local hour"),
)
COHORT = "Publish-date cohort: posts published in the period, counters as of the report time."


def _audience_col() -> Column:
    return Column("audience_label", "Audience")


def _flag_col() -> Column:
    return Column("simulated", "Simulated", "text")


# --- the report -------------------------------------------------------------------------------


def build_report(
    data: StoreData, *, generated_at: datetime, options: Options | None = None
) -> Report:
    """All figures of one report."""
    opts = options or Options()
    posts = posts_frame(data)
    aud = attributed_frame(posts, data)
    aud["weekday_name"] = aud["weekday"].map(lambda w: WEEKDAYS[int(w)] if w == w else None)
    priors = fit_priors(posts)
    tables: dict[str, Table] = {}

    def add(table: Table) -> None:
        tables[table.name] = table

    add(_campaign_table(posts, data, opts))
    add(_audience_volume(aud))
    engagement = _audience_engagement(aud, opts)
    add(engagement)
    add(_audience_interactions(engagement))
    add(_amec(posts, aud, data))
    add(_fixed_age(aud, opts))
    add(_trend(aud, opts))
    for dim, label in BREAKDOWNS:
        add(_breakdown(aud, dim, label, opts))
    add(_leaderboard(aud, priors, "narrative", "Narrative", opts))
    add(_leaderboard(aud, priors, "variant", "Message variant", opts))
    add(_ab_tests(aud, opts))
    add(_half_life(posts))
    slots, heatmaps = _time_slots(aud, opts)
    add(slots)
    add(_follower_growth(data))
    top, bottom = _top_bottom(posts, aud, priors, opts)
    add(top)
    add(bottom)
    add(_outcomes(data))
    add(_platform_counters(posts))
    add(_data_quality(posts, aud, data))
    add(_posts_detail(posts, aud))
    cards = _cards(aud, tables, data, opts, slots.frame)
    simulated = bool(posts["simulated"].any()) or bool(data.followers["simulated"].any())
    published = posts.loc[posts["published"], "published_at"]
    since = data.scope.since or (published.min().to_pydatetime() if len(published) else None)
    until = data.scope.until or data.scope.as_of
    return Report(
        title=_title(data),
        scope=_scope_text(data),
        generated_at=generated_at,
        as_of=data.scope.as_of,
        period=(since, until),
        simulated=simulated,
        cards=cards,
        tables=tables,
        heatmaps=heatmaps,
        methods=METHODS,
        seed=opts.seed,
    )


def _title(data: StoreData) -> str:
    if data.scope.campaign is not None and len(data.campaigns):
        return f"Effectiveness report: {data.campaigns['title'].iloc[0]}"
    return "Effectiveness report: all campaigns"


def _scope_text(data: StoreData) -> str:
    parts = []
    if data.scope.campaign:
        parts.append(f"campaign {data.scope.campaign}")
    if data.scope.audience is not None and len(data.audiences):
        parts.append(f"audience {data.audiences['audience'].iloc[0]}")
    if data.scope.since:
        parts.append(f"published from {data.scope.since:%Y-%m-%d %H:%M} UTC")
    if data.scope.until:
        parts.append(f"until {data.scope.until:%Y-%m-%d %H:%M} UTC")
    return ", ".join(parts) or "all campaigns, all time"


def _campaign_table(posts: pd.DataFrame, data: StoreData, opts: Options) -> Table:
    frame = grouped(
        posts,
        ["campaign_id"],
        lambda a, i, k: {**volume_row(a, i), **engagement_row(a, i, ("campaign", *k), opts)},
    )
    if len(frame):
        frame = frame.merge(data.campaigns[["campaign_id", "title"]], on="campaign_id", how="left")
    return Table(
        "campaigns",
        "Campaigns",
        "One row per campaign; each delivery counted once. " + COHORT,
        [
            Column("campaign_id", "Campaign"),
            Column("title", "Title"),
            *VOLUME_COLUMNS[:3],
            Column("published_share", "Published of due", "pct"),
            *RATE_COLUMNS,
            _flag_col(),
        ],
        frame,
    )


def _audience_volume(aud: pd.DataFrame) -> Table:
    frame = grouped(aud, ["audience_label"], lambda a, i, _k: volume_row(a, i))
    return Table(
        "audience_volume",
        "Volume per audience",
        "Deliveries per audience by state (a delivery counts for every audience it reaches). "
        "Period by publication time, or due time when never published.",
        [_audience_col(), *VOLUME_COLUMNS],
        frame,
    )


def _audience_engagement(aud: pd.DataFrame, opts: Options) -> Table:
    frame = grouped(
        aud, ["audience_label"], lambda a, i, k: engagement_row(a, i, ("aud", *k), opts)
    )
    return Table(
        "audience_engagement",
        "Engagement per audience",
        "Engagement rate by impressions (posts on platforms giving impressions) and by followers "
        "at posting time (posts without impressions), never mixed. Ratio of sums with a cluster "
        "bootstrap 95% interval over posts; mean and median of per-post rates beside it. " + COHORT,
        [_audience_col(), *RATE_COLUMNS, _flag_col()],
        frame,
    )


def _audience_interactions(engagement: Table) -> Table:
    """The same rows as the engagement table, other columns."""
    return Table(
        "audience_interactions",
        "Amplification, applause, conversation and link clicks per audience",
        "Counts per post (mean, with the median): amplification = reposts + quotes, applause = "
        "likes, conversation = replies, over posts whose platform gives the counter. Link CTR = "
        "link clicks / impressions (ratio of sums, bootstrap interval). " + COHORT,
        [_audience_col(), Column("posts", "Posts measured", "int"), *INTERACTION_COLUMNS],
        engagement.frame,
    )


def _breakdown(aud: pd.DataFrame, dim: str, label: str, opts: Options) -> Table:
    frame = grouped(
        aud,
        ["audience_label", dim],
        lambda a, i, k: {
            **volume_row(a, i),
            **engagement_row(a, i, (dim, *k), opts, ctr_interval=False),
        },
    )
    if dim == "weekday_name" and len(frame):
        frame["_order"] = frame[dim].map({w: i for i, w in enumerate(WEEKDAYS)})
        frame = frame.sort_values(["audience_label", "_order"]).drop(columns="_order")
    return Table(
        f"by_{dim.removesuffix('_name')}",
        f"By {label.lower()}",
        f"Per audience and {label.lower()}"
        + (" (in the audience's time zone)" if dim in ("weekday_name", "hour") else "")
        + ". ER: ratio of sums with bootstrap 95% interval; mean (median) of per-post rates. "
        + COHORT,
        [
            _audience_col(),
            Column(dim, label, "int" if dim == "hour" else "text"),
            Column("published", "Published", "int"),
            Column("missed", "Missed", "int", html=False),
            Column("failed", "Failed", "int", html=False),
            replace(RATE_COLUMNS[0], html=False),
            *RATE_COLUMNS[3:],
            *INTERACTION_COLUMNS[:3],
            replace(INTERACTION_COLUMNS[3], html=False),
        ],
        frame,
        html=dim not in ("weekday_name", "hour", "channel", "language"),
    )


def _trend(aud: pd.DataFrame, opts: Options) -> Table:
    frame = grouped(
        aud[aud["published"]],
        ["audience_label", "week"],
        lambda a, i, k: {
            **engagement_row(a, i, ("week", *k), opts, intervals=False),
            **fixed_age_row(a, i, k, opts),
        },
    )
    return Table(
        "trend_weekly",
        "Trend by publication week",
        "Per audience and week of publication (weeks start on Monday, UTC): a publish-date "
        "cohort, so recent weeks have had less time to collect engagement.",
        [
            _audience_col(),
            Column("week", "Week of", "date"),
            Column("posts", "Posts measured", "int"),
            Column("er_impr", "ER by impressions (95% CI)", "pct", "er_impr_low", "er_impr_high"),
            Column("er_impr_posts", "n (impr.)", "int"),
            Column("er_foll", "ER by followers (95% CI)", "pct", "er_foll_low", "er_foll_high"),
            Column("er_foll_posts", "n (foll.)", "int"),
            Column(
                "er_impr_7d",
                "ER by impressions at 7 d (95% CI)",
                "pct",
                "er_impr_7d_low",
                "er_impr_7d_high",
            ),
            Column("er_impr_7d_posts", "n (impr., 7 d)", "int"),
            Column(
                "er_foll_7d",
                "ER by followers at 7 d (95% CI)",
                "pct",
                "er_foll_7d_low",
                "er_foll_7d_high",
            ),
            Column("er_foll_7d_posts", "n (foll., 7 d)", "int"),
        ],
        frame,
        html=False,
    )


def _fixed_age(aud: pd.DataFrame, opts: Options) -> Table:
    records: list[dict[str, Any]] = []
    a = arrays(aud) if len(aud) else {}
    for (label_key,), idx in group_indices(aud, ["audience_label"]):
        for basis, _prefix in BASES:
            b = idx[a["measured"][idx] & (a["basis"][idx] == basis)]
            for age in FIXED_AGES:
                immature = aud[f"immature_{age}"].to_numpy(dtype=bool)[b]
                mature = b[~immature]
                known = mature[~np.isnan(a[f"rate_{age}"][mature])]
                ratio, low, high = _ratio_ci(
                    a,
                    known,
                    f"eng_{age}",
                    f"exposure_{age}",
                    stats.seed_for(opts.seed, "age", label_key, basis, age),
                    opts,
                )
                rates = a[f"rate_{age}"][known]
                records.append(
                    {
                        "audience_label": label_key,
                        "basis": BASIS_LABEL[basis],
                        "age": age,
                        "posts": int(known.size),
                        "immature": int(immature.sum()),
                        "missing": int(mature.size - known.size),
                        "rate": ratio,
                        "rate_low": low,
                        "rate_high": high,
                        "rate_mean": _mean(rates),
                        "rate_median": _median(rates),
                    }
                )
    frame = pd.DataFrame.from_records(records)
    frame = (
        frame[frame["posts"] + frame["immature"] + frame["missing"] > 0] if len(frame) else frame
    )
    return Table(
        "fixed_age",
        "Posts compared at a fixed age",
        "Engagement rate at 24 h and at 7 d after publication, interpolated linearly between the "
        "snapshots around that age (from zero at publication when the first snapshot is later). "
        "Posts younger than the age are flagged and left out, not mixed in; 'missing' = old "
        "enough but no snapshot after that age.",
        [
            _audience_col(),
            Column("basis", "Rate"),
            Column("age", "Age"),
            Column("posts", "Posts compared", "int"),
            Column("immature", "Too young (excluded)", "int"),
            Column("missing", "No snapshot after age", "int"),
            Column("rate", "ER (ratio of sums, 95% CI)", "pct", "rate_low", "rate_high"),
            Column("rate_mean", "Mean of posts (median)", "pct", median="rate_median"),
        ],
        frame,
    )


LEVEL_SUFFIXES = ("_rate", "_share", "_pct", "_score", "_index")


def outcome_totals(outcomes: pd.DataFrame) -> list[tuple[str, float]]:
    """Per metric over the period: counts (registrations, applications...) are summed; a level
    (``survey_*`` or a name ending in _rate, _share, _pct, _score, _index) is its latest value."""
    totals: list[tuple[str, float]] = []
    for metric, rows in outcomes.groupby("metric", sort=True):
        name = str(metric)
        if name.startswith("survey_") or name.endswith(LEVEL_SUFFIXES):
            latest = rows.sort_values("on_date")["value"].iloc[-1]
            totals.append((name, float(latest)))
        else:
            totals.append((name, float(rows["value"].sum())))
    return totals


def _outcome_text(outcomes: pd.DataFrame) -> str | None:
    totals = outcome_totals(outcomes)
    return "; ".join(f"{m} {format_amount(v)}" for m, v in totals) or None


def _ladder_row(label: str, group: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, Any]:
    m = group[group["measured"]]
    impr = m[m["basis"] == "impressions"]
    foll = m[m["basis"] == "followers"]
    return {
        "audience_label": label,
        "published": int(group["published"].sum()),
        "impressions": m["impressions"].sum(min_count=1),
        "engagements": m["eng"].sum(min_count=1),
        "er_impr": impr["eng"].sum() / impr["exposure"].sum() if len(impr) else math.nan,
        "er_foll": foll["eng"].sum() / foll["exposure"].sum() if len(foll) else math.nan,
        "link_clicks": m["link_clicks"].sum(min_count=1),
        "outcomes": _outcome_text(outcomes),
    }


def _amec(posts: pd.DataFrame, aud: pd.DataFrame, data: StoreData) -> Table:
    outcomes = data.outcomes
    records: list[dict[str, Any]] = []
    for label_key, group in aud.groupby("audience_label", sort=True):
        audience_id = int(group["audience_id"].iloc[0])
        own = outcomes[outcomes["audience_id"] == audience_id] if len(outcomes) else outcomes
        records.append(_ladder_row(str(label_key), group, own))
    if len(outcomes):
        wide = outcomes[outcomes["audience_id"].isna()]
        for campaign_id, own in wide.groupby("campaign_id", sort=True):
            group = posts[posts["campaign_id"] == campaign_id]
            records.append(_ladder_row(f"Whole campaign · {campaign_id}", group, own))
    return Table(
        "amec",
        "Evaluation ladder (AMEC): outputs → out-takes → outcomes",
        "Outputs: what was published and seen. Out-takes: how people reacted on the platforms. "
        "Outcomes: results off the platforms imported with `elshi outcomes import`, dated in "
        "the period: counts are summed, levels (survey_*, *_rate, *_share...) show the latest "
        "value. 'Whole campaign' rows count each delivery once. ER = ratio of sums. " + COHORT,
        [
            _audience_col(),
            Column("published", "Outputs: posts published", "int", short="Published"),
            Column("impressions", "Outputs: impressions", "int", short="Impressions"),
            Column("engagements", "Out-takes: engagements", "int", short="Engagements"),
            Column("er_impr", "Out-takes: ER by impressions", "pct", short="ER by impr."),
            Column("er_foll", "Out-takes: ER by followers", "pct", short="ER by foll."),
            Column("link_clicks", "Out-takes: link clicks", "int", short="Link clicks"),
            Column("outcomes", "Outcomes (imported)", short="Outcomes"),
        ],
        pd.DataFrame.from_records(records),
    )


# --- empirical Bayes --------------------------------------------------------------------------


def fit_priors(posts: pd.DataFrame) -> dict[tuple[str, str], stats.BetaPrior]:
    """A Beta prior per (platform, rate basis), by the method of moments on per-post rates."""
    priors: dict[tuple[str, str], stats.BetaPrior] = {}
    m = posts[posts["measured"] & posts["rate"].notna()]
    for (platform, basis), group in m.groupby(["platform", "basis"]):
        prior = stats.fit_beta_prior(group["eng"].to_numpy(), group["exposure"].to_numpy())
        if prior is not None:
            priors[str(platform), str(basis)] = prior
    return priors


def shrunk_groups(
    frame: pd.DataFrame, by: list[str], priors: dict[tuple[str, str], stats.BetaPrior]
) -> pd.DataFrame:
    """Per group of one basis: posts, raw rate, shrunk rate and index vs platform typical. Per
    platform in the group (k/phi + alpha) / (n/phi + alpha + beta), divided by the prior's mean
    for the index, then averaged over the group's platforms weighted by posts. A platform
    without a fitted prior keeps its raw rate and has no index."""
    parts = (
        frame.groupby([*by, "platform"], dropna=False, sort=True)
        .agg(k=("eng", "sum"), n=("exposure", "sum"), posts=("eng", "size"))
        .reset_index()
    )
    parts = parts[parts["n"] > 0]
    keys = list(zip(parts["platform"], parts["basis"], strict=True))
    fitted = [priors.get((str(p), str(b))) for p, b in keys]
    alpha = np.array([f.alpha if f else np.nan for f in fitted])
    beta = np.array([f.beta if f else np.nan for f in fitted])
    phi = np.array([f.phi if f else np.nan for f in fitted])
    mean = np.array([f.mean if f else np.nan for f in fitted])
    k, n = parts["k"].to_numpy(dtype=float), parts["n"].to_numpy(dtype=float)
    raw = k / n
    shrunk = np.where(np.isnan(alpha), raw, (k / phi + alpha) / (n / phi + alpha + beta))
    w = parts["posts"].to_numpy(dtype=float)
    parts = parts.assign(w_raw=w * raw, w_shrunk=w * shrunk, w_index=w * shrunk / mean)
    out = parts.groupby(by, dropna=False, sort=True).agg(
        posts=("posts", "sum"),
        w_raw=("w_raw", "sum"),
        w_shrunk=("w_shrunk", "sum"),
        w_index=("w_index", lambda v: v.sum(min_count=len(v))),
    )
    return pd.DataFrame(
        {
            "posts": out["posts"],
            "raw": out["w_raw"] / out["posts"],
            "shrunk": out["w_shrunk"] / out["posts"],
            "index": out["w_index"] / out["posts"],
        }
    ).reset_index()


def _leaderboard(
    aud: pd.DataFrame,
    priors: dict[tuple[str, str], stats.BetaPrior],
    dim: str,
    label: str,
    opts: Options,
) -> Table:
    m = aud[aud["measured"] & aud["rate"].notna()]
    frame = shrunk_groups(m, ["audience_label", "basis", dim], priors) if len(m) else m.iloc[:0]
    if len(frame):
        frame["basis"] = frame["basis"].map(BASIS_LABEL)
        eligible = (frame["posts"] >= opts.min_posts) & frame["index"].notna()
        frame["rank"] = (
            frame[eligible]
            .groupby(["audience_label", "basis"])["index"]
            .rank(ascending=False, method="min")
        )
        frame["note"] = np.where(
            eligible,
            "",
            np.where(
                frame["posts"] < opts.min_posts,
                f"fewer than {opts.min_posts} posts: not ranked",
                "no prior for its platform: not ranked",
            ),
        )
        frame = frame.sort_values(
            ["audience_label", "basis", "rank", "index"],
            ascending=[True, True, True, False],
            na_position="last",
        )
    return Table(
        f"leaderboard_{dim}",
        f"Leaderboard: {label.lower()}s",
        "Ranked by the empirical-Bayes shrunk engagement rate relative to each platform's typical "
        "post (index 1.00 = typical), so the platform mix does not decide the rank. A Beta prior "
        "per platform is fitted by the method of moments; few or small posts are pulled toward "
        f"the typical rate. Groups with fewer than {opts.min_posts} posts are listed, not ranked.",
        [
            _audience_col(),
            Column("basis", "Rate"),
            Column(dim, label),
            Column("posts", "Posts", "int"),
            Column("rank", "Rank", "int"),
            Column("shrunk", "Shrunk rate", "pct"),
            Column("raw", "Raw rate (ratio of sums)", "pct"),
            Column("index", "Index vs platform typical", "index"),
            Column("note", "Note"),
        ],
        frame,
    )


def _ab_tests(aud: pd.DataFrame, opts: Options) -> Table:
    m = aud[aud["measured"] & aud["rate"].notna() & (aud["variant"] != "(none)")]
    records: list[dict[str, Any]] = []
    for (audience_label, basis), group in m.groupby(["audience_label", "basis"]):
        variants = sorted(str(v) for v in group["variant"].unique())
        for i, first in enumerate(variants):
            for second in variants[i + 1 :]:
                a = group[group["variant"] == first]
                b = group[group["variant"] == second]
                result = stats.compare_ratios(
                    (a["eng"], a["exposure"], a["post_id"]),
                    (b["eng"], b["exposure"], b["post_id"]),
                    seed=stats.seed_for(opts.seed, "ab", audience_label, basis, first, second),
                    reps=opts.reps,
                )
                verdict = (
                    "too few posts to tell"
                    if math.isnan(result.low)
                    else f"{second if result.difference > 0 else first} ahead, beyond noise"
                    if result.distinguishable
                    else "not distinguishable from noise"
                )
                records.append(
                    {
                        "audience_label": audience_label,
                        "basis": BASIS_LABEL[str(basis)],
                        "variant_a": first,
                        "posts_a": len(a),
                        "rate_a": result.rate_a,
                        "variant_b": second,
                        "posts_b": len(b),
                        "rate_b": result.rate_b,
                        "difference": result.difference,
                        "difference_low": result.low,
                        "difference_high": result.high,
                        "p_value": result.p_value,
                        "verdict": verdict,
                    }
                )
    return Table(
        "ab_tests",
        "A/B comparisons of message variants",
        "Ratio of sums per variant; the difference B − A with a cluster-bootstrap 95% interval "
        "and a permutation-test p-value (posts relabelled at random). 'Beyond noise' when the "
        "interval excludes 0. " + COHORT,
        [
            _audience_col(),
            Column("basis", "Rate"),
            Column("variant_a", "A"),
            Column("posts_a", "Posts A", "int"),
            Column("rate_a", "ER A", "pct"),
            Column("variant_b", "B"),
            Column("posts_b", "Posts B", "int"),
            Column("rate_b", "ER B", "pct"),
            Column("difference", "B − A (95% CI)", "pp", "difference_low", "difference_high"),
            Column("p_value", "p (permutation)", "p"),
            Column("verdict", "Verdict"),
        ],
        pd.DataFrame.from_records(records),
    )


def _half_life(posts: pd.DataFrame) -> Table:
    m = posts[posts["measured"] & (posts["last_age"] >= FIXED_AGES["7d"])]
    records = []
    for platform, group in m.groupby("platform"):
        hours = group["half_life"].dropna() / 3600.0
        records.append(
            {
                "platform": platform,
                "posts": len(hours),
                "median": hours.median() if len(hours) else math.nan,
                "p25": hours.quantile(0.25) if len(hours) else math.nan,
                "p75": hours.quantile(0.75) if len(hours) else math.nan,
            }
        )
    return Table(
        "half_life",
        "Engagement half-life per platform",
        "Time after publication at which a post reached half of its latest engagements, "
        "interpolated between snapshots; median and quartiles over posts whose last snapshot is "
        "at least 7 days old.",
        [
            Column("platform", "Platform"),
            Column("posts", "Posts", "int"),
            Column("median", "Median half-life", "hours"),
            Column("p25", "25th percentile", "hours"),
            Column("p75", "75th percentile", "hours"),
        ],
        pd.DataFrame.from_records(records),
    )


def _time_slots(aud: pd.DataFrame, opts: Options) -> tuple[Table, list[HeatMap]]:
    m = aud[aud["measured"] & aud["rate"].notna()].copy()
    baseline = m.groupby(["channel_id", "basis"])["rate"].transform("mean")
    m["relative"] = m["rate"] / baseline.where(baseline > 0)
    records: list[dict[str, Any]] = []
    heatmaps: list[HeatMap] = []
    for (audience_id, label_key), group in m.groupby(["audience_id", "audience_label"]):
        cells = group.groupby(["weekday", "hour"])["relative"].agg(["mean", "count"])
        index = [[math.nan] * 24 for _ in range(7)]
        counts = [[0] * 24 for _ in range(7)]
        for cell in cells.reset_index().to_dict("records"):
            w, h = int(cell["weekday"]), int(cell["hour"])
            index[w][h] = float(cell["mean"])
            counts[w][h] = int(cell["count"])
            records.append(
                {
                    "audience_label": label_key,
                    "weekday": WEEKDAYS[w],
                    "hour": h,
                    "posts": counts[w][h],
                    "index": index[w][h],
                    "thin": counts[w][h] < opts.thin_cell,
                }
            )
        heatmaps.append(
            HeatMap(
                audience_id=int(str(audience_id)),
                title=str(label_key),
                timezone=str(group["audience_timezone"].iloc[0]),
                index=tuple(tuple(r) for r in index),
                posts=tuple(tuple(r) for r in counts),
                thin=opts.thin_cell,
            )
        )
    return (
        Table(
            "time_slots",
            "Best local time slots (weekday × hour)",
            "Per audience, in its time zone: the mean over posts in the slot of (post's rate ÷ "
            "its account's mean rate), so 1.00 = the account's own baseline and accounts of "
            f"different size compare fairly. Slots with fewer than {opts.thin_cell} posts are "
            "thin (greyed out in the heat map).",
            [
                _audience_col(),
                Column("weekday", "Weekday"),
                Column("hour", "Hour", "int"),
                Column("posts", "Posts", "int"),
                Column("index", "Index vs account baseline", "index"),
                Column("thin", "Thin"),
            ],
            pd.DataFrame.from_records(records),
            html=False,
        ),
        heatmaps,
    )


def _follower_growth(data: StoreData) -> Table:
    f = data.followers
    since = data.scope.since
    if since is not None and len(f):
        f = f[f["sampled_at"] >= pd.Timestamp(since)]
    if data.scope.until is not None and len(f):
        f = f[f["sampled_at"] < pd.Timestamp(data.scope.until)]
    records = []
    for (channel, platform), group in f.groupby(["channel", "platform"]):
        first, last = group.iloc[0], group.iloc[-1]
        days = (last["sampled_at"] - first["sampled_at"]).total_seconds() / 86400.0
        change = float(last["followers"] - first["followers"])
        records.append(
            {
                "channel": channel,
                "platform": platform,
                "from": first["sampled_at"],
                "to": last["sampled_at"],
                "start": float(first["followers"]),
                "end": float(last["followers"]),
                "change": change,
                "change_pct": change / float(first["followers"])
                if first["followers"]
                else math.nan,
                "per_30_days": change / days * 30.0 if days > 0 else math.nan,
                "simulated": bool(group["simulated"].any()),
            }
        )
    return Table(
        "follower_growth",
        "Follower growth per channel",
        "First and last daily follower sample of each account in the period.",
        [
            Column("channel", "Channel"),
            Column("platform", "Platform"),
            Column("from", "From", "date"),
            Column("to", "To", "date"),
            Column("start", "Followers at start", "int"),
            Column("end", "Followers at end", "int"),
            Column("change", "Change", "int"),
            Column("change_pct", "Change %", "pct"),
            Column("per_30_days", "Change per 30 days", "float"),
            _flag_col(),
        ],
        pd.DataFrame.from_records(records),
    )


def _top_bottom(
    posts: pd.DataFrame,
    aud: pd.DataFrame,
    priors: dict[tuple[str, str], stats.BetaPrior],
    opts: Options,
) -> tuple[Table, Table]:
    m = posts[posts["measured"] & posts["rate"].notna() & ~posts["immature_24h"]].copy()
    m["index"] = np.nan
    for (platform, basis), prior in priors.items():
        rows = (m["platform"] == platform) & (m["basis"] == basis)
        shrunk = prior.shrink(m.loc[rows, "eng"], m.loc[rows, "exposure"])
        m.loc[rows, "index"] = shrunk / prior.mean
    ranked = m[m["index"].notna()].sort_values(["index", "delivery_id"], ascending=[False, True])
    m = pd.concat([ranked.head(opts.top), ranked.tail(opts.top)]).drop_duplicates("delivery_id")
    low, high = stats.wilson(m["link_clicks"], m["impressions"])
    m["ctr_low"], m["ctr_high"] = low, high
    m["audiences"] = m["delivery_id"].map(audience_names(aud))
    m["published_local"] = [
        t.tz_convert(z).strftime("%Y-%m-%d %H:%M")
        for t, z in zip(m["published_at"], m["timezone"], strict=True)
    ]
    ranked = m[m["index"].notna()].sort_values(["index", "delivery_id"], ascending=[False, True])
    columns = [
        Column("text", "Post", link="remote_url"),
        Column("channel", "Channel"),
        Column("audiences", "Audiences"),
        Column("published_local", "Published (local)"),
        Column("impressions", "Impressions", "int"),
        Column("eng", "Engagements", "int"),
        Column("er_impr", "ER by impressions", "pct"),
        Column("er_foll", "ER by followers", "pct"),
        Column("rate_24h", "ER at 24 h", "pct"),
        Column("ctr", "Link CTR (Wilson 95%)", "pct", "ctr_low", "ctr_high"),
        Column("index", "Shrunk index", "index"),
    ]
    text = (
        "Ranked by the post's empirical-Bayes shrunk rate relative to its platform's typical "
        "post (1.00 = typical), so a post with little exposure does not top the list by luck. "
        "Posts younger than 24 h are left out. Link CTR with a Wilson interval."
    )
    return (
        Table("top_posts", "Top posts", text, columns, ranked.head(opts.top)),
        Table(
            "bottom_posts",
            "Bottom posts",
            text,
            columns,
            ranked.tail(opts.top).iloc[::-1],
        ),
    )


def _outcomes(data: StoreData) -> Table:
    o = data.outcomes.copy()
    if len(o):
        names = data.audiences.set_index("audience_id")["audience"]
        o["audience"] = o["audience_id"].map(names).fillna("(whole campaign)")
    return Table(
        "outcomes",
        "Outcomes (imported)",
        "Results measured off the platforms, as imported from CSV, dated within the period.",
        [
            Column("campaign_id", "Campaign"),
            Column("audience", "Audience"),
            Column("on_date", "Date", "date"),
            Column("metric", "Metric"),
            Column("value", "Value", "float"),
            Column("source", "Source"),
        ],
        o,
    )


def _platform_counters(posts: pd.DataFrame) -> Table:
    from reports.data import COUNTERS

    m = posts[posts["measured"]]
    records = []
    for platform, group in m.groupby("platform"):
        record: dict[str, Any] = {"platform": platform, "posts": len(group)}
        for name in COUNTERS:
            given = int(group[name].notna().sum())
            record[name] = (
                "not provided" if given == 0 else "all" if given == len(group) else f"{given}"
            )
        records.append(record)
    return Table(
        "platform_counters",
        "Counters each platform provides",
        "How many measured posts' latest snapshot has each counter. 'not provided': the platform "
        "does not give it, shown as n/a in every figure (never as 0).",
        [Column("platform", "Platform"), Column("posts", "Posts", "int")]
        + [Column(name, name.replace("_", " ").capitalize()) for name in COUNTERS],
        pd.DataFrame.from_records(records),
    )


def _data_quality(posts: pd.DataFrame, aud: pd.DataFrame, data: StoreData) -> Table:
    published = posts[posts["published"]]
    alive = published[~published["deleted"]]
    young = alive["age_hours"] < 1.0
    rows: list[tuple[str, int, str]] = [
        (
            "Published posts without any snapshot",
            int(((alive["snapshots"] == 0) & ~young).sum()),
            f"of {len(published)} published (posts younger than 1 h are not counted)",
        ),
    ]
    for label, seconds in FIXED_AGES.items():
        old = alive[(alive["age_hours"] * 3600 >= seconds) & (alive["snapshots"] > 0)]
        rows.append(
            (
                f"Posts older than {label} with no snapshot after {label}",
                int((~old[f"after_{label}"].fillna(False).astype(bool)).sum()),
                f"their value at {label} cannot be interpolated",
            )
        )
        rows.append(
            (
                f"Immature posts (younger than {label})",
                int(posts[f"immature_{label}"].sum()),
                f"left out of the {label} comparison",
            )
        )
    failed = posts["collect_failures"]
    rows += [
        (
            "Failed metric collections",
            int(failed.sum()),
            f"on {int((failed > 0).sum())} posts; retried later, never recorded as zeros",
        ),
        (
            "Posts deleted on the platform",
            int(posts["deleted"].sum()),
            "counted as deleted, left out of engagement figures",
        ),
        (
            "Deliveries needing review",
            int((posts["state"] == "needs_review").sum()),
            "unknown whether published (elshi deliveries)",
        ),
        (
            "Published posts reaching no audience",
            int((~published["delivery_id"].isin(aud["delivery_id"])).sum()),
            "their channel reaches none of their post's audiences",
        ),
        (
            "Simulated posts (sandbox)",
            int(posts.loc[posts["published"], "simulated"].sum()),
            "numbers from the sandbox's model, not a platform",
        ),
    ]
    for _, row in _platform_counters(posts).frame.iterrows():
        missing = [c for c in row.index if row[c] == "not provided"]
        if missing:
            rows.append(
                (
                    f"Counters not provided by {row['platform']}",
                    len(missing),
                    ", ".join(missing),
                )
            )
    return Table(
        "data_quality",
        "Data quality",
        "What the figures cannot see or had to leave out.",
        [Column("check", "Check"), Column("count", "Count", "int"), Column("detail", "Detail")],
        pd.DataFrame(rows, columns=["check", "count", "detail"]),
    )


def _posts_detail(posts: pd.DataFrame, aud: pd.DataFrame) -> Table:
    names = audience_names(aud)
    frame = posts.copy()
    frame["audiences"] = frame["delivery_id"].map(names)
    from reports.data import COUNTERS

    columns = [
        Column("delivery_id", "Delivery", "int"),
        Column("campaign_id", "Campaign"),
        Column("post_key", "Post"),
        Column("audiences", "Audiences"),
        Column("channel", "Channel"),
        Column("platform", "Platform"),
        Column("language", "Language"),
        Column("narrative", "Narrative"),
        Column("category", "Category"),
        Column("variant", "Variant"),
        Column("state", "State"),
        Column("published_at", "Published (UTC)", "datetime"),
        Column("remote_url", "URL", "url"),
        Column("snapshots", "Snapshots", "int"),
        Column("deleted", "Deleted"),
        *(Column(c, c.replace("_", " ").capitalize(), "int") for c in COUNTERS),
        Column("eng", "Engagements", "int"),
        Column("followers_at_post", "Followers at posting", "int"),
        Column("er_impr", "ER by impressions", "pct"),
        Column("er_foll", "ER by followers", "pct"),
        Column("rate_24h", "ER at 24 h", "pct"),
        Column("rate_7d", "ER at 7 d", "pct"),
        Column("ctr", "Link CTR", "pct"),
        Column("half_life", "Half-life (s)", "float"),
        _flag_col(),
    ]
    return Table(
        "posts",
        "Posts",
        "Every delivery in scope with its latest counters (n/a = not given by the platform).",
        columns,
        frame,
        html=False,
    )


# --- summary cards ----------------------------------------------------------------------------


def _trend_figure(group: pd.DataFrame, basis: str, key: Hashable, opts: Options) -> tuple[str, int]:
    """Later half of the period's posts vs the earlier half, on values at 7 days (so recent
    posts, which had less time to collect engagement, do not look worse)."""
    b = group[(group["basis"] == basis) & group["rate_7d"].notna()].sort_values("published_at")
    if b["post_id"].nunique() < 8:
        return "too few posts for a trend", 0
    first_t, last_t = b["published_at"].iloc[0], b["published_at"].iloc[-1]
    middle = first_t + (last_t - first_t) / 2
    early, late = b[b["published_at"] <= middle], b[b["published_at"] > middle]
    result = stats.compare_ratios(
        (early["eng_7d"], early["exposure_7d"], early["post_id"]),
        (late["eng_7d"], late["exposure_7d"], late["post_id"]),
        seed=stats.seed_for(opts.seed, "trend", key, basis),
        reps=opts.reps,
    )
    if math.isnan(result.low):
        return "too few posts for a trend", 0
    change = f"{result.difference * 100:+.2f} pp"
    if result.distinguishable:
        sign = 1 if result.difference > 0 else -1
        return f"{'▲' if sign > 0 else '▼'} {change} at 7 d, later vs earlier posts", sign
    return f"≈ no clear change at 7 d ({change}, within noise)", 0


def _rows_by_audience(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        str(record["audience_label"]): {str(k): v for k, v in record.items()}
        for record in frame.to_dict("records")
    }


def _cards(
    aud: pd.DataFrame,
    tables: dict[str, Table],
    data: StoreData,
    opts: Options,
    slots: pd.DataFrame,
) -> list[Card]:
    volume = _rows_by_audience(tables["audience_volume"].frame)
    engagement = _rows_by_audience(tables["audience_engagement"].frame)
    weekly = tables["trend_weekly"].frame
    cards: list[Card] = []
    for _, info in data.audiences.iterrows():
        label_key = f"{info['audience']} · {info['campaign_id']}"
        group = aud[aud["audience_id"] == info["audience_id"]]
        if label_key not in volume:
            continue
        vol, eng = volume[label_key], engagement[label_key]
        measured = group[group["measured"]]
        weeks = weekly[weekly["audience_label"] == label_key] if len(weekly) else weekly
        figures = [
            Figure(
                "Posts published",
                float(vol["published"]),
                "int",
                note=f"{int(vol['missed'])} missed · {int(vol['failed'])} failed"
                + (f" · {int(vol['deleted_after'])} deleted later" if vol["deleted_after"] else ""),
            ),
            Figure(
                "Reach (impressions)",
                None if pd.isna(eng["impressions"]) else float(eng["impressions"]),
                "int",
                note=(
                    f"{int(eng['posts_with_impressions'])} of {int(eng['posts'])} posts give "
                    "impressions"
                    if eng["posts_with_impressions"]
                    else "not given by these platforms"
                ),
            ),
        ]
        for basis, prefix in BASES:
            if not eng[f"{prefix}_posts"]:
                continue
            trend, sign = _trend_figure(measured, basis, label_key, opts)
            column = f"{prefix}_7d"
            series = (
                tuple(float(v) for v in weeks[column]) if len(weeks) and column in weeks else ()
            )
            figures.append(
                Figure(
                    f"Engagement rate {BASIS_LABEL[basis]}",
                    None if pd.isna(eng[prefix]) else float(eng[prefix]),
                    "pct",
                    low=None if pd.isna(eng[f"{prefix}_low"]) else float(eng[f"{prefix}_low"]),
                    high=None if pd.isna(eng[f"{prefix}_high"]) else float(eng[f"{prefix}_high"]),
                    note=(
                        f"{int(eng[f'{prefix}_posts'])} posts · median post "
                        f"{eng[f'{prefix}_median'] * 100:.2f}%"
                    ),
                    trend=trend,
                    trend_sign=sign,
                    series=series,
                )
            )
        own = (
            data.outcomes[data.outcomes["audience_id"] == info["audience_id"]]
            if len(data.outcomes)
            else data.outcomes
        )
        outcomes = tuple(outcome_totals(own)) if len(own) else ()
        best = (
            slots[(slots["audience_label"] == label_key) & ~slots["thin"]] if len(slots) else slots
        )
        best = best.sort_values("index", ascending=False).head(3) if len(best) else best
        slot_text = (
            ", ".join(
                f"{day} {int(hour):02d}:00"
                for day, hour in zip(best["weekday"], best["hour"], strict=True)
            )
            if len(best)
            else ""
        )
        cards.append(
            Card(
                audience_id=int(info["audience_id"]),
                campaign_id=str(info["campaign_id"]),
                title=str(info["audience"]),
                subtitle=f"{info['campaign_id']} · {str(info['audience_group']).replace('_', ' ')}"
                + (f" · best slots: {slot_text}" if slot_text else ""),
                figures=tuple(figures),
                outcomes=outcomes,
                simulated=bool(group["simulated"].any()),
            )
        )
    return cards


# --- methods ----------------------------------------------------------------------------------

METHODS: list[Method] = [
    Method(
        "Current value of a counter",
        "value = the counter in the delivery's last snapshot (collected ≤ report time)",
        "Snapshots are cumulative; they are never added up. A counter the platform does not give "
        "is n/a, never 0.",
    ),
    Method(
        "Engagements",
        "engagements = likes + reposts + replies + quotes (those the platform gives)",
        "n/a when the platform gives none of them. Bookmarks and link clicks are not included.",
    ),
    Method(
        "Engagement rate by impressions",
        "ER = Σ engagements ÷ Σ impressions over posts that have impressions (ratio of sums)",
        "Exposure-weighted: big posts weigh more. 'Mean of posts' = average of each post's "
        "engagements ÷ impressions; the median is shown beside it.",
    ),
    Method(
        "Engagement rate by followers",
        "ER = Σ engagements ÷ Σ followers at posting time, over posts without impressions",
        "Followers at posting time: the account's last daily sample before publication. Never "
        "mixed with the rate by impressions.",
    ),
    Method(
        "Amplification, applause, conversation",
        "per post: reposts + quotes; likes; replies — mean over posts (median beside)",
    ),
    Method(
        "Link click-through",
        "CTR = Σ link clicks ÷ Σ impressions; per post with a Wilson 95% interval",
    ),
    Method(
        "Interval of an aggregate rate",
        "cluster bootstrap: resample posts with replacement (a post on several channels is one "
        "cluster), recompute the ratio of sums, 2.5th–97.5th percentiles",
        "Engagements are not independent trials per impression (one person can like and "
        "share), so no binomial formula is used. Seeded: the same data give the same interval.",
    ),
    Method(
        "Shrunk rate (leaderboards, top posts)",
        "shrunk = (k/φ + α) ÷ (n/φ + α + β); α, β: Beta prior per platform by method of "
        "moments, α + β = m(1−m)/v − 1 on per-post rates (mean m, variance v); φ = Pearson "
        "dispersion of per-post counts",
        "A group with few posts is pulled toward its platform's typical rate; index = shrunk ÷ "
        "typical rate. Groups below the minimum number of posts are not ranked.",
    ),
    Method(
        "A/B comparison and trend",
        "difference = rate B − rate A; bootstrap 95% interval; permutation p-value",
        "'Beyond noise' only when the interval excludes 0. Trend: the later half of the "
        "period's posts vs the earlier half, on values at 7 days, same test.",
    ),
    Method(
        "Value at a fixed age",
        "v(age) = v₁ + (age − t₁)·(v₂ − v₁)/(t₂ − t₁) between the snapshots around that age",
        "From zero at publication when the first snapshot is later. Younger posts are left out.",
    ),
    Method(
        "Half-life",
        "time at which engagements first reach ½ × latest engagements (interpolated)",
        "Median over posts whose last snapshot is at least 7 days old, per platform.",
    ),
    Method(
        "Best time slots",
        "index(slot) = mean over the slot's posts of (post rate ÷ its account's mean rate)",
        "1.00 = the account's own baseline; local time of the audience; thin slots greyed.",
    ),
    Method(
        "Outcomes (AMEC)",
        "counts (registrations, applications) = sum over the period; levels (survey_*, *_rate, "
        "*_share, *_pct, *_score, *_index) = latest value in the period",
        "Imported from CSV with elshi outcomes import; shown beside the audience's outputs and "
        "out-takes, never mixed into them.",
    ),
    Method(
        "Attribution to audiences",
        "a delivery counts for audience A when its post targets A and its channel reaches A",
        "A post targeting two audiences counts fully for both where its channel reaches both; "
        "campaign totals count each delivery once.",
    ),
]
