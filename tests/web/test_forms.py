"""Forms as people meet them: a refused form comes back with what was typed (never an empty
form to fill again), every field has a label a screen reader can say, every button that
cancels, rejects, disables, revokes or replaces something asks first, and the page a form
returns to is always on this site."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from campaigns import people
from campaigns.schema import Delivery, Post
from campaigns.store import session_factory
from tests.web.conftest import Workspace, approve_fully, post_form

HOSTILE = '"><b>x</b> Grüße 你好'
"""Typed text that must come back exactly, escaped, in any language."""


def _post_id(ws: Workspace, key: str) -> int:
    with session_factory(ws.engine)() as s:
        found = s.scalar(select(Post.id).where(Post.key == key))
    assert found is not None
    return found


def _approved_delivery(ws: Workspace) -> int:
    approve_fully(ws, _post_id(ws, "nauryz"))
    with session_factory(ws.engine)() as s:
        found = s.scalars(select(Delivery.id).where(Delivery.state == "approved")).first()
    assert found is not None
    return found


class _Form(HTMLParser):
    """The form fields and buttons of a page, with whether each field has a label."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._in_label = 0
        self._label_for: set[str] = set()
        self._fields: list[tuple[dict[str, str], bool]] = []
        self.buttons: list[dict[str, str]] = []
        self.values: dict[str, list[str]] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "label":
            self._in_label += 1
            if a.get("for"):
                self._label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if tag == "textarea":
                self._textarea = a.get("name", "")
            if a.get("type") in ("hidden", "submit", "button"):
                return
            self._fields.append((a, self._in_label > 0))
            if tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
                self.values.setdefault(a.get("name", ""), []).append(a.get("value", ""))
        elif tag == "option" and "selected" in a:
            self.values.setdefault("option", []).append(a.get("value", ""))
        elif tag == "button":
            self.buttons.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values.setdefault(self._textarea, []).append(data)

    def unlabelled(self) -> list[dict[str, str]]:
        return [
            a
            for a, inside in self._fields
            if not inside
            and not a.get("aria-label")
            and not a.get("aria-labelledby")
            and a.get("id") not in self._label_for
        ]


def _form(page: str) -> _Form:
    parsed = _Form()
    parsed.feed(page)
    return parsed


def _flash(page: str) -> str:
    return " ".join(
        html.unescape(m) for m in re.findall(r'class="flash flash-error"[^>]*>(.*?)</', page, re.S)
    )


# --- a refused form comes back as it was typed ---------------------------------------------


def test_a_refused_new_person_comes_back_with_the_name_email_and_roles_typed(
    ws: Workspace,
) -> None:
    admin = ws.client("admin")
    sent = {
        "username": "anna",  # exists already
        "display_name": HOSTILE,
        "email": "anna.two@example.org",
        "roles": ["approver", "manager"],
    }
    refused = post_form(admin, "/users", sent, page="/users")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "user 'anna' exists already" in _flash(page)
    values = _form(page[page.index('action="/users" class="stack"') :]).values  # the new person
    assert values["username"] == ["anna"] and values["display_name"] == [HOSTILE]
    assert values["email"] == ["anna.two@example.org"]
    assert set(values["roles"]) == {"approver", "manager"}  # the ticked boxes, ticked again
    assert "<b>x</b>" not in page  # typed back as text, never as markup
    with session_factory(ws.engine)() as s:
        assert people.get_user(s, "anna").display_name == "Anna Author"  # type: ignore[union-attr]


