"""Report figures against values computed by hand from the fixed history in conftest.py, on
SQLite and PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from tests.reports.conftest import AS_OF, Fixed, row

PUBLIC = "Public · de"
THINKTANKS = "Think tanks · de"


def test_latest_snapshot_gives_the_counters_never_a_sum_of_snapshots(
    fixed: Fixed, fixed_report: Any
) -> None:
    d1 = row(fixed_report.table("posts"), delivery_id=fixed.d["d1"])  # inserted out of order
    assert (d1["impressions"], d1["likes"], d1["eng"]) == (2000, 30, 40)


def test_snapshots_collected_after_the_report_time_are_ignored(
    fixed: Fixed, fixed_report: Any
) -> None:
    d7 = row(fixed_report.table("posts"), delivery_id=fixed.d["d7"])
    assert (d7["impressions"], d7["eng"]) == (80, 2)


def test_engagement_rate_by_impressions_is_the_ratio_of_sums_per_audience(
    fixed_report: Any,
) -> None:
    public = row(fixed_report.table("audience_engagement"), audience_label=PUBLIC)
    assert public["er_impr"] == pytest.approx(70 / 3750)
    assert public["er_impr_mean"] == pytest.approx((40 / 2000 + 30 / 1750) / 2)
    assert public["er_impr_median"] == pytest.approx((40 / 2000 + 30 / 1750) / 2)
    assert public["er_impr_posts"] == 2
    # Two messages are too few for an interval: the figure is shown without one.
    assert math.isnan(public["er_impr_low"]) and math.isnan(public["er_impr_high"])


def test_posts_without_impressions_are_rated_by_followers_at_posting_not_mixed_in(
    fixed_report: Any,
) -> None:
    public = row(fixed_report.table("audience_engagement"), audience_label=PUBLIC)
    assert public["er_foll"] == pytest.approx(12 / 2000)
    assert public["er_foll_posts"] == 1
    assert public["impressions"] == 3750
    assert public["posts_with_impressions"] == 2


def test_a_post_targeting_two_audiences_counts_for_each_audience_its_channel_reaches(
    fixed_report: Any,
) -> None:
    # P1 went out on X (reaches both audiences) and Mastodon (reaches Public only).
    volume = fixed_report.table("audience_volume")
    assert row(volume, audience_label=PUBLIC)["published"] == 3  # d1, d2, d3
    assert row(volume, audience_label=THINKTANKS)["published"] == 3  # d1, d4, d7
    campaign = row(fixed_report.table("campaigns"), campaign_id="de")
    assert campaign["published"] == 5  # each delivery once: d1, d2, d3, d4, d7
    thinktanks = row(fixed_report.table("audience_engagement"), audience_label=THINKTANKS)
    assert thinktanks["er_impr"] == pytest.approx((40 + 2) / (2000 + 80))
    assert campaign["er_impr"] == pytest.approx((40 + 30 + 2) / (2000 + 1750 + 80))


def test_deleted_posts_are_counted_as_deleted_and_left_out_of_engagement(
    fixed_report: Any,
) -> None:
    thinktanks = row(fixed_report.table("audience_engagement"), audience_label=THINKTANKS)
    assert thinktanks["posts"] == 2  # d1 and d7; d4 was deleted
    assert thinktanks["deleted"] == 1
    volume = row(fixed_report.table("audience_volume"), audience_label=THINKTANKS)
    assert volume["deleted_after"] == 1


def test_volume_counts_published_missed_and_failed(fixed_report: Any) -> None:
    public = row(fixed_report.table("audience_volume"), audience_label=PUBLIC)
    assert (public["published"], public["missed"], public["failed"]) == (3, 1, 1)
    assert public["published_share"] == pytest.approx(3 / 5)


def test_a_counter_the_platform_does_not_give_stays_missing_never_zero(
    fixed: Fixed, fixed_report: Any
) -> None:
    d2 = row(fixed_report.table("posts"), delivery_id=fixed.d["d2"])
    assert math.isnan(d2["impressions"]) and math.isnan(d2["quotes"])
    assert d2["amplification"] == 2  # reposts 2 + quotes not given
    counters = row(fixed_report.table("platform_counters"), platform="mastodon")
    assert counters["impressions"] == "not provided"
    assert counters["likes"] == "all"


def test_amplification_applause_and_conversation_are_means_per_post_with_medians(
    fixed_report: Any,
) -> None:
    public = row(fixed_report.table("audience_interactions"), audience_label=PUBLIC)
    assert public["amplification_mean"] == pytest.approx((7 + 2 + 5) / 3)
    assert public["amplification_median"] == 5
    assert public["applause_mean"] == pytest.approx((30 + 9 + 22) / 3)
    assert public["conversation_mean"] == pytest.approx((3 + 1 + 3) / 3)
    assert public["ctr"] == pytest.approx((10 + 6) / (2000 + 1750))


def test_values_at_a_fixed_age_are_interpolated_between_snapshots(
    fixed: Fixed, fixed_report: Any
) -> None:
    posts = fixed_report.table("posts")
    d1 = row(posts, delivery_id=fixed.d["d1"])
    # 24 h lies a third of the way from the 12 h snapshot to the 48 h one.
    assert d1["eng_24h"] == pytest.approx(24 + (40 - 24) / 3)
    assert d1["impressions_24h"] == pytest.approx(1400 + 600 / 3)
    assert d1["rate_24h"] == pytest.approx((24 + 16 / 3) / (1400 + 200))
    d3 = row(posts, delivery_id=fixed.d["d3"])
    assert d3["rate_7d"] == pytest.approx((20 + 10 * 6 / 7) / (1000 + 750 * 6 / 7))


def test_posts_younger_than_the_age_are_flagged_and_left_out(
    fixed: Fixed, fixed_report: Any
) -> None:
    d7 = row(fixed_report.table("posts"), delivery_id=fixed.d["d7"])
    assert d7["immature_24h"] and math.isnan(d7["rate_24h"])
    ages = fixed_report.table("fixed_age")
    at_24h = row(ages, audience_label=THINKTANKS, basis="by impressions", age="24h")
    assert (at_24h["posts"], at_24h["immature"]) == (1, 1)
    assert at_24h["rate"] == pytest.approx((24 + 16 / 3) / 1600)
    # d1 is 9 days old but its last snapshot is at 48 h: no value at 7 d, counted as missing.
    at_7d = row(ages, audience_label=PUBLIC, basis="by impressions", age="7d")
    assert (at_7d["posts"], at_7d["missing"]) == (1, 1)


def test_half_life_uses_posts_whose_curve_is_at_least_a_week_long(
    fixed: Fixed, fixed_report: Any
) -> None:
    d1 = row(fixed_report.table("posts"), delivery_id=fixed.d["d1"])
    assert d1["half_life"] == pytest.approx((1 + 10 / 14 * 11) * 3600)
    x = row(fixed_report.table("half_life"), platform="x")
    assert x["posts"] == 1  # d3 only: from 0 at publication to 20 at 24 h, half of 30 at 18 h
    assert x["median"] == pytest.approx(18.0)


def test_local_hour_and_weekday_follow_each_audiences_time_zone(fixed_report: Any) -> None:
    hours = fixed_report.table("by_hour").frame
    d1_public = hours[(hours["audience_label"] == PUBLIC) & (hours["hour"] == 11)]
    d1_thinktanks = hours[(hours["audience_label"] == THINKTANKS) & (hours["hour"] == 18)]
    assert len(d1_public) == 1 and len(d1_thinktanks) == 1  # 10:00 UTC = 11:00 CET = 18:00 CST
    weekdays = fixed_report.table("by_weekday").frame
    monday = weekdays[(weekdays["audience_label"] == PUBLIC) & (weekdays["weekday_name"] == "Mon")]
    assert int(monday["published"].iloc[0]) == 2  # d1 and d2 on Monday 1 March


def test_follower_growth_compares_first_and_last_sample(fixed_report: Any) -> None:
    x = row(fixed_report.table("follower_growth"), channel="de-x")
    assert (x["start"], x["end"], x["change"]) == (10_000, 10_100, 100)
    assert x["change_pct"] == pytest.approx(0.01)


def test_data_quality_counts_failed_collections_and_deleted_posts(fixed_report: Any) -> None:
    quality = fixed_report.table("data_quality")
    assert row(quality, check="Failed metric collections")["count"] == 2
    assert row(quality, check="Posts deleted on the platform")["count"] == 1
    assert row(quality, check="Immature posts (younger than 24h)")["count"] == 1
    assert row(quality, check="Counters not provided by mastodon")["detail"].startswith(
        "impressions"
    )


def test_the_audience_filter_keeps_only_deliveries_reaching_it(fixed: Fixed) -> None:
    from reports.data import Scope, load
    from reports.figures import build_report

    scope = Scope(as_of=AS_OF, campaign="de", audience=fixed.thinktanks)
    report = build_report(load(fixed.engine, scope), generated_at=AS_OF)
    assert list(report.table("audience_volume").frame["audience_label"]) == [THINKTANKS]
    assert sorted(report.table("posts").frame["delivery_id"]) == sorted(
        fixed.d[k] for k in ("d1", "d4", "d7")
    )


def test_the_period_selects_posts_by_publication_time(fixed: Fixed) -> None:
    from datetime import UTC, datetime

    from reports.data import Scope, load
    from reports.figures import build_report

    scope = Scope(as_of=AS_OF, since=datetime(2027, 3, 2, tzinfo=UTC))
    report = build_report(load(fixed.engine, scope), generated_at=AS_OF)
    assert fixed.d["d1"] not in set(report.table("posts").frame["delivery_id"])
    assert row(report.table("audience_volume"), audience_label=PUBLIC)["published"] == 1


def test_a_report_read_before_any_snapshot_exists_says_nothing_is_known(tmp_path: Any) -> None:
    from datetime import timedelta

    from campaigns.store import make_engine, upgrade
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.render_html import render
    from reports.synthetic import EPOCH, generate_history

    engine = make_engine(f"sqlite:///{tmp_path / 'elshi.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        generate_history(conn, deliveries=60, snapshots=600, seed=3, simulated=True, days=20)
    early = EPOCH + timedelta(minutes=1)  # the deliveries exist, no snapshot yet
    report = build_report(load(engine, Scope(as_of=early)), generated_at=early)
    engine.dispose()
    assert report.cards
    assert all("best slots" not in card.subtitle for card in report.cards)
    assert report.summary is not None
    assert "nothing in scope was published by the report time" in report.summary.notes[0]
    assert "SIMULATED" in render(report)


def test_the_channel_and_country_filters_keep_only_their_deliveries(fixed: Fixed) -> None:
    """The same five filters as every page of the web workspace: a channel's report counts its
    deliveries only; a country's, its campaigns' only."""
    from reports.data import Scope, load
    from reports.figures import build_report

    scope = Scope(as_of=AS_OF, channel="de-mastodon")
    report = build_report(load(fixed.engine, scope), generated_at=AS_OF)
    assert sorted(report.table("posts").frame["delivery_id"]) == sorted(
        fixed.d[k] for k in ("d2", "d6")
    )
    assert "channel de-mastodon" in report.scope
    germany = build_report(load(fixed.engine, Scope(as_of=AS_OF, country="DE")), generated_at=AS_OF)
    assert len(germany.table("posts").frame) == len(fixed.d)
    china = build_report(load(fixed.engine, Scope(as_of=AS_OF, country="CN")), generated_at=AS_OF)
    assert china.table("posts").frame.empty


def test_the_figures_text_columns_are_plain_objects_with_the_texts_pandas_would_infer(
    tmp_path: Any,
) -> None:
    """The text columns the figures make (platform labels, bases, audience labels and names,
    weekday names, group keys) are plain objects like the store's, not pandas 3's inferred
    Arrow-backed ``str``: every later take, mask, factorization and rendering of an Arrow
    column pays for converting it (about a tenth of a 10,000-delivery report's figures). The
    texts are those pandas' own inference gives, missing values included."""
    from campaigns.store import make_engine, upgrade
    from reports.aggregates import grouped, volume
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.posts import attributed_frame, audience_names, posts_frame
    from reports.synthetic import EPOCH, generate_history

    engine = make_engine(f"sqlite:///{tmp_path / 'elshi.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        generate_history(conn, deliveries=80, snapshots=800, seed=5, days=20)
    data = load(engine, Scope(as_of=EPOCH + pd.Timedelta(days=40)))
    engine.dispose()
    posts = posts_frame(data)
    aud = attributed_frame(posts, data)
    names = audience_names(aud)
    keys = grouped(aud, ["audience_label", "weekday"], [volume])
    columns = [
        posts["platform_label"],
        posts["basis"],
        aud["audience_label"],
        names,
        keys["audience_label"],
    ]
    for column in columns:
        assert column.dtype == object, column.name
        # The texts pandas would have made of the same values (pandas 3: its own ``str``).
        inferred = pd.Series(column.to_numpy(dtype=object))
        assert inferred.tolist() == column.tolist()
    report = build_report(data, generated_at=EPOCH)
    weekdays = report.table("by_weekday").frame["weekday_name"]
    assert weekdays.dtype == object
    assert set(weekdays.dropna()) <= {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
