"""The corpus of broken inputs (tests/fixtures/broken/ plus a few made here because they are
large) as CLI invocations, with the kind of location each message must carry. Used by
tests/cli/test_front_door.py and bench/front_door.py."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"

GOOD_CAMPAIGN = "good.yaml"
GOOD_SHEET = "good.csv"
SHEET_HEADER = "id,date,time,category,audiences,text\n"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    where: str
    """The file the message must name, and how: ``line`` (FILE:LINE:COL or FILE:LINE),
    ``row`` (FILE:row N or FILE:line N), or ``file`` (the file itself)."""
    located_in: str

    def located(self, output: str) -> bool:
        name = re.escape(self.located_in)
        patterns = {
            "line": rf"{name}:\d+(:\d+)?: ",
            "row": rf"{name}(\[[^\]]*\])?:(row|line) \d+",
            "file": rf"{name}(\[[^\]]*\])?(:\d+(:\d+)?)?: ",
        }
        return re.search(patterns[self.where], output) is not None


_NOT_FILES = {
    "pipe.yaml",
    "device.yaml",
    "sheet-pipe.csv",
    "sheet-device.xlsx",
    "outcomes-pipe.csv",
    "outcomes-device.csv",
}
"""Made by `_generate`: a named pipe (opening it would wait forever for a writer) and links to
/dev/zero (reading it would never end)."""

_FILE_LEVEL = {
    *_NOT_FILES,
    "sheet-zip-bomb.xlsx",
    "sheet-not-a-zip.xlsx",
    "sheet-wrong-kind.xlsx",
    "sheet-junk-rows.csv",
    "sheet-too-large.csv",
}
_SHEET_FILE_LEVEL = {"sheet-xxe.xlsx", "sheet-entity-bomb.xlsx", *_FILE_LEVEL}


def prepare(folder: Path, good_campaign: str) -> list[Case]:
    """Copy the corpus into ``folder`` (the working directory of the runs), make the large
    inputs there, and return every case."""
    for item in BROKEN.iterdir():
        if item.is_dir():
            shutil.copytree(item, folder / item.name, dirs_exist_ok=True)
        elif item.suffix != ".md":
            shutil.copyfile(item, folder / item.name)
    (folder / GOOD_CAMPAIGN).write_text(good_campaign, encoding="utf-8")
    (folder / GOOD_SHEET).write_text(
        SHEET_HEADER + "a,2027-04-15,10:00,education,public,Hallo\n", encoding="utf-8"
    )
    _generate(folder, good_campaign)
    cases: list[Case] = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if name in (GOOD_CAMPAIGN, GOOD_SHEET) or path.is_dir():
            continue
        if name.endswith(".yaml"):
            where = "file" if name in ("too-large.yaml", *_NOT_FILES) else "line"
            for command in ("validate", "apply"):
                cases.append(Case(f"{command} {name}", ("campaign", command, name), where, name))
        elif name.startswith("sheet-"):
            where = "file" if name in _SHEET_FILE_LEVEL else "row"
            args = ("campaign", "import", name, "--campaign-file", GOOD_CAMPAIGN, "--out", "x.yaml")
            cases.append(Case(f"import {name}", args, where, name))
        elif name.startswith("outcomes-"):
            where = "file" if name in _NOT_FILES else "line"
            cases.append(Case(f"outcomes {name}", ("outcomes", "import", name), where, name))
    for base in ("billion-laughs.yaml", "deep-nesting.yaml", "impossible-date.yaml"):
        args = ("campaign", "import", GOOD_SHEET, "--campaign-file", base, "--out", "x.yaml")
        where = "line"
        cases.append(Case(f"import --campaign-file {base}", args, where, base))
    return cases


def _generate(folder: Path, good: str) -> None:
    (folder / "too-large.yaml").write_text(good + "# " + "x" * (3 * 1024 * 1024) + "\n", "utf-8")
    text = "text: " + "Kasachstan " * 150_000
    (folder / "huge-text.yaml").write_text(
        good.replace("text: Hallo aus Astana.", text), encoding="utf-8"
    )
    # As many posts as the value budget lets through, all validated and expanded (14,000
    # deliveries), the last one wrong: what is linear per post must stay so.
    head, _, posts = good.partition("posts:\n")
    post = posts.split("  - id: second")[0].replace("id: hello", "id: p{n}")
    many = "".join(post.replace("{n}", str(n)) for n in range(7_000))
    many += post.replace("{n}", "last").replace("[public]", "[pubic]")
    (folder / "many-posts.yaml").write_text(head + "posts:\n" + many, encoding="utf-8")
    junk = "".join(f"junk{n},,,,,\n" for n in range(25_000))
    (folder / "sheet-junk-rows.csv").write_text(SHEET_HEADER + junk, encoding="utf-8")
    (folder / "sheet-unterminated.csv").write_text(
        SHEET_HEADER + 'a,2027-04-15,10:00,education,public,"x' + "y" * 200_000, encoding="utf-8"
    )
    (folder / "sheet-too-large.csv").write_bytes(b"id\n" + b"x\n" * (11 * 1024 * 1024))
    # A link in the media folder to a file outside it (the host's files must never reach a
    # public account), and a campaign naming it.
    (folder / "media" / "outside-link.png").symlink_to("/etc/passwd")
    (folder / "media-symlink-out.yaml").write_text(
        good.replace(
            "    text: Hallo aus Astana.",
            "    text: Hallo aus Astana.\n    media: [media/outside-link.png]",
        ),
        encoding="utf-8",
    )
    for name in _NOT_FILES:
        if "pipe" in name:
            os.mkfifo(folder / name)
        else:
            (folder / name).symlink_to("/dev/zero")


def damaged(good: str, *, max_size: int = 400) -> Any:
    """A hypothesis strategy: random bytes, or ``good`` with random bytes inserted."""
    raw = good.encode("utf-8")
    return st.one_of(
        st.binary(max_size=max_size),
        st.builds(
            lambda cut, noise: raw[:cut] + noise + raw[cut:],
            st.integers(min_value=0, max_value=len(raw)),
            st.binary(min_size=1, max_size=8),
        ),
    )
