"""Figures of one group of posts (an audience, a campaign, an audience's narrative...), computed
on numpy arrays of the per-post frame (`reports.posts`) so that many groups stay cheap.

Every aggregate uses only the posts whose inputs it needs are known and says how many it
used: a rate drops a post with unknown engagements or exposure from its numerator *and* its
denominator (``*_posts`` counts the rest); a mean of counters uses the posts that give the
counter. Two aggregates are kept apart and named: the *ratio of sums* (exposure-weighted) and
the *mean of per-post rates* (each post counts once, median beside). Intervals are
`stats.ratio_interval` over messages (a message on several channels is one cluster).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports import stats
from reports.data import FIXED_AGES
from reports.posts import BASES

WAITING = ("draft", "approved", "scheduled", "publishing")

Arrays = dict[str, np.ndarray]
"""Columns of a per-post frame as numpy arrays: groups are index arrays into them."""
_FLOAT_COLUMNS = (
    "impressions",
    "eng",
    "eng_rated",
    "exposure",
    "rate",
    "er_impr",
    "er_foll",
    "amplification",
    "applause",
    "conversation",
    "ctr",
    "ctr_clicks",
    "ctr_impressions",
    "link_clicks",
    *(f"{kind}_{age}" for age in FIXED_AGES for kind in ("eng", "exposure", "rate")),
)
_BOOL_COLUMNS = (
    "measured",
    "deleted",
    "simulated",
    "rated",
    *(f"immature_{age}" for age in FIXED_AGES),
    *(f"known_{age}" for age in FIXED_AGES),
)


def arrays(frame: pd.DataFrame) -> Arrays:
    out: Arrays = {name: frame[name].to_numpy(dtype="float64") for name in _FLOAT_COLUMNS}
    for name in _BOOL_COLUMNS:
        out[name] = frame[name].to_numpy(dtype=bool)
    out["post_id"] = frame["post_id"].to_numpy(dtype="int64")
    out["state"] = frame["state"].to_numpy(dtype=object)
    codes, _states = pd.factorize(frame["state"])
    out["state_code"] = np.asarray(codes, dtype=np.int64)
    out["state_names"] = np.asarray(_states, dtype=object)
    out["basis"] = frame["basis"].to_numpy(dtype=object)
    return out


def ratio(a: Arrays, idx: np.ndarray, num: str, den: str) -> dict[str, float]:
    """Ratio of sums of ``num`` over ``den`` on the rows ``idx`` (all known), its interval
    and how many posts and messages it used."""
    y, x = stats.collapse(a[num][idx], a[den][idx], a["post_id"][idx])
    total = float(x.sum())
    value = float(y.sum()) / total if idx.size and total > 0 else math.nan
    low, high = stats.fieller(y, x) if math.isfinite(value) else (math.nan, math.nan)
    return {"value": value, "low": low, "high": high, "posts": int(idx.size), "messages": y.size}


def _given(values: np.ndarray) -> np.ndarray:
    given: np.ndarray = values[~np.isnan(values)]
    return given


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan


def _basis_rows(a: Arrays, idx: np.ndarray, basis: str) -> np.ndarray:
    """The rows of ``idx`` that carry a rate of this basis (measured, engagements and
    exposure known)."""
    rows: np.ndarray = idx[a["rated"][idx] & (a["basis"][idx] == basis)]
    return rows


def engagement_row(a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    """Engagement figures of one group of deliveries (see the module docstring)."""
    m = idx[a["measured"][idx]]
    impressions = _given(a["impressions"][m])
    eng = _given(a["eng"][m])
    row: dict[str, Any] = {
        "posts": int(m.size),
        "messages": int(np.unique(a["post_id"][m]).size),
        "deleted": int(a["deleted"][idx].sum()),
        "posts_with_impressions": int(impressions.size),
        "impressions": float(impressions.sum()) if impressions.size else math.nan,
        "posts_with_engagements": int(eng.size),
        "engagements": float(eng.sum()) if eng.size else math.nan,
    }
    clicks = _given(a["link_clicks"][m])
    row["posts_with_link_clicks"] = int(clicks.size)
    row["link_clicks"] = float(clicks.sum()) if clicks.size else math.nan
    for basis, prefix in BASES:
        b = _basis_rows(a, idx, basis)
        figure = ratio(a, b, "eng_rated", "exposure")
        rates = _given(a[prefix][b])
        row[prefix] = figure["value"]
        row[f"{prefix}_low"] = figure["low"]
        row[f"{prefix}_high"] = figure["high"]
        row[f"{prefix}_posts"] = figure["posts"]
        row[f"{prefix}_messages"] = figure["messages"]
        row[f"{prefix}_mean"] = _mean(rates)
        row[f"{prefix}_median"] = _median(rates)
        row[f"{prefix}_rated"] = int(rates.size)
    for name in ("amplification", "applause", "conversation"):
        given = _given(a[name][m])
        row[f"{name}_mean"] = _mean(given)
        row[f"{name}_median"] = _median(given)
        row[f"{name}_posts"] = int(given.size)
    c = m[~np.isnan(a["ctr_clicks"][m])]
    figure = ratio(a, c, "ctr_clicks", "ctr_impressions")
    row.update(
        ctr=figure["value"], ctr_low=figure["low"], ctr_high=figure["high"], ctr_posts=c.size
    )
    row["simulated"] = bool(a["simulated"][idx].any())
    return row


def volume_row(a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    names = a["state_names"]
    counts = np.bincount(a["state_code"][idx], minlength=len(names))
    states = {str(name): int(count) for name, count in zip(names, counts, strict=True)}
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


def fixed_age_row(a: Arrays, idx: np.ndarray, age: str = "7d") -> dict[str, Any]:
    """Per basis: the ratio of sums of the values at a fixed age over the posts old enough
    (``_posts``), the posts too young (``_young``, left out) and those old enough whose value
    cannot be known (``_missing``: no snapshot at or after that age)."""
    row: dict[str, Any] = {}
    for basis, prefix in BASES:
        b = _basis_rows(a, idx, basis)
        known = b[a[f"known_{age}"][b]]
        young = b[a[f"immature_{age}"][b]]
        figure = ratio(a, known, f"eng_{age}", f"exposure_{age}")
        rates = _given(a[f"rate_{age}"][known])
        row[f"{prefix}_{age}"] = figure["value"]
        row[f"{prefix}_{age}_low"] = figure["low"]
        row[f"{prefix}_{age}_high"] = figure["high"]
        row[f"{prefix}_{age}_posts"] = figure["posts"]
        row[f"{prefix}_{age}_messages"] = figure["messages"]
        row[f"{prefix}_{age}_young"] = int(young.size)
        row[f"{prefix}_{age}_missing"] = int(b.size - known.size - young.size)
        row[f"{prefix}_{age}_mean"] = _mean(rates)
        row[f"{prefix}_{age}_median"] = _median(rates)
    return row


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, k) if isinstance(k, int | float | np.number) else (1, str(k)) for k in key)


def group_indices(
    frame: pd.DataFrame, by: Sequence[str], where: np.ndarray | None = None
) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """(key, row positions in ``frame``) of each group of the rows ``where`` selects (all by
    default), keys in natural order (numbers numerically). Only the ``by`` columns are read."""
    if frame.empty:
        return []
    keys = frame[list(by)]
    positions = np.arange(len(frame)) if where is None else np.flatnonzero(where)
    if where is not None:
        keys = keys.iloc[positions]
    if keys.empty:
        return []
    indices = keys.groupby(list(by), sort=False, dropna=False).indices
    items = [
        ((k if isinstance(k, tuple) else (k,)), positions[np.asarray(v)])
        for k, v in indices.items()
    ]
    return sorted(items, key=lambda item: _sort_key(item[0]))


def grouped(
    frame: pd.DataFrame,
    by: Sequence[str],
    row: Callable[[Arrays, np.ndarray], dict[str, Any]],
    *,
    a: Arrays | None = None,
    where: np.ndarray | None = None,
) -> pd.DataFrame:
    """Apply ``row`` to each group of the rows ``where`` selects (keys in natural order); ``a``
    is ``arrays(frame)`` when the caller has it already. An empty frame gives no rows."""
    records: list[dict[str, Any]] = []
    if not frame.empty:
        a = arrays(frame) if a is None else a
        for keys, idx in group_indices(frame, by, where):
            records.append({**dict(zip(by, keys, strict=True)), **row(a, idx)})
    out = pd.DataFrame.from_records(records)
    return out if not out.empty else pd.DataFrame(columns=list(by))
