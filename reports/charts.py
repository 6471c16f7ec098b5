"""Charts as inline SVG strings, hand-written so the HTML report is one self-contained file that
needs no network and no plotting library: intervals as error bars, small-multiple trend lines
with interval bands, weekday × hour heat maps with thin cells greyed out, and sparklines. Every
chart has a <title> for screen readers. Input is plain numbers; NaN means "no value" and is
drawn as a gap, never as 0. Labels are never cut: long ones (German audience names, Chinese
ones) wrap onto more lines and the chart grows to fit them; the font stack names CJK fonts.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from reports.model import HeatMap, posts_text

INK = "#1d2733"
MUTED = "#5b6b7b"
GRID = "#e3e8ee"
ACCENT = "#1b7fa6"
BAND = "#cfe6f0"
WARM = "#c8553d"
THIN = "#d9dde2"
FONT_STACK = (
    "'Noto Sans', 'DejaVu Sans', 'Segoe UI', 'Noto Sans CJK SC', 'Noto Sans CJK JP', "
    "'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', "
    "'Droid Sans Fallback', system-ui, sans-serif"
)
"""Latin fonts first, then CJK ones (Debian: fonts-noto-cjk), so every name has glyphs."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def _axis(value: float, ticks: int = 4) -> tuple[float, list[float], int]:
    """A round top of the axis, its tick values and the decimals their % labels need."""
    if not _ok(value) or value <= 0:
        value = 0.01
    raw = value / ticks
    exponent = math.floor(math.log10(raw))
    step = next(m * 10**exponent for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * 10**exponent >= raw)
    count = max(1, math.ceil(value / step - 1e-9))
    values = [step * i for i in range(count + 1)]
    digits = next(
        (d for d in range(4) if all(abs(round(v * 100, d) - v * 100) < 1e-9 for v in values)), 3
    )
    return values[-1], values, digits


def _svg(width: int, height: int, title: str, body: str, css_class: str = "chart") -> str:
    return (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'style="font-family: {escape(FONT_STACK)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate of the width of ``text`` in pixels at font ``size`` (measured against
    DejaVu Sans, the widest font of the stack): East Asian wide characters take a full em,
    capitals, digits and wide letters more than the rest; bold text is wider still."""
    width = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            width += 1.0
        elif ch in "mwMW@%":
            width += 0.98
        elif ch.isupper() or ch.isdigit():
            width += 0.74
        elif ch in "ilj.,:;'|!·() ":
            width += 0.36
        else:
            width += 0.63
    return width * size * (1.1 if bold else 1.0)


def wrap(text: str, max_width: float, size: float, *, bold: bool = False) -> list[str]:
    """``text`` in lines no wider than ``max_width`` (by `text_width`), broken at spaces, or
    between any two characters of a word too long for a line (as CJK text is written)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, size, bold=bold) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if text_width(line + ch, size, bold=bold) > max_width and line:
                lines.append(line)
                line = ""
            line += ch
    if line or not lines:
        lines.append(line)
    return lines


def _lines(x: float, y: float, lines: Sequence[str], size: float, step: float, attrs: str) -> str:
    """One <text> with a <tspan> per line, the first line's baseline at ``y``."""
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else step:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" {attrs}>{spans}</text>'


@dataclass(frozen=True)
class Interval:
    label: str
    value: float
    low: float
    high: float
    note: str = ""


