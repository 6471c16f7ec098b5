"""The executive summary: true plain sentences with intervals, comparing audiences, narratives
and variants with their campaign only within one rate basis; "no ... stands out from noise"
when that is the truth; at the top of every format; a function API for report e-mails."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.reports.awkward import (
    T0,
    D,
    H,
    building,
    report_of,
    sqlite_engine,  # noqa: F401  (SQLite only)
)

AS_OF = T0 + 12 * D


def _campaign(engine: Any, rates: dict[str, list[float]], *, mastodon: bool = False) -> None:
    """One X post per rate (1,000 impressions, value at exactly 7 d) for each audience; with
    ``mastodon`` also three Mastodon posts (no impressions) in the first audience."""
    with building(engine) as b:
        b.campaign("c", title="Kasachstan <Test>")
        x, m = b.channel("x", "x"), b.channel("m", "mastodon")
        i = 0
        for name, values in rates.items():
            audience = b.audience("c", name.lower()[:8], name=name, channels=[x, m])
            for rate in values:
                post = b.post("c", audiences=[audience], key=f"p{i}", narrative="n")
                at = T0 + i * H
                delivery = b.delivery(post, x, due_at=at)
                b.snapshot(
                    delivery,
                    at + 7 * D,
                    impressions=1000,
                    likes=round(rate * 1000),
                    reposts=0,
                    replies=0,
                    quotes=0,
                    followers=5000,
                )
                i += 1
        if mastodon:
            first = next(iter(rates))
            audience_id = 1
            for j in range(3):
                post = b.post("c", audiences=[audience_id], key=f"m{j}", narrative="n")
                delivery = b.delivery(post, m, due_at=T0 + (i + j) * H)
                b.snapshot(
                    delivery,
                    T0 + (i + j) * H + 7 * D,
                    likes=10 + j,
                    reposts=0,
                    replies=0,
                    quotes=0,
                    followers=2000,
                )
            del first
            b.followers(m, T0 - H, 2000)


def test_an_audience_that_does_better_is_named_with_its_interval(engine: Any) -> None:
    from reports import stats

    tourists = [0.040, 0.045, 0.042, 0.047, 0.043, 0.044, 0.046, 0.041]
    business = [0.020, 0.022, 0.019, 0.021, 0.023, 0.020, 0.018, 0.022]
    _campaign(engine, {"Touristen": tourists, "Wirtschaftsverbände": business}, mastodon=True)
    summary = report_of(engine, AS_OF).summary
    (campaign,) = summary.campaigns
    impressions = next(b for b in campaign.bases if b.basis == "impressions")
    whole = sum(tourists + business) * 1000 / 16_000
    assert impressions.rate == pytest.approx(whole)
    low, high = stats.ratio_interval(np.array(tourists) * 1000, np.full(8, 1000.0), range(8))
    higher = [f for f in impressions.findings if f.direction == 1]
    assert [(f.name, f.low, f.high) for f in higher] == [
        ("Touristen", pytest.approx(low), pytest.approx(high))
    ]
    text = " ".join(campaign.sentences)
    assert (
        f"Higher than the campaign's {whole * 100:.2f}% by impressions: Touristen 4.35% [" in text
    )
    assert "Lower than the campaign's" in text and "Wirtschaftsverbände 2.06% [" in text
    assert "compared only within their own basis" in text  # Mastodon gives no impressions
    followers = next(b for b in campaign.bases if b.basis == "followers")
    assert followers.posts == 3 and not followers.findings


def test_a_campaign_with_no_clear_winner_says_so(engine: Any) -> None:
    rng = np.random.default_rng(5)
    rates = {name: list(0.03 + rng.normal(0, 0.004, 6)) for name in ("Presse", "Diaspora")}
    _campaign(engine, rates)
    summary = report_of(engine, AS_OF).summary
    (campaign,) = summary.campaigns
    assert not campaign.bases[0].findings
    assert "No audience or narrative stands out from noise." in campaign.sentences
    assert "Higher than" not in " ".join(campaign.sentences)


def test_the_summary_is_at_the_top_of_every_format(engine: Any, tmp_path: Any) -> None:
    from openpyxl import load_workbook

    from reports.render_data import csv_files, to_json
    from reports.render_html import render
    from reports.render_text import terminal_summary, to_markdown
    from reports.render_xlsx import write_xlsx

    _campaign(engine, {"Presse": [0.03] * 6})
    report = report_of(engine, AS_OF)
    first = report.summary.campaigns[0].sentences[1]  # the campaign's rate
    html = render(report)
    assert html.index('id="executive"') < html.index('id="summary"')
    assert "Kasachstan &lt;Test&gt;" in html and "Kasachstan <Test>" not in html
    markdown = to_markdown(report)
    assert markdown.index("## Executive summary") < markdown.index("## Summary by audience")
    assert first.split(":")[0] in markdown
    terminal = terminal_summary(report)
    assert terminal.index(first[:20]) < terminal.index("Audience")
    document = json.loads(to_json(report))
    assert list(document).index("executive_summary") < list(document).index("tables")
    assert document["executive_summary"]["campaigns"][0]["bases"][0]["posts"] == 6
    assert first in csv_files(report)["summary.csv"]
    write_xlsx(report, tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames[0] == "Summary"
    assert any(first == row[0] for row in book["Summary"].iter_rows(values_only=True))


def test_the_summary_api_gives_data_text_and_html(engine: Any) -> None:
    from reports.summary import summary_html, summary_text

    _campaign(engine, {"Presse": [0.03] * 6})
    summary = report_of(engine, AS_OF).summary
    assert json.loads(json.dumps(summary.to_dict()))["campaigns"][0]["campaign_id"] == "c"
    assert summary_text(summary).startswith("Kasachstan <Test> (c): engagement at 7 days")
    assert "<h3>Kasachstan &lt;Test&gt; <small>(c)</small></h3>" in summary_html(summary)


def test_when_every_counter_is_n_a_the_summary_says_why(engine: Any) -> None:
    _campaign(engine, {"Presse": [0.03] * 6})
    summary = report_of(engine, T0 - 1 * H).summary
    assert (
        summary.notes and "nothing in scope was published by the report time" in (summary.notes[0])
    )
    assert "--as-of" in summary.notes[0]
