"""Defect class 6 (shrinkage that shrinks) and the rankings built on it: leaderboards, A/B
comparisons and top/bottom posts, hand-computed on values at 7 days, with posts younger than
7 days left out and counted, and no post in both the top and the bottom list."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.reports.awkward import T0, D, H, building, one, report_of

AS_OF = T0 + 12 * D
LABEL = "All · c"
ALPHA = [150, 170, 190, 200, 220, 240]  # engagements of 10,000 impressions, narrative alpha
BETA = [200, 230, 240, 250, 260, 280]  # narrative beta
TINY = [0] * 7 + [2, 2, 2]  # of 20 impressions, narrative gamma: three lucky 10% posts


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """22 X posts with a snapshot at exactly 7 days (their value at 7 d) and a later one (their
    current counters, twice as high: the ranking must not use them), plus two young posts with
    a high current rate."""
    from campaigns.store import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ranked') / 'elshi.db'}")
    upgrade(engine)
    with building(engine) as b:
        b.campaign("c")
        x = b.channel("x", "x")
        everyone = b.audience("c", "all", name="All", channels=[x])
        rows = (
            [("alpha", k, 10_000, "A") for k in ALPHA]
            + [("beta", k, 10_000, "B") for k in BETA]
            + [("gamma", k, 20, None) for k in TINY]
        )
        for i, (narrative, k, n, variant) in enumerate(rows):
            post = b.post(
                "c", audiences=[everyone], key=f"p{i:02d}", narrative=narrative, variant=variant
            )
            at = T0 + i * H
            delivery = b.delivery(post, x, due_at=at, text=f"{narrative} {k}/{n}")
            b.snapshot(
                delivery,
                at + 7 * D,
                impressions=n,
                likes=k,
                reposts=0,
                replies=0,
                quotes=0,
                followers=10_000,
            )
            b.snapshot(
                delivery,
                at + 9 * D,
                impressions=2 * n,
                likes=4 * k,
                reposts=0,
                replies=0,
                quotes=0,
                followers=10_000,
            )
        for i in range(2):  # young: 3 days old at the report time, 10% so far
            post = b.post(
                "c", audiences=[everyone], key=f"young{i}", narrative="alpha", variant="A"
            )
            at = AS_OF - 3 * D + i * H
            delivery = b.delivery(post, x, due_at=at)
            b.snapshot(
                delivery,
                at + 2 * D,
                impressions=100,
                likes=10,
                reposts=0,
                replies=0,
                quotes=0,
                followers=10_000,
            )
    yield engine
    engine.dispose()


def _prior() -> tuple[float, float]:
    """m and alpha + beta by hand (docs/metrics.md): exposure-weighted moments less the
    binomial sampling variance."""
    k = np.array(ALPHA + BETA + TINY, dtype=float)
    n = np.array([10_000] * 12 + [20] * 10, dtype=float)
    m = k.sum() / n.sum()
    s2 = float(np.sum(n * (k / n - m) ** 2) / n.sum())
    tau2 = s2 - m * (1 - m) / (n.sum() / 22)
    return m, m * (1 - m) / tau2 - 1


def test_the_prior_is_not_inflated_by_tiny_lucky_posts(ranked: Any) -> None:
    from reports.data import Scope, load
    from reports.posts import posts_frame
    from reports.ranking import fit_priors

    priors = fit_priors(posts_frame(load(ranked, Scope(as_of=AS_OF))))
    prior = priors["x", "impressions"]
    m, strength = _prior()
    assert prior.mean == pytest.approx(m)  # 2.19%, not the 7.6% an unweighted mean gives
    assert prior.strength == pytest.approx(strength)
    assert prior.posts == 22  # the two young posts are not in it


def test_top_posts_are_led_by_well_measured_posts_not_tiny_lucky_ones(ranked: Any) -> None:
    m, strength = _prior()
    top = report_of(ranked, AS_OF).table("top_posts").frame
    assert list(top["text"].head(3)) == ["beta 280/10000", "beta 260/10000", "beta 250/10000"]
    assert top["index"].iloc[0] == pytest.approx((280 + m * strength) / (10_000 + strength) / m)
    lucky = top[top["text"] == "gamma 2/20"]
    assert (lucky["index"] < 1.05).all()  # pulled almost all the way to the typical rate


def test_no_post_is_in_both_the_top_and_the_bottom_list(ranked: Any) -> None:
    report = report_of(ranked, AS_OF)
    top, bottom = report.table("top_posts").frame, report.table("bottom_posts").frame
    assert len(top) == 10 and len(bottom) == 10
    assert not set(top["delivery_id"]) & set(bottom["delivery_id"])
    assert bottom["text"].iloc[0] == "alpha 150/10000"  # the worst first
    shown = set(top["post_key"]) | set(bottom["post_key"])
    assert not shown & {"young0", "young1"}  # younger than 7 days: left out


def test_with_few_posts_the_top_list_takes_the_better_half(ranked: Any) -> None:
    report = report_of(ranked, AS_OF, options={"top": 20})
    top, bottom = report.table("top_posts").frame, report.table("bottom_posts").frame
    assert (len(top), len(bottom)) == (11, 11)
    assert not set(top["delivery_id"]) & set(bottom["delivery_id"])


def test_the_narrative_leaderboard_by_hand(ranked: Any) -> None:
    m, strength = _prior()
    board = report_of(ranked, AS_OF).table("leaderboard_narrative")

    def shrunk(k: float, n: float) -> float:
        return (k + m * strength) / (n + strength)

    alpha = one(board, narrative="alpha")
    beta = one(board, narrative="beta")
    gamma = one(board, narrative="gamma")
    assert beta["shrunk"] == pytest.approx(shrunk(sum(BETA), 60_000))
    assert gamma["shrunk"] == pytest.approx(shrunk(sum(TINY), 200))
    assert alpha["index"] == pytest.approx(shrunk(sum(ALPHA), 60_000) / m)
    assert gamma["raw"] == pytest.approx(6 / 200)  # a true ratio of sums
    assert (beta["rank"], gamma["rank"], alpha["rank"]) == (1, 2, 3)
    assert alpha["young"] == 2 and alpha["posts"] == 6  # the young posts are left out, counted


def test_the_ab_comparison_by_hand(ranked: Any) -> None:
    from reports import stats

    row = one(report_of(ranked, AS_OF).table("ab_tests"), variant_a="A", variant_b="B")
    rate_a, rate_b = sum(ALPHA) / 60_000, sum(BETA) / 60_000
    assert (row["rate_a"], row["rate_b"]) == (pytest.approx(rate_a), pytest.approx(rate_b))
    assert (row["posts_a"], row["posts_b"], row["young"]) == (6, 6, 2)

    def variance(ks: list[int]) -> float:  # leverage-corrected (HC3) residuals, by hand
        y, x = np.array(ks, float), np.full(len(ks), 10_000.0)
        h = x / x.sum()
        e = (y - y.sum() / x.sum() * x) / (1 - h)
        return float(e @ e) / x.sum() ** 2

    va, vb = variance(ALPHA), variance(BETA)
    df = (va + vb) ** 2 / (va**2 / 5 + vb**2 / 5)
    half = stats.t_quantile(0.975, df) * math.sqrt(va + vb)
    assert row["difference_low"] == pytest.approx(rate_b - rate_a - half)
    assert row["difference_high"] == pytest.approx(rate_b - rate_a + half)
    beyond = rate_b - rate_a - half > 0 and row["p_value"] < 0.05
    assert row["verdict"] == (
        "B ahead, beyond noise" if beyond else "not distinguishable from noise"
    )
