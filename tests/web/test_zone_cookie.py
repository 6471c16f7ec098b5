"""A forged time-zone cookie (a folder of the zone database, a name too long for the file
system) is ignored like an unknown zone, never a server error on every page (#9)."""

from __future__ import annotations

import pytest

from tests.web.conftest import Workspace
from web.context import TZ_COOKIE


@pytest.mark.parametrize("zone", ["Europe", "a" * 3000, "../../../etc/passwd", "Nowhere/City"])
def test_a_forged_time_zone_cookie_falls_back_to_the_office_zone(ws: Workspace, zone: str) -> None:
    client = ws.client("anna")
    client.set_cookie(TZ_COOKIE, zone)
    page = client.get("/calendar")
    assert page.status_code == 200
