"""Time zone names as people write them (campaign files, elshi.toml, the web pages): an IANA
zone of the tz database, the same on every machine. ``zoneinfo`` also loads files of the zone
folder that are no such name: ``localtime`` (the machine's own zone: a campaign file would mean
another time on the server than on the author's laptop), ``Factory`` (the database's "zone
unknown" placeholder), ``posixrules``, and the copies under ``posix/`` and ``right/``. Every
place that takes a zone name from a person checks it here."""

from __future__ import annotations

import re
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
    inverted = _INVERTED.fullmatch(name)
    if inverted is not None and int(inverted.group(2)) != 0:
        return _inverted_problem(name, inverted.group(1), int(inverted.group(2)))
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a name too long
        return f"unknown time zone {name!r}"
    return None


_INVERTED = re.compile(r"Etc/GMT([+-])(\d{1,2})")
"""The tz database's fixed-offset zones, whose sign is the POSIX one, inverted against what
people mean: Etc/GMT+5 is five hours *behind* UTC (New York in winter), not ahead of it. A
campaign written with it for Tashkent (UTC+5) would post ten hours off, without a word."""
_CITIES = {
    -11: "Pacific/Pago_Pago",
    -10: "Pacific/Honolulu",
    -9: "Pacific/Gambier",
    -8: "Pacific/Pitcairn",
    -7: "America/Phoenix",
    -6: "America/Guatemala",
    -5: "America/Bogota",
    -4: "America/La_Paz",
    -3: "America/Sao_Paulo",
    -2: "America/Noronha",
    -1: "Atlantic/Cape_Verde",
    1: "Africa/Lagos",
    2: "Africa/Johannesburg",
    3: "Europe/Istanbul",
    4: "Asia/Dubai",
    5: "Asia/Tashkent",
    6: "Asia/Dhaka",
    7: "Asia/Bangkok",
    8: "Asia/Shanghai",
    9: "Asia/Tokyo",
    10: "Australia/Brisbane",
    11: "Pacific/Guadalcanal",
    12: "Pacific/Tarawa",
    13: "Pacific/Fakaofo",
    14: "Pacific/Kiritimati",
}
"""A city that keeps each whole-hour offset all year (no daylight saving time), to name in the
hint; checked against the installed tz database before it is named."""


def _inverted_problem(name: str, sign: str, hours: int) -> str:
    offset = -hours if sign == "+" else hours
    meant = f"UTC{'+' if offset > 0 else '-'}{abs(offset)}"
    city = _CITIES.get(offset)
    example = ""
    if city is not None and _keeps(city, offset):
        example = f", such as {city} ({meant} all year)"
    return (
        f"{name!r} means {meant}, {abs(offset)} hours {'ahead of' if offset > 0 else 'behind'} "
        f"UTC: the sign of the Etc/GMT names is inverted; write the time zone of a "
        f"city{example}"
    )


def _keeps(city: str, hours: int) -> bool:
    """Whether ``city`` is a zone here whose offset is ``hours`` in January and in July."""
    from datetime import datetime, timedelta

    try:
        zone = ZoneInfo(city)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    year = datetime.now().year
    return all(
        datetime(year, month, 1, 12, tzinfo=zone).utcoffset() == timedelta(hours=hours)
        for month in (1, 7)
    )


def is_zone(name: str) -> bool:
    return zone_problem(name) is None
