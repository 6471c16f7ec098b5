"""The pages as the office uses them: the calendar in the viewer's time zone with the audience's
local time, a post's text as each channel will publish it, campaign uploads from file to plan to
applied version, approvals, operations, reports, the audit log, users, languages."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.schema import CampaignUpload, Channel, Delivery, Post
from campaigns.store import session_factory
from tests.conftest import EXAMPLES
from tests.web.conftest import Workspace, approve_fully, build, post_form


def _post_id(ws: Workspace, key: str) -> int:
    with session_factory(ws.engine)() as s:
        found = s.scalar(select(Post.id).where(Post.key == key))
    assert found is not None
    return found


def test_month_calendar_shows_deliveries_in_the_viewers_zone_with_the_audiences_time(
    ws: Workspace,
) -> None:
    british = ws.client("pavel")
    british.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB,en;q=0.8"
    page = british.get("/calendar?date=2027-03-21").get_data(as_text=True)
    assert "March 2027" in page
    # Nauryz 10:00 in Berlin, seen from Berlin (the office's zone): both 10:00.
    assert re.search(
        r'class="ev state-draft".*?<span class="t">10:00</span>\s*<span class="what">nauryz',
        page,
        re.S,
    )
    shanghai = ws.client("pavel")
    shanghai.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB"
    shanghai.set_cookie("elshi_tz", "Asia/Shanghai")
    page = shanghai.get("/calendar?date=2027-03-21").get_data(as_text=True)
    # 10:00 in Berlin is 17:00 in Shanghai; the audience's own time stays beside it.
    assert re.search(
        r'<span class="t">17:00</span>\s*<span class="what">nauryz</span>\s*<span class="where">de-x · 10:00 Berlin',
        page,
    )


def test_every_date_on_a_page_follows_the_viewers_locale(ws: Workspace) -> None:
    """One form per locale on every page (Babel's patterns): en-US month first with a 12-hour
    clock, en-GB day first with a 24-hour clock, Russian its own way — in the calendar, the
    post's deliveries, its decisions and the audience's local time alike."""
    post = _post_id(ws, "nauryz")
    approve_fully(ws, post)
    forms = {
        "en-US": (
            "10:00\u202fAM",
            "Sun, Mar 21, 2027, 10:00\u202fAM",
            "Mar 1, 2027, 10:00\u202fAM",
        ),
        "en-GB": ("10:00", "Sun, 21 Mar 2027, 10:00", "1 Mar 2027, 10:00"),
        "ru": ("10:00", "вс, 21 мар. 2027\u202fг., 10:00", "1 мар. 2027\u202fг., 10:00"),
    }
    for language, (clock, due, decided) in forms.items():
        client = ws.client("pavel")
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
        calendar = client.get("/calendar?date=2027-03-21").get_data(as_text=True)
        assert re.search(rf'<span class="t">{clock}</span>\s*<span class="what">nauryz', calendar)
        page = client.get(f"/posts/{post}").get_data(as_text=True)
        assert due in page, language
        # The decisions (made at the clock's 09:00 UTC = 10:00 in Berlin) read the same way.
        decisions = page[page.index('id="decisions"') :]
        assert decided in decisions, language
        assert "2027-03-01" not in decisions and "01 Mar" not in decisions
    # Operations lists the audience's own time the same way (not the stored ISO form).
    ops = ws.client("olga")
    ops.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB"
    page = ops.get("/operations").get_data(as_text=True)
    assert "Sun 21 Mar, 10:00 Europe/Berlin" in page and "2027-03-21 10:00" not in page


def test_an_empty_period_points_to_the_next_or_last_delivery(ws: Workspace) -> None:
    """A newcomer opening a workspace whose campaigns lie ahead (or behind) is not left with an
    empty month: the page links to the nearest period with deliveries, within the filter."""
    client = ws.client("pavel")
    before = client.get("/calendar?date=2026-11-15").get_data(as_text=True)
    assert "0 deliveries" in before and "The next delivery is due on" in before
    first = re.search(r'href="/calendar\?date=(\d{4}-\d\d-\d\d)">The next', before)
    assert first is not None and first.group(1).startswith("2027-")
    there = client.get(f"/calendar?date={first.group(1)}").get_data(as_text=True)
    assert re.search(r"[1-9]\d* deliver(y|ies) ·", there)
    after = client.get("/calendar?view=list&date=2028-06-01").get_data(as_text=True)
    assert "The last delivery was due on" in after
    filtered = client.get("/calendar?date=2026-11-15&channel=nowhere").get_data(as_text=True)
    assert "The next delivery" not in filtered and "The last delivery" not in filtered


def test_calendar_filters_by_channel_and_state_and_has_week_and_list_views(ws: Workspace) -> None:
    client = ws.client("pavel")
    only_x = client.get("/calendar?date=2027-03-21&channel=de-x").get_data(as_text=True)
    assert "de-x ·" in only_x and "de-mastodon ·" not in only_x
    nothing = client.get("/calendar?date=2027-03-21&state=published").get_data(as_text=True)
    assert "0 deliveries" in nothing
    week = client.get("/calendar?view=week&date=2027-03-21").get_data(as_text=True)
    assert "calendar week" in week and "nauryz" in week
    listed = client.get("/calendar?view=list&date=2027-03-21&country=DE").get_data(as_text=True)
    assert '<table class="data">' in listed and "nauryz" in listed
    assert client.get("/calendar?view=year").status_code == 400


def test_post_page_shows_each_channels_text_with_its_count_and_limit(ws: Workspace) -> None:
    page = ws.client("pavel").get(f"/posts/{_post_id(ws, 'year-opening')}").get_data(as_text=True)
    assert "text written for x" in page and "default text" in page
    assert re.search(r"\d+ / 280", page) and re.search(r"\d+ / 500", page)
    assert "utm_source=de-x" in page and "#Kasachstan" in page
    assert "flag-sun.png" in page


def test_over_limit_text_is_marked(ws: Workspace) -> None:
    with session_factory(ws.engine)() as s:
        d = s.scalars(
            select(Delivery)
            .join(Delivery.channel)
            .where(Post.key == "year-opening")
            .join(Delivery.post)
        ).first()
        assert d is not None
        d.text = "x" * 400
        post_id = d.post_id
        s.commit()
    page = ws.client("pavel").get(f"/posts/{post_id}").get_data(as_text=True)
    assert "over the limit" in page and 'class="posttext over"' in page


def test_upload_plan_apply_keeps_every_version_and_downloads_it(ws: Workspace) -> None:
    client = ws.client("anna")
    text = (EXAMPLES / "germany.yaml").read_text(encoding="utf-8")
    changed = text.replace("Willkommen im Jahr 2027!", "Willkommen im neuen Jahr 2027!")
    media = [(io.BytesIO(p.read_bytes()), p.name) for p in (EXAMPLES / "media").glob("*.png")]
    response = post_form(
        client,
        "/campaigns/upload",
        {"file": (io.BytesIO(changed.encode()), "germany.yaml"), "media": media},
        page="/campaigns",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    plan = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "~ 1 to change" in plan or "to change" in plan
    assert "year-opening" in plan
    upload_id = response.headers["Location"].rsplit("/", 1)[-1]
    applied = post_form(client, f"/campaigns/uploads/{upload_id}/apply", {}, page="/campaigns")
    assert applied.status_code == 302
    show = client.get("/campaigns/de-2027-gateway").get_data(as_text=True)
    assert "v1" in show
    download = client.get("/campaigns/de-2027-gateway/file?version=1")
    assert download.data == changed.encode()
    # A second upload without images reuses the first version's.
    again = post_form(
        client,
        "/campaigns/upload",
        {"file": (io.BytesIO(text.encode()), "germany.yaml")},
        page="/campaigns",
    )
    assert again.status_code == 302, again.get_data(as_text=True)[:3000]
    second = again.headers["Location"].rsplit("/", 1)[-1]
    post_form(client, f"/campaigns/uploads/{second}/apply", {}, page="/campaigns")
    with session_factory(ws.engine)() as s:
        versions = s.scalars(select(CampaignUpload.version).order_by(CampaignUpload.id)).all()
        paths = {p for d in s.scalars(select(Delivery)) for p in d.media}
    assert versions == [1, 2]
    # Deliveries refer to the media store by hash (campaigns.media), not to a folder.
    from campaigns.media import is_reference

    assert paths and all(is_reference(p) for p in paths)
    assert client.get("/campaigns/de-2027-gateway/file").data == text.encode()


def test_approve_and_reject_with_a_comment(ws: Workspace) -> None:
    post_id = _post_id(ws, "nauryz")
    client = ws.client("pavel")
    refused = post_form(client, f"/posts/{post_id}/decide", {"decision": "reject"})
    assert refused.status_code == 422  # the post's page again, with the reason
    assert "Say why you reject it" in refused.get_data(as_text=True)
    post_form(client, f"/posts/{post_id}/decide", {"decision": "reject", "comment": "tone"})
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "rejected" in page and "tone" in page
    post_form(client, f"/posts/{post_id}/decide", {"decision": "approve"})
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert "approved by pavel" in page and "step-current" in page  # the ambassador's turn
    # Pavel is not offered the next step: each step needs a different person.
    assert 'value="approve"' not in page and "you approved an earlier step" in page
    own = post_form(client, f"/posts/{post_id}/decide", {"decision": "approve"})
    assert own.status_code == 422
    assert "each step needs a different person" in own.get_data(as_text=True)
    post_form(ws.client("amir"), f"/posts/{post_id}/decide", {"decision": "approve"})
    with session_factory(ws.engine)() as s:
        post = s.get(Post, post_id)
        assert post is not None and post.approval == "approved"
        assert {d.state for d in post.deliveries} == {"approved"}


def test_queue_lists_waiting_posts_soonest_first_and_bulk_approves_after_confirming(
    ws: Workspace,
) -> None:
    client = ws.client("pavel")
    page = client.get("/approvals").get_data(as_text=True)
    keys = re.findall(r'<a href="/posts/\d+">([a-z0-9-]+)</a>', page)
    assert len(keys) >= 3 and "Press secretary" in page
    ids = [str(_post_id(ws, k)) for k in keys[:3]]
    confirm = post_form(client, "/approvals/bulk", {"post": ids}, page="/approvals")
    assert confirm.status_code == 200 and "Approve 3 posts?" in confirm.get_data(as_text=True)
    with session_factory(ws.engine)() as s:
        assert s.get(Post, int(ids[0])).approval == "pending"  # type: ignore[union-attr]
    post_form(client, "/approvals/bulk", {"post": ids, "confirmed": "yes"}, page="/approvals")
    # Their next step waits for someone else: gone from Pavel's queue, in Amir's.
    assert not set(keys[:3]) & set(
        re.findall(
            r'<a href="/posts/\d+">([a-z0-9-]+)</a>',
            client.get("/approvals").get_data(as_text=True),
        )
    )
    amir = ws.client("amir")
    assert "Ambassador" in amir.get("/approvals").get_data(as_text=True)
    post_form(amir, "/approvals/bulk", {"post": ids, "confirmed": "yes"}, page="/approvals")
    with session_factory(ws.engine)() as s:
        assert {s.get(Post, int(i)).approval for i in ids} == {"approved"}  # type: ignore[union-attr]


def test_operations_shows_status_and_cancels_and_retries(ws: Workspace) -> None:
    approve_fully(ws, _post_id(ws, "nauryz"))
    client = ws.client("olga")
    page = client.get("/operations").get_data(as_text=True)
    assert "No daemon is running" in page and "Coming next" in page
    with session_factory(ws.engine)() as s:
        first = s.scalars(select(Delivery.id).where(Delivery.state == "approved")).first()
    form = {"action": "cancel", "delivery": str(first), "reason": "venue changed"}
    post_form(client, "/operations/deliveries", form, page="/operations")
    with session_factory(ws.engine)() as s:
        assert s.get(Delivery, first).state == "cancelled"  # type: ignore[union-attr]
    refused = post_form(
        client,
        "/operations/deliveries",
        {"action": "retry", "delivery": str(first)},
        page="/operations",
    )
    assert refused.status_code == 422  # the state machine's refusal is shown, not a crash
    assert "cannot" in refused.get_data(as_text=True)


def _channels_card(page: str) -> str:
    """The text of the operations page's card of paused and waiting channels."""
    card = page[page.index('<section class="card" id="channels">') :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card[: card.index("</section>")]))


