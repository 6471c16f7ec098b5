"""One summary card per audience: volume, reach, the engagement rate of each basis with its
interval, median post and trend, the best local slots and the audience's outcomes. The numbers
are those of the report's tables (nothing is computed twice); the trend compares the later half
of the period's posts with the earlier half on values at 7 days.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from reports import stats
from reports.data import StoreData
from reports.model import Card, Figure, Table
from reports.posts import BASES, BASIS_LABEL
from reports.tables import outcome_totals
from reports.timing import best_slots_text

AGE = "7d"
_CARD_COLUMNS = (
    *("audience_id", "measured", "simulated", "basis", "published_at", "post_id"),
    *(f"{k}_{AGE}" for k in ("known", "eng", "exposure")),
)


def _trend_figure(group: pd.DataFrame, basis: str, seed: int, reps: int) -> tuple[str, int]:
    """Later half of the period's posts vs the earlier half, on values at 7 days (so recent
    posts, which had less time to collect engagement, do not look worse)."""
    b = group[(group["basis"] == basis) & group[f"known_{AGE}"]].sort_values("published_at")
    if b["post_id"].nunique() < 2 * stats.MIN_CLUSTERS:
        return "too few posts for a trend", 0
    first_t, last_t = b["published_at"].iloc[0], b["published_at"].iloc[-1]
    middle = first_t + (last_t - first_t) / 2
    early, late = b[b["published_at"] <= middle], b[b["published_at"] > middle]
    result = stats.compare_ratios(
        (early[f"eng_{AGE}"], early[f"exposure_{AGE}"], early["post_id"]),
        (late[f"eng_{AGE}"], late[f"exposure_{AGE}"], late["post_id"]),
        seed=seed,
        reps=reps,
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
) -> list[Card]:
    volume = _rows_by_audience(tables["audience_volume"].frame)
    engagement = _rows_by_audience(tables["audience_engagement"].frame)
    weekly = tables["trend_weekly"].frame
    narrow = aud[list(_CARD_COLUMNS)]
    by_audience = narrow.groupby("audience_id").indices if len(narrow) else {}
    out: list[Card] = []
    for _, info in data.audiences.iterrows():
        label_key = f"{info['audience']} · {info['campaign_id']}"
        if label_key not in volume:
            continue
        group = narrow.iloc[by_audience.get(info["audience_id"], [])]
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
                _number(eng["impressions"]),
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
            trend, sign = _trend_figure(measured, basis, seed, reps)
            column = f"{prefix}_{AGE}"
            series = (
                tuple(float(v) for v in weeks[column]) if len(weeks) and column in weeks else ()
            )
            low = _number(eng[f"{prefix}_low"])
            median = eng[f"{prefix}_median"]
            note = f"{int(eng[f'{prefix}_posts'])} posts"
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
        slot_text = best_slots_text(slots, label_key)
        out.append(
            Card(
                audience_id=int(info["audience_id"]),
                campaign_id=str(info["campaign_id"]),
                title=str(info["audience"]),
                subtitle=f"{info['campaign_id']} · {str(info['audience_group']).replace('_', ' ')}"
                + (f" · {slot_text}" if slot_text else ""),
                figures=tuple(figures),
                outcomes=outcomes,
                simulated=bool(group["simulated"].any()),
            )
        )
    return out