def test_a_refused_decision_keeps_its_comment(ws: Workspace) -> None:
    post_id = _post_id(ws, "nauryz")
    pavel = ws.client("pavel")
    post_form(pavel, f"/posts/{post_id}/decide", {"decision": "approve"})
    comment = f"zweiter Schritt: {HOSTILE}"
    refused = post_form(
        pavel, f"/posts/{post_id}/decide", {"decision": "approve", "comment": comment}
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "each step needs a different person" in _flash(page)
    # No form for pavel any more (the page says why), but what he wrote is still in front of him.
    assert _form(page).values["comment"] == [comment] and "<b>x</b>" not in page
    assert "Your comment (not saved)" in page and 'value="approve"' not in page


def test_a_refused_pause_keeps_its_target_and_reason_and_no_other_field_gets_them(
    ws: Workspace,
) -> None:
    _approved_delivery(ws)  # so the page has a "Coming next" list with its own reason field
    olga = ws.client("olga")
    sent = {"what": "channel:no-such-channel", "reason": f"Staatstrauer {HOSTILE}"}
    refused = post_form(olga, "/operations/pause", sent, page="/operations")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "no-such-channel" in _flash(page)
    reasons = _form(page).values["reason"]
    assert reasons.count(sent["reason"]) == 1 and len(reasons) >= 2, reasons
    kept = post_form(
        olga, "/operations/pause", {"what": "country:DE", "reason": "   "}, page="/operations"
    )
    assert 'value="country:DE" selected' in kept.get_data(as_text=True)


def test_refused_delivery_actions_keep_the_ticks_and_the_typed_fields(ws: Workspace) -> None:
    delivery = _approved_delivery(ws)
    olga = ws.client("olga")
    untick = {"action": "cancel", "reason": "Raum abgesagt"}
    refused = post_form(olga, "/operations/deliveries", untick, page="/operations")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Tick at least one delivery" in _flash(page)
    assert "Raum abgesagt" in _form(page).values["reason"]
    retry = {"action": "retry", "delivery": str(delivery)}
    refused = post_form(olga, "/operations/deliveries", retry, page="/operations")
    assert refused.status_code == 422
    assert _form(refused.get_data(as_text=True)).values["delivery"] == [str(delivery)]
    with session_factory(ws.engine)() as s:
        assert s.get(Delivery, delivery).state == "approved"  # type: ignore[union-attr]


def test_a_refused_bulk_approval_comes_back_with_the_same_posts_ticked(ws: Workspace) -> None:
    pavel = ws.client("pavel")
    keys = re.findall(r'<a href="/posts/\d+">([a-z0-9-]+)</a>', pavel.get("/approvals").text)
    ids = [str(_post_id(ws, k)) for k in keys[:3]]
    post_form(pavel, f"/posts/{ids[0]}/decide", {"decision": "approve"})  # in another tab
    sent = {"post": ids, "confirmed": "yes"}
    refused = post_form(pavel, "/approvals/bulk", sent, page="/approvals")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "each step needs a different person" in _flash(page)
    assert _form(page).values["post"] == ids[1:]  # the two still his, ticked again
    with session_factory(ws.engine)() as s:
        assert {s.get(Post, int(i)).approval for i in ids[1:]} == {"pending"}  # type: ignore[union-attr]


def test_a_refused_upload_keeps_the_campaign_chosen_for_the_spreadsheet(ws: Workspace) -> None:
    import io

    data = {"file": (io.BytesIO(b"<p>not a calendar</p>"), "plan.html"), "base": "de-2027-gateway"}
    refused = post_form(ws.client("anna"), "/campaigns/upload", data, page="/campaigns")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "plan.html" in _flash(page)
    assert _form(page).values["option"] == ["de-2027-gateway"]


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name}"
    return html.unescape(found.group(1))


def _posts_listed(page: str) -> list[str]:
    return re.findall(r'<a href="(/posts/\d+)">', page)


