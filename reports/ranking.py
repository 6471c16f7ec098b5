"""Rankings and comparisons: leaderboards of narratives and message variants, A/B comparisons
of variants, and the top and bottom posts. All of them compare posts at the same age: their
values **at 7 days** after publication, so a young post is not ranked low for being young
(posts younger than that are left out and counted). Leaderboards and top/bottom posts rank by
empirical-Bayes shrunk rates (`stats.fit_beta_prior` per platform and basis), so a few small
posts with lucky rates do not top the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd

from reports import stats
from reports.aggregates import (
    Arrays,
    arrays,
    compensated_sums,
    factorized,
    group_indices,
    nan_last,
)
from reports.model import Column, Table
from reports.posts import BASIS_LABEL

AGE = "7d"
Priors = dict[tuple[str, str], stats.BetaPrior]


def fit_priors(posts: pd.DataFrame, a: Arrays | None = None) -> Priors:
    """A Beta prior per (platform, rate basis) from the posts' values at 7 days (one row per
    delivery), by exposure-weighted moments less the sampling variance; where the posts are too
    few for a fit or none engaged, their typical rate unfitted (`stats.typical_rate`: the
    leaderboards pull a group's part on it all the way to it, the top and bottom lists leave
    its posts out). ``a``: the frame's
    `arrays`, when the caller has them (the key columns' codes are kept there)."""
    priors: Priors = {}
    if not len(posts):
        return priors
    eng = posts[f"eng_{AGE}"].to_numpy(dtype="float64")
    exposure = posts[f"exposure_{AGE}"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        compared = posts[f"known_{AGE}"].to_numpy(dtype=bool) & (exposure > 0)
    # Each (platform, basis) group's rows in the frame's order, groups in sorted order (as
    # pandas' groupby gives them; a missing key is no group).
    for (platform, basis), rows in group_indices(posts, ["platform_label", "basis"], compared, a):
        if pd.isna(platform) or pd.isna(basis):
            continue
        prior = stats.fit_beta_prior(eng[rows], exposure[rows])
        if prior is None:  # too few posts, or none engaged: their typical rate, unfitted
            prior = stats.typical_rate(eng[rows], exposure[rows])
        if prior is not None:
            priors[str(platform), str(basis)] = prior
    return priors


def _shrunk_groups(
    aud: pd.DataFrame, by: list[str], groups: dict[tuple[Any, ...], int], priors: Priors, a: Arrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group of ``groups`` (key → its number; ``by`` includes ``basis``): the posts at 7
    days, the raw ratio of sums k / n of the values at 7 days, the shrunk rate and its index.
    Each platform's part of a group is shrunk toward that platform's prior; the shrunk rate is
    the ratio of sums of the shrunk parts (sum n_p shrunk_p / sum n_p) and the index divides it
    by what the same exposure would have earned at each platform's typical rate
    (sum n_p shrunk_p / sum n_p typical_p), so the platform mix does not decide the rank. A
    platform too small for a fitted prior has its typical rate (`fit_priors`): its part is that
    rate and counts as typical (a platform whose posts had no engagement at all adds 0 to both
    sums). Sums are pandas' grouped sums (`compensated_sums`)."""
    count = len(groups)
    posts = np.zeros(count, dtype=np.int64)
    nan = np.full(count, np.nan)
    parts = group_indices(aud, [*by, "platform_label"], a[f"known_{AGE}"], a)
    if not parts:
        return posts, nan, nan.copy(), nan.copy()
    nan_last(parts)
    sizes = np.array([rows.size for _key, rows in parts])
    rows = np.concatenate([rows for _key, rows in parts])
    part = np.repeat(np.arange(len(parts)), sizes)
    order = np.argsort(rows, kind="stable")  # each part's rows in the frame's order
    rows, part = rows[order], part[order]
    summed = compensated_sums(
        part, len(parts), {"k": a[f"eng_{AGE}"][rows], "n": a[f"exposure_{AGE}"][rows]}
    )
    k, n = summed["k"], summed["n"]
    fitted = [priors.get((str(key[-1]), str(key[1]))) for key, _rows in parts]
    shrunk = np.array(
        [float(f.shrink(ki, ni)) if f else np.nan for f, ki, ni in zip(fitted, k, n, strict=True)]
    )
    typical = np.array([f.mean if f else np.nan for f in fitted])
    earned, expected = n * shrunk, n * typical
    group = np.array([groups[key[:-1]] for key, _rows in parts], dtype=np.int64)
    total = compensated_sums(group, count, {"k": k, "n": n, "earned": earned, "expected": expected})
    posts = np.bincount(group, weights=sizes, minlength=count).astype(np.int64)
    # A sum over a group is unknown when a platform in it has no prior.
    earned_unknown = np.bincount(group, weights=np.isnan(earned), minlength=count) > 0
    expected_unknown = np.bincount(group, weights=np.isnan(expected), minlength=count) > 0
    compared = np.bincount(group, minlength=count) > 0
    k, n = total["k"], total["n"]
    earned = np.where(earned_unknown, np.nan, total["earned"])
    expected = np.where(expected_unknown, np.nan, total["expected"])
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(compared & (n > 0), k / n, np.nan)
        shrunk = np.where(compared & (n > 0), earned / n, np.nan)
        index = np.where(compared & (expected > 0), earned / expected, np.nan)
    return posts, raw, shrunk, index


def _ranks(keys: list[tuple[Any, Any]], index: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Rank of each eligible row within its (audience, basis) by index, highest first, ties
    sharing the lowest rank; NaN for the others."""
    ranks = np.full(index.size, np.nan)
    values: dict[tuple[Any, Any], list[float]] = {}
    for i in np.flatnonzero(eligible):
        values.setdefault(keys[i], []).append(float(index[i]))
    for i in np.flatnonzero(eligible):
        ranks[i] = 1 + sum(v > index[i] for v in values[keys[i]])
    return ranks


def leaderboard(
    aud: pd.DataFrame,
    priors: Priors,
    dim: str,
    label: str,
    min_posts: int,
    a: Arrays | None = None,
) -> Table:
    """``a``: ``arrays(aud)`` when the caller has it."""
    by = ["audience_label", "basis", dim]
    rated = aud["rated"].to_numpy(dtype=bool) if len(aud) else np.zeros(0, dtype=bool)
    if not rated.any():
        # Nothing rated: nothing compared at 7 days either.
        frame = pd.DataFrame(columns=[*by, "posts", "raw", "shrunk", "index"])
    else:
        a = arrays(aud) if a is None else a
        items = group_indices(aud, by, rated, a)
        nan_last(items)
        keys = [key for key, _rows in items]
        groups = {key: i for i, key in enumerate(keys)}
        posts, raw, shrunk, index = _shrunk_groups(aud, by, groups, priors, a)
        # Per group of rated posts: those too young, and those old enough without a value.
        code = np.full(rated.size, -1, dtype=np.int64)
        for i, (_key, rows) in enumerate(items):
            code[rows] = i
        young = a[f"immature_{AGE}"]
        missing = ~young & ~a[f"known_{AGE}"]
        inside = code >= 0
        young_n = np.bincount(code[inside & young], minlength=len(keys))
        simulated_n = np.bincount(
            code[inside & aud["simulated"].to_numpy(dtype=bool)], minlength=len(keys)
        )
        missing_n = np.bincount(code[inside & missing], minlength=len(keys))
        eligible = (posts >= min_posts) & ~np.isnan(index)
        basis = [BASIS_LABEL[str(key[1])] for key in keys]
        ranks = _ranks([(key[0], b) for key, b in zip(keys, basis, strict=True)], index, eligible)
        note = np.where(
            eligible,
            "",
            np.where(
                posts < min_posts,
                f"fewer than {min_posts} posts at 7 days: not ranked",
                "no engagement on its platforms at 7 days: not ranked",
            ),
        )
        # Audience, basis, rank (unranked last), index (highest first, unknown last); ties in
        # key order.
        order = sorted(
            range(len(keys)),
            key=lambda i: (
                str(keys[i][0]),
                basis[i],
                (1, 0.0) if np.isnan(ranks[i]) else (0, ranks[i]),
                (1, 0.0) if np.isnan(index[i]) else (0, -index[i]),
            ),
        )
        take = np.array(order, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "audience_label": [keys[i][0] for i in order],
                "basis": [basis[i] for i in order],
                dim: [keys[i][2] for i in order],
                "posts": posts[take],
                "raw": raw[take],
                "shrunk": shrunk[take],
                "index": index[take],
                "young": young_n[take].astype(np.int64),
                "missing": missing_n[take].astype(np.int64),
                "rank": ranks[take],
                "note": note[take].tolist(),
                "simulated": simulated_n[take] > 0,
            }
        )
    return Table(
        f"leaderboard_{dim}",
        f"Leaderboard: {label.lower()}s",
        "Compared at 7 days after publication (posts younger than that are left out and "
        "counted). Ranked by the empirical-Bayes shrunk engagement rate relative to each "
        "platform's typical post (index 1.00 = typical), so neither luck on a few small posts "
        "nor the platform mix decides the rank. Beta prior per platform and basis from "
        "exposure-weighted moments less the sampling variance. Groups with fewer than "
        f"{min_posts} posts at 7 days are listed, not ranked.",
        [
            Column("audience_label", "Audience"),
            Column("basis", "Rate"),
            Column(dim, label),
            Column("posts", "Posts at 7 d", "int"),
            Column("young", "Younger than 7 d (left out)", "int", short="Too young"),
            Column("missing", "No value at 7 d", "int", html=False),
            Column("rank", "Rank", "int"),
            Column("shrunk", "Shrunk rate at 7 d", "pct"),
            Column("raw", "Raw rate at 7 d (ratio of sums)", "pct"),
            Column("index", "Index vs platform typical", "index"),
            Column("note", "Note"),
        ],
        frame,
    )


Compared = list[tuple[dict[str, Any], stats.Comparison]]
"""The A/B pairs: each row's figures but the p-value and verdict, and its comparison."""


def ab_tests(aud: pd.DataFrame, seed: int, reps: int) -> Table:
    """Every pair of message variants per audience and basis, on values at 7 days."""
    return ab_table(ab_comparisons(aud, seed, reps))


def ab_comparisons(
    aud: pd.DataFrame,
    seed: int,
    reps: int,
    pool: Executor | None = None,
    a: Arrays | None = None,
) -> Compared:
    """The comparisons of `ab_tests`; with ``pool``, their permutation tests start on it at
    once (the table reads their p-values); ``a``: the frame's `arrays` (the key columns'
    codes are kept there)."""
    # Rows selected on numpy arrays (each group's rows in the frame's order, as pandas' groupby
    # gives them); the groups in (audience, basis) order.
    variant = aud["variant"].to_numpy(dtype=object)
    with_variant = variant != "(none)"
    known = aud[f"known_{AGE}"].to_numpy(dtype=bool) & with_variant
    young = aud["rated"].to_numpy(dtype=bool) & aud[f"immature_{AGE}"].to_numpy(dtype=bool)
    by = ["audience_label", "basis"]
    young &= with_variant
    eng = aud[f"eng_{AGE}"].to_numpy(dtype="float64")
    exposure = aud[f"exposure_{AGE}"].to_numpy(dtype="float64")
    post = aud["post_id"].to_numpy()
    simulated = aud["simulated"].to_numpy(dtype=bool)
    compared: Compared = []
    # The variants of a group are those of its posts at 7 days and of those too young for it:
    # a variant whose posts are all younger than 7 days is still compared ("too few posts to
    # tell", its young posts counted), as the leaderboard lists it, never left out unseen.
    groups = group_indices(aud, by, known | young, a) if len(aud) else []
    for (audience_label, basis), both in groups:
        variants = sorted(str(v) for v in pd.unique(variant[both]))
        rows, too_young = both[known[both]], variant[both[young[both]]]
        sim_variants = set(variant[both[simulated[both]]].tolist())
        for i, first in enumerate(variants):
            for second in variants[i + 1 :]:
                in_a = rows[variant[rows] == first]
                in_b = rows[variant[rows] == second]
                result = stats.compare_ratios(
                    (eng[in_a], exposure[in_a], post[in_a]),
                    (eng[in_b], exposure[in_b], post[in_b]),
                    seed=seed,
                    reps=reps,
                )
                if pool is not None:
                    result.start(pool)
                compared.append(
                    (
                        {
                            "audience_label": audience_label,
                            "basis": BASIS_LABEL[str(basis)],
                            "variant_a": first,
                            "posts_a": len(in_a),
                            "rate_a": result.rate_a,
                            "variant_b": second,
                            "posts_b": len(in_b),
                            "rate_b": result.rate_b,
                            "young": int(np.isin(too_young, [first, second]).sum()),
                            "difference": result.difference,
                            "difference_low": result.low,
                            "difference_high": result.high,
                            "simulated": bool(sim_variants & {first, second}),
                        },
                        result,
                    )
                )
    return compared


def ab_table(compared: Compared) -> Table:
    """The A/B table of `ab_comparisons` (waits for their p-values)."""
    records = [
        {
            **record,
            "p_value": result.p_value,
            "verdict": _verdict(result, record["variant_a"], record["variant_b"]),
        }
        for record, result in compared
    ]
    return Table(
        "ab_tests",
        "A/B comparisons of message variants",
        "Compared at 7 days after publication (younger posts left out and counted). Ratio of "
        "sums per variant; the difference B − A with a 95% interval (Welch, over messages) and "
        "a permutation-test p-value (messages relabelled at random). 'Beyond noise' only when "
        f"the interval excludes 0 and p < 0.05; each side needs {stats.MIN_CLUSTERS} messages.",
        [
            Column("audience_label", "Audience"),
            Column("basis", "Rate"),
            Column("variant_a", "A"),
            Column("posts_a", "Posts A", "int"),
            Column("rate_a", "ER A at 7 d", "pct"),
            Column("variant_b", "B"),
            Column("posts_b", "Posts B", "int"),
            Column("rate_b", "ER B at 7 d", "pct"),
            Column("young", "Younger than 7 d (left out)", "int", short="Too young"),
            Column("difference", "B − A (95% CI)", "pp", "difference_low", "difference_high"),
            Column("p_value", "p (permutation)", "p"),
            Column("verdict", "Verdict"),
        ],
        pd.DataFrame.from_records(records),
    )


def _verdict(result: stats.Comparison, first: str, second: str) -> str:
    if math.isnan(result.low):
        return "too few posts to tell"
    if result.distinguishable:
        return f"{second if result.difference > 0 else first} ahead, beyond noise"
    return "not distinguishable from noise"


def top_bottom(
    posts: pd.DataFrame, names: pd.Series, priors: Priors, top: int, a: Arrays | None = None
) -> tuple[Table, Table]:
    """The posts with the highest and lowest shrunk rate at 7 days relative to their
    platform's typical post (equal ones by their own rate relative to it). A post is in one
    list at most: with fewer than twice ``top``
    posts, the top list takes the better half and the bottom list the rest. ``names``:
    delivery id → the audiences it reaches (`reports.posts.audience_names`); ``a``: the
    frame's `arrays`, when the caller has them (the key columns' codes are kept there)."""
    exposure = posts[f"exposure_{AGE}"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        compared = np.flatnonzero(posts[f"known_{AGE}"].to_numpy(dtype=bool) & (exposure > 0))
    young = int((posts["rated"] & posts[f"immature_{AGE}"]).sum())
    platform = _equal_to(posts, "platform_label", compared, a)
    basis = _equal_to(posts, "basis", compared, a)
    eng = posts[f"eng_{AGE}"].to_numpy(dtype="float64")[compared]
    index = np.full(compared.size, np.nan)
    own = np.full(compared.size, np.nan)
    for (platform_key, basis_key), prior in priors.items():
        if not prior.fitted:  # no typical post to rank against
            continue
        rows = platform(platform_key) & basis(basis_key)
        index[rows] = prior.shrink(eng[rows], exposure[compared][rows]) / prior.mean
        own[rows] = eng[rows] / exposure[compared][rows] / prior.mean
    # Highest index first; posts of equal index (a platform whose posts vary no more than
    # sampling noise explains has them all pulled to 1.00) by their own rate against the
    # typical one, so a list never puts a post below one its own rate beats; then by id.
    ranked = np.flatnonzero(~np.isnan(index))
    delivery = posts["delivery_id"].to_numpy()[compared]
    ranked = ranked[np.lexsort((delivery[ranked], -own[ranked], -index[ranked]))]
    first = ranked[: min(top, math.ceil(ranked.size / 2))]
    last = ranked[first.size :][-top:][::-1] if top > 0 else ranked[:0]
    best, worst = (_decorate(posts, compared[r], index[r], names) for r in (first, last))
    columns = [
        Column("text", "Post", link="remote_url", clip=True),
        Column("channel", "Channel"),
        Column("platform_label", "Platform"),
        Column("audiences", "Audiences"),
        Column("published_local", "Published (local)"),
        Column("impressions", "Impressions", "int"),
        Column("eng", "Engagements", "int"),
        Column("rate_7d", "ER at 7 d", "pct"),
        Column("basis_label", "Rate"),
        Column("ctr", "Link CTR (Wilson 95%)", "pct", "ctr_low", "ctr_high"),
        Column("index", "Shrunk index at 7 d", "index"),
    ]
    text = (
        "Ranked by the post's empirical-Bayes shrunk rate at 7 days relative to its platform's "
        "typical post (1.00 = typical), so a post with little exposure does not top the list by "
        f"luck. Posts younger than 7 days are left out ({young} now). A post is never in both "
        "lists. Link CTR with a Wilson interval."
    )
    return (
        Table("top_posts", "Top posts", text, columns, best),
        Table("bottom_posts", "Bottom posts", text, columns, worst),
    )


def _equal_to(
    frame: pd.DataFrame, name: str, rows: np.ndarray, a: Arrays | None
) -> Callable[[str], np.ndarray]:
    """For a text: whether the column ``name`` at each of ``rows`` equals it (NaN equals
    nothing), by the column's codes (`factorized`, kept in ``a``) instead of comparing every
    value again for each text."""
    codes, values = factorized(frame, name, a)
    codes = codes[rows]
    code_of = {value: code for code, value in enumerate(values.tolist()) if isinstance(value, str)}
    other = {
        value for value in values.tolist() if not isinstance(value, str) and not pd.isna(value)
    }
    if other:  # values that are not texts: compared as they are
        column = frame[name].to_numpy(dtype=object)[rows]
        return lambda text: np.asarray(column == text, dtype=bool)
    return lambda text: codes == code_of.get(text, -2)


def _decorate(
    posts: pd.DataFrame, rows: np.ndarray, index: np.ndarray, names: pd.Series
) -> pd.DataFrame:
    """The rows ``rows`` of ``posts`` with their shrunk ``index`` and what the lists show
    beside a post's own columns, added as one block of columns (not one column at a time:
    each insertion into a frame this wide costs as much as the whole block)."""
    frame = posts.iloc[rows]
    low, high = stats.wilson(frame["link_clicks"], frame["impressions"])
    published_local = [
        t.tz_convert(z).strftime("%Y-%m-%d %H:%M")
        for t, z in zip(frame["published_at"], frame["timezone"], strict=True)
    ]
    added = pd.DataFrame(
        {
            "index": index,
            "ctr_low": low,
            "ctr_high": high,
            "audiences": frame["delivery_id"].map(names),
            "basis_label": frame["basis"].map(BASIS_LABEL),
            "published_local": published_local,
        },
        index=frame.index,
    )
    return pd.concat([frame, added], axis=1)
