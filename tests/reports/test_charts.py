"""Charts never cut a label: long German audience names and Chinese ones wrap onto more lines
and the chart grows to fit; the font stack names CJK fonts."""

from __future__ import annotations

import math
import re
from html import unescape

from reports import charts
from reports.model import HeatMap

GERMAN = "Politische Stiftungen, Denkfabriken und außenpolitische Fachöffentlichkeit · de-2027"
CHINESE = "高校、研究机构与智库中的中亚问题专家和青年学者 · cn-2027-silk-road"


def _texts(svg: str) -> str:
    return unescape(" ".join(re.findall(r">([^<>]+)<", svg)))


def _label(svg: str, start: str) -> list[str]:
    """The lines of the <text> whose first line starts with ``start``."""
    for block in re.findall(r"<text[^>]*>((?:<tspan[^>]*>[^<]*</tspan>)+)</text>", svg):
        lines = [unescape(t) for t in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", block)]
        if lines and lines[0].startswith(start):
            return lines
    raise AssertionError(f"no label starting {start!r}")


def test_long_german_and_chinese_labels_wrap_and_are_never_cut() -> None:
    rows = [
        charts.Interval(f"{GERMAN} (n=12)", 0.031, 0.02, 0.04),
        charts.Interval(f"{CHINESE} (n=30)", 0.044, 0.040, 0.048),
    ]
    svg = charts.interval_chart(rows, "Engagement rate")
    assert "…" not in svg
    german = _label(svg, "Politische")
    chinese = _label(svg, "高校")
    assert " ".join(german) == f"{GERMAN} (n=12)"
    assert "".join(chinese).replace(" ", "") == f"{CHINESE} (n=30)".replace(" ", "")
    assert len(german) > 1 and len(chinese) > 1
    width = float(re.search(r'viewBox="0 0 (\d+)', svg).group(1))  # type: ignore[union-attr]
    label_w = float(re.findall(r'<text x="([\d.]+)"[^>]*text-anchor="end"', svg)[-1]) + 10
    for line in german + chinese:
        assert charts.text_width(line, 12.5) <= label_w  # each line fits its column
    assert label_w < width


def test_rows_grow_with_their_wrapped_labels() -> None:
    short = charts.interval_chart([charts.Interval("A", 0.03, 0.02, 0.04)], "t")
    long = charts.interval_chart([charts.Interval(GERMAN * 2, 0.03, 0.02, 0.04)], "t")

    def height(svg: str) -> float:
        return float(re.search(r'height="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]

    assert height(long) > height(short)


def test_trend_and_heat_map_titles_wrap_instead_of_being_cut() -> None:
    trend = charts.trend_chart(
        charts.Series(f"{GERMAN} · ER by impressions", [("2027-05-03", 0.03, 0.02, 0.04)]),
        "trend",
        width=360,
    )
    assert "…" not in trend and GERMAN.split(" · ")[0].split()[-1] in _texts(trend)
    heat = HeatMap(1, CHINESE, "Asia/Shanghai", ((math.nan,) * 24,) * 7, ((0,) * 24,) * 7, 3)
    svg = charts.heatmap(heat)
    assert "…" not in svg
    assert "".join(_label(svg, "高校")).replace(" ", "") == CHINESE.replace(" ", "")


def test_every_chart_names_cjk_fonts() -> None:
    svg = charts.interval_chart([charts.Interval(CHINESE, 0.03, 0.02, 0.04)], "t")
    assert "Noto Sans CJK SC" in svg
    from reports.render_html import CSS

    assert "Noto Sans CJK SC" in CSS
