"""The per-post frames every figure starts from: one row per delivery in scope (its state at
the report time, its counters, its rate basis, exposure and rates, now and at the fixed ages),
and one row per (delivery, audience it reaches) with the audience's local weekday and hour.

The **basis** of a post's rate follows whether its platform *gives* impressions — the counter
is there (even 0) or NULL — never its value: ``impressions`` when given, else ``followers``
(followers at posting time). A platform gives it when its connector collects it or any of
its measured posts has it (`gives_counter`); on such a platform a post whose own count is NULL has an unknown exposure
and stays in the rate by impressions, left out as unknown. A post whose engagements are unknown (a counter its channel gives is NULL,
`engagements_known`) or whose exposure is unknown has no rate and is left out of every rate, in numerator and denominator.
Nothing here reads the database or renders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.codes import taken_codes
from reports.data import ENGAGEMENT_PARTS, FIXED_AGES, StoreData

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


COLLECTS_IMPRESSIONS: frozenset[str] = frozenset({"x", "linkedin", "threads", "wechat"})
"""The platforms whose Elshi connector collects impressions (their ``capabilities.metrics``;
a test keeps this in step with the connectors). Mastodon, Bluesky, Telegram's Bot API and
Weibo give none."""


def gives_counter(
    labels: np.ndarray,
    channel_ids: np.ndarray,
    channels: pd.Series,
    measured: np.ndarray,
    present: np.ndarray,
    collects: frozenset[str] = frozenset(),
) -> npt.NDArray[np.bool_]:
    """Per row: whether its platform gives the counter: its connector collects it
    (``collects``: platform names; a sandbox channel counts as the platform it imitates), or
    some measured post of that platform (``labels``: as labelled) has it (not NULL) in its
    latest snapshot, the rule of the table "Counters each platform provides". A sandbox
    channel whose imitated platform is not known (no ``mimic`` given to the report) stands for
    itself, as each may imitate another platform. A post whose own value is NULL on a platform
    that gives the counter has it *unknown*, not absent: its rate keeps the platform's basis
    and is left out as unknown, never moved to the other basis, whatever else is in scope.
    Worked out per channel (a channel has one platform), then taken for every row."""
    codes, distinct = pd.factorize(channel_ids, use_na_sentinel=False)
    count = len(distinct)
    has = np.bincount(codes[measured & present], minlength=count) > 0
    first = np.full(count, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
    sources = [
        f"sandbox channel {channels.iloc[row]}" if labels[row] == "sandbox" else str(labels[row])
        for row in first.tolist()
    ]
    giving = {source for source, given in zip(sources, has.tolist(), strict=True) if given}
    giving |= {s for s in sources if s.removeprefix("sandbox imitating ") in collects}
    per_channel = np.array([source in giving for source in sources], dtype=bool)
    given: npt.NDArray[np.bool_] = per_channel[codes]
    return given


def engagements_known(
    counters: Mapping[str, np.ndarray],
    channel_ids: np.ndarray,
    measured: np.ndarray,
) -> tuple[npt.NDArray[np.bool_], dict[str, npt.NDArray[np.bool_]]]:
    """Per row: whether the post's engagements are known, and per engagement counter
    (``counters``: each of `ENGAGEMENT_PARTS` in the post's latest snapshot, NaN when missing)
    whether the post's **channel** gives it: some measured post of that channel has it. Known =
    the channel gives at least one of them and this post has every one its channel gives: a
    counter the channel gives but missing here is **unknown, not 0**, and so are the
    engagements it is part of (and every figure made from them: rates, values at a fixed age,
    half-life). A counter the channel does not give is not part of its engagements (n/a).
    Decided per channel, not per platform: a federated platform's servers differ (Mastodon
    sends a quote count from 4.5 on), so one channel on an older server must not make every
    post of that channel unknown because another server gives the counter. The one place that
    decides it per post; per snapshot, `reports.seeks.known_sum` holds each earlier snapshot to
    the counters of the latest one."""
    codes, distinct = pd.factorize(channel_ids, use_na_sentinel=False)
    gives: dict[str, npt.NDArray[np.bool_]] = {}
    for name, values in counters.items():
        has = np.bincount(codes[measured & ~np.isnan(values)], minlength=len(distinct)) > 0
        gives[name] = has[codes]
    known = np.zeros(len(channel_ids), dtype=bool)
    complete = np.ones(len(channel_ids), dtype=bool)
    for name, values in counters.items():
        known |= gives[name]
        complete &= ~gives[name] | ~np.isnan(values)
    return known & complete, gives


def _sum_given(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Row sums of the given counters; NaN when none of them is given."""
    return frame[list(columns)].sum(axis=1, min_count=1)