def test_operations_says_why_each_channel_waits(ws: Workspace) -> None:
    """A channel the platform rate-limited, one whose platform was unavailable (a 503 with
    Retry-After), and one blocked without a recorded cause: each says what happened, in the
    viewer's language."""
    from datetime import timedelta

    from connectors.base import RateLimitedError, TransientError
    from scheduler.dispatch import block_channel

    now = ws.clock()
    answers = {
        "de-x": RateLimitedError("Too many requests", retry_after=600),
        "de-mastodon": TransientError("503 Service Unavailable", status=503, retry_after=600),
    }
    with session_factory(ws.engine)() as s:
        for name in ("de-x", "de-mastodon", "de-bluesky"):
            channel = s.scalars(select(Channel).where(Channel.name == name)).one()
            if name in answers:
                block_channel(
                    s, channel, now + timedelta(minutes=10), answers[name], now, actor="t"
                )
            else:
                channel.blocked_until = now + timedelta(minutes=10)
        s.commit()
    client = ws.client("olga")
    card = _channels_card(client.get("/operations").get_data(as_text=True))
    assert "Paused and waiting channels" in card
    assert "de-x · rate-limited until Mar 1, 2027, 10:10 AM" in card, card
    assert (
        "de-mastodon · the platform is unavailable until Mar 1, 2027, 10:10 AM (HTTP 503)" in card
    )
    assert "de-bluesky · the platform asked us to wait until Mar 1, 2027, 10:10 AM" in card
    post_form(client, "/me", {"language": "ru", "timezone": "Europe/Berlin"}, page="/me")
    card = _channels_card(client.get("/operations").get_data(as_text=True))
    assert "Приостановленные и ожидающие каналы" in card
    assert "de-x · платформа ограничила частоту запросов до" in card
    assert "de-mastodon · платформа недоступна до" in card and "(HTTP 503)" in card
    assert "de-bluesky · платформа попросила подождать до" in card


