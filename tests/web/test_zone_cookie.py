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


@pytest.mark.parametrize("zone", ["localtime", "Factory", "right/Asia/Almaty"])
def test_a_zone_file_that_is_no_zone_name_is_not_the_viewers_zone(ws: Workspace, zone: str) -> None:
    """zoneinfo loads them, but 'localtime' is the server's own zone (not the viewer's), Factory
    the database's placeholder, right/... a copy: the office's zone is used instead."""
    from web.context import viewer_zone_name

    with ws.app.test_request_context("/calendar", headers={"Cookie": f"{TZ_COOKIE}={zone}"}):
        assert viewer_zone_name() == "Europe/Berlin"
    with ws.app.test_request_context("/calendar", headers={"Cookie": f"{TZ_COOKIE}=Asia/Almaty"}):
        assert viewer_zone_name() == "Asia/Almaty"
