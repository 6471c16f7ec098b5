"""The report for other tools: JSON (one document) and CSV (one file per table in a folder, or
in a .zip). Headers are the machine keys of `reports.model.Column`; a missing value is an empty
CSV field or JSON null (never 0); ratios are fractions (0.0123 = 1.23%). Every table carries a
``simulated`` column, and ``about.csv`` / the JSON header say whether any number is SIMULATED.
The executive summary comes first: ``executive_summary`` in JSON, ``summary.csv`` (one sentence
a row) in CSV. A CSV text cell that a spreadsheet would run as a formula is neutralised
(`reports.model.neutralise`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
import zipfile
from datetime import date, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.model import SIMULATED_NOTICE, Report, Table, is_missing, neutralise
from reports.text_blocks import block_of, const_block, digit_block, joined_rows

SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return value


def _plain_column(column: pd.Series) -> list[Any]:
    """One column as plain values, converted once: numbers, booleans and times as whole
    arrays, texts passed through, anything else value by value through `_plain` (the same
    values `_plain` gives one at a time)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return [bool(v) for v in column.tolist()]
    if pd.api.types.is_numeric_dtype(column.dtype):
        return _plain_numbers(column.to_numpy(dtype="float64", na_value=np.nan))
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return _plain_times(column)
    return [v if type(v) is str else _plain(v) for v in column.tolist()]


def _plain_times(column: pd.Series) -> list[Any]:
    """Aware times as `pd.Timestamp.isoformat` gives them ("2027-01-31T09:00:00+00:00", with
    microseconds only when there are any), None for NaT; UTC columns whole-array."""
    found = _utc_times(column)
    if found is None:
        return [None if t is pd.NaT else t.isoformat() for t in column.tolist()]
    texts, missing = found
    plain = texts.astype(object) + "+00:00"
    plain[missing] = None
    result: list[Any] = plain.tolist()
    return result