def test_reports_page_and_downloads(ws: Workspace) -> None:
    client = ws.client("marat")
    page = client.get("/reports?campaign=de-2027-gateway").get_data(as_text=True)
    assert '<iframe class="report"' in page
    document = client.get("/reports/document?campaign=de-2027-gateway")
    assert (
        document.status_code == 200
        and "frame-ancestors 'self'" in document.headers["Content-Security-Policy"]
    )
    assert document.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get("/reports/download.xlsx").data[:2] == b"PK"
    assert client.get("/reports/download.json").json is not None


def test_audit_page_filters_by_person_and_kind(ws: Workspace) -> None:
    post_form(
        ws.client("pavel"), f"/posts/{_post_id(ws, 'nauryz')}/decide", {"decision": "approve"}
    )
    page = ws.client("admin").get("/audit?actor=user:pavel&entity=post").get_data(as_text=True)
    assert "user:pavel" in page and "approved" in page and "user:anna" not in page


def test_admin_adds_a_person_who_sees_a_one_time_password_once(ws: Workspace) -> None:
    client = ws.client("admin")
    form = {"username": "zhanna", "display_name": "Zhanna", "roles": ["approver"]}
    done = post_form(client, "/users", form, page="/users")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    password = re.search(r"One-time password for zhanna \(shown once\): (\S+)</div>", page)
    assert password
    assert password.group(1) not in client.get("/users").get_data(as_text=True)
    from tests.web.conftest import login

    assert login(ws.client(), "zhanna", password.group(1)).status_code == 302


