"""Text people can read: every coloured label of the stylesheet (delivery states, approval
states, messages, tags, muted and warning text) reaches WCAG AA's 4.5:1 between its text and
its background, computed from web/static/elshi.css itself (its variables resolved)."""

from __future__ import annotations

import re
from functools import cache

import pytest

from tests.conftest import ROOT
from web.formatting import STATE_LABELS

CSS = ROOT / "web" / "static" / "elshi.css"
AA = 4.5


@cache
def _rules() -> dict[str, dict[str, str]]:
    """selector -> its declarations, later rules overriding earlier ones (as the cascade does
    for selectors of equal weight)."""
    text = re.sub(r"/\*.*?\*/", "", CSS.read_text(encoding="utf-8"), flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = dict(
            (k.strip(), v.strip())
            for k, _, v in (d.partition(":") for d in body.split(";"))
            if k.strip() and v.strip()
        )
        for selector in selectors.split(","):
            rules.setdefault(selector.strip(), {}).update(declarations)
    return rules


def _value(selectors: tuple[str, ...], prop: str) -> str:
    """The first of ``selectors`` (most specific first) that sets ``prop``, variables resolved."""
    for selector in selectors:
        found = _rules().get(selector, {}).get(prop)
        if found:
            while found.startswith("var("):
                found = _rules()[":root"][found[4:-1]]
            return found
    raise AssertionError(f"no {prop} for {selectors}")


def _luminance(colour: str) -> float:
    hex6 = colour.lstrip("#")
    if len(hex6) == 3:
        hex6 = "".join(c * 2 for c in hex6)
    channels = [int(hex6[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula_matches_wcags_examples() -> None:
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("state", sorted(STATE_LABELS))
def test_every_delivery_state_badge_is_readable(state: str) -> None:
    badge = (f".state.state-{state}", f".state-{state}", ".state")
    text, background = _value(badge, "color"), _value(badge, "background")
    assert contrast(text, background) >= AA, (state, text, background)


@pytest.mark.parametrize(
    ("selector", "on"),
    [
        (".approval-pending", None),
        (".approval-approved", None),
        (".approval-rejected", None),
        (".flash-ok", None),
        (".flash-info", None),
        (".flash-error", None),
        (".flash-secret", None),
        (".tag", None),
        (".muted", "--paper"),
        (".muted", "--soft"),
        (".warn", "--paper"),
        (".bad", "--paper"),
        ("a", "--paper"),
    ],
)
def test_coloured_text_is_readable_on_its_background(selector: str, on: str | None) -> None:
    text = _value((selector,), "color")
    background = _rules()[":root"][on] if on else _value((selector,), "background")
    assert contrast(text, background) >= AA, (selector, text, background)
