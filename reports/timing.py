"""Figures about time: how fast engagement arrives (half-life per platform), when in the
audience's own week posts do best (weekday × hour slots, heat maps and the "best slots" of a
card), and how the accounts grew (follower samples).

Slots compare posts at the same age (their rate at 7 days) against their own account's
baseline, computed over one row per delivery, so a post reaching two audiences counts once.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from reports.data import FIXED_AGES, StoreData
from reports.model import Column, HeatMap, Table
from reports.tables import WEEKDAYS, audience_col, flag_col

SLOT_AGE = "7d"


def half_life(posts: pd.DataFrame) -> Table:
    old = posts["measured"] & (posts["last_age"] >= FIXED_AGES["7d"])
    m = posts.loc[old, ["platform_label", "half_life"]]
    records = []
    for platform, group in m.groupby("platform_label"):
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


def _account_baselines(posts: pd.DataFrame) -> pd.Series:
    """Each delivery's account baseline: the mean rate at 7 days of its channel's posts of the
    same basis, one row per delivery."""
    rate = f"rate_{SLOT_AGE}"
    known = posts.loc[
        posts[f"known_{SLOT_AGE}"] & posts[rate].notna(), ["channel_id", "basis", rate]
    ]
    means = known.groupby(["channel_id", "basis"])[f"rate_{SLOT_AGE}"].mean()
    keys = pd.MultiIndex.from_frame(posts[["channel_id", "basis"]])
    return pd.Series(means.reindex(keys).to_numpy(), index=posts["delivery_id"].to_numpy())


def time_slots(
    aud: pd.DataFrame, posts: pd.DataFrame, thin_cell: int
) -> tuple[Table, list[HeatMap]]:
    baseline = aud["delivery_id"].map(_account_baselines(posts))
    rate = f"rate_{SLOT_AGE}"
    columns = ["audience_id", "audience_label", "audience_timezone", "weekday", "hour", rate]
    m = aud.loc[aud[f"known_{SLOT_AGE}"] & aud[rate].notna(), columns]
    base = baseline.loc[m.index]
    m["relative"] = m[f"rate_{SLOT_AGE}"] / base.where(base > 0)
    m = m[m["relative"].notna()]
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
                    "thin": counts[w][h] < thin_cell,
                }
            )
        heatmaps.append(
            HeatMap(
                audience_id=int(str(audience_id)),
                title=str(label_key),
                timezone=str(group["audience_timezone"].iloc[0]),
                index=tuple(tuple(r) for r in index),
                posts=tuple(tuple(r) for r in counts),
                thin=thin_cell,
            )
        )
    return (
        Table(
            "time_slots",
            "Best local time slots (weekday × hour)",
            "Per audience, in its time zone, on values at 7 days: the mean over posts in the "
            "slot of (post's rate ÷ its account's mean rate), the account's mean taken over one "
            "row per delivery, so 1.00 = the account's own baseline and accounts of different "
            f"size compare fairly. Slots with fewer than {thin_cell} posts are thin (greyed out "
            "in the heat map).",
            [
                audience_col(),
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


def best_slots_text(slots: pd.DataFrame, label: str) -> str:
    """What a card says about slots: the best three well-filled slots when there is a
    comparison; "only one slot used" or "too few posts per slot" when there is none."""
    own = slots[slots["audience_label"] == label] if len(slots) else slots
    if not len(own):
        return ""
    if len(own) == 1:
        return "only one slot used"
    full = own[~own["thin"]]
    if len(full) < 2:
        return "too few posts per slot to name a best one"
    best = full.sort_values(["index", "weekday", "hour"], ascending=[False, True, True]).head(3)
    return "best slots: " + ", ".join(
        f"{day} {int(hour):02d}:00 ({index:.2f})"
        for day, hour, index in zip(best["weekday"], best["hour"], best["index"], strict=True)
    )


def follower_growth(followers: pd.DataFrame, data: StoreData) -> Table:
    """``followers``: the store's follower samples with a ``platform_label`` column."""
    f = followers
    since = data.scope.since
    if since is not None and len(f):
        f = f[f["sampled_at"] >= pd.Timestamp(since)]
    if data.scope.until is not None and len(f):
        f = f[f["sampled_at"] < pd.Timestamp(data.scope.until)]
    records = []
    for (channel, platform), group in f.groupby(["channel", "platform_label"]):
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
        "First and last daily follower sample of each account in the period (samples taken by "
        "the report time).",
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
            flag_col(),
        ],
        pd.DataFrame.from_records(records),
    )