def interval_chart(rows: Sequence[Interval], title: str, *, width: int = 900) -> str:
    """Horizontal dots with 95% error bars, one row per item, on a common 0-based axis. A long
    label wraps onto several lines (its row grows); none is cut."""
    size, line_h, value_w, top = 12.5, 15.0, 190, 30
    widest = max((text_width(r.label, size) for r in rows), default=0.0)
    label_w = int(min(max(widest + 16, 140), 340))
    plot_w = width - label_w - value_w
    wrapped = [wrap(r.label, label_w - 16, size) for r in rows]
    heights = [max(30.0, line_h * len(lines) + 12) for lines in wrapped]
    height = int(top + sum(heights) + 12) if rows else top + 42
    top_value, ticks, digits = _axis(
        max(
            (max(r.high if _ok(r.high) else r.value, r.value) for r in rows if _ok(r.value)),
            default=0.0,
        )
    )

    def x(v: float) -> float:
        return label_w + plot_w * v / top_value

    parts = []
    for tick in ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 8}" '
            f'stroke="{GRID}"/><text x="{x(tick):.1f}" y="{top - 12}" font-size="11" '
            f'fill="{MUTED}" text-anchor="middle">{_pct(tick, digits)}</text>'
        )
    offset = float(top)
    for row, lines, row_h in zip(rows, wrapped, heights, strict=True):
        cy = offset + row_h / 2
        offset += row_h
        first = cy + 4 - line_h * (len(lines) - 1) / 2
        parts.append(
            _lines(label_w - 10, first, lines, size, line_h, f'fill="{INK}" text-anchor="end"')
        )
        if not _ok(row.value):
            parts.append(
                f'<text x="{label_w + 4}" y="{cy + 4:.1f}" font-size="12" fill="{MUTED}" '
                'font-style="italic">n/a</text>'
            )
            continue
        if _ok(row.low) and _ok(row.high):
            x1, x2 = x(row.low), x(row.high)
            parts.append(
                f'<line class="errorbar" x1="{x1:.1f}" y1="{cy:.1f}" x2="{x2:.1f}" y2="{cy:.1f}" '
                f'stroke="{ACCENT}" stroke-width="2"/>'
                f'<line x1="{x1:.1f}" y1="{cy - 6:.1f}" x2="{x1:.1f}" y2="{cy + 6:.1f}" '
                f'stroke="{ACCENT}" stroke-width="2"/>'
                f'<line x1="{x2:.1f}" y1="{cy - 6:.1f}" x2="{x2:.1f}" y2="{cy + 6:.1f}" '
                f'stroke="{ACCENT}" stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x(row.value):.1f}" cy="{cy:.1f}" r="5.5" fill="{ACCENT}" '
            'stroke="#fff" stroke-width="1.5"/>'
        )
        interval = (
            f" ({_pct(row.low, 2)}–{_pct(row.high, 2)})"
            if _ok(row.low) and _ok(row.high)
            else " (too few posts)"
        )
        parts.append(
            f'<text x="{label_w + plot_w + 10}" y="{cy + 4:.1f}" font-size="12" fill="{INK}">'
            f'<tspan font-weight="600">{_pct(row.value, 2)}</tspan>'
            f'<tspan fill="{MUTED}" font-size="10.5">{escape(interval)}</tspan></text>'
        )
    return _svg(width, height, title, "".join(parts))


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[str, float, float, float]]
    """(x label, value, low, high); NaN values leave a gap."""


def trend_chart(series: Series, title: str, *, width: int = 360, height: int = 160) -> str:
    """One small-multiple panel: a line with its 95% band; gaps where a week has no value."""
    left, right = 44, 10
    title_lines = wrap(series.label, width - left - right, 12.5, bold=True)
    top, bottom = 12 + 15 * len(title_lines), 22
    height += 15 * (len(title_lines) - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    points = list(series.points)
    values = [p[1] for p in points] + [p[3] for p in points if _ok(p[3])]
    top_value, ticks, digits = _axis(max((v for v in values if _ok(v)), default=0.0), 2)
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / n

    def y(v: float) -> float:
        return top + plot_h * (1 - min(v, top_value) / top_value)

    parts = [_lines(left, 14, title_lines, 12.5, 15, f'font-weight="600" fill="{INK}"')]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'fill="{MUTED}" text-anchor="end">{_pct(tick, digits)}</text>'
        )
    for run in _runs([i for i, p in enumerate(points) if _ok(p[1])]):
        band = [i for i in run if _ok(points[i][2]) and _ok(points[i][3])]
        if len(band) > 1:
            upper = " ".join(f"{x(i):.1f},{y(points[i][3]):.1f}" for i in band)
            lower = " ".join(f"{x(i):.1f},{y(points[i][2]):.1f}" for i in reversed(band))
            parts.append(f'<polygon class="band" points="{upper} {lower}" fill="{BAND}"/>')
        line = " ".join(f"{x(i):.1f},{y(points[i][1]):.1f}" for i in run)
        if len(run) > 1:
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{ACCENT}" stroke-width="1.8"/>'
            )
        else:
            i = run[0]
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(points[i][1]):.1f}" r="2.5" fill="{ACCENT}"/>'
            )
    if points:
        parts.append(
            f'<text x="{left}" y="{height - 6}" font-size="10" fill="{MUTED}">'
            f"{escape(points[0][0])}</text>"
            f'<text x="{width - right}" y="{height - 6}" font-size="10" fill="{MUTED}" '
            f'text-anchor="end">{escape(points[-1][0])}</text>'
        )
    return _svg(width, height, title, "".join(parts))


