"""Reading an input file the user names (a campaign file, a spreadsheet, an outcome CSV,
elshi.toml) safely: only a regular file is opened (a FIFO would block the command forever on
``open``, a device such as /dev/zero would never end), its size is checked before a byte is read,
and never more than the limit is read. `NotARegularFile` and `TooLarge` carry the message; each
caller puts it in its own located error."""

from __future__ import annotations

import stat
from pathlib import Path


class InputFileError(Exception):
    """The file cannot be read as an input; ``str(exc)`` says why (without the path)."""


class NotARegularFile(InputFileError):
    pass


class TooLarge(InputFileError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{_size(size)} is larger than the {_size(limit)} allowed")
        self.size = size
        self.limit = limit


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def unusable(path: Path) -> str | None:
    """Why the path a user gave cannot be looked at (``"no such file"``, or the system's
    reason: a name too long for the file system, a loop of links, no permission), or None
    when something is there. Unlike `Path.exists`, which raises for every reason but a few,
    this never raises."""
    try:
        Path(path).stat()
    except FileNotFoundError:
        return "no such file"
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        return getattr(exc, "strerror", None) or "not a usable file name"
    return None


def checked_size(path: Path) -> int:
    """The size of ``path``, a regular file (after following links); `NotARegularFile`
    otherwise, and `OSError` when it cannot be looked at. Nothing is opened."""
    found = Path(path).stat()
    if not stat.S_ISREG(found.st_mode):
        kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a regular file")
        raise NotARegularFile(f"is {kind}, not a file")
    return found.st_size


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` of at most ``max_bytes`` (`TooLarge` before
    reading when its size says so, or after reading ``max_bytes + 1`` when it grew)."""
    size = checked_size(path)
    if size > max_bytes:
        raise TooLarge(size, max_bytes)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(len(data), max_bytes)
    return data


def _size(count: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= factor:
            return f"{count / factor:,.1f} {unit}".replace(".0 ", " ")
    return f"{count:,} bytes"
