"""Statistics for effectiveness figures, on plain numpy arrays: cluster bootstrap intervals of a
ratio of sums (resampling whole posts, seeded and reproducible), bootstrap and permutation
comparisons of two groups, Wilson intervals for per-post proportions, and empirical-Bayes
shrinkage with a Beta prior fitted by the method of moments. No pandas, no database.

Engagements are not independent yes/no trials per impression (one person can like, reply and
share), so intervals of aggregate rates never use a binomial formula: they resample posts.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
DEFAULT_REPS = 1000
LEVEL = 0.95
_CHUNK_CELLS = 250_000


def seed_for(seed: int, *parts: object) -> int:
    """A stable seed for one figure: the report's seed mixed with the figure's identity, so a
    figure's interval does not depend on which other figures were computed before it."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return (seed * 1_000_003 + zlib.crc32(text)) % (2**63)


def _collapse(
    numerator: Floats, denominator: Floats, clusters: npt.ArrayLike
) -> tuple[Floats, Floats]:
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    size = int(inverse.max()) + 1 if inverse.size else 0
    return (
        np.bincount(inverse, weights=numerator, minlength=size).astype(np.float64),
        np.bincount(inverse, weights=denominator, minlength=size).astype(np.float64),
    )


def _replicate_sums(
    num: Floats, den: Floats, reps: int, rng: np.random.Generator
) -> tuple[Floats, Floats]:
    """Sums of ``num`` and ``den`` over ``reps`` resamples (with replacement) of the clusters."""
    n = num.size
    out_num = np.empty(reps)
    out_den = np.empty(reps)
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, reps, step):
        stop = min(reps, start + step)
        picks = rng.integers(0, n, size=(stop - start, n))
        out_num[start:stop] = num[picks].sum(axis=1)
        out_den[start:stop] = den[picks].sum(axis=1)
    return out_num, out_den


