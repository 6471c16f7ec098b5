"""Only web addresses are stored as a published post's URL, whoever gives one: a platform's
answer is recorded without an unsafe address (the post exists, so it is still recorded), and an
operator's ``deliveries resolve --published`` with one is refused with nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.cli.conftest import fingerprint
from tests.scheduler.conftest import at, mastodon_channel, post_yaml
from tests.scheduler.test_daemon_cli import elshi


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'elshi.db'}"


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)", "https://x.example/1\r\nATTENDEE:mailto:a@b"]
)
def test_a_platform_url_that_is_not_a_web_address_is_not_stored(
    rig_factory: Any, mastodon: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    original = type(mastodon)._status_json

    def status_json(self: Any, post: dict[str, Any]) -> dict[str, Any]:
        return {**original(self, post), "url": url}

    monkeypatch.setattr(type(mastodon), "_status_json", status_json)
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().published == 1
    delivery = rig.delivery()
    assert delivery.state == "published" and delivery.remote_id == mastodon.posts[0]["id"]
    assert delivery.remote_url is None
    assert "URL was not stored" in rig.audit(delivery.id)[-1][2]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://mastodon.social/@b/1\r\nX-INJECTED:1",
        "data:text/html,<script>",
        "https://user:secret@mastodon.social/@b/1",
        "https://" + "a" * 3000 + ".example/1",
    ],
)
def test_resolve_with_an_unsafe_url_is_refused_and_changes_nothing(
    rig_factory: Any, mastodon: Any, tmp_path: Path, url: str
) -> None:
    from campaigns.schema import Delivery

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    with rig.sessions() as session:
        session.execute(update(Delivery).values(state="needs_review"))
        session.commit()
    rig.close()
    before = fingerprint(tmp_path / "elshi.db")
    result = elshi(rig, "deliveries", "resolve", "1", "--published", url)
    assert result.exit_code == 2, result.output
    assert "--published" in result.output and "Traceback" not in result.output
    assert fingerprint(tmp_path / "elshi.db") == before
    # A permalink on the channel's own instance (a link to another instance is refused).
    permalink = f"{mastodon.url}/@b/1"
    good = elshi(rig, "deliveries", "resolve", "1", "--published", permalink)
    assert good.exit_code == 0, good.output
    assert rig.delivery().remote_url == permalink
    assert rig.delivery().remote_id == "1"


def test_a_sandbox_post_is_resolved_with_its_outbox_page_which_is_not_stored(
    rig_factory: Any, tmp_path: Path
) -> None:
    """The sandbox's permalink is a file:// page: it names the post, but only web addresses are
    stored; a page outside the channel's outbox is refused with nothing changed."""
    from campaigns.schema import Delivery

    outbox = tmp_path / "outbox"
    rig = rig_factory({"de-sandbox": {"platform": "sandbox", "outbox": str(outbox)}})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    rig.run_until(at("2027-03-01T10:01:00"))
    published = rig.delivery()
    assert published.state == "published", rig.audit(1)
    # The sandbox gives no permalink: its publication's audit reads as a plain publication.
    assert published.remote_url is None
    assert "not stored" not in rig.audit(published.id)[-1][2], rig.audit(published.id)
    with rig.sessions() as session:  # as if its answer had been lost
        session.execute(update(Delivery).values(state="needs_review", remote_id=None))
        session.commit()
    rig.close()
    (page,) = outbox.rglob(f"{published.remote_id}.html")

    before = fingerprint(tmp_path / "elshi.db")
    foreign = elshi(
        rig, "deliveries", "resolve", "1", "--published", (tmp_path / "x.html").as_uri()
    )
    assert foreign.exit_code == 2, foreign.output
    assert "--published" in foreign.output and fingerprint(tmp_path / "elshi.db") == before

    good = elshi(rig, "deliveries", "resolve", "1", "--published", page.as_uri())
    assert good.exit_code == 0, good.output
    resolved = rig.delivery()
    assert (resolved.state, resolved.remote_id, resolved.remote_url) == (
        "published",
        published.remote_id,
        None,
    )


@pytest.mark.parametrize(
    ("remote_id", "words"),
    [("7" * 301, "the remote id is too long: at most 200"), ("1\x1b[2J", "U+001B")],
)
def test_resolve_with_an_odd_remote_id_is_refused_and_changes_nothing(
    rig_factory: Any, mastodon: Any, tmp_path: Path, remote_id: str, words: str
) -> None:
    """``--remote-id`` was stored as given: a terminal escape, or past the column's 300
    characters (a DataError traceback on PostgreSQL); the page cut it to 200."""
    from campaigns.schema import Delivery

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    with rig.sessions() as session:
        session.execute(update(Delivery).values(state="needs_review"))
        session.commit()
    rig.close()
    before = fingerprint(tmp_path / "elshi.db")
    permalink = f"{mastodon.url}/@b/1"
    result = elshi(
        rig, "deliveries", "resolve", "1", "--published", permalink, "--remote-id", remote_id
    )
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert fingerprint(tmp_path / "elshi.db") == before
