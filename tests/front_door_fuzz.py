"""A generated corpus of broken inputs, run through the real ``elshi`` command (click's runner)
on a SQLite workspace: campaign files, spreadsheets, outcome files, media, elshi.toml and
command-line arguments. Beyond tests/fixtures/broken/ (kept small for the suite), it makes each
input many ways: truncated, zero bytes, UTF-16 with and without BOM, Latin-1, invalid UTF-8,
NUL, CR and CRLF line ends, huge lines, deep nesting, YAML anchors/merge keys/tags/duplicate
and non-string keys, odd and impossible dates and times, zones that do not exist, spreadsheets
with merged cells, formulas, error cells and hidden sheets, renamed zips, zip bombs, images whose
header lies or that decompress huge, names too long, ids too large, bytes that are not UTF-8.
``lookalikes``: every line of a campaign file with a no-break, full-width or zero-width space,
a full-width colon or a dash of another kind where the line has its structure, and with line
breaks YAML and editors disagree on (U+2028, U+2029, NEL, VT, FF). ``mutations``: seeded random
damage (``--seed``, ``--count``) to each input a person gives (campaign files validated and
applied, CSV and XLSX calendars with a damaged XML part, outcome files, elshi.toml): bit flips,
insertions, deletions, truncation, a repeated run, UTF-16 and Latin-1, CR and mixed line ends,
look-alikes, NUL, a line duplicated or two swapped.

Each case must end in exit 0 (only where the input is acceptable) or 2, with no traceback, in
bounded time, without the configured channel secret in the output; a refusal must leave the
database's content as before and, for a file, name it and where in it (a line, a row, or the
file as a whole), and say what a case requires (the look-alike's code point). Run ``python -m
tests.front_door_fuzz`` (``--only yaml,sheet,...``, ``-v`` for every case); it prints the
anomalies and exits 1 when there is one. It takes a few minutes on this machine; the useful
cases are in the suite (tests/cli/test_odd_arguments.py, tests/web/test_odd_fields.py, and a
sample of the generated ones in tests/cli/test_front_door_generated.py)."""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

ACCEPTABLE = (0, 2)
REFUSED = (2,)


