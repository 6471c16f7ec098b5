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
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports import stats
from reports.codes import taken_codes
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
    posts, post_code = np.unique(out["post_id"], return_inverse=True)
    out["post_code"] = np.asarray(post_code, dtype=np.int64).reshape(-1)
    out["post_count"] = np.array(max(posts.size, 1))
    out["state"] = frame["state"].to_numpy(dtype=object)
    codes, _states = pd.factorize(frame["state"])
    out["state_code"] = np.asarray(codes, dtype=np.int64)
    out["state_names"] = np.asarray(_states, dtype=object)
    out["basis"] = frame["basis"].to_numpy(dtype=object)
    for basis, _prefix in BASES:
        out[f"basis_{basis}"] = out["rated"] & (out["basis"] == basis)
    return out


@dataclass(frozen=True)
class Groups:
    """Rows of a per-post frame (its `arrays`) in groups: ``codes`` gives each row's group (0 to
    ``count`` - 1), -1 for a row in none. Every aggregate below computes all groups at once."""

    codes: npt.NDArray[np.int64]
    count: int
    a: Arrays
    _slots_at: dict[str, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, rows: Sequence[np.ndarray], a: Arrays) -> Groups:
        """Group ``i`` = the row positions ``rows[i]`` of the frame ``a`` was made from."""
        codes = np.full(a["post_code"].size, -1, dtype=np.int64)
        for code, positions in enumerate(rows):
            codes[positions] = code
        return cls(codes, len(rows), a)

    @cached_property
    def outside(self) -> bool:
        """Whether some rows are in no group."""
        return bool((self.codes < 0).any())

    @cached_property
    def _slots(self) -> npt.NDArray[np.int64]:
        """Each row's group + 1 (0: in none), for counting without selecting first."""
        slots: npt.NDArray[np.int64] = self.codes + 1
        return slots

    def _slots_of(self, mask: str) -> np.ndarray:
        """The slots of the rows of ``mask`` (`rows_of`), in row order; kept for the next call."""
        if mask not in self._slots_at:
            self._slots_at[mask] = self._slots.take(rows_of(self.a, mask))
        return self._slots_at[mask]

    def sizes(self, mask: str) -> npt.NDArray[np.int64]:
        """How many rows of ``mask`` (a `mask_of` key) each group has."""
        sizes: npt.NDArray[np.int64] = np.bincount(self._slots_of(mask), minlength=self.count + 1)[
            1:
        ]
        return sizes

    def sums(self, mask: str, name: str) -> npt.NDArray[np.float64]:
        """Each group's sum of the column ``name`` over the rows of ``mask`` (a `mask_of` key),
        added in row order."""
        sums: npt.NDArray[np.float64] = np.bincount(
            self._slots_of(mask), weights=_values_at(self.a, mask, name), minlength=self.count + 1
        )[1:].astype(np.float64)
        return sums

    @cached_property
    def _by_message(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows in a group, ordered by (group, message), and that key: the frame's rows in
        message order (sorted once per frame) grouped by a stable sort on the group code (a
        radix sort when the codes fit 16 bits), the same order as a stable sort on the key."""
        rows = _order(self.a, "post_code")
        codes = self.codes.take(rows)
        if self.outside:
            inside = codes >= 0
            rows, codes = rows[inside], codes[inside]
        order = _stable_order(codes, self.count)
        rows = rows.take(order)
        key = codes.take(order) * int(self.a["post_count"]) + self.a["post_code"].take(rows)
        return rows, key

    def clusters(self, mask: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of ``mask`` (a `mask_of` key) in a group, each row's cluster (one per group
        and message, numbered in (group, message) order) and each cluster's group."""
        rows, key = self._by_message
        # `take` and `compress`: the same values as indexing by positions and by a boolean
        # mask, without the branch on every element that boolean indexing takes (2-5x slower
        # on masks neither nearly full nor nearly empty).
        keep = mask_of(self.a, mask).take(rows)
        rows, key = rows.compress(keep), key.compress(keep)
        first = np.ones(key.size, dtype=bool)
        np.not_equal(key[1:], key[:-1], out=first[1:])
        cluster = np.cumsum(first) - 1
        group = key.compress(first) // int(self.a["post_count"])
        return rows, cluster, group


Columns = dict[str, np.ndarray]
"""Figure name → one value per group."""


def mask_of(a: Arrays, mask: str) -> np.ndarray:
    """The rows a mask key selects: a boolean column's name, ``known:NAME`` (the column NAME
    is not NaN), or such keys joined by ``&``. Masks are the same for every grouping of a
    frame, so each is computed once and kept in ``a``."""
    if mask in a:
        return a[mask]
    key = f"_mask_{mask}"
    if key not in a:
        if "&" in mask:
            first, rest = mask.split("&", 1)
            a[key] = mask_of(a, first) & mask_of(a, rest)
        elif mask.startswith("known:"):
            a[key] = ~np.isnan(a[mask.removeprefix("known:")])
        else:
            raise KeyError(mask)
    return a[key]


def rows_of(a: Arrays, mask: str) -> np.ndarray:
    """The positions of the rows of ``mask`` (`mask_of`), ascending; kept in ``a``."""
    key = f"_rows_{mask}"
    if key not in a:
        found = mask_of(a, mask)
        a[key] = np.flatnonzero(found)
    return a[key]


def _values_at(a: Arrays, mask: str, name: str) -> np.ndarray:
    """The column ``name`` on the rows of ``mask``, in row order; kept in ``a`` (the same for
    every grouping of the frame)."""
    key = f"_taken_{mask}_{name}"
    if key not in a:
        a[key] = a[name].take(rows_of(a, mask))
    return a[key]


def _stable_order(codes: np.ndarray, count: int) -> np.ndarray:
    """The stable ascending order of ``codes`` (each in 0 to ``count`` - 1): numpy sorts 8- and
    16-bit integers by radix, in linear time (one pass a byte: 8 bits when the codes fit)."""
    if count <= np.iinfo(np.uint8).max + 1:
        narrow = codes.astype(np.uint8)
    elif count < np.iinfo(np.int16).max:
        narrow = codes.astype(np.int16)
    else:
        narrow = codes
    order: np.ndarray = np.argsort(narrow, kind="stable")
    return order


def _order(a: Arrays, name: str) -> np.ndarray:
    """The rows in ascending order of the column (NaN last; computed once per column and kept in
    ``a``)."""
    key = f"_order_{name}"
    if key not in a:
        a[key] = np.argsort(a[name], kind="stable")
    return a[key]


def _value_order(a: Arrays, name: str) -> np.ndarray:
    """The rows whose value in the column is known, in ascending order of value (computed once
    per column and kept in ``a``). Equal values come in no particular order: a median reads
    values only, so it does not matter which of two equal ones comes first (numpy's unstable
    sort is several times faster than its stable one)."""
    key = f"_by_value_{name}"
    if key not in a:
        known = np.flatnonzero(~np.isnan(a[name]))
        values = a[name][known]
        small = values.size and values.min() >= 0 and values.max() <= np.iinfo(np.uint16).max
        if small and np.array_equal(values, np.trunc(values)):
            # Counts (amplification, applause, conversation): whole numbers that fit 16 bits,
            # which numpy sorts by radix in linear time, in the same order of value.
            a[key] = known[np.argsort(values.astype(np.uint16), kind="stable")]
        else:
            a[key] = known[np.argsort(values)]
    return a[key]


def _by_value(a: Arrays, mask: str, name: str) -> np.ndarray:
    """The rows of ``mask`` whose ``name`` is known, in ascending order of value; kept in
    ``a``."""
    key = f"_by_value_{mask}_{name}"
    if key not in a:
        order = _value_order(a, name)
        a[key] = order[mask_of(a, mask)[order]]
    return a[key]


def _mean_median(
    a: Arrays, g: Groups, mask: str, name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per group, over the rows of ``mask`` (a `mask_of` key) whose ``name`` is known: how
    many, their mean and their median (NaN when none)."""
    values = a[name]
    given = f"{mask}&known:{name}"
    n = g.sizes(given)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, g.sums(given, name) / n, math.nan)
    # The rows taken in ascending order of value, then grouped by a stable sort on the group
    # (a radix sort when the codes fit 16 bits): each group's rows in ascending order of value,
    # of which only the middle one or two are read.
    rows = _by_value(a, given, name)
    codes = g.codes.take(rows)
    if g.outside:
        inside = codes >= 0
        rows, codes = rows[inside], codes[inside]
    ranked = _stable_order(codes, g.count)
    starts = np.cumsum(n) - n
    median = np.full(g.count, math.nan)
    some = n > 0
    lower = values[rows[ranked[(starts + (n - 1) // 2)[some]]]]
    upper = values[rows[ranked[(starts + n // 2)[some]]]]
    median[some] = (lower + upper) / 2.0
    return n, mean, median


def ratio(a: Arrays, g: Groups, mask: str, num: str, den: str) -> Columns:
    """Per group, the ratio of sums of ``num`` over ``den`` on the rows of ``mask`` (a
    `mask_of` key; all known), its interval (over messages) and how many posts and messages
    it used."""
    rows, cluster, group = g.clusters(mask)
    y = np.bincount(cluster, weights=a[num].take(rows), minlength=group.size).astype(np.float64)
    x = np.bincount(cluster, weights=a[den].take(rows), minlength=group.size).astype(np.float64)
    k = g.count
    posts = g.sizes(mask)
    # Each group's messages and sums, for the ratio and its interval alike.
    messages = np.bincount(group, minlength=k)
    events, total = stats.group_sums(group, y, k), stats.group_sums(group, x, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where((posts > 0) & (total > 0), events / total, np.nan)
    low, high = stats.fieller_summed(group, y, x, (messages, events, total))
    finite = np.isfinite(value)
    return {
        "value": value,
        "low": np.where(finite, low, np.nan),
        "high": np.where(finite, high, np.nan),
        "posts": posts,
        "messages": messages,
    }


def engagement(a: Arrays, g: Groups) -> Columns:
    """Engagement figures of each group of deliveries (see the module docstring)."""
    k = g.count
    measured = "measured"
    _rows, _cluster, messages = g.clusters(measured)
    out: Columns = {
        "posts": g.sizes(measured),
        "messages": np.bincount(messages, minlength=k),
        "deleted": g.sizes("deleted"),
    }
    for name, label, given_key in (
        ("impressions", "impressions", "posts_with_impressions"),
        ("eng", "engagements", "posts_with_engagements"),
        ("link_clicks", "link_clicks", "posts_with_link_clicks"),
    ):
        given = f"{measured}&known:{name}"
        n = g.sizes(given)
        out[given_key] = n
        out[label] = np.where(n > 0, g.sums(given, name), math.nan)
    order = [
        "posts",
        "messages",
        "deleted",
        "posts_with_impressions",
        "impressions",
        "posts_with_engagements",
        "engagements",
        "posts_with_link_clicks",
        "link_clicks",
    ]
    out = {name: out[name] for name in order}
    for basis, prefix in BASES:
        rows = f"basis_{basis}"
        figure = ratio(a, g, rows, "eng_rated", "exposure")
        rated, mean, median = _mean_median(a, g, rows, prefix)
        out[prefix] = figure["value"]
        out[f"{prefix}_low"] = figure["low"]
        out[f"{prefix}_high"] = figure["high"]
        out[f"{prefix}_posts"] = figure["posts"]
        out[f"{prefix}_messages"] = figure["messages"]
        out[f"{prefix}_mean"] = mean
        out[f"{prefix}_median"] = median
        out[f"{prefix}_rated"] = rated
    for name in ("amplification", "applause", "conversation"):
        n, mean, median = _mean_median(a, g, measured, name)
        out[f"{name}_mean"] = mean
        out[f"{name}_median"] = median
        out[f"{name}_posts"] = n
    figure = ratio(a, g, f"{measured}&known:ctr_clicks", "ctr_clicks", "ctr_impressions")
    out["ctr"] = figure["value"]
    out["ctr_low"] = figure["low"]
    out["ctr_high"] = figure["high"]
    out["ctr_posts"] = figure["posts"]
    out["simulated"] = g.sizes("simulated") > 0
    return out


def volume(a: Arrays, g: Groups) -> Columns:
    names = [str(name) for name in a["state_names"]]
    width = len(names)
    codes, states = g.codes, a["state_code"]
    if g.outside:
        inside = codes >= 0
        codes, states = codes[inside], states[inside]
    cells = np.bincount(codes * width + states, minlength=g.count * width).reshape(g.count, width)
    zero = np.zeros(g.count, dtype=np.int64)

    def state(name: str) -> npt.NDArray[np.int64]:
        return cells[:, names.index(name)] if name in names else zero

    published, missed, failed = state("published"), state("missed"), state("failed")
    settled = published + missed + failed
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(settled > 0, published / settled, math.nan)
    return {
        "published": published,
        "missed": missed,
        "failed": failed,
        "needs_review": state("needs_review"),
        "cancelled": state("cancelled"),
        "waiting": sum((state(s) for s in WAITING), zero),
        "deleted_after": g.sizes("deleted"),
        "published_share": share,
    }


def fixed_age_columns(a: Arrays, g: Groups, age: str = "7d") -> Columns:
    """Per basis: the ratio of sums of the values at a fixed age over the posts old enough
    (``_posts``), the posts too young (``_young``, left out) and those old enough whose value
    cannot be known (``_missing``: no snapshot at or after that age)."""
    out: Columns = {}
    for basis, prefix in BASES:
        rows = f"basis_{basis}"
        known = f"{rows}&known_{age}"
        young = g.sizes(f"{rows}&immature_{age}")
        figure = ratio(a, g, known, f"eng_{age}", f"exposure_{age}")
        _n, mean, median = _mean_median(a, g, known, f"rate_{age}")
        key = f"{prefix}_{age}"
        out[key] = figure["value"]
        out[f"{key}_low"] = figure["low"]
        out[f"{key}_high"] = figure["high"]
        out[f"{key}_posts"] = figure["posts"]
        out[f"{key}_messages"] = figure["messages"]
        out[f"{key}_young"] = young
        out[f"{key}_missing"] = g.sizes(rows) - figure["posts"] - young
        out[f"{key}_mean"] = mean
        out[f"{key}_median"] = median
    return out


def compensated_sums(
    codes: np.ndarray, count: int, columns: dict[str, np.ndarray]
) -> dict[str, npt.NDArray[np.float64]]:
    """Each group's sum of each column (``codes``: each row's group, 0 to ``count`` - 1; NaN
    skipped), by pandas' grouped sum of one frame of these columns, so the sums are those of a
    pandas ``groupby(...).sum()`` of the same rows to the last bit. Whether that sum is
    compensated (Kahan) is pandas' choice, made per block of columns: pandas 3.1 sums plainly
    (``np.add.reduceat``) when the codes are sorted and no float column of the block holds a
    NaN, so summing column by column can give other last bits."""
    # The codes as an Index: handed a bare array, pandas first looks for it among the frame's
    # column names, and the failed look-up prints the whole array into its error message.
    summed = (
        pd.DataFrame(columns).groupby(pd.Index(codes)).sum().reindex(range(count), fill_value=0.0)
    )
    return {name: summed[name].to_numpy(dtype="float64") for name in columns}


Part = Callable[[Arrays, Groups], Columns]


def _row(part: Part, a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    """One group's figures as plain Python values."""
    columns = part(a, Groups.of([idx], a))
    return {name: values[0].item() for name, values in columns.items()}


def engagement_row(a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    """Engagement figures of the deliveries at positions ``idx`` (see `engagement`)."""
    return _row(engagement, a, idx)


def volume_row(a: Arrays, idx: np.ndarray) -> dict[str, Any]:
    return _row(volume, a, idx)


def fixed_age_row(a: Arrays, idx: np.ndarray, age: str = "7d") -> dict[str, Any]:
    """Figures at a fixed age of the deliveries at positions ``idx`` (see `fixed_age_columns`)."""
    return _row(lambda a, g: fixed_age_columns(a, g, age), a, idx)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, k) if isinstance(k, int | float | np.number) else (1, str(k)) for k in key)


