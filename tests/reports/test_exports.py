"""What the exports must never do with names and texts from the data (issue 9): run a formula in
a spreadsheet (CSV, XLSX), inject HTML or Markdown into the e-mail report, or link anywhere but
http(s) in the HTML report; and odd URLs must not break the XLSX export."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reports.awkward import (
    T0,
    D,
    H,
    building,
    one,
    report_of,
    sqlite_engine,  # noqa: F401  (SQLite only)
)

EVIL = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+2",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "<script>alert(1)</script> **bold** [x](javascript:alert(1)) | pipe",
]
URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "https://x.com/e/1?q=" + "a" * 3000,
    "https://example.org/has space",
    "https://ok.example/post/7",
]


@pytest.fixture
def hostile(engine: Any) -> Any:
    """Audience and post texts that are formulas, scripts and Markdown; URLs that are not
    http(s), too long or malformed. Six posts so the top and bottom lists are filled."""
    with building(engine) as b:
        b.campaign("c", title="=cmd|' /C calc'!A0")
        x = b.channel("x", "x")
        audience = b.audience("c", "a", name=EVIL[-1], channels=[x])
        for i, url in enumerate(URLS):
            post = b.post("c", audiences=[audience], key=f"p{i}", narrative=EVIL[i % 6])
            at = T0 + i * H
            delivery = b.delivery(post, x, due_at=at, text=EVIL[i % len(EVIL)], remote_url=url)
            b.snapshot(
                delivery,
                at + 7 * D,
                impressions=1000 + i,
                likes=10 + i,
                reposts=0,
                replies=0,
                quotes=0,
                followers=5000,
            )
    return engine


def test_csv_cells_that_look_like_formulas_are_neutralised(hostile: Any) -> None:
    import csv
    import io

    from reports.render_data import csv_files

    files = csv_files(report_of(hostile, T0 + 10 * D))
    cells = [
        cell for text in files.values() for row in csv.reader(io.StringIO(text)) for cell in row
    ]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert '\'=HYPERLINK("http://evil.example","click")' in cells
    assert "'-2+3" in cells
    narrative = one(report_of(hostile, T0 + 10 * D).table("by_narrative"), narrative="+1+2")
    assert narrative["published"] == 1  # only the export neutralises, the figures keep names


def test_xlsx_writes_texts_as_inert_text_and_survives_odd_urls(hostile: Any, tmp_path: Any) -> None:
    from openpyxl import load_workbook

    from reports.render_xlsx import write_xlsx

    write_xlsx(report_of(hostile, T0 + 10 * D), tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    values = [
        cell.value
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    assert not [v for v in values if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    links = [
        cell.hyperlink.target
        for row in book["posts"].iter_rows()
        for cell in row
        if cell.hyperlink is not None
    ]
    assert links == ["https://ok.example/post/7"]


def test_markdown_escapes_names_and_texts(hostile: Any) -> None:
    from reports.render_text import to_markdown

    text = to_markdown(report_of(hostile, T0 + 10 * D))
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "[x](javascript" not in text and "\\[x\\]" in text
    assert "\\*\\*bold\\*\\*" in text


def test_html_links_only_to_http_urls(hostile: Any) -> None:
    import re

    from reports.render_html import render

    html = render(report_of(hostile, T0 + 10 * D))
    hrefs = re.findall(r'href="([^"]*)"', html)
    external = [h for h in hrefs if not h.startswith("#")]
    assert external and all(h == "https://ok.example/post/7" for h in external)
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*(javascript|data):", html, re.I)
    assert "<script>" not in html
