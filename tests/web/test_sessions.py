"""Signing in and out: cookies, throttling shared through the database, expiry by the
application's clock with a way back to the page, logout, password changes and disabled people
ending sessions, and single sign-on believed only from the configured proxy."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from campaigns import people
from campaigns.schema import AuditEntry, LoginThrottle
from campaigns.store import session_factory
from tests.web.conftest import PASSWORD, Workspace, build, csrf_token, login, post_form


def _audit(ws: Workspace, entity: str = "session") -> list[AuditEntry]:
    with session_factory(ws.engine)() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.entity == entity)))


def test_login_opens_the_page_asked_for_and_is_audited(ws: Workspace) -> None:
    client = ws.client()
    first = client.get("/operations")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=/operations")
    done = login(client, "olga", query_string={"next": "/operations"})
    assert done.status_code == 302 and done.headers["Location"] == "/operations"
    assert "Olga Operator" in client.get("/operations").get_data(as_text=True)
    entry = _audit(ws)[-1]
    assert (entry.actor, entry.to_state) == ("user:olga", "signed_in")
    assert entry.detail is not None and entry.detail["address"] == "127.0.0.1"


def test_session_cookie_is_signed_httponly_samesite_and_secure_on_https(
    ws: Workspace, web_clock: object
) -> None:
    response = login(ws.client(), "anna")
    cookie = response.headers["Set-Cookie"]
    assert "elshi_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # base_url is http:// here
    https = build(ws.engine, ws.clock, base_url="https://elshi.example").test_client()
    form = https.get("/login", base_url="https://localhost")
    assert "Secure" in form.headers["Set-Cookie"]
    token = csrf_token(https, "/login")
    secure = https.post(
        "/login",
        data={"username": "anna", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert secure.status_code == 302 and "Secure" in secure.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in secure.headers


def test_a_forged_session_cookie_is_not_a_login(ws: Workspace) -> None:
    client = ws.client()
    client.set_cookie("elshi_session", "eyJfdXNlcl9pZCI6IjE6MCJ9.forged.signature")
    assert client.get("/calendar").status_code == 302


def test_wrong_password_and_unknown_name_get_the_same_answer(ws: Workspace) -> None:
    wrong = login(ws.client(), "anna", "not the password").get_data(as_text=True)
    unknown = login(ws.client(), "nobody", "not the password").get_data(as_text=True)
    assert "Wrong user name or password." in wrong
    assert "Wrong user name or password." in unknown
    assert [e.to_state for e in _audit(ws)] == ["failed", "failed"]


def test_five_failures_lock_the_name_even_for_the_right_password(ws: Workspace) -> None:
    for _ in range(5):
        login(ws.client(), "anna", "guess")
    blocked = login(ws.client(), "anna", PASSWORD)
    assert blocked.status_code == 200  # the form again, not a redirect
    assert "Too many failed log-ins" in blocked.get_data(as_text=True)
    # Another web process on the same database sees the same count.
    other = build(ws.engine, ws.clock).test_client()
    assert "Too many failed log-ins" in login(other, "anna", PASSWORD).get_data(as_text=True)
    # Other names still log in; after the window the name does too.
    assert login(ws.client(), "pavel").status_code == 302
    ws.clock.advance(minutes=16)
    assert login(ws.client(), "anna").status_code == 302


def test_many_failures_from_one_address_lock_that_address(ws: Workspace) -> None:
    for n in range(20):
        login(ws.client(), f"name{n}", "guess")
    assert "Too many failed log-ins" in login(ws.client(), "anna").get_data(as_text=True)
    elsewhere = login(ws.client(), "anna", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 302
    with session_factory(ws.engine)() as s:
        keys = set(s.scalars(select(LoginThrottle.key)))
    assert "address:127.0.0.1" in keys


def test_an_idle_session_expires_and_login_returns_to_the_page(ws: Workspace) -> None:
    client = ws.client("pavel")
    assert client.get("/approvals").status_code == 200
    ws.clock.advance(minutes=59)
    assert client.get("/approvals").status_code == 200  # each request keeps it alive
    ws.clock.advance(minutes=61)
    expired = client.get("/approvals?campaign=de-2027-gateway")
    assert expired.status_code == 302
    assert expired.headers["Location"] == "/login?next=/approvals?campaign%3Dde-2027-gateway"
    page = client.get(expired.headers["Location"]).get_data(as_text=True)
    assert "Your session expired" in page
    back = login(client, "pavel", query_string={"next": "/approvals?campaign=de-2027-gateway"})
    assert back.headers["Location"] == "/approvals?campaign=de-2027-gateway"
    assert "expired" in [e.to_state for e in _audit(ws)]


def test_login_never_redirects_to_another_site(ws: Workspace) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        done = login(ws.client(), "anna", query_string={"next": target})
        assert done.headers["Location"] == "/calendar", target


def test_logout_needs_a_post_with_csrf_and_ends_the_session(ws: Workspace) -> None:
    client = ws.client("anna")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 403  # no CSRF token
    assert post_form(client, "/logout", {}).status_code == 302
    assert client.get("/calendar").status_code == 302
    assert _audit(ws)[-1].to_state == "signed_out"


def test_a_password_change_ends_sessions_opened_with_the_old_one(ws: Workspace) -> None:
    laptop = ws.client("anna")
    admin = ws.client("admin")
    post_form(admin, "/users/anna", {"action": "password"}, page="/users")
    assert laptop.get("/calendar").status_code == 302


def test_a_disabled_person_is_signed_out_at_the_next_request(ws: Workspace) -> None:
    client = ws.client("pavel")
    admin = ws.client("admin")
    assert post_form(admin, "/users/pavel", {"action": "disable"}, page="/users").status_code == 302
    assert client.get("/calendar").status_code == 302
    assert login(ws.client(), "pavel").status_code == 200  # refused: the form again


def test_single_sign_on_header_is_believed_only_from_the_proxy(ws: Workspace) -> None:
    app = build(
        ws.engine,
        ws.clock,
        trusted_header="X-Remote-User",
        trusted_proxies=(ipaddress.ip_network("10.0.0.5/32"),),
    )
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    via_proxy = app.test_client().get(
        "/calendar", headers={"X-Remote-User": "amir"}, environ_base=proxy
    )
    assert via_proxy.status_code == 200 and "Amir Ambassador" in via_proxy.get_data(as_text=True)
    direct = app.test_client().get("/calendar", headers={"X-Remote-User": "amir"})
    assert direct.status_code == 302  # not from the proxy: ignored
    unknown = app.test_client().get(
        "/calendar", headers={"X-Remote-User": "mallory"}, environ_base=proxy
    )
    assert unknown.status_code == 302


def test_behind_the_proxy_throttling_counts_the_browser_address(ws: Workspace) -> None:
    app = build(ws.engine, ws.clock, trusted_proxies=(ipaddress.ip_network("10.0.0.5/32"),))
    client = app.test_client()
    token = csrf_token(client)
    client.post(
        "/login",
        data={"username": "x", "password": "y", "csrf_token": token},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
        headers={"X-Forwarded-For": "198.51.100.7, 10.0.0.5"},
    )
    with session_factory(ws.engine)() as s:
        assert s.get(LoginThrottle, "address:198.51.100.7") is not None


def test_passwords_are_changed_by_their_owner_with_the_current_one(ws: Workspace) -> None:
    client = ws.client("anna")
    wrong = post_form(
        client,
        "/me/password",
        {"current": "nope", "new": "a new long password", "again": "a new long password"},
        page="/me",
    )
    assert wrong.status_code == 302
    assert login(ws.client(), "anna").status_code == 302  # unchanged
    post_form(
        client,
        "/me/password",
        {"current": PASSWORD, "new": "a new long password", "again": "a new long password"},
        page="/me",
    )
    assert login(ws.client(), "anna", "a new long password").status_code == 302
    with session_factory(ws.engine)() as s:
        assert (
            people.authenticate(s, "anna", "a new long password", now=ws.clock()).username == "anna"
        )
