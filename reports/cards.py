"""One summary card per audience: volume, reach, the engagement rate of each basis with its
interval, median post and trend, the best local slots and the audience's outcomes. The numbers
are those of the report's tables (nothing is computed twice); the trend compares the later half
of the period's posts with the earlier half on values at 7 days.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd

from reports import stats
from reports.aggregates import Arrays, factorized
from reports.data import StoreData
from reports.model import Card, Figure, Table, posts_text
from reports.posts import BASES, BASIS_LABEL
from reports.tables import outcome_totals
from reports.timing import best_slots_texts

AGE = "7d"


def _trend_comparison(
    c: dict[str, Any], rows: np.ndarray, basis: str, seed: int, reps: int
) -> stats.Comparison | None:
    """Later half of the period's posts vs the earlier half, on values at 7 days (so recent
    posts, which had less time to collect engagement, do not look worse); None with too few
    posts. ``c``: the columns of the audience frame (`_card_columns`); ``rows``: the
    audience's measured rows."""
    rows = rows[c[f"basis_{basis}"][rows] & c["known"][rows]]
    published = c["published_at"]
    # In order of publication, as DataFrame.sort_values orders them (the same argsort).
    rows = rows[published[rows].argsort(kind="quicksort")]
    if np.unique(c["post_id"][rows]).size < 2 * stats.MIN_CLUSTERS:
        return None
    first_t, last_t = published[rows[0]], published[rows[-1]]
    middle = first_t + (last_t - first_t) / 2
    later = np.asarray(published[rows] > middle, dtype=bool)
    early, late = rows[~later], rows[later]
    eng, exposure, post = c["eng"], c["exposure"], c["post_id"]
    return stats.compare_ratios(
        (eng[early], exposure[early], post[early]),
        (eng[late], exposure[late], post[late]),
        seed=seed,
        reps=reps,
    )


def _trend_text(result: stats.Comparison | None) -> tuple[str, int]:
    if result is None or math.isnan(result.low):
        return "too few posts for a trend", 0
    change = f"{result.difference * 100:+.2f} pp"
    if result.distinguishable:
        sign = 1 if result.difference > 0 else -1
        return f"{'▲' if sign > 0 else '▼'} {change} at 7 d, later vs earlier posts", sign
    return f"≈ no clear change at 7 d ({change}, within noise)", 0


Trends = dict[tuple[Any, str], stats.Comparison | None]
"""(audience id, basis) → the card's trend comparison."""


def trends(
    aud: pd.DataFrame,
    data: StoreData,
    *,
    seed: int,
    reps: int,
    pool: Executor | None = None,
    a: Arrays | None = None,
) -> Trends:
    """The trend comparison of each audience and basis a card shows; with ``pool``, the
    permutation tests whose verdict needs them start on it at once. ``a``: the frame's
    `arrays`, when the caller has them."""
    out: Trends = {}
    if not len(aud):
        return out
    columns = _card_columns(aud, a)
    by_audience = _positions(aud["audience_id"].to_numpy())
    labels = set(aud["audience_label"].unique().tolist())
    for audience_id, audience, campaign_id in zip(
        data.audiences["audience_id"].tolist(),
        data.audiences["audience"].tolist(),
        data.audiences["campaign_id"].tolist(),
        strict=True,
    ):
        if f"{audience} · {campaign_id}" not in labels:
            continue
        rows = np.asarray(by_audience.get(audience_id, []), dtype=np.int64)
        measured = rows[columns["measured"][rows]]
        for basis, _prefix in BASES:
            result = _trend_comparison(columns, measured, basis, seed, reps)
            if pool is not None and result is not None and result.needs_p_value:
                result.start(pool)
            out[audience_id, basis] = result
    return out


def _reach_note(eng: dict[str, Any], of_impressions: int) -> str:
    """The reach figure's note: on how many posts impressions are known; when on none, whether
    the platforms give none or the posts of platforms that give them lack them
    (``of_impressions``: the audience's measured posts whose platform gives impressions)."""
    if eng["posts_with_impressions"]:
        return f"{int(eng['posts_with_impressions'])} of {int(eng['posts'])} posts give impressions"
    if of_impressions:
        return (
            "unknown: missing on the post whose platform gives them"
            if of_impressions == 1
            else f"unknown: missing on the {of_impressions} posts whose platform gives them"
        )
    return "not given by these platforms"