def _utc_times(column: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """A UTC column's times as `pd.Timestamp.isoformat` writes them before their "+00:00"
    (a string array; NaT's text is anything) and where NaT is; None for another zone or
    nanoseconds (Timestamp.isoformat's own forms)."""
    if str(column.dt.tz) != "UTC":
        return None
    naive = column.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    ticks = naive.view(np.int64)
    missing = np.isnat(naive)
    if np.any((ticks % 1000 != 0) & ~missing):
        return None
    whole = (ticks % 1_000_000_000 == 0) | missing
    texts = np.where(
        whole,
        np.datetime_as_string(naive, unit="s"),
        np.datetime_as_string(naive, unit="us"),
    )
    return texts, missing


def _plain_numbers(numbers: np.ndarray) -> list[Any]:
    """Floats as `_plain` gives them: None for NaN and infinities, int for a whole number
    below 2**53, float otherwise."""
    out = numbers.astype(object)
    with np.errstate(invalid="ignore"):
        whole = (np.abs(numbers) < 2**53) & (numbers == np.trunc(numbers))
    if whole.any():
        out[whole] = numbers[whole].astype(np.int64).tolist()
    out[~np.isfinite(numbers)] = None
    result: list[Any] = out.tolist()
    return result


_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _json_values(column: pd.Series) -> list[np.ndarray]:
    """Each value of one column as JSON text, as blocks (`reports.text_blocks`): what encoding
    its `_plain_column` value gives (`json`'s own forms: ``repr`` of a float, digits of an int,
    a string escaped as with ``ensure_ascii=False``, null), so that a table's rows are made as
    text on numpy (`_json_rows`) instead of encoded as one dict each."""
    if pd.api.types.is_bool_dtype(column.dtype):
        truth = np.fromiter(map(bool, column.tolist()), dtype=bool, count=len(column))
        return [block_of(np.where(truth, b"true", b"false"))]
    if pd.api.types.is_numeric_dtype(column.dtype):
        return _json_numbers(column.to_numpy(dtype="float64", na_value=np.nan))
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        found = _utc_times(column)
        if found is None:
            texts = ["null" if v is None else encode_basestring(v) for v in _plain_times(column)]
            return [block_of(np.array(texts, dtype=bytes))]
        times, missing = found  # ISO texts: nothing for JSON to escape
        body = block_of(times.astype(bytes))
        body[missing] = 0
        quote = block_of(np.where(missing, b"null", b'"'))
        return [quote, body, block_of(np.where(missing, b"", b'+00:00"'))]
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in (
        "string",
        "empty",
    ):  # texts (missing ones apart), each distinct one encoded once
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        distinct = uniques.tolist()
        if all(type(v) is str for v in distinct):
            encoded = [encode_basestring(v).encode() for v in distinct]
            return [block_of(np.array([*encoded, b"null"], dtype=bytes)[codes])]
    texts = [
        encode_basestring(v) if type(v) is str else _ENCODE(_plain(v)) for v in column.tolist()
    ]
    return [block_of(np.array([text.encode() for text in texts], dtype=bytes))]


def _json_numbers(numbers: np.ndarray) -> list[np.ndarray]:
    """`_plain_numbers`' values as JSON text, as blocks: null for NaN and infinities, the
    digits of a whole number below 2**53, ``float.__repr__`` (json's form) of any other."""
    with np.errstate(invalid="ignore"):
        whole = (np.abs(numbers) < 2**53) & (numbers == np.trunc(numbers))
    fraction = np.isfinite(numbers) & ~whole
    ints = np.where(whole, numbers, 0.0).astype(np.int64)  # -0.0 is 0
    blocks = [block_of(np.where(whole | fraction, b"", b"null"))]
    if np.any(ints < 0):
        blocks.append(block_of(np.where(ints < 0, b"-", b"")))
    digits = digit_block(np.abs(ints))
    digits[~whole] = 0
    blocks.append(digits)
    if fraction.any():
        texts = np.array(list(map(float.__repr__, numbers[fraction].tolist())), dtype=bytes)
        other = np.zeros((numbers.size, texts.dtype.itemsize), dtype=np.uint8)
        other[fraction] = block_of(texts)
        blocks.append(other)
    return blocks


def _json_rows(frame: pd.DataFrame, keys: list[str], simulated: bool) -> bytes:
    """The rows of ``frame`` as JSON objects joined by ", ", with a ``simulated`` key when
    ``keys`` have none: the text ``json`` gives for ``dict(zip(keys, row))`` of each row's
    `_plain_column` values (as UTF-8), made column by column on numpy."""
    keys = list(dict.fromkeys(keys))  # a key once, as in a dict
    if len(frame) < _FEW_ROWS:  # numpy's cost per call would outweigh the rows' own
        keys, columns = _columns_of(frame, keys, simulated)
        objects = (dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True))
        return ", ".join(map(_ENCODE, objects)).encode()
    rows = np.arange(len(frame))
    blocks: list[np.ndarray] = []
    for number, key in enumerate(keys if "simulated" in keys else [*keys, "simulated"]):
        before = ", " if number else "{"
        blocks.append(const_block(f"{before}{encode_basestring(key)}: ".encode(), rows))
        if number == len(keys):  # a key of its own: the report's flag
            blocks.append(const_block(b"true" if simulated else b"false", rows))
        elif key in frame.columns:
            blocks += _json_values(frame[key])
        else:
            blocks.append(const_block(b"null", rows))
    blocks.append(const_block(b"}, ", rows))
    # No NUL in JSON text (json escapes it in strings), so the padding is all there is to drop.
    return joined_rows(blocks)[:-2]


def table_columns(table: Table, simulated: bool) -> tuple[list[str], list[list[Any]]]:
    """Header keys and columns of one table as plain Python values (with a ``simulated``
    column)."""
    return _columns_of(table.frame, table.data_columns(), simulated)


def _columns_of(
    frame: pd.DataFrame, keys: list[str], simulated: bool
) -> tuple[list[str], list[list[Any]]]:
    columns = [_plain_column(frame[k]) if k in frame.columns else [None] * len(frame) for k in keys]
    if "simulated" not in keys:
        keys = [*keys, "simulated"]
        columns.append([simulated] * (len(frame) if columns else 0))
    return keys, columns


_JSON_ROWS = 5000
"""Rows of a table converted and encoded at a time."""
_FEW_ROWS = 200
"""Rows encoded as dicts (json's own encoder) rather than made as text on numpy."""


def table_records(table: Table, simulated: bool) -> tuple[list[str], list[list[Any]]]:
    """Header keys and rows of one table as plain Python values (with a ``simulated`` column)."""
    keys, columns = table_columns(table, simulated)
    return keys, [list(values) for values in zip(*columns, strict=True)]


def about(report: Report) -> dict[str, Any]:
    return {
        "title": report.title,
        "scope": report.scope,
        "period_from": _plain(report.period[0]),
        "period_until": _plain(report.period[1]),
        "as_of": report.as_of.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "seed": report.seed,
        "simulated": report.simulated,
        "notice": SIMULATED_NOTICE if report.simulated else "",
    }


