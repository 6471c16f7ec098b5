"""The per-post frames every figure starts from: one row per delivery in scope (its state at
the report time, its counters, its rate basis, exposure and rates, now and at the fixed ages),
and one row per (delivery, audience it reaches) with the audience's local weekday and hour.

The **basis** of a post's rate follows whether its platform *gives* impressions — the counter
is there (even 0) or NULL — never its value: ``impressions`` when given, else ``followers``
(followers at posting time). A post whose engagements are unknown (every part NULL) or whose
exposure is unknown has no rate and is left out of every rate, in numerator and denominator.
Nothing here reads the database or renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from reports.data import FIXED_AGES, StoreData

BASES = (("impressions", "er_impr"), ("followers", "er_foll"))
"""(basis, column prefix): the two rates, never mixed in one figure."""
BASIS_LABEL = {"impressions": "by impressions", "followers": "by followers at posting"}


def platform_label(platform: str, channel: str, imitates: Mapping[str, str]) -> str:
    """The platform as a reader should see it: a sandbox channel says which platform it
    imitates (its ``mimic``), so its figures are not taken for a real platform's."""
    mimic = imitates.get(channel) if platform == "sandbox" else None
    return f"sandbox imitating {mimic}" if mimic and mimic != "sandbox" else platform


def platform_labels(
    platforms: Iterable[object], channels: Iterable[object], imitates: Mapping[str, str]
) -> np.ndarray:
    """`platform_label` of each (platform, channel) pair, worked out once per sandbox channel
    (every other row's label is its platform)."""
    labels = np.array([str(p) for p in platforms], dtype=object)
    sandbox = np.flatnonzero(labels == "sandbox")
    if sandbox.size:
        names = np.array([str(c) for c in channels], dtype=object)[sandbox]
        unique, inverse = np.unique(names.astype(str), return_inverse=True)
        made = np.array([platform_label("sandbox", str(u), imitates) for u in unique], dtype=object)
        labels[sandbox] = made[inverse.reshape(-1)]
    return labels