def test_a_refused_form_comes_back_with_the_filters_the_page_had(ws: Workspace) -> None:
    pavel = ws.client("pavel")
    address = "/approvals?campaign=de-2027-gateway&channel=de-telegram"
    shown = pavel.get(address).text
    assert _hidden(shown, "back") == address  # the form knows the page it is on
    everything = _posts_listed(pavel.get("/approvals").text)
    assert 0 < len(_posts_listed(shown)) < len(everything)  # the filter keeps some posts
    refused = post_form(pavel, "/approvals/bulk", {"back": address}, page=address)  # none ticked
    assert refused.status_code == 422
    page = refused.text
    assert "Tick the posts to approve" in _flash(page)
    assert _posts_listed(page) == _posts_listed(shown)
    assert 'value="de-telegram" selected' in page
    assert _hidden(page, "back") == address  # a second try still goes back there
    # Confirmed and accepted: back to the same filtered tab.
    ids = [u.rsplit("/", 1)[1] for u in _posts_listed(shown)[:1]]
    done = post_form(
        pavel, "/approvals/bulk", {"back": address, "post": ids, "confirmed": "yes"}, page=address
    )
    assert done.status_code == 302 and done.headers["Location"] == address

    delivery = _approved_delivery(ws)
    olga = ws.client("olga")
    address = "/operations?channel=de-x&state=approved"
    shown = olga.get(address).text
    assert _hidden(shown, "back") == address
    for path, form in (
        ("/operations/deliveries", {"action": "retry"}),  # nothing ticked
        ("/operations/pause", {"what": "channel:no-such-channel", "reason": "r"}),
    ):
        refused = post_form(olga, path, {**form, "back": address}, page=address)
        assert refused.status_code == 422, path
        page = refused.text
        assert 'value="de-x" selected' in page and 'value="approved" selected' in page, path
        assert _hidden(page, "back") == address
    cancelled = post_form(
        olga,
        "/operations/deliveries",
        {"action": "cancel", "delivery": str(delivery), "reason": "x", "back": address},
        page=address,
    )
    assert cancelled.headers["Location"] == address


# --- the page a form returns to is on this site ----------------------------------------------


@pytest.mark.parametrize(
    "back", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_after_an_action_the_page_returned_to_is_on_this_site(ws: Workspace, back: str) -> None:
    delivery = _approved_delivery(ws)
    olga = ws.client("olga")
    form = {"action": "cancel", "delivery": str(delivery), "reason": "x", "back": back}
    done = post_form(olga, "/operations/deliveries", form, page="/operations")
    assert done.status_code == 302 and done.headers["Location"] == "/operations"
    resumed = post_form(
        olga, "/operations/channels/de-x/resume", {"back": back}, page="/operations"
    )
    assert resumed.headers["Location"] == "/operations"
    kept = post_form(
        olga,
        "/operations/channels/de-x/resume",
        {"back": "/operations?channel=de-x"},
        page="/operations",
    )
    assert kept.headers["Location"] == "/operations?channel=de-x"


# --- labels and confirmations on every page ---------------------------------------------------

PAGES = {
    "anna": ("/calendar", "/approvals", "/campaigns", "/operations", "/me"),
    "pavel": ("/approvals", "/approvals/expired", "/posts/{post}"),
    "olga": ("/operations",),
    "marat": ("/reports", "/audit"),
    "admin": ("/users", "/me"),
}
DESTRUCTIVE = {
    ("decision", "reject"),
    ("action", "cancel"),
    ("action", "disable"),
    ("action", "revoke"),
    ("action", "password"),
    ("action", "resolve-published"),
    ("action", "resolve-not-published"),
    ("go", "1"),  # the kill switch
}
"""Buttons whose action cannot be taken back with one click (or that publish twice if wrong)."""


def test_every_field_has_a_label_and_every_destructive_button_asks_first(ws: Workspace) -> None:
    post_id = _post_id(ws, "middle-corridor")
    first = _approved_delivery(ws)
    with session_factory(ws.engine)() as s:
        s.get(Delivery, first).state = "needs_review"  # type: ignore[union-attr]
        people.issue_token(
            s, "marat", name="crm", by=people.Person.of(people.get_user(s, "admin")), now=ws.clock()
        )
        s.commit()
    seen: set[tuple[str, str]] = set()
    for user, pages in PAGES.items():
        client = ws.client(user)
        for path in pages:
            response = client.get(path.format(post=post_id))
            assert response.status_code == 200, (user, path)
            form = _form(response.get_data(as_text=True))
            assert not form.unlabelled(), (user, path, form.unlabelled())
            for button in form.buttons:
                kind = (button.get("name", ""), button.get("value", ""))
                seen.add(kind)
                if kind in DESTRUCTIVE or "danger" in button.get("class", "").split():
                    assert button.get("data-confirm"), (user, path, button)
    assert seen >= DESTRUCTIVE, DESTRUCTIVE - seen  # every kind was on a page checked


# --- report choices that make no report -------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "why"),
    [
        ({"since": "2027-06-01", "until": "2027-03-01"}, 400, "“From” is after “To”"),
        ({"since": "2027-02-30", "until": "2027-03-01"}, 400, "“From” must be a day"),
        ({"as_of": "1.3.2027", "until": "2027-03-01"}, 400, "“Counters as of” must be a day"),
        ({"campaign": "gone", "since": "2027-01-01"}, 404, "No such campaign"),
    ],
)
def test_report_choices_that_make_no_report_stay_on_the_page_with_why(
    ws: Workspace, query: dict[str, str], status: int, why: str
) -> None:
    marat = ws.client("marat")
    answer = marat.get("/reports", query_string=query)
    page = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert why in _flash(page)
    values = _form(page).values
    for name in ("since", "until", "as_of"):  # the choices as made, to correct one of them
        assert values[name] == [query.get(name, "")], name
    assert "<iframe" not in page and "/reports/download." not in page
    # The frame and the downloads refuse the same choices with the same reason.
    assert marat.get("/reports/document", query_string=query).status_code == status
    assert why in marat.get("/reports/download.json", query_string=query).get_data(as_text=True)