def _card_columns(aud: pd.DataFrame, a: Arrays | None = None) -> dict[str, Any]:
    """The columns a card reads, as arrays (publication times as pandas' own datetime array,
    so they sort and compare as the frame's column does; ``basis_NAME``: whether a row's basis
    is NAME, by the column's codes, kept in ``a``: the frame's `arrays`, when given)."""
    codes, values = factorized(aud, "basis", a)
    code_of = {value: code for code, value in enumerate(values.tolist()) if isinstance(value, str)}
    texts = all(isinstance(value, str) or pd.isna(value) for value in values.tolist())
    return {
        **{
            f"basis_{basis}": codes == code_of.get(basis, -2)
            if texts  # else values that are not texts: compared as they are
            else (aud["basis"] == basis).to_numpy(dtype=bool, na_value=False)
            for basis, _prefix in BASES
        },
        "known": aud[f"known_{AGE}"].to_numpy(dtype=bool),
        "measured": aud["measured"].to_numpy(dtype=bool),
        "simulated": aud["simulated"].to_numpy(dtype=bool),
        "eng": aud[f"eng_{AGE}"].to_numpy(dtype="float64"),
        "exposure": aud[f"exposure_{AGE}"].to_numpy(dtype="float64"),
        "post_id": aud["post_id"].to_numpy(),
        "published_at": aud["published_at"].array,
    }


_VOLUME_KEYS = ("published", "missed", "failed", "deleted_after")
_ENGAGEMENT_KEYS = (
    "impressions",
    "posts_with_impressions",
    "posts",
    *(
        f"{prefix}{suffix}"
        for _b, prefix in BASES
        for suffix in ("", "_posts", "_low", "_high", "_median")
    ),
)


def _rows_by_audience(frame: pd.DataFrame, keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Audience label → its row's values of ``keys`` (the columns a card reads)."""
    labels = [str(label) for label in frame["audience_label"].tolist()] if len(frame) else []
    columns = {key: frame[key].tolist() for key in keys if key in frame}
    return {
        label: {key: values[i] for key, values in columns.items()} for i, label in enumerate(labels)
    }


def _positions(values: np.ndarray) -> dict[Any, np.ndarray]:
    """Each distinct value → its positions (ascending)."""
    codes, uniques = pd.factorize(values)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes[codes >= 0], minlength=len(uniques)))
    parts = np.split(order[(codes < 0).sum() :], bounds[:-1])
    return dict(zip(uniques.tolist(), parts, strict=True))


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def cards(
    aud: pd.DataFrame,
    tables: dict[str, Table],
    data: StoreData,
    slots: pd.DataFrame,
    *,
    seed: int,
    reps: int,
    trend_of: Trends | None = None,
    a: Arrays | None = None,
) -> list[Card]:
    """``trend_of``: `trends` of the same frames, when the caller started them already; ``a``:
    the frame's `arrays`, when the caller has them."""
    volume = _rows_by_audience(tables["audience_volume"].frame, _VOLUME_KEYS)
    engagement = _rows_by_audience(tables["audience_engagement"].frame, _ENGAGEMENT_KEYS)
    weekly = tables["trend_weekly"].frame
    weeks_of = _positions(weekly["audience_label"].to_numpy(dtype=object)) if len(weekly) else {}
    columns = _card_columns(aud, a)
    by_audience = _positions(aud["audience_id"].to_numpy()) if len(aud) else {}
    slot_texts = best_slots_texts(slots)
    out: list[Card] = []
    for _, info in data.audiences.iterrows():
        label_key = f"{info['audience']} · {info['campaign_id']}"
        if label_key not in engagement:  # no delivery reaches it: a row of zeros, no card
            continue
        rows = np.asarray(by_audience.get(info["audience_id"], []), dtype=np.int64)
        vol, eng = volume[label_key], engagement[label_key]
        measured = rows[columns["measured"][rows]]
        weeks = weeks_of.get(label_key)
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
                _number(eng["impressions"]),
                "int",
                note=_reach_note(eng, int(columns["basis_impressions"][measured].sum())),
            ),
        ]
        for basis, prefix in BASES:
            if not eng[f"{prefix}_posts"]:
                continue
            trend, sign = _trend_text(
                trend_of[info["audience_id"], basis]
                if trend_of is not None
                else _trend_comparison(columns, measured, basis, seed, reps)
            )
            column = f"{prefix}_{AGE}"
            series = (
                tuple(float(v) for v in weekly[column].to_numpy(dtype="float64")[weeks])
                if weeks is not None and column in weekly
                else ()
            )
            low = _number(eng[f"{prefix}_low"])
            median = eng[f"{prefix}_median"]
            note = posts_text(int(eng[f"{prefix}_posts"]))
            if low is None:
                note += " · too few posts for an interval"
            if not pd.isna(median):
                note += f" · median post {median * 100:.2f}%"
            figures.append(
                Figure(
                    f"Engagement rate {BASIS_LABEL[basis]}",
                    _number(eng[prefix]),
                    "pct",
                    low=low,
                    high=_number(eng[f"{prefix}_high"]),
                    note=note,
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
        slot_text = slot_texts.get(label_key, "")
        out.append(
            Card(
                audience_id=int(info["audience_id"]),
                campaign_id=str(info["campaign_id"]),
                title=str(info["audience"]),
                subtitle=f"{info['campaign_id']} · {str(info['audience_group']).replace('_', ' ')}"
                + (f" · {slot_text}" if slot_text else ""),
                figures=tuple(figures),
                outcomes=outcomes,
                simulated=bool(columns["simulated"][rows].any()),
            )
        )
    return out