@dataclass(frozen=True)
class _Source:
    """Where a derived frame's rows come from (`inherit`)."""

    frame: pd.DataFrame
    a: Arrays
    rows: np.ndarray
    names: frozenset[str]


def inherit(
    a: Arrays, source: pd.DataFrame, source_a: Arrays, rows: np.ndarray, names: Any
) -> None:
    """Says that the columns ``names`` of the frame ``a`` was made from are those of ``source``
    (its ``arrays``: ``source_a``) at the positions ``rows``, one per row (the per-audience
    frame takes the per-post frame's rows): their codes (`factorized`) are then taken from
    the source's, factorized once for both, instead of hashing every text again."""
    holder = np.empty(1, dtype=object)
    holder[0] = _Source(source, source_a, np.asarray(rows, dtype=np.int64), frozenset(names))
    a["_source"] = holder


def known(a: Arrays, name: str, codes: np.ndarray, uniques: Any) -> None:
    """Keeps in ``a`` the codes of its frame's column ``name`` that the caller worked out
    (as `factorized` gives them), for `factorized` to return."""
    holder = np.empty(1, dtype=object)
    holder[0] = uniques
    a[f"_codes_{name}"], a[f"_values_{name}"] = codes, holder


def factorized(frame: pd.DataFrame, name: str, a: Arrays | None) -> tuple[np.ndarray, Any]:
    """Each row's code in the column ``name`` (a missing value a code of its own) and the
    values of the codes (a pandas Index: indexed, it gives keys as ``groupby`` does), as
    ``pd.factorize(frame[name], use_na_sentinel=False)`` gives them; kept in ``a``
    (``arrays(frame)``) for the next call when given, and taken from the frame's source's
    when `inherit` named the column."""
    key = f"_codes_{name}"
    if a is not None and key in a:
        return a[key], a[f"_values_{name}"][0]
    source = a["_source"][0] if a is not None and "_source" in a else None
    if source is not None and name in source.names:
        codes, uniques = taken_codes(*factorized(source.frame, name, source.a), source.rows)
    else:
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=False)
    codes = np.asarray(codes, dtype=np.int64)
    if a is not None:
        known(a, name, codes, uniques)
    return codes, uniques


