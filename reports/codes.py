"""Codes of a column (`pandas.factorize`) worked out from another frame's: a frame that takes
another's rows (the per-audience frame takes the per-post frame's and the audiences') need not
hash its texts again."""

from __future__ import annotations

from typing import Any

import numpy as np


def taken_codes(codes: np.ndarray, uniques: Any, rows: np.ndarray) -> tuple[np.ndarray, Any]:
    """``pd.factorize(values.take(rows), use_na_sentinel=False)`` from the factorization
    (``codes``, ``uniques``) of ``values``: the rows' codes renumbered in order of first
    appearance and the values of those present, as pandas would give them."""
    taken = codes[rows]
    first = np.full(len(uniques), -1, dtype=np.int64)
    # Assigned backwards: where a code repeats, its first row is written last.
    first[taken[::-1]] = np.arange(taken.size - 1, -1, -1)
    present = np.flatnonzero(first >= 0)
    present = present[np.argsort(first[present], kind="stable")]
    renumber = np.full(len(uniques), -1, dtype=np.int64)
    renumber[present] = np.arange(present.size)
    return renumber[taken], uniques.take(present)
