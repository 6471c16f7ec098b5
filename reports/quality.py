"""What the figures rest on: the imported outcomes, which counters each platform gives, the
data-quality panel (what the figures cannot see or had to leave out), and the table of every
post with its counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports.data import COUNTERS, FIXED_AGES, StoreData
from reports.model import Column, Table, posts_text
from reports.tables import flag_col


def outcomes_table(data: StoreData) -> Table:
    o = data.outcomes.copy()
    if len(o):
        names = data.audiences.set_index("audience_id")["audience"]
        o["audience"] = o["audience_id"].map(names).fillna("(whole campaign)")
        o["simulated"] = False  # imported from a file: never the sandbox's model
    return Table(
        "outcomes",
        "Outcomes (imported)",
        "Results measured off the platforms, as imported from CSV by the report time, dated "
        "within the period.",
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


def platform_counters(posts: pd.DataFrame) -> Table:
    measured = posts["measured"].to_numpy(dtype=bool)
    labels = posts["platform_label"].to_numpy(dtype=object)[measured]
    records = []
    if labels.size:
        # Platforms in sorted order, as a grouping by the label gives them.
        codes, distinct = pd.factorize(labels)
        by_name = np.argsort(np.asarray(distinct, dtype=object), kind="stable")
        rank = np.empty(by_name.size, dtype=np.int64)
        rank[by_name] = np.arange(by_name.size)
        group = rank[codes]
        platforms = np.asarray(distinct, dtype=object)[by_name]
        sizes = np.bincount(group, minlength=platforms.size)
        simulated = np.bincount(
            group,
            weights=posts["simulated"].to_numpy(dtype=bool)[measured],
            minlength=platforms.size,
        )
        given = {
            name: np.bincount(
                group,
                weights=posts[name].notna().to_numpy(dtype=bool)[measured],
                minlength=platforms.size,
            ).astype(np.int64)
            for name in COUNTERS
        }
        for i, platform in enumerate(platforms.tolist()):
            size = int(sizes[i])
            record: dict[str, Any] = {"platform": platform, "posts": size}
            record["simulated"] = bool(simulated[i] > 0)
            for name in COUNTERS:
                count = int(given[name][i])
                record[name] = (
                    "not provided" if count == 0 else "all" if count == size else f"{count}"
                )
            records.append(record)
    return Table(
        "platform_counters",
        "Counters each platform provides",
        "How many measured posts' latest snapshot has each counter. 'not provided': the platform "
        "does not give it, shown as n/a in every figure (never as 0). A sandbox channel names "
        "the platform it imitates.",
        [Column("platform", "Platform"), Column("posts", "Posts", "int")]
        + [Column(name, name.replace("_", " ").capitalize()) for name in COUNTERS],
        pd.DataFrame.from_records(records),
    )


def data_quality(
    posts: pd.DataFrame, aud: pd.DataFrame, counters: Table, unreached: Sequence[str] = ()
) -> Table:
    """``unreached``: the audiences of the report's campaigns that no delivery in scope
    reaches (their labels)."""
    # On the columns' arrays: each check is a count over masks of the posts (selecting rows of
    # the frame for each one cost more than all the counts).
    published = posts["published"].to_numpy(dtype=bool)
    alive = published & ~posts["deleted"].to_numpy(dtype=bool)
    age = posts["age_hours"].to_numpy(dtype="float64", na_value=np.nan)
    snapshots = posts["snapshots"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        young = age < 1.0
    measured = posts["measured"].to_numpy(dtype=bool)
    unknown = posts["eng"].isna().to_numpy(dtype=bool) & measured
    rows: list[tuple[str, int, str]] = [
        (
            "Published posts without any snapshot",
            int((alive & (snapshots == 0) & ~young).sum()),
            f"of {int(published.sum())} published (posts younger than 1 h are not counted)",
        ),
        (
            "Posts whose engagements are unknown",
            int(unknown.sum()),
            "lacks a counter its channel gives, or its channel gives none (views without "
            "reactions): left out of every rate (both terms)",
        ),
        (
            "Posts whose exposure is unknown",
            int((measured & ~unknown & ~posts["rated"].to_numpy(dtype=bool)).sum()),
            "impressions missing on a platform that gives them, or no follower count at "
            "posting: left out of every rate (numerator and denominator)",
        ),
    ]
    for label, seconds in FIXED_AGES.items():
        with np.errstate(invalid="ignore"):
            old = alive & (age * 3600 >= seconds) & (snapshots > 0)
        # Whether a snapshot came at or after the age (missing: no), as a truth value.
        after = posts[f"after_{label}"].to_numpy(dtype=object)
        given = ~pd.isna(after)
        reached = np.zeros(after.size, dtype=bool)
        reached[given] = after[given].astype(bool)
        rows.append(
            (
                f"Posts older than {label} with no snapshot at or after {label}",
                int((old & ~reached).sum()),
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
            f"on {posts_text(int((failed > 0).sum()))}; retried later, never recorded as zeros (the "
            "count as of now, not of the report time)",
        ),
        (
            "Posts deleted on the platform",
            int(posts["deleted"].sum()),
            "counted as deleted, left out of engagement figures",
        ),
        (
            "Our own thread replies subtracted",
            int(posts["own_replies"].sum()),
            "replies Elshi published under its own posts, not counted as engagement",
        ),
        (
            "Deliveries needing review",
            int((posts["state"] == "needs_review").sum()),
            "unknown whether published (elshi deliveries)",
        ),
        (
            "Published posts reaching no audience",
            int((published & ~posts["delivery_id"].isin(aud["delivery_id"]).to_numpy()).sum()),
            "their channel reaches none of their post's audiences",
        ),
        (
            "Audiences no delivery reaches",
            len(unreached),
            "nothing in scope was planned for them (listed with zeros in the volume table)"
            + (": " + "; ".join(unreached) if unreached else ""),
        ),
        (
            "Simulated posts (sandbox)",
            int((published & posts["simulated"].to_numpy(dtype=bool)).sum()),
            "numbers from the sandbox's model, not a platform",
        ),
    ]
    for _, row in counters.frame.iterrows():
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


def posts_detail(posts: pd.DataFrame, names: pd.Series) -> Table:
    """``names``: delivery id → the audiences it reaches (`reports.posts.audience_names`)."""
    frame = posts.assign(audiences=posts["delivery_id"].map(names))
    columns = [
        Column("delivery_id", "Delivery", "int"),
        Column("campaign_id", "Campaign"),
        Column("post_key", "Post"),
        Column("audiences", "Audiences"),
        Column("channel", "Channel"),
        Column("platform_label", "Platform"),
        Column("language", "Language"),
        Column("narrative", "Narrative"),
        Column("category", "Category"),
        Column("variant", "Variant"),
        Column("state", "State at report time"),
        Column("published_at", "Published (UTC)", "datetime"),
        Column("remote_url", "URL", "url"),
        Column("snapshots", "Snapshots", "int"),
        Column("deleted", "Deleted"),
        *(Column(c, c.replace("_", " ").capitalize(), "int") for c in COUNTERS),
        Column("own_replies", "Own replies subtracted", "int"),
        Column("eng", "Engagements", "int"),
        Column("basis", "Rate basis"),
        Column("followers_at_post", "Followers at posting", "int"),
        Column("er_impr", "ER by impressions", "pct"),
        Column("er_foll", "ER by followers", "pct"),
        Column("rate_24h", "ER at 24 h", "pct"),
        Column("rate_7d", "ER at 7 d", "pct"),
        Column("ctr", "Link CTR", "pct"),
        Column("half_life", "Half-life (s)", "float"),
        flag_col(),
    ]
    return Table(
        "posts",
        "Posts",
        "Every delivery in scope with its latest counters by the report time (n/a = not given "
        "by the platform; replies less our own thread replies).",
        columns,
        frame,
        html=False,
    )
