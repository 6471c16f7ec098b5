"""The engagement tables: per campaign, per audience (volume, engagement, interactions), per
audience and breakdown (narrative, category, platform, ...), the weekly trend, posts compared at
a fixed age, and the AMEC evaluation ladder. Each is a `reports.model.Table` whose description
says what a row is and which aggregate it shows. Campaign rows count each delivery once;
audience rows count a delivery for every audience it reaches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from reports.aggregates import (
    Arrays,
    Columns,
    Groups,
    arrays,
    engagement,
    fixed_age_columns,
    group_indices,
    grouped,
    volume,
)
from reports.data import FIXED_AGES, StoreData
from reports.model import Column, Table, format_amount
from reports.outcomes import is_level
from reports.posts import BASES, BASIS_LABEL

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
COHORT = "Publish-date cohort: posts published in the period, counters as of the report time."
VOLUME_COLUMNS = [
    Column("published", "Published", "int"),
    Column("missed", "Missed", "int"),
    Column("failed", "Failed", "int"),
    Column("needs_review", "Needs review", "int"),
    Column("cancelled", "Cancelled", "int"),
    Column("waiting", "Not yet published", "int"),
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
    Column("amplification_posts", "n (amplification)", "int", html=False),
    Column(
        "applause_mean",
        "Applause / post (median)",
        "float",
        median="applause_median",
        short="Applause / post",
    ),
    Column("applause_posts", "n (applause)", "int", html=False),
    Column(
        "conversation_mean",
        "Conversation / post (median)",
        "float",
        median="conversation_median",
        short="Conversation / post",
    ),
    Column("conversation_posts", "n (conversation)", "int", html=False),
    Column(
        "ctr", "Link CTR (ratio of sums, 95% CI)", "pct", "ctr_low", "ctr_high", short="Link CTR"
    ),
    Column("ctr_posts", "n (CTR)", "int", short="n"),
]
BREAKDOWNS: tuple[tuple[str, str], ...] = (
    ("narrative", "Narrative"),
    ("category", "Category"),
    ("platform_label", "Platform"),
    ("channel", "Channel"),
    ("language", "Language"),
    ("variant", "Message variant"),
    ("weekday_name", "Local weekday"),
    ("hour", "Local hour"),
)


def audience_col() -> Column:
    return Column("audience_label", "Audience")


def flag_col() -> Column:
    return Column("simulated", "Simulated", "text")


def campaign_table(posts: pd.DataFrame, data: StoreData, a: Arrays | None = None) -> Table:
    frame = grouped(
        posts,
        ["campaign_id"],
        [volume, engagement, fixed_age_columns],
        a=a,
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
            flag_col(),
        ],
        frame,
    )


def _simulated(a: Arrays, g: Groups) -> Columns:
    """Whether each group holds a simulated delivery (a sandbox channel's)."""
    return {"simulated": g.sizes("simulated") > 0}


def audience_volume(
    aud: pd.DataFrame, a: Arrays | None = None, labels: Sequence[str] = ()
) -> Table:
    """``labels``: every audience of the report's campaigns ("name · campaign"); one that no
    delivery in scope reaches has a row of zeros (nothing was planned for it), not no row."""
    frame = grouped(aud, ["audience_label"], [volume, _simulated], a=a)
    present = set(frame["audience_label"].tolist()) if len(frame) else set()
    absent = sorted({label for label in labels if label not in present})
    if absent:
        empty = {name: 0 for name in ("published", "missed", "failed", "needs_review")}
        empty |= {"cancelled": 0, "waiting": 0, "deleted_after": 0}
        zeros = pd.DataFrame(
            [
                {"audience_label": label, **empty, "published_share": math.nan, "simulated": False}
                for label in absent
            ]
        )
        frame = zeros if not len(frame) else pd.concat([frame, zeros], ignore_index=True)
        frame = frame.sort_values("audience_label", kind="stable").reset_index(drop=True)
    return Table(
        "audience_volume",
        "Volume per audience",
        "Deliveries per audience by their state at the report time (a delivery counts for every "
        "audience it reaches). Period by publication time, or due time when not published by "
        "the report time. An audience no delivery reaches is listed with zeros (in a report of "
        "one channel, the audiences that channel reaches).",
        [audience_col(), *VOLUME_COLUMNS],
        frame,
    )


def audience_engagement(aud: pd.DataFrame, a: Arrays | None = None) -> Table:
    frame = grouped(
        aud,
        ["audience_label"],
        [engagement, fixed_age_columns],
        a=a,
    )
    return Table(
        "audience_engagement",
        "Engagement per audience",
        "Engagement rate by impressions (posts whose platform gives impressions, even 0) and by "
        "followers at posting time (posts whose platform gives none), never mixed. Ratio of "
        "sums with a 95% interval over messages (Fieller, t over messages); mean and median of "
        "per-post rates beside it. n = posts used: a post whose engagements are unknown is left "
        "out of numerator and denominator. " + COHORT,
        [audience_col(), *RATE_COLUMNS, flag_col()],
        frame,
    )


def audience_interactions(engagement: Table) -> Table:
    """The same rows as the engagement table, other columns."""
    return Table(
        "audience_interactions",
        "Amplification, applause, conversation and link clicks per audience",
        "Counts per post (mean, with the median): amplification = reposts + quotes, applause = "
        "likes, conversation = replies less our own thread replies, over the posts whose "
        "platform gives the counter. Link CTR = link clicks / impressions (ratio of sums, 95% "
        "interval). " + COHORT,
        [audience_col(), Column("posts", "Posts measured", "int"), *INTERACTION_COLUMNS],
        engagement.frame,
    )


def breakdown(aud: pd.DataFrame, dim: str, label: str, a: Arrays | None = None) -> Table:
    frame = grouped(
        aud,
        ["audience_label", dim],
        [volume, engagement],
        a=a,
    )
    if dim == "weekday_name" and len(frame):
        # Weekdays in calendar order (an unknown one last): the order sorted on the two keys
        # alone, then every column taken in it (not each column sorted and dropped again).
        day = pd.Index(WEEKDAYS).get_indexer(pd.Index(frame[dim])).astype("float64")
        day[day < 0] = math.nan
        keys = pd.DataFrame({"audience_label": frame["audience_label"], "_order": day})
        order = keys.sort_values(["audience_label", "_order"]).index
        frame = frame.take(frame.index.get_indexer(order))
    name = {"weekday_name": "weekday", "platform_label": "platform"}.get(dim, dim)
    return Table(
        f"by_{name}",
        f"By {label.lower()}",
        f"Per audience and {label.lower()}"
        + (" (in the audience's time zone)" if dim in ("weekday_name", "hour") else "")
        + (" (a sandbox channel names the platform it imitates)" if name == "platform" else "")
        + ". ER: ratio of sums with 95% interval; mean (median) of per-post rates. "
        + COHORT,
        [
            audience_col(),
            Column(dim, label, "int" if dim == "hour" else "text"),
            Column("published", "Published", "int"),
            Column("missed", "Missed", "int", html=False),
            Column("failed", "Failed", "int", html=False),
            replace(RATE_COLUMNS[0], html=False),
            *RATE_COLUMNS[3:],
            *INTERACTION_COLUMNS[:6],
            replace(INTERACTION_COLUMNS[6], html=False),
            replace(INTERACTION_COLUMNS[7], html=False),
        ],
        frame,
        html=dim not in ("weekday_name", "hour", "channel", "language"),
    )


def trend(aud: pd.DataFrame, a: Arrays | None = None) -> Table:
    frame = grouped(
        aud,
        ["audience_label", "week"],
        [engagement, fixed_age_columns],
        a=a,
        where=aud["published"].to_numpy(dtype=bool),
    )
    return Table(
        "trend_weekly",
        "Trend by publication week",
        "Per audience and week of publication (weeks start on Monday, UTC): a publish-date "
        "cohort, so recent weeks have had less time to collect engagement; the columns at 7 d "
        "compare weeks fairly (posts younger than 7 days left out).",
        [
            audience_col(),
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


def fixed_age(aud: pd.DataFrame, a: Arrays | None = None, known: Table | None = None) -> Table:
    """``known``: the engagement table (`audience_engagement`: the same groups), whose columns
    at 7 days are taken as they are instead of computed again."""
    records: list[dict[str, Any]] = []
    items = group_indices(aud, ["audience_label"], a=a)
    # Whether a row's posts (the audience's of that basis) include a simulated one.
    simulated = aud["simulated"].to_numpy(dtype=bool) if len(aud) else None
    bases = aud["basis"].to_numpy(dtype=object) if len(aud) else None
    if items:
        a = a if a is not None else arrays(aud)
        groups = Groups.of([idx for _key, idx in items], a)
        by_age: dict[str, Columns] = {}
        for age in FIXED_AGES:
            keys = [f"{prefix}_{age}" for _basis, prefix in BASES]
            if known is not None and len(known.frame) == len(items) and keys[0] in known.frame:
                by_age[age] = {
                    name: known.frame[name].to_numpy()
                    for name in known.frame.columns
                    if name.startswith(tuple(keys))
                }
            else:
                by_age[age] = fixed_age_columns(a, groups, age)
    for i, ((label_key,), idx) in enumerate(items):
        assert simulated is not None and bases is not None
        flags = {
            basis: bool(simulated[idx].any() and (simulated[idx] & (bases[idx] == basis)).any())
            for basis, _ in BASES
        }
        for age in FIXED_AGES:
            row = {name: values[i].item() for name, values in by_age[age].items()}
            for basis, prefix in BASES:
                key = f"{prefix}_{age}"
                records.append(
                    {
                        "audience_label": label_key,
                        "basis": BASIS_LABEL[basis],
                        "age": age,
                        "posts": row[f"{key}_posts"],
                        "immature": row[f"{key}_young"],
                        "missing": row[f"{key}_missing"],
                        "rate": row[key],
                        "rate_low": row[f"{key}_low"],
                        "rate_high": row[f"{key}_high"],
                        "rate_mean": row[f"{key}_mean"],
                        "rate_median": row[f"{key}_median"],
                        "simulated": flags[basis],
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
        "snapshots around that age (a snapshot at exactly that age is used as it is; from zero "
        "at publication when the first snapshot is later). Posts younger than the age are "
        "flagged and left out, not mixed in; 'missing' = old enough but no snapshot at or after "
        "that age, or one around it lacks a counter the channel gives.",
        [
            audience_col(),
            Column("basis", "Rate"),
            Column("age", "Age"),
            Column("posts", "Posts compared", "int"),
            Column("immature", "Too young (excluded)", "int"),
            Column("missing", "No snapshot at or after age", "int"),
            Column("rate", "ER (ratio of sums, 95% CI)", "pct", "rate_low", "rate_high"),
            Column("rate_mean", "Mean of posts (median)", "pct", median="rate_median"),
        ],
        frame,
    )


def outcome_totals(outcomes: pd.DataFrame) -> list[tuple[str, float]]:
    """Per metric over the period: counts (registrations, applications...) are summed; a level
    (``survey_*`` or a name ending in _rate, _share, _pct, _score, _index) is its latest value."""
    totals: list[tuple[str, float]] = []
    for metric, rows in outcomes.groupby("metric", sort=True):
        name = str(metric)
        if is_level(name):
            latest = rows.sort_values("on_date")["value"].iloc[-1]
            totals.append((name, float(latest)))
        else:
            totals.append((name, float(rows["value"].sum())))
    return totals


def _outcome_text(outcomes: pd.DataFrame) -> str | None:
    totals = outcome_totals(outcomes)
    return "; ".join(f"{m} {format_amount(v)}" for m, v in totals) or None


_LADDER_KEYS = (
    "published",
    "impressions",
    "posts_with_impressions",
    "engagements",
    "posts_with_engagements",
    "er_impr",
    "er_impr_posts",
    "er_foll",
    "er_foll_posts",
    "link_clicks",
    "posts_with_link_clicks",
)


def _with_published(figures: pd.DataFrame, volume: pd.DataFrame) -> pd.DataFrame:
    """``figures.merge(volume)`` (the audiences' rows with their published count): when each
    audience of ``figures`` has one row in ``volume``, by looking the counts up instead."""
    labels = pd.Index(volume["audience_label"])
    at = labels.get_indexer(figures["audience_label"]) if labels.is_unique else None
    if at is None or (at < 0).any() or "published" in figures.columns:
        return figures.merge(volume)
    published = volume["published"].to_numpy()[at]
    return figures.reset_index(drop=True).assign(published=published)


def amec(engagement: Table, volume: Table, campaigns: Table, data: StoreData) -> Table:
    """The ladder reuses the engagement table's figures (one computation: the same audience
    shows the same ER everywhere); 'Whole campaign' rows are the campaign table's."""
    outcomes = data.outcomes
    records: list[dict[str, Any]] = []
    # The ladder's columns only: the rows are made into dicts column by column.
    shown = ("audience_label", *_LADDER_KEYS, "simulated")
    figures = (
        _with_published(
            engagement.frame[[name for name in engagement.frame.columns if name in shown]],
            volume.frame[["audience_label", "published"]],
        )
        if len(engagement.frame)
        else pd.DataFrame()
    )
    ids = (
        data.audiences.assign(
            audience_label=data.audiences["audience"].astype(str)
            + " · "
            + data.audiences["campaign_id"].astype(str)
        ).set_index("audience_label")["audience_id"]
        if len(data.audiences)
        else pd.Series(dtype="int64")
    )
    for row in figures.to_dict("records"):
        audience_id = ids.get(row["audience_label"])
        own = outcomes[outcomes["audience_id"] == audience_id] if len(outcomes) else outcomes
        records.append({k: row.get(k) for k in shown})
        records[-1]["outcomes"] = _outcome_text(own) if len(own) else None
    # An audience no delivery in scope reaches is a row too, as in the volume table: nothing
    # published (0, no post measured, out-takes n/a) beside its outcomes, which were left out
    # of the ladder (they are not credited to any post).
    listed = set(figures["audience_label"].tolist()) if len(figures) else set()
    for label in volume.frame["audience_label"].tolist() if len(volume.frame) else ():
        if label in listed:
            continue
        audience_id = ids.get(label)
        own = outcomes[outcomes["audience_id"] == audience_id] if len(outcomes) else outcomes
        records.append(
            {
                "audience_label": label,
                **{k: 0 if k == "published" or "posts" in k else math.nan for k in _LADDER_KEYS},
                "simulated": False,
                "outcomes": _outcome_text(own) if len(own) else None,
            }
        )
    records.sort(key=lambda record: str(record["audience_label"]))  # the volume table's order
    if len(outcomes) and len(campaigns.frame):
        wide = outcomes[outcomes["audience_id"].isna()]
        by_campaign = campaigns.frame.set_index("campaign_id")
        for campaign_id, own in wide.groupby("campaign_id", sort=True):
            if campaign_id not in by_campaign.index:
                continue
            row = by_campaign.loc[campaign_id].to_dict()
            records.append(
                {
                    "audience_label": f"Whole campaign · {campaign_id}",
                    **{k: row.get(k) for k in (*_LADDER_KEYS, "simulated")},
                    "outcomes": _outcome_text(own),
                }
            )
    return Table(
        "amec",
        "Evaluation ladder (AMEC): outputs → out-takes → outcomes",
        "Outputs: what was published and seen. Out-takes: how people reacted on the platforms. "
        "Outcomes: results off the platforms imported with `elshi outcomes import`, dated in "
        "the period: counts are summed, levels (survey_*, *_rate, *_share...) show the latest "
        "value. Every audience of the report is a row: one nothing was published for shows 0 "
        "posts and its out-takes as n/a beside its outcomes. 'Whole campaign' rows count each "
        "delivery once. ER = ratio of sums over the "
        "posts whose engagements and exposure are known (n beside it), the same figure as in "
        "'Engagement per audience'. " + COHORT,
        [
            audience_col(),
            Column("published", "Outputs: posts published", "int", short="Published"),
            Column("impressions", "Outputs: impressions", "int", short="Impressions"),
            Column("posts_with_impressions", "n (impressions)", "int", html=False),
            Column("engagements", "Out-takes: engagements", "int", short="Engagements"),
            Column("posts_with_engagements", "n (engagements)", "int", html=False),
            Column("er_impr", "Out-takes: ER by impressions", "pct", short="ER by impr."),
            Column("er_impr_posts", "n (impr.)", "int", short="n"),
            Column("er_foll", "Out-takes: ER by followers", "pct", short="ER by foll."),
            Column("er_foll_posts", "n (foll.)", "int", short="n"),
            Column("link_clicks", "Out-takes: link clicks", "int", short="Link clicks"),
            Column("posts_with_link_clicks", "n (link clicks)", "int", html=False),
            Column("outcomes", "Outcomes (imported)", short="Outcomes"),
        ],
        pd.DataFrame.from_records(records),
    )
