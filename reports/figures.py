"""Building a report: the store's frames (`reports.data.load`) in, a `reports.model.Report` out.
This is the function API the CLI, the demo and the web pages call:

    scope + period + report time → ``load(engine, Scope(...))`` → ``build_report(data)`` →
    renderers (`render_html`, `render_xlsx`, `render_data`, `render_text`)

It orders the work; the figures live in their own modules: `posts` (per-post frames, rate
basis), `aggregates` (figures of a group), `tables` (engagement tables, AMEC), `ranking`
(leaderboards, A/B, top and bottom posts), `timing` (half-life, slots, follower growth),
`quality` (outcomes, counters, data quality, posts), `cards` and `summary` (the executive
summary). Nothing here reads the database or renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from reports import cards as _cards
from reports import quality, ranking, tables, timing
from reports.aggregates import Arrays, arrays, factorized, inherit, known
from reports.codes import taken_codes
from reports.data import StoreData
from reports.methods import METHODS
from reports.model import HeatMap, Report, Table
from reports.posts import (
    Codes,
    attributed_frame,
    audience_names,
    platform_labels,
    posts_frame,
    posts_rows,
)
from reports.stats import DEFAULT_REPS
from reports.summary import ExecutiveSummary, build_summary

DEFAULT_SEED = 20270321


@dataclass(frozen=True)
class Options:
    seed: int = DEFAULT_SEED
    """Seed of the permutation tests (A/B comparisons, trends)."""
    reps: int = DEFAULT_REPS
    min_posts: int = 5
    """Leaderboards rank only groups with at least this many posts at 7 days."""
    thin_cell: int = 3
    """Heat-map cells with fewer posts are greyed out."""
    top: int = 10
    imitates: Mapping[str, str] = field(default_factory=dict)
    """Channel name → the platform it imitates (``Config.text_platforms``: a sandbox
    channel's ``mimic``), shown beside "sandbox"."""


def build_report(
    data: StoreData, *, generated_at: datetime, options: Options | None = None
) -> Report:
    """All figures of one report."""
    opts = options or Options()
    posts = posts_frame(data, opts.imitates)
    pa = arrays(posts) if len(posts) else None
    codes: Codes = {}
    aud = attributed_frame(
        posts, data, codes, (lambda name: factorized(posts, name, pa)) if pa is not None else None
    )
    aud["weekday_name"] = _weekday_names(aud["weekday"], codes)
    # The permutation tests (A/B p-values, the cards' trends) run on a thread of their own
    # while the tables and the summary are computed (numpy releases the GIL for their draws,
    # partitions and sums); their results are read last.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-permutations")
    try:
        aa = arrays(aud) if len(aud) else None
        if aa is not None and pa is not None:
            _inherit_codes(aa, aud, pa, posts, data)
            for name, (own, values) in codes.items():
                known(aa, name, own, values)
        compared = ranking.ab_comparisons(aud, opts.seed, opts.reps, pool, aa)
        trend_of = _cards.trends(aud, data, seed=opts.seed, reps=opts.reps, pool=pool, a=aa)
        period = _period(posts, data)
        built, heatmaps = _tables(data, posts, aud, pa, aa, opts, period)
        simulated = bool(posts["simulated"].any()) or bool(data.followers["simulated"].any())
        summary = build_summary(
            posts,
            aud,
            data.campaigns,
            notes=_why_empty(posts, data),
            simulated=simulated,
            a=(pa, aa),
            campaign_rows=built["campaigns"].frame,
        )
        built["ab_tests"] = ranking.ab_table(compared)  # in its place (see `_tables`)
        card_list = _cards.cards(
            aud,
            built,
            data,
            built["time_slots"].frame,
            seed=opts.seed,
            reps=opts.reps,
            trend_of=trend_of,
            a=aa,
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return Report(
        title=_title(data),
        scope=_scope_text(data),
        generated_at=generated_at,
        as_of=data.scope.as_of,
        period=period,
        simulated=simulated,
        cards=card_list,
        tables=built,
        heatmaps=heatmaps,
        methods=METHODS,
        seed=opts.seed,
        summary=summary,
    )


def _inherit_codes(
    aa: Arrays, aud: pd.DataFrame, pa: Arrays, posts: pd.DataFrame, data: StoreData
) -> None:
    """The per-audience frame's columns taken from the per-post frame are grouped by the
    per-post frame's codes (`inherit`): each text is hashed once for both frames."""
    taken = posts_rows(posts, aud, data)
    if taken is not None:
        rows, names = taken
        inherit(aa, posts, pa, rows, [*names])


def _period(posts: pd.DataFrame, data: StoreData) -> tuple[datetime | None, datetime]:
    """The period the report shows, [start, end): ``--since`` or the first post's publication,
    and ``--until`` or the report time. The figures over a span of time (follower growth) use
    it too, so the header and they agree."""
    published = posts.loc[posts["published"], "published_at"]
    since = data.scope.since or (published.min().to_pydatetime() if len(published) else None)
    return since, data.scope.until or data.scope.as_of


def _tables(
    data: StoreData,
    posts: pd.DataFrame,
    aud: pd.DataFrame,
    pa: Arrays | None,
    aa: Arrays | None,
    opts: Options,
    period: tuple[datetime | None, datetime],
) -> tuple[dict[str, Table], list[HeatMap]]:
    """The report's tables in their order (the A/B table's place kept by an empty one: the
    caller makes it once its permutation tests are done) and the heat maps."""
    priors = ranking.fit_priors(posts, pa)
    built: dict[str, Table] = {}

    def add(table: Table) -> None:
        built[table.name] = table

    add(tables.campaign_table(posts, data, pa))
    labels = _audience_labels(data)
    add(tables.audience_volume(aud, aa, labels))
    engagement = tables.audience_engagement(aud, aa)
    add(engagement)
    add(tables.audience_interactions(engagement))
    add(tables.amec(engagement, built["audience_volume"], built["campaigns"], data))
    add(tables.fixed_age(aud, aa, engagement))
    add(tables.trend(aud, aa))
    for dim, label in tables.BREAKDOWNS:
        add(tables.breakdown(aud, dim, label, aa))
    add(ranking.leaderboard(aud, priors, "narrative", "Narrative", opts.min_posts, aa))
    add(ranking.leaderboard(aud, priors, "variant", "Message variant", opts.min_posts, aa))
    add(ranking.ab_table([]))
    add(timing.half_life(posts))
    slots, heatmaps = timing.time_slots(aud, posts, opts.thin_cell, pa, aa)
    add(slots)
    followers = data.followers.assign(
        platform_label=pd.Series(
            platform_labels(data.followers["platform"], data.followers["channel"], opts.imitates),
            index=data.followers.index,
            dtype=object,
        )
    )
    # Up to --until, or every sample taken by the report time (the period's end, inclusive).
    add(timing.follower_growth(followers, (period[0], data.scope.until)))
    names = audience_names(
        aud, {"audience": factorized(aud, "audience", aa)} if aa is not None else None
    )
    top, bottom = ranking.top_bottom(posts, names, priors, opts.top, pa)
    add(top)
    add(bottom)
    add(quality.outcomes_table(data))
    counters = quality.platform_counters(posts)
    add(counters)
    reached = set(aud["audience_label"].tolist()) if len(aud) else set()
    add(quality.data_quality(posts, aud, counters, [x for x in labels if x not in reached]))
    add(quality.posts_detail(posts, names))
    return built, heatmaps


def _audience_labels(data: StoreData) -> list[str]:
    """Every audience of the report's campaigns as the tables label it ("name · campaign")."""
    audiences = data.audiences
    return [
        f"{name} · {campaign}"
        for name, campaign in zip(audiences["audience"], audiences["campaign_id"], strict=True)
    ]


def _weekday_names(weekday: pd.Series, codes: Codes | None = None) -> pd.Series:
    """Weekday number (0 = Monday, NaN unknown) → its name (missing when unknown); plain
    objects, like the other label columns. ``codes`` receives the names' codes."""
    if not len(weekday):
        return pd.Series(np.nan, index=weekday.index, dtype="float64")
    names = np.array([*tables.WEEKDAYS, None], dtype=object)
    days = weekday.to_numpy(dtype="float64", na_value=np.nan)
    number = np.where(np.isnan(days), 7, days).astype(np.int64)
    if codes is not None:
        # As pandas factorizes the names: a missing one is NaN among the values.
        values = pd.Index([*tables.WEEKDAYS, np.nan], dtype=object)
        codes["weekday_name"] = taken_codes(number, values, np.arange(number.size))
    return pd.Series(names[number], index=weekday.index, dtype=object)


def _why_empty(posts: pd.DataFrame, data: StoreData) -> tuple[str, ...]:
    """When every counter is n/a, say why (and what to try)."""
    if posts["measured"].any():
        return ()
    as_of = f"{data.scope.as_of:%Y-%m-%d %H:%M} UTC"
    if not len(posts):
        return (f"Nothing is in scope at the report time ({as_of}).",)
    published = int(posts["published"].sum())
    later = int((posts["due_at"] > pd.Timestamp(data.scope.as_of)).sum())
    if not published:
        text = f"Every counter is n/a: nothing in scope was published by the report time ({as_of})."
        if later:
            text += (
                f" {_count(later, len(posts))} due after it: to read a rehearsal "
                "or a past period, give a later report time (elshi report --as-of, or "
                '"Counters as of" on the web workspace\'s Reports page).'
            )
        return (text,)
    if posts["deleted"].all() or not (posts["published"] & ~posts["deleted"]).any():
        posts_were = (
            "the published post was" if published == 1 else f"the {published} published posts were"
        )
        return (f"Every counter is n/a: {posts_were} deleted.",)
    return (
        "Every counter is n/a: no metric snapshot of the "
        + ("published post" if published == 1 else f"{published} published posts")
        + " was "
        f"collected by the report time ({as_of}). The daemon (elshi run) collects snapshots after "
        "publication.",
    )


def _count(part: int, whole: int) -> str:
    """ "3 of the 5 deliveries are", "the delivery is", "1 of the 2 deliveries is"."""
    if whole == 1:
        return "the delivery is"
    return f"{part} of the {whole} deliveries {'is' if part == 1 else 'are'}"


def _title(data: StoreData) -> str:
    if data.scope.campaign is not None and len(data.campaigns):
        return f"Effectiveness report: {data.campaigns['title'].iloc[0]}"
    return "Effectiveness report: all campaigns"


def _scope_text(data: StoreData) -> str:
    parts = []
    if data.scope.campaign:
        parts.append(f"campaign {data.scope.campaign}")
    if data.scope.country:
        parts.append(f"country {data.scope.country}")
    if data.scope.audience is not None and len(data.audiences):
        parts.append(f"audience {data.audiences['audience'].iloc[0]}")
    if data.scope.channel:
        parts.append(f"channel {data.scope.channel} (outcomes are not per channel: left out)")
    if data.scope.since:
        parts.append(f"published from {data.scope.since:%Y-%m-%d %H:%M} UTC")
    if data.scope.until:
        parts.append(f"until {data.scope.until:%Y-%m-%d %H:%M} UTC")
    return ", ".join(parts) or "all campaigns, all time"


__all__ = ["DEFAULT_SEED", "METHODS", "ExecutiveSummary", "Options", "build_report"]
