"""Figures about time: how fast engagement arrives (half-life per platform), when in the
audience's own week posts do best (weekday × hour slots, heat maps and the "best slots" of a
card), and how the accounts grew (follower samples).

Slots compare posts at the same age (their rate at 7 days) against their own account's
baseline, computed over one row per delivery, so a post reaching two audiences counts once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.aggregates import Arrays, compensated_sums, factorized
from reports.data import FIXED_AGES
from reports.model import Column, HeatMap, Table
from reports.tables import WEEKDAYS, audience_col, flag_col

SLOT_AGE = "7d"


def half_life(posts: pd.DataFrame) -> Table:
    with np.errstate(invalid="ignore"):
        old = posts["measured"].to_numpy(dtype=bool) & (
            posts["last_age"].to_numpy(dtype="float64", na_value=np.nan) >= FIXED_AGES["7d"]
        )
    platforms = posts["platform_label"].to_numpy(dtype=object)[old]
    values = posts["half_life"].to_numpy(dtype="float64", na_value=np.nan)[old]
    simulated = posts["simulated"].to_numpy(dtype=bool)[old]
    records = []
    # Per platform in sorted order (a grouping of the rows by platform label), on numpy: the
    # median and quartiles numpy's (linear interpolation), as pandas' own are.
    codes, labels = pd.factorize(platforms)
    for code, platform in sorted(enumerate(labels.tolist()), key=lambda item: item[1]):
        seconds = values[codes == code]
        counted = ~np.isnan(seconds)
        hours = seconds[counted] / 3600.0
        quartiles = np.percentile(hours, [25.0, 75.0]) if hours.size else [math.nan, math.nan]
        records.append(
            {
                "platform": platform,
                "posts": int(hours.size),
                "median": float(np.median(hours)) if hours.size else math.nan,
                "p25": float(quartiles[0]),
                "p75": float(quartiles[1]),
                "simulated": bool(simulated[codes == code][counted].any()),
            }
        )
    return Table(
        "half_life",
        "Engagement half-life per platform",
        "Time after publication at which a post reached half of its latest engagements, "
        "interpolated between snapshots; median and quartiles over posts whose last snapshot was "
        "taken at least 7 days after publication.",
        [
            Column("platform", "Platform"),
            Column("posts", "Posts", "int"),
            Column("median", "Median half-life", "hours"),
            Column("p25", "25th percentile", "hours"),
            Column("p75", "75th percentile", "hours"),
        ],
        pd.DataFrame.from_records(records),
    )


def _account_baselines(posts: pd.DataFrame, a: Arrays | None = None) -> npt.NDArray[np.float64]:
    """Each delivery's account baseline: the mean rate at 7 days of its channel's posts of the
    same basis, one row per delivery (NaN when none of them has one). ``a``: ``arrays(posts)``
    when the caller has it (its codes are used)."""
    rate = posts[f"rate_{SLOT_AGE}"].to_numpy(dtype="float64", na_value=np.nan)
    known = posts[f"known_{SLOT_AGE}"].to_numpy(dtype=bool) & ~np.isnan(rate)
    # One code per (channel, basis) pair; each pair's mean as pandas' grouped mean makes it:
    # the compensated sum of its rows in their order (`compensated_sums`) over their count.
    channel, _channels = pd.factorize(posts["channel_id"], use_na_sentinel=False)
    basis, bases = factorized(posts, "basis", a)
    pair = np.asarray(channel, dtype=np.int64) * max(len(bases), 1) + basis
    count = int(pair.max()) + 1 if pair.size else 0
    sums = compensated_sums(pair[known], count, {"rate": rate[known]})["rate"]
    used = np.bincount(pair[known], minlength=count)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(used > 0, sums / used, np.nan)
    baseline: npt.NDArray[np.float64] = means[pair]
    return baseline


def _relative_rates(
    aud: pd.DataFrame, posts: pd.DataFrame, pa: Arrays | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``aud`` (positions, in the frame's order) whose rate at 7 days and account
    baseline are known, the baseline positive, and each one's rate divided by that baseline."""
    baseline = _account_baselines(posts, pa)
    # Each row's delivery among ``posts`` (one row per delivery; -1: not there).
    at = pd.Index(posts["delivery_id"].to_numpy()).get_indexer(aud["delivery_id"].to_numpy())
    base = np.full(at.size, np.nan)
    base[at >= 0] = baseline[at[at >= 0]]
    rate = aud[f"rate_{SLOT_AGE}"].to_numpy(dtype="float64", na_value=np.nan)
    rows = np.flatnonzero(aud[f"known_{SLOT_AGE}"].to_numpy(dtype=bool) & ~np.isnan(rate))
    with np.errstate(invalid="ignore"):
        relative = rate[rows] / np.where(base[rows] > 0, base[rows], np.nan)
    kept = ~np.isnan(relative)
    return rows[kept], relative[kept]