def _runs(indexes: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def sparkline(values: Sequence[float], title: str, *, width: int = 132, height: int = 30) -> str:
    finite = [v for v in values if _ok(v)]
    if len(finite) < 2:
        return ""
    top_value = max(finite) or 1.0
    n = max(len(values) - 1, 1)

    def pt(i: int) -> str:
        return (
            f"{2 + (width - 6) * i / n:.1f},{height - 3 - (height - 6) * values[i] / top_value:.1f}"
        )

    parts = [
        f'<polyline points="{" ".join(pt(i) for i in run)}" fill="none" stroke="{ACCENT}" '
        'stroke-width="1.5"/>'
        for run in _runs([i for i, v in enumerate(values) if _ok(v)])
        if len(run) > 1
    ]
    last = max(i for i, v in enumerate(values) if _ok(v))
    cx, cy = pt(last).split(",")
    parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{ACCENT}"/>')
    return _svg(width, height, title, "".join(parts), css_class="spark")


def _heat_colour(index: float) -> str:
    """Diverging: terracotta below the baseline, white at 1.0, sky blue above (capped 0.5–1.5)."""
    t = max(-1.0, min(1.0, (index - 1.0) / 0.5))
    end = (0x1B, 0x7F, 0xA6) if t > 0 else (0xC8, 0x55, 0x3D)
    start = (0xF7, 0xF7, 0xF5)
    mix = [round(s + (e - s) * abs(t)) for s, e in zip(start, end, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*mix)


def heatmap(heat: HeatMap, *, cell: int = 17) -> str:
    """Weekday × hour grid of the index; thin cells hatched grey, empty cells blank."""
    width = 40 + cell * 24 + 8
    zone_w = text_width(heat.timezone, 10) + 12
    title_lines = wrap(heat.title, width - zone_w, 12.5, bold=True)
    left, top = 40, 20 + 15 * len(title_lines)
    height = top + cell * 7 + 48
    parts = [
        f'<defs><pattern id="thin-{heat.audience_id}" width="5" height="5" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="5" height="5" fill="{THIN}"/>'
        '<line x1="0" y1="0" x2="0" y2="5" stroke="#c3c8ce" stroke-width="2"/></pattern></defs>',
        _lines(0, 14, title_lines, 12.5, 15, f'font-weight="600" fill="{INK}"'),
        f'<text x="{width - 8}" y="14" font-size="10" fill="{MUTED}" text-anchor="end">'
        f"{escape(heat.timezone)}</text>",
    ]
    for h in range(0, 24, 3):
        parts.append(
            f'<text x="{left + cell * h + cell / 2:.1f}" y="{top - 5}" font-size="9.5" '
            f'fill="{MUTED}" text-anchor="middle">{h:02d}</text>'
        )
    for w in range(7):
        y = top + cell * w
        parts.append(
            f'<text x="{left - 6}" y="{y + cell * 0.7:.1f}" font-size="10" fill="{MUTED}" '
            f'text-anchor="end">{WEEKDAYS[w]}</text>'
        )
        for h in range(24):
            x = left + cell * h
            value, posts = heat.index[w][h], heat.posts[w][h]
            if posts == 0 or not _ok(value):
                fill, cls = "#ffffff", "empty"
            elif posts < heat.thin:
                fill, cls = f"url(#thin-{heat.audience_id})", "thin"
            else:
                fill, cls = _heat_colour(value), "cell"
            tip = (
                f"{WEEKDAYS[w]} {h:02d}:00 — "
                + (f"index {value:.2f}, {posts_text(posts)}" if posts else "no posts")
                + (" (thin)" if 0 < posts < heat.thin else "")
            )
            parts.append(
                f'<rect class="{cls}" x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}" stroke="{GRID}" stroke-width="0.5"><title>{escape(tip)}</title>'
                "</rect>"
            )
    legend_y = top + cell * 7 + 14
    for i, v in enumerate((0.5, 0.75, 1.0, 1.25, 1.5)):
        x = left + i * 44
        parts.append(
            f'<rect x="{x}" y="{legend_y}" width="14" height="12" fill="{_heat_colour(v)}" '
            f'stroke="{GRID}"/><text x="{x + 18}" y="{legend_y + 10}" font-size="10" '
            f'fill="{MUTED}">{v:.2f}</text>'
        )
    x = left + 5 * 44 + 6
    parts.append(
        f'<rect x="{x}" y="{legend_y}" width="14" height="12" fill="url(#thin-{heat.audience_id})"/>'
        f'<text x="{x + 18}" y="{legend_y + 10}" font-size="10" fill="{MUTED}">'
        f"fewer than {heat.thin} posts</text>"
    )
    return _svg(width, height, f"Best hours: {heat.title}", "".join(parts), css_class="heat")
