"""Text made on numpy, for the exports whose cells are too many for one Python operation each
(the workbook's sheet XML, the JSON export's rows): a column of cells is a *block*, a uint8
matrix with one row of bytes per cell, NUL-padded on the right (or, for digits, the left);
blocks of the same rows side by side, padding dropped, are the rows' text (`joined_rows`). Texts
must not hold NUL bytes themselves (the callers check). Knows nothing of XML or JSON.
"""

from __future__ import annotations

import functools
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
    digits ``str`` gives. Up to 16 digits, four at a time from a table."""
    top = int(values.max()) if values.size else 0
    width = len(str(top))
    if width == 1:
        return (values.astype(np.uint8) + ord("0"))[:, None]
    if width > 16:
        return _digit_places(values, width)
    if width <= 8:
        upper = values // 10**4
        lower = values - upper * 10**4
        quads = np.stack([upper, lower], axis=1)
        lead = np.where(upper > 0, _LEAD[upper], 4 + _LEAD[lower])
    else:
        a, b, c, d = _quads(values)
        quads = np.stack([a, b, c, d], axis=1)
        lead = np.where(
            a > 0,
            _LEAD[a],
            np.where(b > 0, 4 + _LEAD[b], np.where(c > 0, 8 + _LEAD[c], 12 + _LEAD[d])),
        )
    words = _QUADS[quads].view("<u8")  # eight digits a word, leading zeros included
    words &= _leading_words(words.shape[1])[lead]
    out: np.ndarray = words.view(np.uint8)[:, words.shape[1] * 8 - width :]
    return out


def _quads(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integers below 10**16 as their four groups of four decimal digits, the highest first
    (divisions by constants: numpy's quick path)."""
    upper = values // 10**8
    lower = values - upper * 10**8
    a = upper // 10**4
    c = lower // 10**4
    return a, upper - a * 10**4, c, lower - c * 10**4


def _digit_places(values: np.ndarray, width: int) -> np.ndarray:
    """`digit_block` of values of ``width`` digits, a place at a time."""
    out = np.empty((values.size, width), dtype=np.uint8)
    rest = values
    for place in range(width - 1, 0, -1):
        ahead = rest // 10  # by a constant: numpy's quick division, unlike divmod's
        out[:, place] = rest - ahead * 10
        rest = ahead
    out[:, 0] = rest
    out += ord("0")
    # The number of digits of each value; the places before them are padding.
    length = np.searchsorted(_TENS[1:width], values, side="right") + 1
    out &= _leading(width)[width - length]
    return out


_TENS = 10 ** np.arange(19, dtype=np.int64)
"""10**0 to 10**18."""


@functools.cache
def _leading(width: int) -> np.ndarray:
    """By the number of leading places to blank (0 to ``width``): a row of bytes that keeps
    the places after them (0xFF) and blanks those (0)."""
    kept = np.arange(width) >= np.arange(width + 1)[:, None]
    return np.where(kept, 0xFF, 0).astype(np.uint8)


@functools.cache
def _leading_words(words: int) -> np.ndarray:
    """`_leading` of ``8 * words`` places (the last always kept), as 64-bit words."""
    return _leading(8 * words)[: 8 * words].copy().view("<u8")


def split_block(joined: bytes, count: int) -> np.ndarray:
    """``count`` texts joined by NUL (none holding one) as a block, a text a row."""
    data = np.frombuffer(joined, dtype=np.uint8)
    cuts = np.flatnonzero(data == 0)
    lengths = np.diff(cuts, prepend=-1, append=data.size) - 1
    width = int(lengths.max()) if count else 0
    out = np.zeros((count, width), dtype=np.uint8)
    out[np.arange(width) < lengths[:, None]] = np.delete(data, cuts)
    return out


def joined_rows(blocks: list[np.ndarray]) -> bytes:
    """The rows of ``blocks`` side by side, row after row, without their padding."""
    matrix = np.hstack(blocks)
    return cast(bytes, matrix[matrix != 0].tobytes())


_POWERS = np.array([float(10**k) for k in range(23)])
"""10**0 to 10**22, each exactly a double."""
_SPLITTER = float(2**27 + 1)
"""Dekker's constant: splits a double into two halves of 26 bits."""
_QUADS = (
    (np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10 + ord("0"))
    .astype(np.uint8)
    .view("<u4")
    .ravel()
)
"""The four decimal digits of 0 to 9,999 (leading zeros included), as the bytes of one
32-bit number each."""
_TRAILING = np.array([len(str(n)) - len(str(n).rstrip("0")) if n else 4 for n in range(10_000)])
"""How many of the four digits of 0 to 9,999 are trailing zeros."""
_LEAD = np.array([4 - len(str(n)) for n in range(10_000)])
_LEAD[0] = 3
"""How many of the four digits of 0 to 9,999 are leading zeros (of 0: three, its last is
its digit)."""
_KEPT = np.where(np.arange(16) <= np.arange(16)[:, None], 0xFF, 0).astype(np.uint8).view("<u8")
"""By the place of the last digit kept (0-15): the mask that keeps the digits up to it."""
_PREFIX_BYTES = np.zeros((2, 5, 8), dtype=np.uint8)
for _sign, _zeros in np.ndindex(2, 5):
    _text = b"-" * _sign + (b"0." + b"0" * (_zeros - 1) if _zeros else b"")
    _PREFIX_BYTES[_sign, _zeros, : len(_text)] = np.frombuffer(_text, dtype=np.uint8)