def test_approve_and_reject_are_offered_only_while_a_step_waits_for_the_viewer(
    ws: Workspace,
) -> None:
    from campaigns import people

    post_id = _post_id(ws, "nauryz")
    buttons = ('value="approve"', 'value="reject"')
    waiting = ws.client("pavel").get(f"/posts/{post_id}").get_data(as_text=True)
    assert all(b in waiting for b in buttons)
    # The author, even with the approver role, is told why instead of being offered buttons.
    with session_factory(ws.engine)() as s:
        admin = people.Person.of(people.get_user(s, "admin"))
        people.update_user(s, "anna", roles=["author", "approver"], by=admin, now=ws.clock())
        s.commit()
    own = ws.client("anna").get(f"/posts/{post_id}").get_data(as_text=True)
    assert not any(b in own for b in buttons)
    assert "you uploaded or changed this post" in own
    approve_fully(ws, post_id)
    for person in ("pavel", "amir", "anna"):
        done = ws.client(person).get(f"/posts/{post_id}").get_data(as_text=True)
        assert not any(b in done for b in buttons), person
        assert "approved by amir" in done


def test_resolve_reads_the_remote_id_from_the_channels_permalink_and_refuses_a_foreign_link(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator pastes the post's address: the channel's connector (the same reader as
    `elshi deliveries resolve`) turns it into the remote id; another platform's link is
    refused with the reason and nothing changes."""
    from elshi.config import load_config
    from elshi.runtime import permalink_reader

    monkeypatch.setenv("ELSHI_TEST_X_TOKEN", "t")
    config_path = tmp_path / "elshi.toml"
    config_path.write_text(
        '[channels.de-x]\nplatform = "x"\ntoken_env = "ELSHI_TEST_X_TOKEN"\n', encoding="utf-8"
    )
    config = load_config(config_path)
    app = build(ws.engine, ws.clock, permalinks=permalink_reader(config, ws.clock))
    client = Workspace(app, ws.engine, ws.clock).client("olga")
    approve_fully(ws, _post_id(ws, "nauryz"))
    with session_factory(ws.engine)() as s:
        first = s.scalars(
            select(Delivery)
            .join(Delivery.channel)
            .where(Delivery.state == "approved", Channel.name == "de-x")
        ).first()
        assert first is not None
        first.state = "needs_review"
        delivery_id = first.id
        s.commit()
    page = client.get("/operations").get_data(as_text=True)
    assert 'name="remote_id"' in page and f'value="{delivery_id}"' in page

    foreign = "https://mastodon.social/@botschaft/1131"
    form = {"action": "resolve-published", "delivery": str(delivery_id), "url": foreign}
    shown = post_form(client, "/operations/deliveries", form, page="/operations")
    assert shown.status_code == 422
    assert "is not the permalink of a post on X" in shown.get_data(as_text=True)
    with session_factory(ws.engine)() as s:
        assert s.get(Delivery, delivery_id).state == "needs_review"  # type: ignore[union-attr]

    # The API goes through the same reader: 409 with the reason, nothing changed.
    from tests.web.test_api import _token

    api = Workspace(app, ws.engine, ws.clock).client()
    refused = api.post(
        f"/api/v1/deliveries/{delivery_id}/resolve",
        headers=_token(ws, "olga"),
        json={"published_url": foreign},
    )
    assert refused.status_code == 409, refused.json
    assert "is not the permalink of a post on X" in refused.json["message"]  # type: ignore[index]
    assert (
        api.post(
            f"/api/v1/deliveries/{delivery_id}/resolve",
            headers=_token(ws, "olga"),
            json={"published_url": foreign, "remote_id": 7},
        ).status_code
        == 400
    )

    permalink = "https://x.com/botschaft/status/1234567890"
    form["url"] = permalink
    post_form(client, "/operations/deliveries", form, page="/operations")
    with session_factory(ws.engine)() as s:
        done = s.get(Delivery, delivery_id)
        assert done is not None and done.state == "published"
        assert done.remote_id == "1234567890" and done.remote_url == permalink


def test_reports_read_like_elshi_report_period_and_report_time_apart(ws: Workspace) -> None:
    """The page and its downloads go through `reports.request.build`, as `elshi report` does:
    the period's end day is included, the report time is not clamped to it, and a sandbox
    channel shows the platform it imitates."""
    client = ws.client("marat")
    query = "campaign=de-2027-gateway&since=2027-03-01&until=2027-03-31&as_of=2027-04-30"
    data = client.get(f"/reports/download.json?{query}").json
    assert data["as_of"] == "2027-05-01T00:00:00+00:00"  # the end of the chosen day, not 03-31
    assert data["period_until"].startswith("2027-04-01")
    assert "sandbox imitating x" in str(data)
    # Without a report time: now (the clock), or the workspace's default (a demo's rehearsal).
    assert client.get("/reports/download.json").json["as_of"].startswith("2027-03-01T09:00")
    rehearsed = build(ws.engine, ws.clock, report_as_of=datetime(2027, 12, 31, 23, tzinfo=UTC))
    demo = Workspace(rehearsed, ws.engine, ws.clock).client("marat")
    assert demo.get("/reports/download.json").json["as_of"].startswith("2027-12-31T23:00")
    assert "the end of its rehearsal" in demo.get("/reports").get_data(as_text=True)
    # The filters every page has: campaign, country, audience, channel (a report counts what
    # was published; the state filter is not one of its choices).
    page = client.get("/reports").get_data(as_text=True)
    for name in ("campaign", "country", "audience", "channel"):
        assert f'<select name="{name}"' in page, name
    scoped = client.get("/reports/download.json?country=de&channel=de-x").json
    assert "country DE" in scoped["scope"] and "channel de-x" in scoped["scope"]
    assert client.get("/reports?channel=de-tiktok").status_code == 404
    assert client.get("/reports?since=2027-03-31&until=2027-03-01").status_code == 400
    assert client.get("/reports/download.csv?until=tomorrow").status_code == 400
