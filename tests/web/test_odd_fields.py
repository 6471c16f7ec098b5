"""Fields a browser or a script can send that no page offers: a NUL character in the address or
a form, numbers past what PostgreSQL's ``integer`` holds, typed text with control characters,
and JSON bodies of the wrong shape (a number for a comment, a lone surrogate, a NUL, nesting
past Python's recursion limit). On SQLite and PostgreSQL each gets a 4xx with the message and
changes nothing; none is a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import inspect

from tests.web.conftest import Workspace, post_form
from tests.web.test_attacks import _api_token

TOO_BIG = "2147483648"  # one past PostgreSQL's integer: SQLAlchemy casts the parameter to it


def _dump(ws: Workspace) -> list[tuple[str, list[str]]]:
    """Every row of every table, as text: what a request must leave as it was."""
    with ws.engine.connect() as conn:
        return [
            (
                table,
                sorted(
                    repr(tuple(row)) for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"')
                ),
            )
            for table in sorted(inspect(ws.engine).get_table_names())
        ]


ADDRESSES = (
    "/audit?actor=a%00b",
    "/calendar?campaign=de%00",
    "/calendar?channel=%00",
    f"/calendar?audience={TOO_BIG}",
    "/approvals?campaign=a%00",
    "/reports?country=D%00",
)


@pytest.mark.parametrize("address", ADDRESSES)
def test_odd_addresses_are_refused_or_ignored_on_both_databases(
    ws_any: Workspace, address: str
) -> None:
    response = ws_any.client("admin").get(address)
    assert response.status_code in (200, 400), (address, response.status_code)
    if response.status_code == 400:
        assert "NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "user", "form", "words"),
    [
        ("/posts/1/decide", "pavel", {"decision": "approve", "comment": "ok\x00"}, "NUL"),
        ("/posts/1/decide", "pavel", {"decision": "reject", "comment": "a\x1b[2Jb"}, "U+001B"),
        ("/operations/pause", "olga", {"what": "all", "reason": "x\x07"}, "U+0007"),
        (
            "/users",
            "admin",
            {"username": "eve", "display_name": "Eve\x1b]0;x", "roles": "author"},
            "U+001B",
        ),
        (
            "/users",
            "admin",
            {"username": "eve", "display_name": "Eve\nAdmin", "roles": "author"},
            "U+000A",
        ),
        (
            "/operations/deliveries",
            "olga",
            {"action": "cancel", "delivery": "1", "reason": "\x00"},
            "NUL",
        ),
    ],
)
def test_typed_text_with_control_characters_is_refused_and_changes_nothing(
    ws_any: Workspace, path: str, user: str, form: dict[str, str], words: str
) -> None:
    client = ws_any.client(user)
    before = _dump(ws_any)
    response = post_form(client, path, form, follow_redirects=True)
    assert response.status_code < 500
    assert words in response.get_data(as_text=True), response.get_data(as_text=True)[:2000]
    assert _dump(ws_any) == before


# Past the limits of campaigns.typedtext the pages cut the text silently (2,000, 1,000 and 500
# characters) and stored the rest; they refuse it now with the field's message, as the CLI and
# the API do.
LONG = [
    ("/posts/1/decide", "pavel", {"decision": "approve", "comment": "c" * 2001}, "comment"),
    ("/posts/1/decide", "pavel", {"decision": "reject", "comment": "c" * 2001}, "comment"),
    ("/operations/pause", "olga", {"what": "all", "reason": "r" * 1001}, "reason"),
    (
        "/operations/deliveries",
        "olga",
        {"action": "cancel", "delivery": "1", "reason": "r" * 1001},
        "reason",
    ),
    (
        "/users",
        "admin",
        {"username": "eve", "display_name": "E" * 201, "roles": "author"},
        "name",
    ),
]


@pytest.mark.parametrize(("path", "user", "form", "field"), LONG)
def test_typed_text_past_its_limit_is_refused_not_cut(
    ws_any: Workspace, path: str, user: str, form: dict[str, str], field: str
) -> None:
    client = ws_any.client(user)
    before = _dump(ws_any)
    response = post_form(client, path, form, follow_redirects=True)
    assert response.status_code < 500
    page = response.get_data(as_text=True)
    assert f"{field} is too long: at most" in page, page[:2000]
    assert _dump(ws_any) == before


ODD_VALUES = {
    "a number": 5,
    "a list": ["a"],
    "a mapping": {"a": 1},
    "true": True,
    "a lone surrogate": "a\udc80b",
    "a NUL": "a\x00b",
    "a terminal escape": "a\x1b[2Jb",
}
ROUTES = (
    ("/api/v1/posts/1/approve", "pavel", {"comment": "ok"}),
    ("/api/v1/posts/1/reject", "pavel", {"comment": "ok"}),
    ("/api/v1/deliveries/1/cancel", "olga", {"reason": "ok"}),
    ("/api/v1/deliveries/1/resolve", "olga", {"published_url": "https://x.example/1"}),
    ("/api/v1/pauses", "olga", {"scope": "channel", "target": "de-x", "reason": "ok"}),
)


def test_json_fields_of_the_wrong_kind_are_4xx_and_change_nothing(ws_any: Workspace) -> None:
    client = ws_any.app.test_client()
    tokens = {user: _api_token(ws_any, user) for user in ("pavel", "olga")}
    before = _dump(ws_any)
    failures = []
    for path, user, body in ROUTES:
        headers = {"Authorization": f"Bearer {tokens[user]}", "Content-Type": "application/json"}
        for field in body:
            for label, value in ODD_VALUES.items():
                response = client.post(
                    path, data=json.dumps({**body, field: value}), headers=headers
                )
                if not 400 <= response.status_code < 500:
                    failures.append(f"{path} {field}={label}: {response.status_code}")
        nested = client.post(path, data=b'{"a":' * 5000, headers=headers)
        if nested.status_code != 400:
            failures.append(f"{path} nested 5000 deep: {nested.status_code}")
    assert not failures, "\n".join(failures)
    # The token issued for the test is the only change.
    assert [t for t in _dump(ws_any) if t[0] not in ("api_token", "audit_log")] == [
        t for t in before if t[0] not in ("api_token", "audit_log")
    ]


def test_two_different_media_files_of_one_name_are_refused_not_one_picked(ws: Workspace) -> None:
    """The page and the API collected uploads in a dict by file name: the last of two files
    named a.png silently won. The same bytes twice are one file."""
    import io

    from tests.campaigns.test_bad_input import GOOD
    from tests.connectors.files import png_bytes

    text = GOOD.replace(
        "    text: Hallo aus Astana.", "    text: Hallo aus Astana.\n    media: [a.png]"
    )
    client = ws.client("anna")
    before = _dump(ws)

    def upload(*media: tuple[str, bytes]) -> Any:
        data = {
            "file": (io.BytesIO(text.encode()), "de-test.yaml"),
            "media": [(io.BytesIO(content), name) for name, content in media],
        }
        return post_form(client, "/campaigns/upload", data, page="/campaigns")

    twice = upload(("a.png", png_bytes(1, 1)), ("media/a.png", png_bytes(2, 2)))
    assert twice.status_code == 422
    assert "a.png</a>: two different files of this name were uploaded" in twice.get_data(
        as_text=True
    )
    assert _dump(ws) == before
    api = ws.app.test_client().post(
        "/api/v1/campaigns",
        headers={"Authorization": f"Bearer {_api_token(ws, 'anna')}"},
        data={
            "file": (io.BytesIO(text.encode()), "de-test.yaml"),
            "media": [
                (io.BytesIO(png_bytes(1, 1)), "a.png"),
                (io.BytesIO(png_bytes(3, 3)), "a.png"),
            ],
        },
    )
    assert api.status_code == 422, api.json
    assert "two different files" in str(api.json)
    same = upload(("a.png", png_bytes(1, 1)), ("a.png", png_bytes(1, 1)))
    assert same.status_code == 302, same.get_data(as_text=True)[:500]


def test_a_campaign_file_with_a_very_long_name_is_still_a_campaign_file(ws: Workspace) -> None:
    """The safe name was cut at 120 characters, extension and all, so a long name ending in
    .yaml was refused as 'not a campaign file' (and echoed whole in the message)."""
    import io

    from tests.campaigns.test_bad_input import GOOD

    data = {"file": (io.BytesIO(GOOD.encode()), "g" * 5000 + ".yaml")}
    response = post_form(ws.client("anna"), "/campaigns/upload", data, page="/campaigns")
    assert response.status_code == 302 and "/uploads/" in response.headers["Location"]
    with ws.engine.connect() as conn:
        [name] = conn.exec_driver_sql("SELECT filename FROM campaign_upload").scalars()
    assert name.endswith("g.yaml") and len(name) == 120


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=-5",
        "limit=1e9",
        "until=9999-12-31",
        "since=0001-01-01",
        "since=2027-02-30",
    ],
)
def test_the_api_audit_refuses_odd_arguments_with_400(ws_any: Workspace, query: str) -> None:
    """They were 500s: int('abc'), a negative LIMIT, and 9999-12-31 + 1 day overflowing."""
    headers = {"Authorization": f"Bearer {_api_token(ws_any)}"}
    response = ws_any.app.test_client().get(f"/api/v1/audit?{query}", headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json is not None and query.split("=")[0] in response.json["message"]


def test_the_api_audit_still_filters_by_day_and_limits(ws: Workspace) -> None:
    headers = {"Authorization": f"Bearer {_api_token(ws)}"}
    client = ws.app.test_client()
    every = client.get("/api/v1/audit?since=2027-03-01&until=2027-03-01", headers=headers).json
    assert every is not None and len(every["entries"]) > 2
    two = client.get("/api/v1/audit?limit=2", headers=headers).json
    assert two is not None and len(two["entries"]) == 2
    none = client.get("/api/v1/audit?until=2027-02-28", headers=headers).json
    assert none is not None and none["entries"] == []


@pytest.mark.parametrize(
    ("remote_id", "words"),
    [("7" * 201, "the remote id is too long: at most 200"), ("17\x1b[2J", "U+001B")],
)
def test_a_remote_id_given_by_hand_is_checked_not_cut(
    ws_any: Workspace, remote_id: str, words: str
) -> None:
    """The page cut a remote id to 200 characters and stored it; the CLI and the API stored
    anything (a terminal escape, 300+ characters: PostgreSQL's varchar(300) then refused it as
    a 500). One check in scheduler.operations.resolve for all three."""
    from sqlalchemy import select

    from campaigns.schema import Delivery
    from campaigns.store import session_factory

    with session_factory(ws_any.engine)() as s:
        first = s.scalars(select(Delivery).order_by(Delivery.id)).first()
        assert first is not None
        first.state = "needs_review"
        delivery_id = first.id
        s.commit()
    olga = ws_any.client("olga")
    before = _dump(ws_any)
    form = {
        "action": "resolve-published",
        "delivery": str(delivery_id),
        "url": "https://x.example/status/17",
        "remote_id": remote_id,
    }
    page = post_form(olga, "/operations/deliveries", form, follow_redirects=True)
    assert page.status_code < 500
    assert words in page.get_data(as_text=True)
    assert _dump(ws_any) == before

    client = ws_any.app.test_client()
    headers = {"Authorization": f"Bearer {_api_token(ws_any, 'olga')}"}
    refused = client.post(
        f"/api/v1/deliveries/{delivery_id}/resolve",
        headers=headers,
        json={"published_url": "https://x.example/status/17", "remote_id": remote_id},
    )
    assert 400 <= refused.status_code < 500, refused.get_data(as_text=True)
    assert words in refused.get_data(as_text=True)
    assert [t for t in _dump(ws_any) if t[0] not in ("api_token", "audit_log")] == [
        t for t in before if t[0] not in ("api_token", "audit_log")
    ]