def _slot_cells(
    audience: np.ndarray,
    label: np.ndarray,
    labels: Sequence[Any],
    weekday: np.ndarray,
    hour: np.ndarray,
    value: np.ndarray,
) -> tuple[list[tuple[Any, ...]], list[float], list[int]]:
    """The cells (audience, label, weekday, hour) of the rows in sorted order, as a sorted
    grouping gives them (a row with a missing key in none), with each one's mean of ``value``
    (pandas' grouped mean: the compensated sum of its rows in their order over their count)
    and count. ``label``: each row's code in ``labels`` (-1: missing)."""
    keyed = np.flatnonzero(~pd.isna(audience) & (label >= 0) & ~np.isnan(weekday) & ~np.isnan(hour))
    if not keyed.size:
        return [], [], []
    # Label codes ranked in the labels' sorted order.
    rank = np.empty(len(labels), dtype=np.int64)
    rank[sorted(range(len(labels)), key=labels.__getitem__)] = np.arange(len(labels))
    keys = (audience[keyed], rank[label[keyed]], weekday[keyed], hour[keyed])
    order = np.lexsort(keys[::-1])  # stable: a cell's rows stay in their order
    starts = np.zeros(order.size, dtype=bool)
    starts[0] = True
    for key in keys:
        ranked = key[order]
        starts[1:] |= ranked[1:] != ranked[:-1]
    cell = np.empty(order.size, dtype=np.int64)
    cell[order] = np.cumsum(starts) - 1
    count = int(starts.sum())
    sums = compensated_sums(cell, count, {"value": value[keyed]})["value"]
    counts = np.bincount(cell, minlength=count)
    first = keyed[order[starts]]
    cells = list(
        zip(
            audience[first].tolist(),
            [labels[code] for code in label[first].tolist()],
            weekday[first].tolist(),
            hour[first].tolist(),
            strict=True,
        )
    )
    return cells, (sums / counts).tolist(), counts.tolist()


def _first_zones(
    audience: np.ndarray, label: np.ndarray, labels: Sequence[Any], zone: pd.Series
) -> dict[tuple[Any, Any], Any]:
    """(audience, label) → the time zone of its first row (rows with a label; ``label``: each
    row's code in ``labels``, -1 when missing; ``zone``: the rows' time zones)."""
    rows = np.flatnonzero(label >= 0)
    _audiences, audience_code = np.unique(audience[rows], return_inverse=True)
    pair = audience_code.reshape(-1) * max(len(labels), 1) + label[rows]
    _pairs, first = np.unique(pair, return_index=True)
    first = rows[first]
    return dict(
        zip(
            zip(audience[first].tolist(), [labels[c] for c in label[first].tolist()], strict=True),
            zone.to_numpy(dtype=object)[first].tolist(),
            strict=True,
        )
    )