# --- a person without a role ------------------------------------------------------------------


def test_a_person_is_added_and_kept_with_at_least_one_role(ws: Workspace) -> None:
    admin = ws.client("admin")
    none = post_form(admin, "/users", {"username": "nora", "display_name": "Nora"}, page="/users")
    assert none.status_code == 422
    assert "give nora at least one role" in _flash(none.get_data(as_text=True))
    unticked = post_form(admin, "/users/anna", {"action": "roles"}, page="/users")
    assert "give anna at least one role" in _flash(admin.get(unticked.headers["Location"]).text)
    with session_factory(ws.engine)() as s:
        assert people.get_user(s, "anna").roles == ["author"]
        assert s.scalar(select(people.User).where(people.User.username == "nora")) is None


def test_every_page_asks_for_a_role_as_the_api_does(ws: Workspace) -> None:
    """A person left without a role (added before roles were required) reads nothing but their
    own settings; the calendar and the post page let them read every post."""
    with session_factory(ws.engine)() as s:
        people.get_user(s, "anna").roles = []
        s.commit()
    anna = ws.client("anna")
    pages = sorted(
        rule.rule.replace("<int:post_id>", "1").replace("<campaign_id>", "de-2027-gateway")
        for rule in ws.app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and not rule.rule.startswith(("/api/", "/static/", "/login"))
        and "<" not in rule.rule.replace("<int:post_id>", "").replace("<campaign_id>", "")
    )
    assert "/calendar" in pages and "/posts/1" in pages
    opened = {page: anna.get(page).status_code for page in pages}
    assert {p for p, code in opened.items() if code not in (302, 403)} == {"/me"}, opened


def test_a_form_older_than_the_session_says_what_to_do_and_shows_what_was_written(
    ws: Workspace,
) -> None:
    """A session that ended while a comment was being written: the form is refused (403, no
    valid CSRF token), the page says what to do and shows the comment to copy."""
    pavel = ws.client("pavel")
    token = re.search(r'name="csrf_token" value="([^"]+)"', pavel.get("/posts/1").text)
    assert token
    pavel.post("/logout", data={"csrf_token": token.group(1)})
    comment = f"Bitte den Link prüfen {HOSTILE}"
    sent = {"decision": "reject", "comment": comment, "csrf_token": token.group(1)}
    refused = pavel.post("/posts/1/decide", data=sent)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert "Open the page again and send the form once more" in page
    assert _form(page).values["comment"] == [comment] and "<b>x</b>" not in page
    assert token.group(1) not in page


def test_an_api_token_is_issued_with_the_name_typed_beside_its_button(ws: Workspace) -> None:
    admin = ws.client("admin")
    users = admin.get("/users").text
    row = users[users.index('action="/users/marat"') :]
    assert 'name="name"' in row[: row.index('value="token"')]  # in the button's own form
    post_form(admin, "/users/marat", {"action": "token", "name": "CRM export"}, page="/users")
    unnamed = post_form(admin, "/users/marat", {"action": "token", "name": " "}, page="/users")
    assert "give the token a name" in _flash(admin.get(unnamed.headers["Location"]).text)
    with session_factory(ws.engine)() as s:
        assert [t.name for t in people.tokens(s, "marat")] == ["CRM export"]
