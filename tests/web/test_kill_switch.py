"""The kill switch through the workspace: an operator pauses a campaign with a reason, every
page says so, nothing it covers can be claimed, and resuming asks for a decision on each
delivery that became overdue meanwhile; the same through the API. (That running daemons stop
at once is proven against real daemons in tests/scheduler/test_kill_switch_daemons.py and in the
browser test.)"""

from __future__ import annotations

import re

from sqlalchemy import select

from campaigns.schema import Delivery, Pause, Post
from campaigns.store import session_factory
from tests.web.conftest import Workspace, approve_fully, post_form
from tests.web.test_api import _token


def _nauryz(ws: Workspace) -> int:
    with session_factory(ws.engine)() as s:
        found = s.scalar(select(Post.id).where(Post.key == "nauryz"))
    assert found is not None
    approve_fully(ws, found)
    return found


def test_operator_pauses_a_campaign_and_resumes_deciding_each_overdue_delivery(
    ws: Workspace,
) -> None:
    post_id = _nauryz(ws)
    olga = ws.client("olga")
    refused = post_form(
        olga,
        "/operations/pause",
        {"what": "campaign:de-2027-gateway", "reason": ""},
        page="/operations",
    )
    assert refused.status_code == 422 and "say why" in refused.get_data(as_text=True)
    done = post_form(
        olga,
        "/operations/pause",
        {"what": "campaign:de-2027-gateway", "reason": "statement under review"},
        page="/operations",
    )
    page = olga.get(done.headers["Location"]).get_data(as_text=True)
    assert "Paused. Nothing it covers starts publishing" in page
    assert "statement under review" in page
    # Every page carries the banner, for everyone.
    banner = ws.client("marat").get("/calendar").get_data(as_text=True)
    assert 'class="killbar"' in banner and "statement under review" in banner
    # Time passes beyond Nauryz: its deliveries are held, overdue, not missed.
    ws.clock.set(ws.clock().replace(month=3, day=21, hour=12))
    with session_factory(ws.engine)() as s:
        pause_id = s.scalar(select(Pause.id))
        states = {d.state for d in s.scalars(select(Delivery).where(Delivery.post_id == post_id))}
    assert states == {"approved"}
    olga = ws.client("olga")  # her session ended with the days that passed
    form = olga.get(f"/operations/pauses/{pause_id}/resume").get_data(as_text=True)
    choices = sorted(set(re.findall(r'name="d(\d+)" value="send"', form)))
    assert len(choices) == 4  # the four Nauryz deliveries
    incomplete = post_form(
        olga,
        f"/operations/pauses/{pause_id}/resume",
        {f"d{choices[0]}": "send"},
        page="/operations",
    )
    # Refused on the same page, with the decision already made still made.
    assert incomplete.status_code == 422
    kept = incomplete.get_data(as_text=True)
    assert "decide each" in kept
    assert re.search(rf'name="d{choices[0]}" value="send"[^>]*checked', kept)
    assert not re.search(rf'name="d{choices[1]}" value="\w+"[^>]*checked', kept)
    decisions = {f"d{i}": ("send" if n < 2 else "skip") for n, i in enumerate(choices)}
    post_form(olga, f"/operations/pauses/{pause_id}/resume", decisions, page="/operations")
    with session_factory(ws.engine)() as s:
        found = {
            str(d.id): d.state
            for d in s.scalars(select(Delivery).where(Delivery.post_id == post_id))
        }
        assert s.get(Pause, pause_id).resumed_by == "user:olga"  # type: ignore[union-attr]
    assert sorted(found[i] for i in choices) == ["cancelled", "cancelled", "scheduled", "scheduled"]
    assert 'class="killbar"' not in olga.get("/calendar").get_data(as_text=True)


def test_only_operators_pull_the_kill_switch(ws: Workspace) -> None:
    for who in ("anna", "pavel", "marat"):
        response = post_form(ws.client(who), "/operations/pause", {"what": "all", "reason": "x"})
        assert response.status_code == 403
    with session_factory(ws.engine)() as s:
        assert s.scalar(select(Pause.id)) is None


def test_the_api_pauses_lists_and_resumes(ws_any: Workspace) -> None:
    """On SQLite and on PostgreSQL (where the pause takes the advisory lock)."""
    ws = ws_any
    client = ws.client()
    operator, author = _token(ws, "olga"), _token(ws, "anna")
    assert (
        client.post(
            "/api/v1/pauses", headers=author, json={"scope": "all", "reason": "x"}
        ).status_code
        == 403
    )
    made = client.post(
        "/api/v1/pauses",
        headers=operator,
        json={"scope": "country", "target": "de", "reason": "mourning"},
    )
    assert made.status_code == 201 and made.json["in_flight"] == []  # type: ignore[index]
    again = client.post(
        "/api/v1/pauses",
        headers=operator,
        json={"scope": "country", "target": "DE", "reason": "mourning"},
    )
    assert again.status_code == 200 and again.json["created"] is False  # type: ignore[index]
    listed = client.get("/api/v1/pauses", headers=author).json
    assert listed is not None and "country DE" in listed["pauses"][0]["what"]
    pause_id = made.json["pause_id"]  # type: ignore[index]
    assert client.get(f"/api/v1/pauses/{pause_id}/overdue", headers=author).json == {"overdue": []}
    done = client.post(f"/api/v1/pauses/{pause_id}/resume", headers=operator, json={})
    assert done.status_code == 200 and done.json == {
        "pause_id": pause_id,
        "sent": [],
        "skipped": [],
    }
