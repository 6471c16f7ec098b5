"""The daemon publishes media from the store: the bytes that were applied, wherever the campaign
folder went; a file missing from the store is a local failure (nothing is sent), not the
platform's refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from tests.connectors.files import png, png_bytes
from tests.scheduler.conftest import at, mastodon_channel, post_yaml


@pytest.fixture
def uploads(mastodon: Any) -> Any:
    """(size, pixel dimensions) of every file the Mastodon emulator received."""

    def received() -> list[tuple[int, Any]]:
        return [(m["size"], m["dimensions"]) for m in mastodon.media.values()]

    return received


def shape(data: bytes) -> tuple[int, Any]:
    import struct

    width, height = struct.unpack(">II", data[16:24])
    return (len(data), (width, height))


@pytest.fixture
def rig(rig_factory: Any, mastodon: Any, tmp_path: Path) -> Any:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.settings_overrides["media_cache"] = tmp_path / "cache"
    return rig


def test_media_are_published_from_the_store_after_the_folder_moved(
    rig: Any, mastodon: Any, uploads: Any, tmp_path: Path
) -> None:
    image = png(tmp_path / "yurt.png", 8, 8)
    applied = image.read_bytes()
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Jurte", media="[yurt.png]")])
    image.write_bytes(png_bytes(1, 1))  # the folder's copy changes after apply...
    image.rename(tmp_path / "moved.png")  # ...and is moved away
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().published == 1
    assert uploads() == [shape(applied)]
    [reference] = rig.delivery().media
    assert reference == f"{hashlib.sha256(applied).hexdigest()}/yurt.png"


def test_a_file_missing_from_the_store_fails_locally_and_sends_nothing(
    rig: Any, mastodon: Any, uploads: Any, tmp_path: Path
) -> None:
    from campaigns.schema import MediaBlob

    png(tmp_path / "yurt.png", 8, 8)
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Jurte", media="[yurt.png]")])
    with rig.sessions() as session:
        session.execute(delete(MediaBlob))
        session.commit()
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.failed == 1 and stats.published == 0
    assert mastodon.posts == [] and uploads() == []
    delivery = rig.delivery()
    assert delivery.state == "failed" and delivery.error_kind == "local"
    assert "not in the media store" in delivery.last_error
    assert "rejected by the platform" not in rig.audit(delivery.id)[-1][2]
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Jurte", media="[yurt.png]")])
    from scheduler.operations import retry

    with rig.sessions() as session:
        retry(session, [delivery.id], actor="user:ops", now=rig.clock())
        session.commit()
    rig.clock.advance(minutes=1)
    assert rig.run().published == 1
    assert uploads() == [shape((tmp_path / "yurt.png").read_bytes())]


def test_a_cache_that_cannot_be_written_hands_the_claim_back_and_sends_nothing(
    rig: Any, mastodon: Any, uploads: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """A local file error while the media are written to the cache (a full disk): nothing is
    sent, the claim goes back at once with the reason (not left claimed until its lease runs
    out), and a later pass publishes the post once the cache can be written again."""
    import campaigns.media
    import scheduler.dispatch

    png(tmp_path / "yurt.png", 8, 8)
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Jurte", media="[yurt.png]")])
    writes = campaigns.media.materialize

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scheduler.dispatch, "materialize", full_disk)
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.handed_back == 1 and stats.published == 0
    assert mastodon.posts == [] and uploads() == []
    delivery = rig.delivery()
    assert delivery.state == "approved" and delivery.lease_owner is None
    assert "could not be written to the cache" in rig.audit(delivery.id)[-1][2]
    monkeypatch.setattr(scheduler.dispatch, "materialize", writes)
    rig.clock.advance(minutes=1)
    assert rig.run().published == 1
    assert len(mastodon.posts) == 1


def test_a_delivery_applied_before_the_store_still_publishes_its_path(
    rig: Any, mastodon: Any, uploads: Any, tmp_path: Path
) -> None:
    from campaigns.schema import Delivery

    legacy = png(tmp_path / "legacy.png", 3, 3)
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Alt"), post_yaml("p2", "2027-03-01 10:00", "Weg")]
    )
    with rig.sessions() as session:
        session.execute(update(Delivery).where(Delivery.id == 1).values(media=[str(legacy)]))
        gone = str(tmp_path / "gone.png")
        session.execute(update(Delivery).where(Delivery.id == 2).values(media=[gone]))
        session.commit()
    rig.run_until(at("2027-03-01T09:05:00"))
    assert uploads() == [shape(legacy.read_bytes())]
    assert rig.delivery(1).state == "published"
    second = rig.delivery(2)
    assert second.state == "failed" and "apply the campaign again" in second.last_error