@dataclass
class Case:
    name: str
    args: tuple[str, ...]
    inputs: dict[str, bytes] = field(default_factory=dict)
    expect: tuple[int, ...] = REFUSED
    names: str | None = None
    """The file a refusal must name."""
    says: str | None = None
    """Words the refusal must have (what is wrong)."""
    line: int | None = None
    """The line of ``names`` the refusal must point at."""


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def yaml_cases(good: str) -> Iterator[Case]:
    raw = good.encode()
    media_line = "    text: Hallo aus Astana."
    bad: dict[str, bytes] = {
        "zero-bytes": b"",
        "utf16-bom": good.encode("utf-16"),
        "utf16-le": good.encode("utf-16-le"),
        "utf16-be": good.encode("utf-16-be"),
        "utf32": good.encode("utf-32"),
        "latin1": _replace(good, "title: Test", "title: M\xfcller").encode("latin-1"),
        "invalid-utf8": raw[:200] + b"\xff\xfe" + raw[200:],
        "nul": raw[:100] + b"\x00" + raw[100:],
        "surrogate-bytes": raw.replace(b"Test", b"T\xed\xa0\x80"),
        "huge-line": _replace(good, "title: Test", "title: " + "x" * 2_500_000).encode(),
        "deep-flow": _replace(
            good, 'hashtags: ["#Kasachstan"]', "hashtags: " + "[" * 5000 + "]" * 5000
        ).encode(),
        "duplicate-key": _replace(
            good, "  title: Test\n", "  title: Test\n  title: Other\n"
        ).encode(),
        "tag-binary": _replace(good, "title: Test", "title: !!binary aGVsbG8=").encode(),
        "tag-set": _replace(good, "title: Test", "title: !!set {a, b}").encode(),
        "tag-custom": _replace(good, "title: Test", "title: !foo bar").encode(),
        "key-int": _replace(good, "  title: Test\n", "  title: Test\n  1: x\n").encode(),
        "key-null": _replace(good, "  title: Test\n", "  title: Test\n  ~: x\n").encode(),
        "key-list": _replace(good, "  title: Test\n", "  title: Test\n  [a]: x\n").encode(),
        "text-number-for-list": _replace(good, "languages: [de, en]", "languages: 5").encode(),
        "number-for-text": _replace(good, "timezone: Europe/Berlin", "timezone: 5").encode(),
        "two-documents": raw + b"---\n" + raw,
        "yaml-version-bad": b"%YAML 9.9\n---\n" + raw,
        "media-name-too-long": _replace(
            good, media_line, media_line + f"\n    media: [{'n' * 300}.png]"
        ).encode(),
        "media-nul": _replace(good, media_line, media_line + '\n    media: ["a\\0b.png"]').encode(),
        "media-device": _replace(
            good, media_line, media_line + '\n    media: ["/dev/zero"]'
        ).encode(),
    }
    for cut in (1, 10, 60, 150, 300):
        bad[f"truncated-{cut}"] = raw[:cut]
    when = 'when: "2027-04-15 10:00"'
    for value in (
        "2027-02-30 10:00",
        "2027-04-15 24:00",
        "2027-04-15 25:00",
        "2027-04-15 10:60",
        "2027-03-28 02:30",
        "2027-13-01 10:00",
        "0000-01-01 00:00",
        "tomorrow",
        "",
        "2027-04-15 10:00 Mars/Olympus",
        "2027-04-15 1\uff10:00",
    ):
        bad[f"when {value!r}"] = _replace(good, when, f'when: "{value}"').encode()
    for zone in (
        "Mars/Olympus",
        "UTC+5",
        "",
        "../../etc/passwd",
        "Europe//Berlin",
        "x" * 5000,
        ".",
    ):
        bad[f"timezone {zone[:20]!r}"] = _replace(
            good, "timezone: Europe/Berlin", f'timezone: "{zone}"'
        ).encode()
    for offset in ("-1d 24:00", "+99999999d 10:00", "-1x 10:00", "-1d 10:60"):
        bad[f"offset {offset!r}"] = _replace(
            good, 'offset: "-1d 10:00"', f'offset: "{offset}"'
        ).encode()
    fine = {
        "utf8-bom": b"\xef\xbb\xbf" + raw,
        "crlf": raw.replace(b"\n", b"\r\n"),
        "cr": raw.replace(b"\n", b"\r"),
        "anchor-merge-key": _replace(
            good,
            "  - id: second\n    category: education\n",
            "  - <<: {category: education}\n    id: second\n",
        ).encode(),
        "dst-fold": _replace(good, when, 'when: "2027-10-31 02:30"').encode(),
    }
    for name, data in bad.items():
        for command in ("validate", "apply"):
            yield Case(
                f"yaml {command} {name}",
                ("campaign", command, "c.yaml"),
                {"c.yaml": data},
                REFUSED,
                "c.yaml",
            )
    for name, data in fine.items():
        yield Case(
            f"yaml validate {name}",
            ("campaign", "validate", "c.yaml"),
            {"c.yaml": data},
            ACCEPTABLE,
            "c.yaml",
        )
    yield Case(
        "yaml the same file twice",
        ("campaign", "apply", "good.yaml", "./good.yaml"),
        {},
        REFUSED,
        "good.yaml",
    )


