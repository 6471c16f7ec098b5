"""The errors of the reports package: one root, `ReportError`.

::

    ReportError
    └── OutcomeFileError   an outcomes CSV that cannot be imported (each problem located;
                           nothing was written; CLI exit 2)
"""

from __future__ import annotations


class ReportError(Exception):
    """Root of the reports package's errors."""


class OutcomeFileError(ReportError, ValueError):
    """The file cannot be imported; ``problems`` are located (the first 50, then a count)."""

    def __init__(self, problems: list[str]) -> None:
        if len(problems) > 50:
            problems = [*problems[:50], f"... and {len(problems) - 50} more problems"]
        super().__init__("\n".join(problems))
        self.problems = problems
