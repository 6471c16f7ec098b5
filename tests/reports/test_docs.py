"""docs/metrics.md explains every figure; its formula list must match what the report prints."""

from __future__ import annotations

from reports.figures import METHODS
from tests.conftest import ROOT


def test_every_formula_the_report_prints_is_in_the_metrics_documentation() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    missing = [m.name for m in METHODS if f"| {m.name} | `{m.formula}` |" not in text]
    assert not missing, f"docs/metrics.md lacks (or has stale) formulas for: {missing}"