def time_slots(
    aud: pd.DataFrame,
    posts: pd.DataFrame,
    thin_cell: int,
    pa: Arrays | None = None,
    aa: Arrays | None = None,
) -> tuple[Table, list[HeatMap]]:
    """``pa``, ``aa``: ``arrays(posts)`` and ``arrays(aud)`` when the caller has them."""
    kept, relative = _relative_rates(aud, posts, pa)
    audience = aud["audience_id"].to_numpy()[kept]
    codes, distinct = factorized(aud, "audience_label", aa)
    if distinct.hasnans:  # a label of its own (`factorized`), not -1 as pandas' default
        codes, distinct = pd.factorize(aud["audience_label"])
    label, labels = np.asarray(codes, dtype=np.int64)[kept], distinct.tolist()
    zones = _first_zones(audience, label, labels, aud["audience_timezone"].iloc[kept])
    records: list[dict[str, Any]] = []
    heatmaps: list[HeatMap] = []
    # Every audience's cells at once, in (audience, label, weekday, hour) order.
    cells, cell_means, cell_counts = _slot_cells(
        audience,
        label,
        labels,
        aud["weekday"].to_numpy(dtype="float64", na_value=np.nan)[kept],
        aud["hour"].to_numpy(dtype="float64", na_value=np.nan)[kept],
        relative,
    )
    # Whether a cell holds a simulated post: the same cells' mean of the flag is above 0
    # (worked out only when some post is simulated: a real report pays nothing for it).
    flag = aud["simulated"].to_numpy(dtype="float64")[kept]
    simulated_share = (
        _slot_cells(
            audience,
            label,
            labels,
            aud["weekday"].to_numpy(dtype="float64", na_value=np.nan)[kept],
            aud["hour"].to_numpy(dtype="float64", na_value=np.nan)[kept],
            flag,
        )[1]
        if flag.any()
        else [0.0] * len(cells)
    )
    cell_rows: dict[tuple[Any, Any], list[tuple[float, float, float, int, bool]]] = {}
    for (audience_id, label_key, w, h), mean, count, share in zip(
        cells, cell_means, cell_counts, simulated_share, strict=True
    ):
        cell_rows.setdefault((audience_id, label_key), []).append((w, h, mean, count, share > 0))
    for (audience_id, label_key), rows in cell_rows.items():
        index = [[math.nan] * 24 for _ in range(7)]
        counts = [[0] * 24 for _ in range(7)]
        for weekday, hour, mean, count, simulated in rows:
            w, h = int(weekday), int(hour)
            index[w][h] = float(mean)
            counts[w][h] = int(count)
            records.append(
                {
                    "audience_label": label_key,
                    "weekday": WEEKDAYS[w],
                    "hour": h,
                    "posts": counts[w][h],
                    "index": index[w][h],
                    "thin": counts[w][h] < thin_cell,
                    "simulated": simulated,
                }
            )
        heatmaps.append(
            HeatMap(
                audience_id=int(str(audience_id)),
                title=str(label_key),
                timezone=str(zones[audience_id, label_key]),
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


def best_slots_texts(slots: pd.DataFrame) -> dict[str, str]:
    """What each audience's card says about slots (audience label → text): the best three
    well-filled slots when there is a comparison; "only one slot used" or "too few posts per
    slot" when there is none. Slots in the table's order; the best by index (highest first),
    then weekday and hour, as a stable sort of the table orders them."""
    if not len(slots):
        return {}
    labels = slots["audience_label"].tolist()
    weekday, hour = slots["weekday"].tolist(), slots["hour"].tolist()
    index, thin = slots["index"].tolist(), slots["thin"].tolist()
    rows_of: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        rows_of.setdefault(label, []).append(i)
    texts: dict[str, str] = {}
    for label, rows in rows_of.items():
        full = [i for i in rows if not thin[i]]
        if len(rows) == 1:
            texts[label] = "only one slot used"
        elif len(full) < 2:
            texts[label] = "too few posts per slot to name a best one"
        else:
            best = sorted(full, key=lambda i: (-index[i], weekday[i], hour[i]))[:3]
            texts[label] = "best slots: " + ", ".join(
                f"{weekday[i]} {int(hour[i]):02d}:00 ({index[i]:.2f})" for i in best
            )
    return texts


def follower_growth(
    followers: pd.DataFrame, period: tuple[datetime | None, datetime | None]
) -> Table:
    """``followers``: the store's follower samples (taken by the report time) with a
    ``platform_label`` column; ``period``: the report's [start, end) as its header shows it
    (without ``--since``, from the first post's publication). Each account grows from its size
    at the period's start (its last sample at or before the start, as followers at posting are
    taken; else its first sample in the period) to its last sample in the period: a sample
    from months before the campaign posted is not growth over the period."""
    f = followers
    since, until = period
    if until is not None and len(f):
        f = f[f["sampled_at"] < pd.Timestamp(until)]
    start = None if since is None else pd.Timestamp(since)
    records = []
    # Each account's first and last sample read from the columns by position (a row of the
    # frame as a Series cost more than the rest of the table).
    sampled, count = f["sampled_at"], f["followers"].to_numpy()
    simulated = f["simulated"].to_numpy(dtype=bool)
    # The accounts in sorted (channel, platform) order, as iterating the grouping gives them;
    # each account's rows in order of time (the query's).
    groups = {
        cast(tuple[Any, Any], key): rows
        for key, rows in f.groupby(["channel", "platform_label"]).indices.items()
    }
    for (channel, platform), rows in sorted(groups.items(), key=lambda item: item[0]):
        if start is not None:
            before = int((sampled.iloc[rows] <= start).sum())
            rows = rows[max(before - 1, 0) :]
        i, j = int(rows[0]), int(rows[-1])
        first_at, last_at = sampled.iloc[i], sampled.iloc[j]
        days = (last_at - first_at).total_seconds() / 86400.0
        change = float(count[j] - count[i])
        records.append(
            {
                "channel": channel,
                "platform": platform,
                "from": first_at,
                "to": last_at,
                "start": float(count[i]),
                "end": float(count[j]),
                "change": change,
                "change_pct": change / float(count[i]) if count[i] else math.nan,
                "per_30_days": change / days * 30.0 if days > 0 else math.nan,
                "simulated": bool(simulated[rows].any()),
            }
        )
    return Table(
        "follower_growth",
        "Follower growth per channel",
        "Each account's followers at the start of the report's period (its last daily sample "
        "at or before it; the period starts at the first post's publication when no start is "
        "given) and at its last sample in the period (taken by the report time).",
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
