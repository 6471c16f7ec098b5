"""The JSON API: tokens act with their user's roles, the same rules as the pages, and the
OpenAPI document is valid and describes exactly the routes there are."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from campaigns import people
from campaigns.store import session_factory
from tests.conftest import EXAMPLES
from tests.web.conftest import Workspace


def _token(ws: Workspace, username: str) -> dict[str, str]:
    with session_factory(ws.engine)() as s:
        who = people.active_person(s, username)
        _t, plain = people.issue_token(s, username, name="test", by=who, now=ws.clock())
        s.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_openapi_document_is_valid_and_matches_the_routes(ws: Workspace) -> None:
    from openapi_spec_validator import validate

    doc = ws.client().get("/api/v1/openapi.json").json
    assert doc is not None
    validate(doc)
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in ws.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            path = path.replace("{post_id}/approve", "{post_id}/approve")
            routed |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented


def test_no_token_or_a_bad_one_is_401(ws: Workspace) -> None:
    client = ws.client()
    assert client.get("/api/v1/campaigns").status_code == 401
    bad = client.get("/api/v1/campaigns", headers={"Authorization": "Bearer elshi_nope"})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
    assert bad.json == {"error": "unauthorized", "message": "unknown, revoked or expired token"}


def test_a_token_acts_with_its_users_roles_only(ws: Workspace) -> None:
    client = ws.client()
    author, approver = _token(ws, "anna"), _token(ws, "pavel")
    assert client.get("/api/v1/me", headers=author).json["roles"] == ["author"]  # type: ignore[index]
    refused = client.post("/api/v1/posts/1/approve", headers=author, json={})
    assert refused.status_code == 403 and "approver" in refused.json["message"]  # type: ignore[index]
    done = client.post("/api/v1/posts/1/approve", headers=approver, json={"comment": "ok"})
    assert done.status_code == 200 and done.json["post"]["approval"] == "pending"  # type: ignore[index]
    again = client.post("/api/v1/posts/1/approve", headers=approver, json={})
    assert again.status_code == 409 and "different person" in again.json["message"]  # type: ignore[index]
    second = client.post("/api/v1/posts/1/approve", headers=_token(ws, "amir"), json={})
    assert second.json["post"]["approval"] == "approved"  # type: ignore[index]
    assert client.get("/api/v1/reports", headers=author).status_code == 403


def test_cookies_do_not_authenticate_the_api(ws: Workspace) -> None:
    client = ws.client("admin")  # a logged-in browser session
    assert client.get("/api/v1/campaigns").status_code == 401


def test_upload_through_the_api_gives_located_problems_or_the_plan(ws: Workspace) -> None:
    client = ws.client()
    author = _token(ws, "anna")
    broken = (EXAMPLES / "germany.yaml").read_text().replace("country: DE", "country: Germany")
    bad = client.post(
        "/api/v1/campaigns",
        headers=author,
        data={"file": (io.BytesIO(broken.encode()), "germany.yaml")},
    )
    assert bad.status_code == 422
    problem: dict[str, Any] = bad.json["problems"][0]  # type: ignore[index]
    assert problem["line"] == broken.splitlines().index("  country: Germany") + 1
    assert "country" in problem["message"]
    media = [(io.BytesIO(p.read_bytes()), p.name) for p in (EXAMPLES / "media").glob("*.png")]
    good = client.post(
        "/api/v1/campaigns?apply=true",
        headers=author,
        data={
            "file": (io.BytesIO((EXAMPLES / "germany.yaml").read_bytes()), "germany.yaml"),
            "media": media,
        },
    )
    assert good.status_code == 200, good.json
    assert good.json["applied"] is True and good.json["version"] == 1  # type: ignore[index]
    file = client.get("/api/v1/campaigns/de-2027-gateway/file", headers=author)
    assert file.data == (EXAMPLES / "germany.yaml").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deliveries?channel=de-x&from=2027-03-21&to=2027-03-22",
        "/api/v1/approvals",
        "/api/v1/status",
        "/api/v1/campaigns/de-2027-gateway",
        "/api/v1/posts/1",
    ],
)
def test_read_endpoints_answer_json(ws: Workspace, path: str) -> None:
    response = ws.client().get(path, headers=_token(ws, "olga"))
    assert response.status_code == 200 and response.is_json


def test_http_layer_on_postgresql_and_sqlite(ws_any: Workspace) -> None:
    """Log in, approve a post from the page, and read it back through the API, on both
    databases."""
    from tests.web.conftest import post_form

    client = ws_any.client("pavel")
    assert client.get("/calendar?date=2027-03-21").status_code == 200
    from sqlalchemy import select

    from campaigns.schema import Post

    with session_factory(ws_any.engine)() as s:
        post_id = s.scalar(select(Post.id).where(Post.key == "nauryz"))
    assert post_form(client, f"/posts/{post_id}/decide", {"decision": "approve"}).status_code == 302
    assert (
        post_form(
            ws_any.client("amir"), f"/posts/{post_id}/decide", {"decision": "approve"}
        ).status_code
        == 302
    )
    data = ws_any.client().get(f"/api/v1/posts/{post_id}", headers=_token(ws_any, "olga")).json
    assert data is not None and data["approval"] == "approved"
    assert {d["state"] for d in data["deliveries"]} == {"approved"}


def test_an_upload_is_validated_with_the_channels_options_as_the_cli_does(ws: Workspace) -> None:
    """The rules that depend on a channel's account (a Mastodon instance's limits, Weibo's safe
    domain) came from the channels' options in `elshi campaign validate` but not in uploads:
    the pages and the API accepted what the CLI refused."""
    from tests.web.conftest import build

    app = build(ws.engine, ws.clock, channel_options={"de-mastodon": {"max_alt_characters": 20}})
    client = app.test_client()
    author = _token(ws, "anna")
    media = [(io.BytesIO(p.read_bytes()), p.name) for p in (EXAMPLES / "media").glob("*.png")]
    refused = client.post(
        "/api/v1/campaigns",
        headers=author,
        data={
            "file": (io.BytesIO((EXAMPLES / "germany.yaml").read_bytes()), "germany.yaml"),
            "media": media,
        },
    )
    assert refused.status_code == 422, refused.json
    errors = [
        p["message"]
        for p in refused.json["problems"]  # type: ignore[index]
        if p["severity"] == "error"
    ]
    assert errors and all("(limit on mastodon: 20)" in m for m in errors), errors
    assert all(m.startswith("for channel 'de-mastodon': the alt text is") for m in errors), errors


def test_a_spreadsheet_is_planned_for_the_campaign_it_belongs_to(ws: Workspace) -> None:
    """With the campaign chosen, a calendar's posts are planned on its current file (row
    problems at their row and column); without one, there is nothing to add them to: one
    finding saying so, not the import skeleton's FILL-IN placeholders refused at lines of a
    generated file the person never sees."""
    client = ws.client()
    author = _token(ws, "anna")
    sheet = (
        b"id,date,time,category,audiences,text\n"
        b"sheet-post,2027-05-04,10:00,education,public,Hallo aus dem Kalender\n"
        b"bad-row,2027-05-05,10:00,gardening,public,Hallo\n"
    )

    def upload(content: bytes, **form: str) -> Any:
        data: dict[str, Any] = {"file": (io.BytesIO(content), "calendar.csv"), **form}
        return client.post("/api/v1/campaigns", headers=author, data=data)

    media = [(io.BytesIO(p.read_bytes()), p.name) for p in (EXAMPLES / "media").glob("*.png")]
    first = client.post(  # the campaign's file, which the spreadsheet's posts are added to
        "/api/v1/campaigns?apply=true",
        headers=author,
        data={
            "file": (io.BytesIO((EXAMPLES / "germany.yaml").read_bytes()), "germany.yaml"),
            "media": media,
        },
    )
    assert first.status_code == 200, first.json
    chosen = upload(sheet, base="de-2027-gateway")
    assert chosen.status_code == 422, chosen.json
    [problem] = chosen.json["problems"]  # type: ignore[index]
    assert problem["where"] == "calendar.csv:row 3:col D (category)", problem
    fine = upload(sheet.rsplit(b"bad-row", 1)[0], base="de-2027-gateway")
    assert fine.status_code == 200, fine.json["problems"]  # type: ignore[index]
    assert any("sheet-post" in c["key"] for c in fine.json["plan"]), fine.json  # type: ignore[index]
    alone = upload(sheet.rsplit(b"bad-row", 1)[0])
    assert alone.status_code == 422, alone.json
    [problem] = alone.json["problems"]  # type: ignore[index]
    assert problem["where"] == "calendar.csv", problem
    assert "upload the campaign file (.yaml) first" in problem["message"], problem
    assert "FILL-IN" not in str(alone.json)