def _sum_given(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Row sums of the given counters; NaN when none of them is given."""
    return frame[list(columns)].sum(axis=1, min_count=1)


def _texts(values: Iterable[str]) -> np.ndarray:
    texts: np.ndarray = np.fromiter(values, dtype=object)
    return texts


def posts_frame(data: StoreData, imitates: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per delivery in scope with its state flags, current counters and rates."""
    d = data.deliveries.copy()
    imitates = imitates or {}
    as_of = pd.Timestamp(data.scope.as_of)
    # Text columns made here stay plain objects, like the store's (`reports.data._frame`): the
    # figures take and group rows many times, which is slower on Arrow-backed strings.
    d["platform_label"] = platform_labels(d["platform"], d["channel"], imitates)
    d["published"] = (d["state"] == "published") & d["published_at"].notna()
    d["deleted"] = d["published"] & (d["remote_deleted_at"].notna() | d["deleted_snapshot"])
    d["measured"] = d["published"] & ~d["deleted"] & (d["snapshots"] > 0)
    d["simulated"] = d["simulated_snapshot"] | (d["platform"] == "sandbox")
    d["amplification"] = _sum_given(d, ["reposts", "quotes"])
    d["applause"] = d["likes"]
    d["conversation"] = d["replies"]
    gives_impressions = d["impressions"].notna()
    by_impressions = d["measured"] & gives_impressions
    by_followers = d["measured"] & ~gives_impressions
    d["basis"] = _texts(
        np.select(
            [by_impressions.to_numpy(), by_followers.to_numpy()], ["impressions", "followers"], ""
        ).tolist()
    )
    exposure = d["impressions"].where(gives_impressions, d["followers_at_post"])
    # Followers of 0 cannot carry a rate; impressions of 0 can (they add 0 to the denominator).
    exposure = exposure.where(gives_impressions | (exposure > 0))
    rated = (by_impressions | by_followers) & d["eng"].notna() & exposure.notna()
    d["rated"] = rated
    d["exposure"] = exposure.where(rated)
    d["eng_rated"] = d["eng"].where(rated)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (d["eng_rated"] / d["exposure"]).where(d["exposure"] > 0)
    d["rate"] = rate
    d["er_impr"] = rate.where(by_impressions)
    d["er_foll"] = rate.where(by_followers)
    with_clicks = d["measured"] & gives_impressions & d["link_clicks"].notna()
    d["ctr"] = (d["link_clicks"] / d["impressions"]).where(with_clicks & (d["impressions"] > 0))
    d["ctr_clicks"] = d["link_clicks"].where(with_clicks)
    d["ctr_impressions"] = d["impressions"].where(with_clicks)
    age = (as_of - d["published_at"]).dt.total_seconds()
    d["age_hours"] = age / 3600.0
    for label, seconds in FIXED_AGES.items():
        mature = d["measured"] & (age >= seconds)
        d[f"immature_{label}"] = d["measured"] & (age < seconds)
        fixed_exposure = d[f"impressions_{label}"].where(gives_impressions, d["exposure"])
        known = rated & mature & d[f"eng_{label}"].notna() & fixed_exposure.notna()
        d[f"eng_{label}"] = d[f"eng_{label}"].where(known)
        d[f"exposure_{label}"] = fixed_exposure.where(known)
        with np.errstate(divide="ignore", invalid="ignore"):
            d[f"rate_{label}"] = (d[f"eng_{label}"] / d[f"exposure_{label}"]).where(
                d[f"exposure_{label}"] > 0
            )
        d[f"known_{label}"] = known
    published = d["published_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    d["week"] = published.dt.to_period("W-SUN").dt.start_time
    d["variant"] = d["variant"].fillna("(none)")
    return d


def attributed_frame(posts: pd.DataFrame, data: StoreData) -> pd.DataFrame:
    """One row per (delivery, audience it reaches), with the audience's local weekday and hour."""
    audiences = data.audiences.drop(columns="campaign_id")
    a = posts.merge(data.attribution, on="delivery_id").merge(audiences, on="audience_id")
    # "audience · campaign" made once per distinct pair, then taken for every row.
    audience, audience_values = pd.factorize(a["audience"], use_na_sentinel=False)
    campaign, campaign_values = pd.factorize(a["campaign_id"], use_na_sentinel=False)
    width = max(len(campaign_values), 1)
    pair, pairs = pd.factorize(audience * width + campaign)
    labels = _texts(
        f"{audience_values[p // width]} · {campaign_values[p % width]}" for p in pairs.tolist()
    )
    a["audience_label"] = labels[pair]
    weekday = np.full(len(a), np.nan)
    hour = np.full(len(a), np.nan)
    published = a["published_at"]
    for zone, rows in a.groupby("audience_timezone").indices.items():
        local = published.iloc[rows].dt.tz_convert(str(zone))
        weekday[rows] = local.dt.day_of_week.to_numpy(dtype="float64", na_value=np.nan)
        hour[rows] = local.dt.hour.to_numpy(dtype="float64", na_value=np.nan)
    a["weekday"] = weekday
    a["hour"] = hour
    return a


def audience_names(aud: pd.DataFrame) -> pd.Series:
    """Delivery id → the names of the audiences it reaches, comma-separated."""
    # The distinct (delivery, audience) pairs in order of delivery and name: each name's rank
    # among the names, then one sort of the pairs' integer keys.
    codes, values = pd.factorize(aud["audience"], use_na_sentinel=False)
    if values.hasnans:
        pairs = aud[["delivery_id", "audience"]].drop_duplicates()
        pairs = pairs.sort_values(["delivery_id", "audience"])
        ids = pairs["delivery_id"].to_numpy()
        texts = pairs["audience"].to_numpy(dtype=object)
    else:
        distinct = np.asarray(values, dtype=object)
        by_name = np.argsort(distinct, kind="stable")
        rank = np.empty(by_name.size, dtype=np.int64)
        rank[by_name] = np.arange(by_name.size)
        width = max(by_name.size, 1)
        keys = np.unique(aud["delivery_id"].to_numpy(dtype=np.int64) * width + rank[codes])
        ids = keys // width
        texts = distinct[by_name[keys % width]]
    if not ids.size:
        return pd.Series(texts.astype(str), index=pd.Index(ids, name="delivery_id"))
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], ids.size]
    joined = texts[starts].copy()
    several = np.flatnonzero(ends - starts > 1)
    if several.size:
        listed = texts.tolist()
        joined[several] = [
            ", ".join(listed[start:end])
            for start, end in zip(starts[several].tolist(), ends[several].tolist(), strict=True)
        ]
    names: pd.Series = pd.Series(joined, index=pd.Index(ids[starts], name="delivery_id"))
    return names.astype(str)
