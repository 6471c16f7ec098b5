"""Time zone names as people write them (campaign files, elshi.toml, the web pages): an IANA
zone of the tz database, the same on every machine. ``zoneinfo`` also loads files of the zone
folder that are no such name: ``localtime`` (the machine's own zone: a campaign file would mean
another time on the server than on the author's laptop), ``Factory`` (the database's "zone
unknown" placeholder), ``posixrules``, and the copies under ``posix/`` and ``right/``. Every
place that takes a zone name from a person checks it here."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NOT_ZONES = {
    "localtime": "is this machine's own time zone, which another machine sees differently",
    "posixrules": "is a file of the time zone database, not a zone",
    "factory": "is the time zone database's placeholder for a zone nobody set",
}


def zone_problem(name: str) -> str | None:
    """None when ``name`` is a time zone a person may name, else why not (no example)."""
    base = name.split("/", 1)
    if name.lower() in _NOT_ZONES:
        return f"{name!r} {_NOT_ZONES[name.lower()]}"
    if len(base) == 2 and base[0] in ("posix", "right"):
        return f"{name!r} is a copy of {base[1]!r} under another name; write {base[1]!r}"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a name too long
        return f"unknown time zone {name!r}"
    return None


def is_zone(name: str) -> bool:
    return zone_problem(name) is None