def _group_indices_pandas(
    frame: pd.DataFrame, by: Sequence[str], positions: np.ndarray
) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """`group_indices` by pandas' groupby (categorical columns: their own rules for missing
    values)."""
    keys = frame[list(by)].iloc[positions]
    indices = keys.groupby(list(by), sort=False, dropna=False, observed=True).indices
    items = [
        ((k if isinstance(k, tuple) else (k,)), positions[np.asarray(v)])
        for k, v in indices.items()
    ]
    return sorted(items, key=lambda item: _sort_key(item[0]))


def group_indices(
    frame: pd.DataFrame,
    by: Sequence[str],
    where: np.ndarray | None = None,
    a: Arrays | None = None,
) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """(key, row positions in ``frame``) of each group of the rows ``where`` selects (all by
    default), keys in natural order (numbers numerically), a missing value a key of its own.
    Only the ``by`` columns are read; ``a`` (``arrays(frame)``) keeps their codes for the next
    call."""
    if frame.empty:
        return []
    positions = np.arange(len(frame)) if where is None else np.flatnonzero(where)
    if positions.size == 0:
        return []
    if any(isinstance(frame[name].dtype, pd.CategoricalDtype) for name in by):
        return _group_indices_pandas(frame, by, positions)
    combined = np.zeros(positions.size, dtype=np.int64)
    count = 1
    columns: list[tuple[np.ndarray, Any]] = []
    for name in by:
        codes, values = factorized(frame, name, a)
        codes = codes if where is None else codes[positions]
        columns.append((codes, values))
        # Renumbered after each column, so the key never overflows: densely, in key order,
        # when the keys' range is small (no hashing), else in order of first appearance; the
        # groups are numbered by first appearance below.
        key = combined * len(values) + codes
        span = count * len(values)
        if span <= 4 * positions.size + 1024:
            seen = np.zeros(span, dtype=bool)
            seen[key] = True
            dense = np.cumsum(seen) - 1
            combined, count = dense[key], int(dense[-1]) + 1
        else:
            combined, _seen = pd.factorize(key)
            count = int(combined.max()) + 1
    first = np.full(count, positions.size, dtype=np.int64)
    np.minimum.at(first, combined, np.arange(positions.size))
    # Groups numbered in order of first appearance (as a factorization of the whole key): the
    # order `sorted` starts from, which decides where a group with a NaN key ends up.
    by_first = np.argsort(first)
    renumbered = np.empty(count, dtype=np.int64)
    renumbered[by_first] = np.arange(count)
    combined, first = renumbered[combined], first[by_first]
    order = _stable_order(combined, count)
    bounds = np.cumsum(np.bincount(combined, minlength=count))[:-1]
    rows = np.split(positions[order], bounds)
    # Keys as pandas' groupby gives them: a single column's own scalars, several columns' as
    # Python objects; a missing value NaN.
    picked = (
        [values.array[codes[first]]]
        if len(columns) == 1
        else [list(values[codes[first]]) for codes, values in columns]
    )
    keys = (tuple(math.nan if pd.isna(k) else k for k in key) for key in zip(*picked, strict=True))
    items = list(zip(keys, rows, strict=True))
    return sorted(items, key=lambda item: _sort_key(item[0]))