def to_json(report: Report) -> str:
    """The JSON export as text (`json_bytes` decoded: for a caller that wants a ``str``)."""
    return json_bytes(report).decode()


def json_bytes(report: Report) -> bytes:
    """The JSON export as UTF-8, as it is written to a file or sent: the rows are made as UTF-8
    (`_json_rows`) and joined to the rest once, never held as a ``str`` (decoding 41 MB of a
    50,000-delivery report and encoding it again to write it took ~0.1 s of CPU)."""
    document: dict[str, Any] = {"schema": SCHEMA_VERSION, **about(report)}
    if report.summary is not None:
        document["executive_summary"] = report.summary.to_dict()
    document["summary"] = [
        {
            "audience_id": card.audience_id,
            "campaign_id": card.campaign_id,
            "audience": card.title,
            "simulated": card.simulated,
            "figures": [
                {
                    "label": f.label,
                    "value": _plain(f.value),
                    "low": _plain(f.low),
                    "high": _plain(f.high),
                    "note": f.note,
                    "trend": f.trend,
                }
                for f in card.figures
            ],
            "outcomes": dict(card.outcomes),
        }
        for card in report.cards
    ]
    # Each table's rows are encoded on their own, a few thousand at a time, and spliced in
    # where a placeholder stands: the same text as encoding the whole document, without
    # holding every row of every table as Python values at once (a large report's JSON took
    # more memory than the report itself).
    token = f"\x00rows-{uuid.uuid4().hex}-"
    tables: dict[str, Any] = {}
    for number, table in enumerate(report.tables.values()):
        keys = table.data_columns()
        labels = {c.key: c.label for c in table.columns}
        shown = keys if "simulated" in keys else [*keys, "simulated"]
        tables[table.name] = {
            "title": table.title,
            "description": table.description,
            "columns": [{"key": k, "label": labels.get(k, k)} for k in shown],
            "rows": f"{token}{number}",
        }
    document["tables"] = tables
    document["heatmaps"] = [
        {
            "audience_id": h.audience_id,
            "audience": h.title,
            "timezone": h.timezone,
            "thin_below": h.thin,
            "index": [[_plain(v) for v in row] for row in h.index],
            "posts": [list(row) for row in h.posts],
        }
        for h in report.heatmaps
    ]
    document["methods"] = [
        {"name": m.name, "formula": m.formula, "note": m.note} for m in report.methods
    ]
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    text = encode(document)
    # The rows are made as UTF-8 (`_json_rows`): the pieces take half the memory of the text
    # as a str (a large report's texts include CJK audience names, two bytes a character).
    pieces: list[bytes] = []
    at = 0
    for number, table in enumerate(report.tables.values()):
        placeholder = encode(f"{token}{number}")
        found = text.index(placeholder, at)
        pieces += [text[at:found].encode(), b"["]
        keys = table.data_columns()
        for start in range(0, len(table.frame) if keys else 0, _JSON_ROWS):
            part = table.frame.iloc[start : start + _JSON_ROWS]
            if start:
                pieces.append(b", ")
            pieces.append(_json_rows(part, keys, report.simulated))
        pieces.append(b"]")
        at = found + len(placeholder)
    pieces.append(text[at:].encode())
    return b"".join(pieces)


def _csv_text(keys: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    # CRLF line ends (RFC 4180): the writer then also quotes a field holding a lone \r.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if v is None else _csv_value(v) for v in row])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return value


def csv_files(report: Report) -> dict[str, str]:
    """File name → CSV text: ``about.csv`` then one file per table."""
    files = {"about.csv": _csv_text(["key", "value"], [[k, v] for k, v in about(report).items()])}
    if report.summary is not None:
        # Each sentence flagged as its campaign is (the notes as the report is).
        summary = report.summary
        rows = [[s, report.simulated] for s in summary.notes]
        rows += [[s, c.simulated] for c in summary.campaigns for s in c.sentences]
        files["summary.csv"] = _csv_text(["sentence", "simulated"], rows)
    for table in report.tables.values():
        keys, rows = table_records(table, report.simulated)
        files[f"{table.name}.csv"] = _csv_text(keys, rows)
    return files


def write_csv(report: Report, out: Path) -> list[Path]:
    """Write the CSV files into the folder ``out`` (created), or into a zip when it ends in .zip."""
    files = csv_files(report)
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)
    return written