def _texts(values: Iterable[str]) -> np.ndarray:
    texts: np.ndarray = np.fromiter(values, dtype=object)
    return texts


def posts_frame(data: StoreData, imitates: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per delivery in scope with its state flags, current counters and rates."""
    d = data.deliveries  # not changed: the result is a new frame
    imitates = imitates or {}
    as_of = pd.Timestamp(data.scope.as_of)

    def column(name: str) -> np.ndarray:
        values: np.ndarray = d[name].to_numpy(dtype="float64", na_value=np.nan)
        return values

    def flag(name: str) -> np.ndarray:
        values: np.ndarray = d[name].to_numpy(dtype=bool)
        return values

    # Every derived column on numpy arrays, added to the frame at once (in this order).
    new: dict[str, Any] = {}
    # Text columns made here stay plain objects, like the store's (`reports.data._frame`): the
    # figures take and group rows many times, which is slower on Arrow-backed strings.
    new["platform_label"] = platform_labels(d["platform"], d["channel"], imitates)
    platform = d["platform"].to_numpy(dtype=object)
    published = (d["state"].to_numpy(dtype=object) == "published") & d["published_at"].notna()
    published = np.asarray(published, dtype=bool)
    deleted = published & (d["remote_deleted_at"].notna().to_numpy() | flag("deleted_snapshot"))
    measured = published & ~deleted & (d["snapshots"].to_numpy() > 0)
    new["published"], new["deleted"], new["measured"] = published, deleted, measured
    new["simulated"] = flag("simulated_snapshot") | (platform == "sandbox")
    counters = {name: column(name) for name in ENGAGEMENT_PARTS}
    engaged, gives = engagements_known(counters, d["channel_id"].to_numpy(), measured)
    reposts, quotes = counters["reposts"], counters["quotes"]
    # Reposts + quotes: known when the channel gives either and this post has each it gives.
    amplified = (gives["reposts"] | gives["quotes"]) & ~(gives["reposts"] & np.isnan(reposts))
    amplified &= ~(gives["quotes"] & np.isnan(quotes))
    new["amplification"] = np.where(amplified, np.nansum([reposts, quotes], axis=0), np.nan)
    new["applause"] = counters["likes"]
    new["conversation"] = counters["replies"]
    replaced: dict[str, Any] = {}
    replaced["eng"] = np.where(engaged, column("eng"), np.nan)
    if "half_life" in d:  # half of unknown engagements has no time
        replaced["half_life"] = np.where(engaged, column("half_life"), np.nan)
    impressions = column("impressions")
    gives_impressions = gives_counter(
        new["platform_label"],
        d["channel_id"].to_numpy(),
        d["channel"],
        measured,
        ~np.isnan(impressions),
        COLLECTS_IMPRESSIONS,
    )
    by_impressions = measured & gives_impressions
    by_followers = measured & ~gives_impressions
    new["basis"] = _texts(
        np.select([by_impressions, by_followers], ["impressions", "followers"], "").tolist()
    )
    exposure = np.where(gives_impressions, impressions, column("followers_at_post"))
    # Followers of 0 cannot carry a rate; impressions of 0 can (they add 0 to the denominator).
    with np.errstate(invalid="ignore"):
        exposure = np.where(gives_impressions | (exposure > 0), exposure, np.nan)
    eng = replaced["eng"]
    rated = (by_impressions | by_followers) & ~np.isnan(eng) & ~np.isnan(exposure)
    new["rated"] = rated
    exposure = np.where(rated, exposure, np.nan)
    new["exposure"] = exposure
    new["eng_rated"] = eng_rated = np.where(rated, eng, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(exposure > 0, eng_rated / exposure, np.nan)
    new["rate"] = rate
    new["er_impr"] = np.where(by_impressions, rate, np.nan)
    new["er_foll"] = np.where(by_followers, rate, np.nan)
    clicks = column("link_clicks")
    with_clicks = measured & ~np.isnan(impressions) & ~np.isnan(clicks)
    with np.errstate(divide="ignore", invalid="ignore"):
        new["ctr"] = np.where(with_clicks & (impressions > 0), clicks / impressions, np.nan)
    new["ctr_clicks"] = np.where(with_clicks, clicks, np.nan)
    new["ctr_impressions"] = np.where(with_clicks, impressions, np.nan)
    age = (as_of - d["published_at"]).dt.total_seconds().to_numpy(dtype="float64")
    new["age_hours"] = age / 3600.0
    for label, seconds in FIXED_AGES.items():
        with np.errstate(invalid="ignore"):
            mature = measured & (age >= seconds)
            new[f"immature_{label}"] = measured & (age < seconds)
        fixed_exposure = np.where(gives_impressions, column(f"impressions_{label}"), exposure)
        fixed_eng = column(f"eng_{label}")
        known = rated & mature & ~np.isnan(fixed_eng) & ~np.isnan(fixed_exposure)
        replaced[f"eng_{label}"] = fixed_eng = np.where(known, fixed_eng, np.nan)
        new[f"exposure_{label}"] = fixed_exposure = np.where(known, fixed_exposure, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            new[f"rate_{label}"] = np.where(fixed_exposure > 0, fixed_eng / fixed_exposure, np.nan)
        new[f"known_{label}"] = known
    utc = d["published_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    new["week"] = utc.dt.to_period("W-SUN").dt.start_time
    replaced["variant"] = d["variant"].fillna("(none)")
    for name in ("platform_label", "basis"):
        new[name] = _objects(new[name], d.index)
    d = pd.concat([d.assign(**replaced), pd.DataFrame(new, index=d.index)], axis=1)
    return d


def _objects(texts: np.ndarray, index: pd.Index) -> pd.Series:
    """A text column as plain objects, like the store's (`reports.data._frame`): handed to
    pandas as an array, texts become its Arrow-backed ``str`` columns, whose every take, mask
    and factorization in the figures costs more (and converts back to objects)."""
    return pd.Series(texts, index=index, dtype=object)


Codes = dict[str, tuple[np.ndarray, pd.Index]]
"""Column name → each row's code and the codes' values, as ``pd.factorize(column,
use_na_sentinel=False)`` gives them."""


def _attributed_rows(
    posts: pd.DataFrame, attribution: pd.DataFrame, audiences: pd.DataFrame
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray] | None]:
    """``posts`` joined to the audiences each delivery reaches (``attribution``: delivery id and
    audience id pairs; ``audiences``: one row per audience id): the frame of
    ``posts.merge(attribution, on="delivery_id").merge(audiences, on="audience_id")``, rows in
    the posts' order and each delivery's pairs in theirs, made by taking the rows of each
    side instead (a merge of this wide a frame costs several times as much), and the rows
    taken from each side. By those merges when the ids are not unique on their side, their
    types differ or other names are shared (no rows then)."""
    ids, audience_ids = posts["delivery_id"], audiences["audience_id"]
    plain = (
        list(attribution.columns) == ["delivery_id", "audience_id"]
        and ids.is_unique
        and audience_ids.is_unique
        and ids.dtype == attribution["delivery_id"].dtype
        and audience_ids.dtype == attribution["audience_id"].dtype
        and not set(posts.columns) & set(audiences.columns)
    )
    if not plain:
        merged = posts.merge(attribution, on="delivery_id").merge(audiences, on="audience_id")
        return merged, None
    post_row = pd.Index(ids).get_indexer(attribution["delivery_id"])
    audience_row = pd.Index(audience_ids).get_indexer(attribution["audience_id"])
    pairs = np.flatnonzero((post_row >= 0) & (audience_row >= 0))
    pairs = pairs[np.argsort(post_row[pairs], kind="stable")]
    left = posts.take(post_row[pairs]).reset_index(drop=True)
    right = audiences.take(audience_row[pairs]).reset_index(drop=True)
    return pd.concat([left, right], axis=1), (post_row[pairs], audience_row[pairs])


def attributed_frame(
    posts: pd.DataFrame,
    data: StoreData,
    codes: Codes | None = None,
    posts_codes: Callable[[str], tuple[np.ndarray, pd.Index]] | None = None,
) -> pd.DataFrame:
    """One row per (delivery, audience it reaches), with the audience's local weekday and hour.
    ``codes``, when given, receives the codes of the frame's ``audience`` and
    ``audience_label`` columns (worked out on the way); ``posts_codes``: the codes of a
    column of ``posts`` (``reports.aggregates.factorized``), when the caller keeps them."""
    audiences = data.audiences.drop(columns="campaign_id")
    a, taken = _attributed_rows(posts, data.attribution, audiences)
    # "audience · campaign" made once per distinct pair, then taken for every row: the codes
    # of the audiences' (a few rows) and the posts' columns taken as the rows were.
    if taken is None:
        audience, audience_values = pd.factorize(a["audience"], use_na_sentinel=False)
        campaign, campaign_values = pd.factorize(a["campaign_id"], use_na_sentinel=False)
    else:
        post_rows, audience_rows = taken
        own, values = pd.factorize(audiences["audience"], use_na_sentinel=False)
        audience, audience_values = taken_codes(own, values, audience_rows)
        own, values = (
            posts_codes("campaign_id")
            if posts_codes is not None
            else pd.factorize(posts["campaign_id"], use_na_sentinel=False)
        )
        campaign, campaign_values = taken_codes(own, values, post_rows)
    width = max(len(campaign_values), 1)
    pair, pairs = pd.factorize(audience * width + campaign)
    labels = _texts(
        f"{audience_values[p // width]} · {campaign_values[p % width]}" for p in pairs.tolist()
    )
    a["audience_label"] = _objects(labels[pair], a.index)
    if codes is not None:
        codes["audience"] = (np.asarray(audience, dtype=np.int64), audience_values)
        if len(set(labels.tolist())) == labels.size:  # else two pairs read alike: one label
            codes["audience_label"] = (
                np.asarray(pair, dtype=np.int64),
                pd.Index(labels, dtype=object),
            )
    weekday = np.full(len(a), np.nan)
    hour = np.full(len(a), np.nan)
    published = a["published_at"]
    for rows in _zone_rows(a, audiences, taken):
        zone = a["audience_timezone"].iat[rows[0]]
        local = published.iloc[rows].dt.tz_convert(str(zone))
        weekday[rows] = local.dt.day_of_week.to_numpy(dtype="float64", na_value=np.nan)
        hour[rows] = local.dt.hour.to_numpy(dtype="float64", na_value=np.nan)
    a["weekday"] = weekday
    a["hour"] = hour
    return a


def _zone_rows(
    a: pd.DataFrame, audiences: pd.DataFrame, taken: tuple[np.ndarray, np.ndarray] | None
) -> list[np.ndarray]:
    """The rows of ``a`` of each audience time zone (none without one), each in ascending
    order: by the audiences' few rows when ``a`` took them (``taken``)."""
    if taken is None:
        return [np.asarray(rows) for rows in a.groupby("audience_timezone").indices.values()]
    zone, _zones = pd.factorize(audiences["audience_timezone"])
    row_zone = np.asarray(zone, dtype=np.int64)[taken[1]]
    return [
        rows
        for code in np.unique(row_zone)
        if code >= 0 and (rows := np.flatnonzero(row_zone == code)).size
    ]


ATTRIBUTED_COLUMNS = ("audience_label", "weekday", "hour", "weekday_name")
"""Columns the per-audience frame has of its own, beside its audience's (`attributed_frame`;
``weekday_name``: `reports.figures`')."""


def posts_rows(
    posts: pd.DataFrame, aud: pd.DataFrame, data: StoreData
) -> tuple[np.ndarray, list[str]] | None:
    """Each row of ``aud`` (`attributed_frame` of ``posts``)'s position in ``posts``, and the
    columns it took from there as they are: every column of ``posts`` but those the
    audiences and the attribution bring (a name both have is not the post's) and
    `ATTRIBUTED_COLUMNS`. None when a delivery is in ``posts`` twice or not at all."""
    ids = pd.Index(posts["delivery_id"])
    if not ids.is_unique:
        return None
    rows = ids.get_indexer(aud["delivery_id"])
    if (rows < 0).any():
        return None
    other = set(data.audiences.columns) - {"campaign_id"}  # dropped before the join
    other |= set(data.attribution.columns) - {"delivery_id"}
    other |= set(ATTRIBUTED_COLUMNS)
    names = [name for name in posts.columns if name not in other and name in aud.columns]
    return rows, names


def audience_names(aud: pd.DataFrame, known: Codes | None = None) -> pd.Series:
    """Delivery id → the names of the audiences it reaches, comma-separated. ``codes``: the
    frame's codes of ``audience`` (``known["audience"]``), when the caller has them."""
    # The distinct (delivery, audience) pairs in order of delivery and name: each name's rank
    # among the names, then one sort of the pairs' integer keys.
    codes, values = (
        known["audience"]
        if known is not None and "audience" in known
        else pd.factorize(aud["audience"], use_na_sentinel=False)
    )
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
    return _objects(joined, pd.Index(ids[starts], name="delivery_id"))