def _xlsx(rows: list[list[object]], change: object = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if callable(change):
        change(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_cases() -> Iterator[Case]:
    head = ["id", "date", "time", "category", "audiences", "text"]
    row = ["a", "2027-04-15", "10:00", "education", "public", "Hallo"]
    csv = ",".join(head) + "\n" + ",".join(row) + "\n"

    def merged(book: object) -> None:
        book.active.merge_cells("F2:F3")  # type: ignore[attr-defined]

    def hidden(book: object) -> None:
        extra = book.create_sheet("Hidden")  # type: ignore[attr-defined]
        extra.append(head)
        extra.append(row)
        extra.sheet_state = "hidden"

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as docx:
        docx.writestr("word/document.xml", "<x/>")
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_xlsx([head, row]))) as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for part in source.namelist():
            data = source.read(part)
            if part == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>", b"</sheetData><!--" + b" " * 300_000_000 + b"-->"
                )
            target.writestr(part, data)
    bad = {
        "utf16.csv": csv.encode("utf-16"),
        "zero.csv": b"",
        "zero.xlsx": b"",
        "header-only.csv": (",".join(head) + "\n").encode(),
        "feb-30.csv": csv.replace("2027-04-15", "2027-02-30").encode(),
        "24h.csv": csv.replace("10:00", "24:00").encode(),
        "dst-gap.csv": csv.replace("2027-04-15,10:00", "2027-03-28,02:30").encode(),
        "nul.csv": csv.replace("Hallo", "Ha\x00llo").encode(),
        "invalid-utf8.csv": csv.encode().replace(b"Hallo", b"H\xffallo"),
        "huge-field.csv": csv.replace("Hallo", "x" * 3_000_000).encode(),
        "merged.xlsx": _xlsx([head, row, ["b", *row[1:]]], merged),
        "formula-no-value.xlsx": _xlsx([head, [*row[:5], "=1+1"]]),
        "error-cell.xlsx": _xlsx([head, [*row[:5], "#DIV/0!"]]),
        "renamed-docx.xlsx": archive.getvalue(),
        "csv-named.xlsx": csv.encode(),
        "xlsx-named.csv": _xlsx([head, row]),
        "truncated.xlsx": _xlsx([head, row])[:500],
        "bomb.xlsx": bomb.getvalue(),
    }
    fine = {
        "bom.csv": b"\xef\xbb\xbf" + csv.encode(),
        "crlf.csv": csv.replace("\n", "\r\n").encode(),
        "hidden.xlsx": _xlsx([head, row], hidden),
    }
    for name, data in {**bad, **fine}.items():
        args = (
            "campaign",
            "import",
            name,
            "--campaign-file",
            "good.yaml",
            "--out",
            "x.yaml",
            "--force",
        )
        yield Case(
            f"sheet {name}", args, {name: data}, ACCEPTABLE if name in fine else REFUSED, name
        )


