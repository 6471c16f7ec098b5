"""The per-group machinery of `reports.aggregates` against pandas doing the same thing one
group at a time: groups with missing keys of every kind, medians over many groups."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reports.aggregates import (
    Arrays,
    Groups,
    _mean_median,
    engagement,
    factorized,
    fixed_age_columns,
    group_indices,
    inherit,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["b", None, "a", "b", np.nan, "a", "c", "a"],
            "count": [3, 1, 2, 3, 1, 10, 2, 2],
            "hour": [1.5, np.nan, 2.0, 1.5, np.nan, 0.5, 2.0, np.nan],
            "week": pd.to_datetime(
                ["2027-01-04", None, "2027-01-11", "2027-01-04", "2027-01-11", None, None, None]
            ),
            "flag": [True, False, True, True, False, False, True, True],
            "kind": pd.Categorical(["x", "y", "x", None, "y", "x", "x", "y"]),
        }
    )


def _natural(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, k) if isinstance(k, int | float | np.number) else (1, str(k)) for k in key)


def _by_pandas(frame: pd.DataFrame, by: list[str], where: np.ndarray | None) -> list[Any]:
    positions = np.arange(len(frame)) if where is None else np.flatnonzero(where)
    keys = frame[by].iloc[positions]
    if keys.empty:
        return []
    indices = keys.groupby(by, sort=False, dropna=False).indices
    items = [
        ((k if isinstance(k, tuple) else (k,)), positions[np.asarray(v)])
        for k, v in indices.items()
    ]
    return sorted(items, key=lambda item: _natural(item[0]))


def _same_key(x: Any, y: Any) -> bool:
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return type(x) is type(y) and x == y


@pytest.mark.parametrize(
    "by",
    [
        ["text"],
        ["count"],
        ["hour"],
        ["week"],
        ["flag"],
        ["kind"],
        ["text", "count"],
        ["text", "hour", "week"],
        ["count", "flag"],
        ["text", "kind"],
    ],
)
def test_groups_and_keys_are_pandas_groupby_s_missing_values_included(by: list[str]) -> None:
    frame = _frame()
    cache: Arrays = {}
    for where in (None, np.array([1, 0, 1, 1, 1, 0, 1, 1], bool), np.zeros(8, bool), None):
        for a in (None, cache):  # the second call with ``cache`` reuses the codes kept there
            got = group_indices(frame, by, where, a)
            want = _by_pandas(frame, by, where)
            assert [len(k) for k, _ in got] == [len(k) for k, _ in want]
            for (got_key, got_rows), (want_key, want_rows) in zip(got, want, strict=True):
                assert all(_same_key(x, y) for x, y in zip(got_key, want_key, strict=True)), (
                    got_key,
                    want_key,
                )
                assert got_rows.tolist() == want_rows.tolist()


@pytest.mark.parametrize(
    "by", [["text"], ["count"], ["hour"], ["week"], ["text", "hour", "week"], ["kind", "text"]]
)
def test_a_frame_taken_from_another_is_grouped_as_its_own_columns_say(by: list[str]) -> None:
    # The per-audience frame takes the per-post frame's rows (some twice, some not at all):
    # grouped by the source's codes (`inherit`), its codes, keys and groups are those of its
    # own columns, as pandas factorizes and groups them.
    source = _frame()
    for rows in ([0, 0, 2, 3, 3, 3, 5, 7], [6, 4, 1, 1], [7, 6, 5, 4, 3, 2, 1, 0], [2], []):
        taken = source.take(rows).reset_index(drop=True)
        a: Arrays = {}
        inherit(a, source, {}, np.array(rows, dtype=np.int64), source.columns)
        for name in ("text", "count", "hour", "week"):
            codes, uniques = factorized(taken, name, a)
            want_codes, want_uniques = pd.factorize(taken[name], use_na_sentinel=False)
            assert codes.tolist() == want_codes.tolist()
            assert [str(u) for u in uniques] == [str(u) for u in want_uniques]
        for where in (None, np.arange(len(rows)) % 2 == 0):
            got = group_indices(taken, by, where, a)
            want = _by_pandas(taken, by, where)
            assert [k for k, _ in got].__repr__() == [k for k, _ in want].__repr__()
            assert [r.tolist() for _, r in got] == [r.tolist() for _, r in want]


@pytest.mark.parametrize("groups", [200, 256, 700, 40_000])
@pytest.mark.parametrize(
    "kind",
    ["counts", "large counts", "rates", "negative"],
)
def test_medians_of_many_groups_are_each_group_s_own_median(kind: str, groups: int) -> None:
    """Counts (whole numbers below 2**16) are ordered by a radix sort, other values by
    numpy's quicksort, and the groups by a radix sort of 8 or 16 bits or a merge sort (by
    how many there are): each group's median is pandas' either way."""
    rng = np.random.default_rng(3)
    n = 5000
    values = {
        "counts": rng.integers(0, 40, n).astype(float),  # many ties
        "large counts": rng.integers(0, 70_000, n).astype(float),
        "rates": rng.integers(0, 40, n) / 37.0,
        "negative": rng.integers(-20, 20, n).astype(float),
    }[kind]
    values[rng.random(n) < 0.1] = np.nan
    codes = rng.integers(-1, groups, n)
    mask = rng.random(n) < 0.8
    a: Arrays = {"rate": values, "mask": mask, "post_code": np.arange(n), "post_count": np.array(n)}
    count, mean, median = _mean_median(a, Groups(codes, groups, a), "mask", "rate")
    frame = pd.DataFrame({"group": codes, "rate": values})[mask & (codes >= 0)]
    want = frame.groupby("group")["rate"].agg(["count", "mean", "median"]).reindex(range(groups))
    assert count.tolist() == want["count"].fillna(0).astype(int).tolist()
    np.testing.assert_allclose(mean, want["mean"], rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(median, want["median"].to_numpy())


def _random_arrays(n: int, seed: int) -> Arrays:
    """Columns `engagement` and `fixed_age_columns` read, random, with unknown values."""
    rng = np.random.default_rng(seed)

    def floats(scale: float, unknown: float = 0.2) -> np.ndarray:
        values = np.round(rng.random(n) * scale, 1)
        values[rng.random(n) < unknown] = np.nan
        return values

    impressions = rng.random(n) < 0.6
    a: Arrays = {
        name: floats(scale)
        for name, scale in (
            ("impressions", 5000),
            ("eng", 90),
            ("link_clicks", 30),
            ("eng_rated", 90),
            ("exposure", 5000),
            ("er_impr", 0.1),
            ("er_foll", 0.1),
            ("amplification", 20),
            ("applause", 50),
            ("conversation", 9),
            ("ctr_clicks", 30),
            ("ctr_impressions", 5000),
            *(
                (f"{kind}_{age}", 90)
                for kind in ("eng", "exposure", "rate")
                for age in ("24h", "7d")
            ),
        )
    }
    for name in ("measured", "deleted", "simulated", "known_24h", "known_7d"):
        a[name] = rng.random(n) < 0.7
    for name in ("immature_24h", "immature_7d"):
        a[name] = rng.random(n) < 0.1
    a["basis_impressions"] = a["measured"] & impressions
    a["basis_followers"] = a["measured"] & ~impressions
    a["post_code"] = rng.integers(0, n // 3, n)
    a["post_count"] = np.array(n // 3)
    return a


def test_figures_of_several_groupings_sharing_one_frame_s_arrays_are_each_its_own() -> None:
    """The masks, their rows and values are kept in the frame's arrays for every grouping;
    each grouping's figures must be those computed on fresh arrays."""
    n = 3000
    shared = _random_arrays(n, 5)
    rng = np.random.default_rng(6)
    groupings = [
        (rng.integers(0, 7, n), 7),
        (rng.integers(-1, 40, n), 40),  # some rows in no group
        (rng.integers(0, 3, n), 3),
        (np.zeros(n, dtype=np.int64), 1),
    ]
    for codes, count in groupings * 2:
        for part in (engagement, fixed_age_columns):
            got = part(shared, Groups(codes, count, shared))
            fresh = _random_arrays(n, 5)
            want = part(fresh, Groups(codes, count, fresh))
            assert got.keys() == want.keys()
            for name in got:
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert any(key.startswith("_rows_") for key in shared)