def _ratios(num: Floats, den: Floats) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _interval(values: Floats, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_ratio(
    numerator: npt.ArrayLike,
    denominator: npt.ArrayLike,
    clusters: npt.ArrayLike,
    *,
    seed: int,
    reps: int = DEFAULT_REPS,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile interval of sum(numerator) / sum(denominator), resampling clusters (posts)
    with replacement. Fewer than two clusters: no interval (NaN, NaN)."""
    num, den = _collapse(
        np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64), clusters
    )
    if num.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rep_num, rep_den = _replicate_sums(num, den, reps, rng)
    return _interval(_ratios(rep_num, rep_den), level)


@dataclass(frozen=True)
class Comparison:
    """B minus A for a ratio of sums: the difference, its bootstrap interval and a two-sided
    permutation p-value. ``distinguishable`` when the interval excludes 0."""

    rate_a: float
    rate_b: float
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def distinguishable(self) -> bool:
        return bool(np.isfinite(self.low) and (self.low > 0 or self.high < 0))


def compare_ratios(
    a: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    b: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    *,
    seed: int,
    reps: int = DEFAULT_REPS,
    level: float = LEVEL,
) -> Comparison:
    """Compare two groups' ratio of sums, each given as (numerator, denominator, clusters)."""
    num_a, den_a = _collapse(
        np.asarray(a[0], dtype=np.float64), np.asarray(a[1], dtype=np.float64), a[2]
    )
    num_b, den_b = _collapse(
        np.asarray(b[0], dtype=np.float64), np.asarray(b[1], dtype=np.float64), b[2]
    )
    rate_a = float(_ratios(np.array([num_a.sum()]), np.array([den_a.sum()]))[0])
    rate_b = float(_ratios(np.array([num_b.sum()]), np.array([den_b.sum()]))[0])
    if num_a.size < 2 or num_b.size < 2:
        return Comparison(rate_a, rate_b, rate_b - rate_a, math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    ra = _ratios(*_replicate_sums(num_a, den_a, reps, rng))
    rb = _ratios(*_replicate_sums(num_b, den_b, reps, rng))
    low, high = _interval(rb - ra, level)
    p_value = permutation_p(num_a, den_a, num_b, den_b, reps=reps, rng=rng)
    return Comparison(rate_a, rate_b, rate_b - rate_a, low, high, p_value)


def permutation_p(
    num_a: Floats,
    den_a: Floats,
    num_b: Floats,
    den_b: Floats,
    *,
    reps: int,
    rng: np.random.Generator,
) -> float:
    """Two-sided p-value of the difference of ratios of sums under random relabelling of the
    clusters between the two groups (group sizes kept)."""
    num = np.concatenate([num_a, num_b])
    den = np.concatenate([den_a, den_b])
    n_a = num_a.size
    observed = abs(
        _ratios(np.array([num_b.sum()]), np.array([den_b.sum()]))[0]
        - _ratios(np.array([num_a.sum()]), np.array([den_a.sum()]))[0]
    )
    if not np.isfinite(observed):
        return math.nan
    total_num, total_den = num.sum(), den.sum()
    hits = 0
    step = max(1, _CHUNK_CELLS // max(num.size, 1))
    for start in range(0, reps, step):
        count = min(reps, start + step) - start
        order = np.argpartition(rng.random((count, num.size)), n_a - 1, axis=1)[:, :n_a]
        a_num = num[order].sum(axis=1)
        a_den = den[order].sum(axis=1)
        diff = np.abs(_ratios(total_num - a_num, total_den - a_den) - _ratios(a_num, a_den))
        hits += int(np.sum(diff >= observed - 1e-15))
    return (hits + 1) / (reps + 1)


def wilson(
    successes: npt.ArrayLike, trials: npt.ArrayLike, *, z: float = 1.959964
) -> tuple[Floats, Floats]:
    """Wilson score interval for proportions (vectorised); NaN where ``trials`` is 0 or NaN."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        valid = (n > 0) & np.isfinite(k) & (k >= 0) & (k <= n)
        safe_n = np.where(valid, n, 1.0)
        p = np.where(valid, k, 0.0) / safe_n
        centre = (p + z * z / (2 * safe_n)) / (1 + z * z / safe_n)
        half = z / (1 + z * z / safe_n) * np.sqrt(p * (1 - p) / safe_n + z * z / (4 * safe_n**2))
    low = np.where(valid, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


@dataclass(frozen=True)
class BetaPrior:
    """A Beta(alpha, beta) prior over per-post rates on one platform, with the dispersion
    ``phi``: how many times noisier per-post counts are than binomial ones (>= 1)."""

    alpha: float
    beta: float
    phi: float
    posts: int

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def shrink(self, successes: npt.ArrayLike, trials: npt.ArrayLike) -> Floats:
        """Posterior mean rate: (k/phi + alpha) / (n/phi + alpha + beta). Counts are divided by
        ``phi`` so that n impressions weigh as the n/phi independent trials they are worth."""
        k = np.asarray(successes, dtype=np.float64) / self.phi
        n = np.asarray(trials, dtype=np.float64) / self.phi
        result: Floats = (k + self.alpha) / (n + self.alpha + self.beta)
        return result


def fit_beta_prior(successes: npt.ArrayLike, trials: npt.ArrayLike) -> BetaPrior | None:
    """Method of moments on per-post rates (k/n): mean m and variance v give
    alpha + beta = m(1-m)/v - 1. None when fewer than 3 posts or no spread to fit."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    ok = np.isfinite(k) & np.isfinite(n) & (n > 0)
    k, n = k[ok], n[ok]
    if k.size < 3:
        return None
    rates = np.clip(k / n, 0.0, 1.0)
    m = float(rates.mean())
    v = float(rates.var(ddof=1))
    if not 0.0 < m < 1.0 or v <= 0.0 or v >= m * (1.0 - m):
        return None
    strength = m * (1.0 - m) / v - 1.0
    # Pearson dispersion of the counts against a common rate m (quasi-binomial phi).
    expected = n * m
    chi2 = float(np.sum((k - expected) ** 2 / (expected * (1.0 - m))))
    phi = max(1.0, chi2 / max(k.size - 1, 1))
    return BetaPrior(alpha=m * strength, beta=(1.0 - m) * strength, phi=phi, posts=int(k.size))