def nan_last(items: list[tuple[tuple[Any, ...], np.ndarray]]) -> None:
    """Sorts `group_indices`' items in place in the order of pandas' sorted grouping
    (``sort=True, dropna=False``): each level ascending, a missing value last
    (`group_indices` puts it first)."""

    def key(item: tuple[tuple[Any, ...], np.ndarray]) -> tuple[tuple[int, Any], ...]:
        return tuple(
            (2, 0) if isinstance(k, float) and math.isnan(k) else _sort_key((k,))[0]
            for k in item[0]
        )

    items.sort(key=key)


def _key_column(keys: list[Any]) -> Any:
    """A key column of `grouped`: texts as plain objects, like the store's (pandas would make a
    list of texts its Arrow-backed ``str``, which every later take, mask and factorization pays
    for); any other keys as they are, for pandas to infer their type."""
    if any(isinstance(key, str) for key in keys):
        return pd.Series(keys, dtype=object)
    return keys


def grouped(
    frame: pd.DataFrame,
    by: Sequence[str],
    parts: Sequence[Part],
    *,
    a: Arrays | None = None,
    where: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per group of the rows ``where`` selects (keys in natural order) with the columns
    of each of ``parts`` (`volume`, `engagement`, `fixed_age_columns`), all groups computed at once;
    ``a`` is ``arrays(frame)`` when the caller has it already. An empty frame gives no rows."""
    if frame.empty:
        return pd.DataFrame(columns=list(by))
    a = arrays(frame) if a is None else a
    items = group_indices(frame, by, where, a)
    if not items:
        return pd.DataFrame(columns=list(by))
    groups = Groups.of([idx for _key, idx in items], a)
    # One frame built from plain columns: the keys, then each part's figures.
    out: dict[str, Any] = {
        name: _key_column([key[i] for key, _idx in items]) for i, name in enumerate(by)
    }
    for part in parts:
        for name, values in part(a, groups).items():
            if name not in by:
                out[name] = values
    return pd.DataFrame(out)