def _png(width: int, height: int, data: bytes | None = None) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = data if data is not None else zlib.compress(b"\x00" * 100)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def media_cases(good: str) -> Iterator[Case]:
    bad = {
        "zero.png": b"",
        "truncated.png": _png(50, 50)[:40],
        "claims-huge.png": _png(100_000, 100_000),
        "decompresses-huge.png": _png(20_000, 20_000, zlib.compress(b"\x00" * (20_000 * 6_001), 9)),
        "text.png": b"hello",
        "html.png": b"<html><script>alert(1)</script></html>",
        "bmp.png": b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00" + b"\x00" * 60,
        "pdf.png": b"%PDF-1.4\n",
        "svg.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    }
    for name, data in bad.items():
        text = good.replace(
            "    text: Hallo aus Astana.", f'    text: Hallo aus Astana.\n    media: ["{name}"]'
        )
        yield Case(
            f"media {name}",
            ("campaign", "apply", "m.yaml"),
            {"m.yaml": text.encode(), name: data},
            REFUSED,
            "m.yaml",
        )
    # Alt text past the platform's limit (X 1,000 characters, Mastodon 1,500): refused at
    # validation, at the alt text, not by the platform when publishing.
    from tests.connectors.files import png_bytes

    for size in (1001, 1501, 5000):
        text = good.replace(
            "    text: Hallo aus Astana.",
            "    text: Hallo aus Astana.\n    media:\n      - file: alt.png\n"
            f"        alt: {'a' * size}",
        )
        yield Case(
            f"media alt {size}",
            ("campaign", "apply", "m.yaml"),
            {"m.yaml": text.encode(), "alt.png": png_bytes(16, 9)},
            REFUSED,
            "m.yaml",
        )


def outcome_cases() -> Iterator[Case]:
    head = "campaign,audience,date,metric,value,source\n"
    line = "de-test,public,2027-04-15,event_registrations,5,form\n"
    bad = {
        "utf16": (head + line).encode("utf-16"),
        "zero": b"",
        "nan": (head + line.replace(",5,", ",nan,")).encode(),
        "inf": (head + line.replace(",5,", ",1e400,")).encode(),
        "decimal-comma": (head + line.replace(",5,", ',"1,5",')).encode(),
        "negative-count": (head + line.replace(",5,", ",-5,")).encode(),
        "fractional-count": (head + line.replace(",5,", ",2.5,")).encode(),
        "exponent": (head + line.replace(",5,", ",1e3,")).encode(),
        "underscore": (head + line.replace(",5,", ",1_000,")).encode(),
        "spaced": (head + line.replace(",5,", ", 12 ,")).encode(),
        "arabic-indic": (head + line.replace(",5,", ",\u0661\u0662,")).encode(),
        "feb-30": (head + line.replace("2027-04-15", "2027-02-30")).encode(),
        "unknown-campaign": (head + line.replace("de-test", "nope")).encode(),
        "escape": (head + line.replace("event_registrations", "\x1b[31m")).encode(),
        "twice": (head + line + line).encode(),
        "short-row": (head + "de-test,public\n").encode(),
        "zip-named-csv": b"PK\x03\x04" + b"\x00" * 100,
    }
    for name, data in bad.items():
        yield Case(
            f"outcomes {name}",
            ("outcomes", "import", f"o-{name}.csv"),
            {f"o-{name}.csv": data},
            REFUSED,
            f"o-{name}.csv",
        )


def config_cases(base: str) -> Iterator[Case]:
    bad = {
        "utf16": base.encode("utf-16"),
        "invalid-utf8": base.encode().replace(b"outbox", b"out\xffbox", 1),
        "nul": base.encode().replace(b"outbox", b"out\x00box", 1),
        "duplicate-table": (base + '\n[daemon]\nlease = "1m"\n').encode(),
        "duplicate-key": _replace(base, 'lease = "5m"', 'lease = "5m"\nlease = "6m"').encode(),
        "negative-duration": _replace(base, 'lease = "5m"', 'lease = "-5m"').encode(),
        "huge-duration": _replace(base, 'lease = "5m"', 'lease = "999999999999d"').encode(),
        "huge-integer": _replace(
            base, "max_attempts = 8", "max_attempts = 99999999999999999999999"
        ).encode(),
        "nan": _replace(base, 'lease = "5m"', "lease = nan").encode(),
        "impossible-date": _replace(base, 'lease = "5m"', "lease = 2027-02-30").encode(),
        "deep-nesting": (base + "\nx = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
        "unknown-platform": _replace(base, 'platform = "sandbox"', 'platform = "myspace"').encode(),
        "secret-in-file": _replace(
            base, 'platform = "sandbox"\nmimic = "x"', 'platform = "x"\naccess_token = "SECRET"'
        ).encode(),
        "unknown-key": _replace(base, 'lease = "5m"', 'lease = "5m"\nleese = "5m"').encode(),
        "bad-bind": (base + '\n[web]\nbind = "nowhere"\n').encode(),
    }
    for name, data in bad.items():
        yield Case(
            f"config {name}",
            ("--config", "bad.toml", "status"),
            {"bad.toml": data},
            REFUSED,
            "bad.toml",
        )


def argument_cases() -> Iterator[Case]:
    long = "n" * 300
    not_utf8 = os.fsdecode(b"caf\xe9")
    cases = {
        "id too large": ("deliveries", "retry", "99999999999999999999999"),
        "id past postgresql": ("deliveries", "cancel", "2147483648"),
        "pause id too large": ("resume", "99999999999999999999"),
        "token id too large": ("user", "token", "revoke", "99999999999999999999999"),
        "token days too many": (
            "user",
            "token",
            "issue",
            "x",
            "--name",
            "x",
            "--days",
            "99999999999",
        ),
        "reason not utf8": ("pause", "--all", "--reason", not_utf8),
        "post not utf8": ("post", "approve", f"de-test/{not_utf8}"),
        "user not utf8": ("--as", not_utf8, "status"),
        "reason with escape": ("pause", "--all", "--reason", "stop\x1b[2J"),
        "comment too long": ("post", "approve", "de-test/hello", "--comment", "x" * 2001),
        "bind not host:port": ("web", "--bind", "nowhere"),
        "bind port too large": ("web", "--bind", "127.0.0.1:99999"),
        "no such migration": ("db", "upgrade", "--revision", "nope"),
        "older migration": ("db", "upgrade", "--revision", "0001"),
        "sheet name too long": (
            "campaign",
            "import",
            f"{long}.csv",
            "--campaign-file",
            "good.yaml",
        ),
        "config name too long": ("--config", f"{long}.toml", "status"),
        "out name too long": ("report", "--format", "json", "--out", f"{long}.json"),
        "out folder is a file": ("calendar", "export", "--out", "good.yaml/c.ics"),
        "since impossible": ("report", "--since", "2027-02-30"),
        "since 24:00": ("report", "--since", "2027-01-01T24:00"),
        "format unknown": ("report", "--format", "pdf"),
        "campaign file is a folder": ("campaign", "validate", "."),
        "campaign file missing": ("campaign", "validate", "missing.yaml"),
        "role unknown": ("user", "add", "bob", "--role", "god"),
        "username with newline": ("user", "add", "x\ny", "--role", "admin"),
        "out is the database": ("report", "--format", "json", "--out", "elshi.db"),
    }
    for name, args in cases.items():
        yield Case(f"argument {name}", args)


_LOOKALIKE = {
    " ": ["\u00a0", "\u3000", "\u2003", "\u200b"],
    ":": ["\uff1a", "\ufe55"],
    "-": ["\u2013", "\uff0d"],
}
_STRUCTURE = re.compile(r"\s*(?:-\s*)*[\w.-]*:?\s*")
_BREAKS = ["\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"]


def lookalike_cases(good: str) -> Iterator[Case]:
    """Every line of the campaign file with a look-alike of a space, a colon or a dash where the
    line has its structure, and with each odd line break: refused at the line (or accepted)."""
    lines = good.split("\n")
    for number, line in enumerate(lines):
        for plain, others in _LOOKALIKE.items():
            at = line.find(plain, len(line) - len(line.lstrip()) - (1 if plain == " " else 0))
            if at < 0:
                continue
            # Where the line has its structure (indentation, dash, key, colon, the space
            # after it) the refusal must name the character; inside a value it may be fine.
            structural = _STRUCTURE.fullmatch(line[:at]) is not None and "#" not in line
            for other in others[: 1 if number % 2 else 2]:
                changed = [
                    *lines[:number],
                    line[:at] + other + line[at + 1 :],
                    *lines[number + 1 :],
                ]
                yield Case(
                    f"lookalike U+{ord(other):04X} line {number + 1}",
                    ("campaign", "validate", "c.yaml"),
                    {"c.yaml": "\n".join(changed).encode()},
                    REFUSED if structural else ACCEPTABLE,
                    "c.yaml",
                    says=f"U+{ord(other):04X}" if structural else None,
                )
        if number % 3 == 0 and line:
            brk = _BREAKS[number % len(_BREAKS)]
            changed = [*lines[:number], line + brk + "# after", *lines[number + 1 :]]
            plain = brk in ("\r", "\r\n")  # line breaks YAML and editors agree on
            yield Case(
                f"break U+{ord(brk[-1]):04X} line {number + 1}",
                ("campaign", "validate", "c.yaml"),
                {"c.yaml": "\n".join(changed).encode()},
                ACCEPTABLE if plain else REFUSED,
                "c.yaml",
                says=None if plain else f"U+{ord(brk[-1]):04X}",
                line=None if plain else number + 1,
            )


def _mutate(raw: bytes, rng: random.Random) -> tuple[str, bytes]:
    """``raw`` damaged one of the ways files get damaged; the way, and the bytes."""
    data = bytearray(raw)
    where = rng.randrange(len(data) + 1)
    way = rng.choice(
        [
            "flip",
            "insert",
            "delete",
            "truncate",
            "repeat",
            "utf-16",
            "utf-16-bom",
            "latin-1",
            "cr",
            "mixed-breaks",
            "lookalike",
            "nul",
            "duplicate-line",
            "swap-lines",
        ]
    )
    if way == "flip" and data:
        data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
    elif way == "insert":
        data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    elif way == "delete":
        del data[where : where + rng.randint(1, 40)]
    elif way == "truncate":
        del data[where:]
    elif way == "repeat":
        data[where:where] = bytes(data[where : where + 30]) * rng.randint(2, 400)
    elif way in ("utf-16", "utf-16-bom", "latin-1"):
        text = raw.decode("utf-8", errors="replace").replace("Hallo", "Hällo")
        codec = {"utf-16": "utf-16-le", "utf-16-bom": "utf-16", "latin-1": "latin-1"}[way]
        data = bytearray(text.encode(codec, errors="replace"))
    elif way == "cr":
        data = bytearray(bytes(data).replace(b"\n", b"\r"))
    elif way == "mixed-breaks":
        lines = bytes(data).split(b"\n")
        breaks = [b"\n", b"\r\n", b"\r", "\u2028".encode(), "\x85".encode()]
        data = bytearray(b"".join(line + rng.choice(breaks) for line in lines))
    elif way == "lookalike":
        text = bytes(data).decode("utf-8", errors="replace")
        plain = rng.choice(list(_LOOKALIKE))
        spots = [i for i, c in enumerate(text) if c == plain]
        if spots:
            i = rng.choice(spots)
            text = text[:i] + rng.choice(_LOOKALIKE[plain]) + text[i + 1 :]
        data = bytearray(text.encode())
    elif way == "nul":
        data[where:where] = b"\x00"
    elif way in ("duplicate-line", "swap-lines"):
        lines = bytes(data).split(b"\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if way == "duplicate-line":
            lines.insert(i, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        data = bytearray(b"\n".join(lines))
    return way, bytes(data)


def _xlsx_mutated(rng: random.Random) -> tuple[str, bytes]:
    """A calendar workbook with one XML part (or the zip itself) damaged."""
    head = ["id", "date", "time", "category", "audiences", "text", "media", "alt"]
    good = _xlsx([head, ["a", "2027-04-15", "10:00", "education", "public", "Hallo", "", ""]])
    if rng.random() < 0.3:
        way, data = _mutate(good, rng)
        return f"zip {way}", data
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w") as target:
        names = source.namelist()
        victim = rng.choice(names)
        for name in names:
            part = source.read(name)
            if name == victim:
                way, part = _mutate(part, rng)
            target.writestr(name, part)
    return f"{victim} {way}", out.getvalue()


def mutation_cases(good: str, base: str, *, seed: int = 0, count: int = 200) -> Iterator[Case]:
    """``count`` seeded random damages of each input a person gives (a campaign file validated
    and applied, a CSV and an XLSX calendar, an outcome file, elshi.toml): each ends accepted
    or refused at a place in the file, nothing else."""
    import_args = ("--campaign-file", "good.yaml", "--out", "x.yaml", "--force")
    calendar = (
        b"id,date,time,category,audiences,text,media,alt\n"
        b"a,2027-04-15,10:00,education,public,Hallo,,\n"
        b'b,2027-04-16,10:00,education,public,"Zwei\nZeilen",,\n'
    )
    outcomes = (
        b"campaign,audience,date,metric,value,source\n"
        b"de-test,public,2027-04-15,event_registrations,5,form\n"
        b"de-test,,2027-04-16,survey_score,4.5,survey\n"
    )
    config = base + (
        '\n[channels.fuzz-mastodon]\nplatform = "mastodon"\n'
        'api_base_url = "http://127.0.0.1:9"\ntoken_env = "ELSHI_FUZZ_TOKEN"\n'
    )
    for n in range(seed, seed + count):
        rng = random.Random(n)
        way, data = _mutate(good.encode(), rng)
        command = "apply" if n % 4 == 0 else "validate"
        yield Case(
            f"mutation {n} yaml {command} {way}",
            ("campaign", command, "m.yaml"),
            {"m.yaml": data},
            ACCEPTABLE,
            "m.yaml",
        )
        way, data = _mutate(calendar, rng)
        yield Case(
            f"mutation {n} csv {way}",
            ("campaign", "import", "m.csv", *import_args),
            {"m.csv": data},
            ACCEPTABLE,
            "m.csv",
        )
        if n % 4 == 0:  # an XLSX import costs openpyxl a workbook or two
            way, data = _xlsx_mutated(rng)
            yield Case(
                f"mutation {n} xlsx {way}",
                ("campaign", "import", "m.xlsx", *import_args),
                {"m.xlsx": data},
                ACCEPTABLE,
                "m.xlsx",
            )
        way, data = _mutate(outcomes, rng)
        dry = ("--dry-run",) if n % 2 else ()
        yield Case(
            f"mutation {n} outcomes {way}",
            ("outcomes", "import", "o.csv", *dry),
            {"o.csv": data},
            ACCEPTABLE,
            "o.csv",
        )
        way, data = _mutate(config.encode(), rng)
        yield Case(
            f"mutation {n} toml {way}",
            ("--config", "m.toml", "channels", "list"),
            {"m.toml": data},
            ACCEPTABLE,
            "m.toml",
        )


def _fingerprint(database: Path) -> str:
    """SHA-256 of the database's content as a new connection reads it (every committed row,
    whether in the file or still in its write-ahead log; the schema too). Logical, not the
    file's bytes: those need every earlier engine's connections closed (a full garbage
    collection, a quarter of a second in a process that ran many commands) before the log
    can be folded into the file."""
    import hashlib
    import sqlite3
    from contextlib import closing

    digest = hashlib.sha256()
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        for line in conn.iterdump():
            digest.update(line.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


SECRET = "fuzz-Sekret-5b2e9d71c4a8"
"""The value of the channel secret the workspace's configuration names (ELSHI_FUZZ_TOKEN): no
message may ever show it."""
_LOCATED = r"(:\d+(:\d+)?: |:(row|line) \d+|\[[^\]]*\]: |: )"


def workspace(folder: Path, good: str, base: str) -> Path:
    """A workspace in ``folder`` (the working directory from now on): the starter elshi.toml
    with a Mastodon channel whose token is `SECRET`, the good campaign applied. Returns the
    database file."""
    from click.testing import CliRunner

    from elshi.cli import cli

    config = base + (
        '\n[channels.fuzz-mastodon]\nplatform = "mastodon"\n'
        'api_base_url = "http://127.0.0.1:9"\ntoken_env = "ELSHI_FUZZ_TOKEN"\n'
    )
    (folder / "elshi.toml").write_text(config, encoding="utf-8")
    (folder / "good.yaml").write_text(good, encoding="utf-8")
    os.chdir(folder)
    for name in ("ELSHI_CONFIG", "ELSHI_DATABASE_URL", "ELSHI_USER", "ELSHI_TOKEN"):
        os.environ.pop(name, None)
    os.environ["ELSHI_FUZZ_TOKEN"] = SECRET
    result = CliRunner().invoke(cli, ["campaign", "apply", "good.yaml"])
    assert result.exit_code == 0, (result.output, result.exception)
    return folder / "elshi.db"


def check(case: Case, folder: Path, database: Path) -> tuple[list[str], str, int]:
    """Run ``case`` in the workspace ``folder``; what is wrong by the front door's rule (exit 0
    where acceptable, else 2; no traceback; a refusal names its file and where in it, and
    leaves the database byte for byte as before; no secret shown; bounded time), the output and
    the exit code."""
    import re

    from click.testing import CliRunner

    from elshi.cli import cli

    for name, data in case.inputs.items():
        (folder / name).write_bytes(data)
    before = _fingerprint(database)
    start = time.perf_counter()
    result = CliRunner().invoke(cli, list(case.args))
    seconds = time.perf_counter() - start
    output = result.output
    wrong = []
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        wrong.append(f"raised {type(result.exception).__name__}: {result.exception}")
    if result.exit_code not in case.expect:
        wrong.append(f"exit {result.exit_code}, expected {case.expect}")
    if "Traceback" in output:
        wrong.append("a traceback in the output")
    if SECRET in output:
        wrong.append("the channel's secret in the output")
    if result.exit_code == 2 and _fingerprint(database) != before:
        wrong.append("refused, but the database changed")
    if result.exit_code == 2 and case.names:
        if case.names not in output:
            wrong.append(f"the message does not name {case.names}")
        elif not re.search(re.escape(case.names) + _LOCATED, output):
            wrong.append(f"the message does not say where in {case.names}")
        if case.line is not None and f"{case.names}:{case.line}:" not in output:
            wrong.append(f"the message does not point at line {case.line}")
    if result.exit_code == 2 and case.says and case.says not in output:
        wrong.append(f"the message does not say {case.says!r}")
    if seconds > 10:
        wrong.append(f"took {seconds:.0f} s")
    for name in case.inputs:
        (folder / name).unlink(missing_ok=True)
    (folder / "x.yaml").unlink(missing_ok=True)
    return wrong, output, result.exit_code


def run(areas: set[str], verbose: bool, *, seed: int = 0, count: int = 200) -> int:
    from tests.campaigns.test_bad_input import GOOD

    folder = Path(tempfile.mkdtemp(prefix="elshi-front-door-"))
    base = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    database = workspace(folder, GOOD, base)
    makers = {
        "yaml": lambda: yaml_cases(GOOD),
        "sheet": sheet_cases,
        "media": lambda: media_cases(GOOD),
        "outcomes": outcome_cases,
        "config": lambda: config_cases(base),
        "arguments": argument_cases,
        "lookalikes": lambda: lookalike_cases(GOOD),
        "mutations": lambda: mutation_cases(GOOD, base, seed=seed, count=count),
    }
    anomalies = total = 0
    for area, make in makers.items():
        if areas and area not in areas:
            continue
        for case in make():
            total += 1
            wrong, output, code = check(case, folder, database)
            if wrong:
                anomalies += 1
            if wrong or verbose:
                said = " | ".join(output.strip().splitlines())[:240]
                print(f"{'ANOMALY' if wrong else 'ok'}  {case.name}: [{code}] {said}")
                for item in wrong:
                    print(f"    -> {item}")
    print(f"{total} cases, {anomalies} anomalies (workspace {folder})")
    return 1 if anomalies else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="",
        help="comma list: yaml,sheet,media,outcomes,config,arguments,lookalikes,mutations",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    parser.add_argument("--seed", type=int, default=0, help="first seed of the mutations")
    parser.add_argument("--count", type=int, default=200, help="mutations of each input")
    options = parser.parse_args()
    areas = {a for a in options.only.split(",") if a}
    sys.exit(run(areas, options.verbose, seed=options.seed, count=options.count))


if __name__ == "__main__":
    main()