_PREFIXES = _PREFIX_BYTES.view("<u8").reshape(10)
"""What comes before the digits, by sign and by the zeros after the point (0 when the number
is not below one): "-", "0." and up to three zeros, padded to eight bytes."""
_PREFIX_LENGTHS = np.count_nonzero(_PREFIX_BYTES, axis=2).reshape(10)
_EXPONENTS = np.array(
    [b"" if -4 <= e < 16 else b"E%+03d" % e for e in range(-8, 17)], dtype="S4"
).view("<u4")
"""What comes after the digits, by exponent from -8 (none in the fixed notation)."""


def g16_block(values: np.ndarray) -> np.ndarray:
    """Finite floats as ``b"%.16G" % value`` writes them (16 significant digits, correctly
    rounded, half to even; trailing zeros and a bare point dropped; the exponent form below
    1E-04 and from 1E+16), as a block whose NUL padding may be between characters as well as
    at the end (`joined_rows` drops it wherever it is).

    Values from 1e-7 to 1e16 (a report's rates, shares, hours...) are worked out on arrays:
    the exact product of a value and a power of ten (``10**k``, a double for ``k`` up to 22)
    is two doubles (Dekker's product), so the 16-digit integer nearest to it, and which way a
    tie goes, are decided exactly; the others (zeros, the tiny, the huge) one by one."""
    magnitude = np.abs(values)
    fast = (magnitude >= 1e-7) & (magnitude < 1e16)
    rows = np.flatnonzero(fast)
    x = magnitude[rows]
    k = np.clip(15 - np.floor(np.log10(x)).astype(np.int64), 0, 22)
    # log10 may be off by one near a power of ten: move k until 1e15 <= x * 10**k < 1e16.
    for _ in range(3):
        high, low = _exact_product(x, _POWERS[k])
        below = (high < 1e15) | ((high == 1e15) & (low < 0))
        above = (high > 1e16) | ((high == 1e16) & (low >= 0))
        if not (below.any() or above.any()):
            break
        k = k + below - above
        lost = (k < 0) | (k > 22)
        if lost.any():  # no power of ten in the table: formatted one by one
            fast[rows[lost]] = False
            rows, x, k = rows[~lost], x[~lost], k[~lost]
    else:  # pragma: no cover - log10 is never off by more than one
        raise AssertionError("power of ten not found")
    if not rows.size:
        return block_of(np.array([b"%.16G" % v for v in values.tolist()], dtype=bytes))
    # high + low is x * 10**k exactly; round it to an integer, a tie to the even one. high is
    # at least 1e15, so its fraction is a multiple of 1/8 and the differences below are exact;
    # a rounded sum has the sign of the exact one.
    whole = np.floor(high)
    fraction = high - whole
    guess = np.rint(fraction + low)
    up = (fraction - guess - 0.5) + low  # > 0: past guess + 1/2
    down = (fraction - guess + 0.5) + low  # < 0: before guess - 1/2
    number = whole.astype(np.int64) + guess.astype(np.int64)
    odd = (number & 1).astype(bool)
    number += (up > 0) | ((up == 0) & odd)
    number -= (down < 0) | ((down == 0) & odd)
    exponent = 15 - k
    carried = number == 10**16
    number[carried] = 10**15
    exponent[carried] += 1
    # The 16 digits, four at a time; the place of the last that is not a trailing zero.
    a, b, c, d = _quads(number)
    digits = _QUADS[np.stack([a, b, c, d], axis=1)].view("<u8")  # two words of 8 digits
    trailing = np.where(
        d != 0,
        _TRAILING[d],
        np.where(c != 0, 4 + _TRAILING[c], np.where(b != 0, 8 + _TRAILING[b], 12 + _TRAILING[a])),
    )
    last = 15 - trailing
    fixed = (exponent >= -4) & (exponent < 16)
    point = np.where(fixed, exponent, 0)  # the digit the point follows (< 0: "0." before all)
    digits &= _KEPT[np.maximum(last, point)]  # trailing zeros dropped, not those before a point
    dotted = np.flatnonzero((point >= 0) & (last > point))
    if dotted.size:  # each digit followed by a byte for the point
        places = digits.view(np.uint8).astype("<u2")
        places[dotted, point[dotted]] |= ord(".") << 8
        parts = [places.view(np.uint8)]
    else:
        parts = [digits.view(np.uint8)]
    below_one = np.where(fixed & (exponent < 0), -exponent, 0)
    code = (values[rows] < 0) * 5 + below_one
    width = int(_PREFIX_LENGTHS[code].max())
    if width:
        parts.insert(0, _PREFIXES[code][:, None].view(np.uint8)[:, :width])
    if not fixed.all():
        parts.append(_EXPONENTS[exponent + 8][:, None].view(np.uint8))
    out = np.hstack(parts) if len(parts) > 1 else parts[0]
    if rows.size == values.size:
        return out
    others = np.flatnonzero(~fast)
    texts = np.array([b"%.16G" % v for v in values[others].tolist()], dtype=bytes)
    width = max(out.shape[1], texts.dtype.itemsize)
    block = np.zeros((values.size, width), dtype=np.uint8)
    block[rows, : out.shape[1]] = out
    block[others, : texts.dtype.itemsize] = block_of(texts)
    return block


def _exact_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a * b`` as the rounded product and its error, whose sum is the exact product
    (Dekker's algorithm: each factor split into halves whose products are exact)."""
    product = a * b
    scaled = _SPLITTER * a
    a_high = scaled - (scaled - a)
    a_low = a - a_high
    scaled = _SPLITTER * b
    b_high = scaled - (scaled - b)
    b_low = b - b_high
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    return product, error
