"""Text made on numpy, for the exports whose cells are too many for one Python operation each
(the workbook's sheet XML, the JSON export's rows): a column of cells is a *block*, a uint8
matrix with one row of bytes per cell, NUL-padded on the right (or, for digits, the left);
blocks of the same rows side by side, padding dropped, are the rows' text (`joined_rows`). Texts
must not hold NUL bytes themselves (the callers check). Knows nothing of XML or JSON.
"""

from __future__ import annotations

from typing import cast

import numpy as np


def block_of(cells: np.ndarray) -> np.ndarray:
    """A byte-string array as a block: one row of bytes per cell, NUL-padded."""
    size = cells.dtype.itemsize
    if size == 0:
        return np.zeros((cells.size, 0), dtype=np.uint8)
    return np.ascontiguousarray(cells).view(np.uint8).reshape(cells.size, size)


def const_block(text: bytes, rows: np.ndarray) -> np.ndarray:
    """``text`` on each of ``rows``' rows, as a block."""
    return np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (len(rows), len(text)))


def digit_block(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in decimal, as a block (leading zeros as NUL padding): the
    digits ``str`` gives."""
    top = int(values.max()) if values.size else 0
    width = len(str(top))
    out = np.empty((values.size, width), dtype=np.uint8)
    rest = values
    for place in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, place] = digit + 48
    # The number of digits of each value; the places before them are padding.
    length = np.ones(values.size, dtype=np.int64)
    for power in range(1, width):
        length += values >= 10**power
    out[np.arange(width) < (width - length)[:, None]] = 0
    return out


def joined_rows(blocks: list[np.ndarray]) -> bytes:
    """The rows of ``blocks`` side by side, row after row, without their padding."""
    matrix = np.hstack(blocks)
    return cast(bytes, matrix[matrix != 0].tobytes())
