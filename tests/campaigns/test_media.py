"""Media in a campaign file: confined to the campaign's folder, recognised by content, held to
each platform's limits at validation, and stored by SHA-256 when the campaign is applied."""

from __future__ import annotations

import os
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns import media, mediarules
from campaigns.media import FolderSource, MappingSource, MediaChanged, MediaError, MediaFile
from campaigns.validation import Loaded, load_campaign
from tests.campaigns.factory import audience, doc, load, post, write
from tests.connectors.files import jpeg, png, png_bytes

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32


def with_media(tmp_path: Path, names: list[str], channels: list[str] | None = None) -> Loaded:
    document = doc(posts=[post(media=names)])
    if channels:
        document["audiences"] = [audience("public", channels)]
    return load(tmp_path, document)


def errors(loaded: Loaded) -> list[str]:
    return [p.message for p in loaded.errors]


def test_an_absolute_path_outside_the_folder_is_refused(tmp_path: Path) -> None:
    outside = png(tmp_path.parent / f"{tmp_path.name}-outside.png")
    (tmp_path / "campaign").mkdir()
    loaded = with_media(tmp_path / "campaign", [str(outside)])
    [problem] = loaded.errors
    assert "media must be inside the campaign file's folder" in problem.message
    assert problem.path == ("posts", 0, "media", 0)


@pytest.mark.parametrize("written", ["../secret.png", "media/../../secret.png", "~/x.png"])
def test_a_path_climbing_out_is_refused(tmp_path: Path, written: str) -> None:
    png(tmp_path / "secret.png")
    folder = tmp_path / "campaign"
    (folder / "media").mkdir(parents=True)
    [message] = errors(with_media(folder, [written]))
    assert "media must be inside the campaign file's folder" in message


@pytest.mark.parametrize("written", ["media/../flag.png", "a/b/../../flag.png"])
def test_a_path_with_dots_that_stays_inside_says_how_to_write_it(
    tmp_path: Path, written: str
) -> None:
    """'..' is refused wherever it is; one that stays inside was told "media must be inside
    the campaign file's folder", which it is."""
    folder = tmp_path / "campaign"
    (folder / "media").mkdir(parents=True)
    png(folder / "flag.png")
    [message] = errors(with_media(folder, [written]))
    assert f"{written}: write the path without '..': flag.png" in message, message


def test_a_symbolic_link_leading_out_is_refused(tmp_path: Path) -> None:
    target = png(tmp_path / "secret.png")
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "innocent.png").symlink_to(target)
    [message] = errors(with_media(folder, ["innocent.png"]))
    assert "media must be inside" in message


def test_a_text_file_named_png_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_text("not really a picture", encoding="utf-8")
    [message] = errors(with_media(tmp_path, ["photo.png"]))
    assert "photo.png: text, not an image or a video" in message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        # A small black BMP's first bytes decode as UTF-8: it was called "text".
        (b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00" + b"\x00" * 60, "a BMP image"),
        (b"8BPS\x00\x01" + b"\x00" * 40, "a Photoshop file"),
        (b"\x00\x01\x02\x03" * 10, "not an image or a video Elshi knows"),
    ],
)
def test_a_binary_file_Elshi_does_not_take_is_named_for_what_it_is(
    tmp_path: Path, content: bytes, said: str
) -> None:
    (tmp_path / "photo.png").write_bytes(content)
    [message] = errors(with_media(tmp_path, ["photo.png"]))
    assert f"photo.png: {said}" in message and "text" not in message


def test_a_jpeg_named_png_is_taken_as_the_jpeg_it_is(tmp_path: Path) -> None:
    jpeg(tmp_path / "photo.png")
    loaded = with_media(tmp_path, ["photo.png"])
    assert loaded.ok, errors(loaded)
    assert loaded.desired is not None
    [reference] = loaded.desired.deliveries[0].media
    assert reference.endswith("/photo.jpg")
    assert loaded.desired.media[reference].kind == "image/jpeg"


def _crc_broken(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 4  # a byte of the picture's data, so its checksum no longer fits
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


DAMAGED = {
    "cut off": png_bytes(8, 8)[:-20],
    "checksum": _crc_broken(png_bytes(8, 8)),
    "only a header": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
    "signature and junk": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_image_is_refused_at_validation_with_its_name(
    tmp_path: Path, damage: str
) -> None:
    """The reference Bluesky server answers a damaged image with an internal error, which the
    scheduler would take for an outage and retry: refused here instead, named, upload or file."""
    (tmp_path / "photo.png").write_bytes(DAMAGED[damage])

    [message] = errors(with_media(tmp_path, ["photo.png"]))
    with pytest.raises(MediaError) as uploaded:
        media.from_bytes("photo.png", DAMAGED[damage])

    for said in (message, str(uploaded.value)):
        assert said.startswith("photo.png: a damaged ") and "save it again" in said


def test_a_picture_of_absurd_size_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    """A small file can announce a gigapixel picture (a decompression bomb): its header is read,
    its pixels never are."""
    for side in (8_000, 40_000):  # over Elshi's limit; over Pillow's own bomb limit too
        header = b"IHDR" + struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        small = png_bytes(1, 1)
        at = small.index(b"IHDR")
        bomb = small[:at] + header + struct.pack(">I", zlib.crc32(header)) + small[at + 21 :]
        (tmp_path / "bomb.png").write_bytes(bomb)

        [message] = errors(with_media(tmp_path, ["bomb.png"]))

        assert message.startswith("bomb.png: ") and "scale it down" in message
        assert f"{side}×{side} pixels" in message or side == 40_000


def test_a_file_over_every_platforms_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "huge.png"
    with big.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(mediarules.MAX_FILE_BYTES + 1)  # sparse: nothing is written
    [message] = errors(with_media(tmp_path, ["huge.png"]))
    assert "huge.png: 200.0 MB" in message and "no platform takes" in message


def test_an_image_over_a_platforms_limit_is_refused_for_that_channel(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png_bytes() + b"\x00" * (6 * mediarules.MB))
    loaded = with_media(tmp_path, ["big.png"], channels=["de-x", "de-mastodon"])
    [message] = errors(loaded)
    assert message == "for channel 'de-x': big.png is 6.0 MB; x takes images up to 5.0 MB"


def test_a_video_for_a_channel_that_takes_none_is_refused(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(MP4)
    loaded = with_media(tmp_path, ["clip.mp4"], channels=["de-bluesky", "de-telegram"])
    [message] = errors(loaded)
    assert "for channel 'de-bluesky': clip.mp4 is a video, which bluesky does not take" in message


def test_more_images_than_a_platform_takes_are_refused_once(tmp_path: Path) -> None:
    names = [png(tmp_path / f"p{n}.png", n + 1).name for n in range(5)]
    loaded = with_media(tmp_path, names, channels=["de-x", "cn-x", "de-telegram"])
    assert errors(loaded) == ["for channel 'de-x': 5 media files; x takes at most 4 a post"]


def test_deliveries_refer_to_media_by_hash_and_new_bytes_need_approval_again(
    tmp_path: Path,
) -> None:
    png(tmp_path / "yurt.png")
    first = with_media(tmp_path, ["yurt.png"])
    png(tmp_path / "yurt.png", 2, 2)
    second = with_media(tmp_path, ["yurt.png"])
    assert first.desired is not None and second.desired is not None
    a, b = first.desired.deliveries[0], second.desired.deliveries[0]
    assert a.media != b.media and a.media[0].split("/")[1] == "yurt.png"
    assert first.desired.posts[0].content_hash != second.desired.posts[0].content_hash


def test_a_moved_folder_keeps_the_same_references(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        png(folder / "yurt.png")
    a, b = with_media(one, ["yurt.png"]), with_media(two, ["yurt.png"])
    assert a.desired is not None and b.desired is not None
    assert a.desired.deliveries[0].content_hash == b.desired.deliveries[0].content_hash


def test_a_configured_media_folder_replaces_the_campaign_folder(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    png(library / "yurt.png")
    (tmp_path / "campaigns").mkdir()
    path = write(tmp_path / "campaigns" / "c.yaml", doc(posts=[post(media=["yurt.png"])]))
    loaded = load_campaign(
        path, channels=None, media=FolderSource(library, what="the media folder")
    )
    assert loaded.ok, errors(loaded)
    elsewhere = load_campaign(path, channels=None)
    assert any("no such file" in m for m in errors(elsewhere))


def test_apply_stores_the_bytes_once_and_a_changed_file_is_refused(
    tmp_path: Path, sessions: Any
) -> None:
    from campaigns.planning import apply_campaign
    from campaigns.schema import MediaBlob, MediaChunk

    image = png(tmp_path / "yurt.png", 40, 40)
    loaded = with_media(tmp_path, ["yurt.png"])
    assert loaded.desired is not None
    with sessions() as session:
        apply_campaign(session, loaded.desired, platforms={}, actor="user:t", now=NOW)
        apply_campaign(session, loaded.desired, platforms={}, actor="user:t", now=NOW)
        session.commit()
        [blob] = session.scalars(select(MediaBlob))
        assert blob.kind == "image/png" and blob.size == image.stat().st_size
        [reference] = loaded.desired.media
        assert b"".join(media.read(session, reference)) == image.read_bytes()
        assert session.scalar(select(func.count()).select_from(MediaChunk)) == 1
    png(tmp_path / "other.png", 3, 3)
    changed = with_media(tmp_path, ["other.png"])
    assert changed.desired is not None
    (tmp_path / "other.png").write_bytes(png_bytes(5, 5))  # after validation, before apply
    with sessions() as session, pytest.raises(MediaChanged, match="changed after it was checked"):
        apply_campaign(session, changed.desired, platforms={}, actor="user:t", now=NOW)


def test_big_files_are_stored_in_chunks(sessions: Any) -> None:
    from campaigns.schema import MediaChunk

    data = png_bytes() + os.urandom(int(2.5 * media.CHUNK_BYTES))
    with sessions() as session:
        stored = media.store_bytes(session, data, "big.png", now=NOW)
        session.commit()
        assert stored.reference == f"{stored.sha256}/big.png"
        assert session.scalar(select(func.count()).select_from(MediaChunk)) == 3
        assert b"".join(media.read(session, stored.reference)) == data


def test_uploaded_and_stored_files_validate_like_files_in_a_folder(
    tmp_path: Path, sessions: Any
) -> None:
    with sessions() as session:
        earlier = media.store_bytes(session, png_bytes(2, 2), "flag.png", now=NOW)
        session.commit()
        known = media.stored(session, earlier.reference, written="media/flag.png")
    uploaded = media.from_bytes("yurt.png", png_bytes(3, 3))
    source = MappingSource({"media/flag.png": known, "yurt.png": uploaded})
    path = write(tmp_path / "c.yaml", doc(posts=[post(media=["media/flag.png", "yurt.png"])]))
    loaded = load_campaign(path, channels=None, media=source)
    assert loaded.ok, errors(loaded)
    assert loaded.desired is not None
    assert [f.source is None for f in loaded.desired.media.values()] == [True, False]
    with pytest.raises(MediaError, match="not uploaded"):
        source.find("missing.png")


def test_materialize_rewrites_a_tampered_copy(tmp_path: Path, sessions: Any) -> None:
    with sessions() as session:
        stored = media.store_bytes(session, png_bytes(4, 4), "yurt.png", now=NOW)
        session.commit()
        path = media.materialize(session, stored.reference, tmp_path)
        path.write_bytes(png_bytes(9, 9))
        again = media.materialize(session, stored.reference, tmp_path)
        assert again == path and again.read_bytes() == png_bytes(4, 4)
        with pytest.raises(media.MediaMissing):
            media.materialize(session, "0" * 64 + "/gone.png", tmp_path)


def test_threads_materializing_one_file_at_once_each_get_it(
    tmp_path: Path, sessions: Any, monkeypatch: Any
) -> None:
    """A daemon's publishing threads prepare the same picture for several channels at the same
    moment: every one of them gets the file (each writes a partial file of its own; one shared
    partial name per process lost the others' renames) and no partial file is left."""
    import threading

    with sessions() as session:
        stored = media.store_bytes(session, png_bytes(6, 6), "steppe.png", now=NOW)
        session.commit()
    together = threading.Barrier(3, timeout=30)
    reading = media.read

    def read_together(session: Any, reference: str) -> Any:
        together.wait()  # every thread has opened its partial file before any writes
        yield from reading(session, reference)

    monkeypatch.setattr(media, "read", read_together)
    results: list[Any] = []

    def prepare() -> None:
        with sessions() as session:
            try:
                results.append(media.materialize(session, stored.reference, tmp_path))
            except BaseException as error:
                results.append(error)

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [isinstance(r, Path) for r in results] == [True, True, True], results
    assert all(r.read_bytes() == png_bytes(6, 6) for r in results)
    assert [p.name for p in results[0].parent.iterdir()] == ["steppe.png"]


def test_the_media_rules_agree_with_the_connectors() -> None:
    from connectors import bluesky, linkedin, mastodon, telegram, threads, weibo, x

    rules = mediarules.RULES
    assert rules["x"].max_items == x._MAX_IMAGES
    assert rules["x"].kinds == x._IMAGE_TYPES
    assert rules["mastodon"].max_items == mastodon.MAX_MEDIA
    assert rules["bluesky"].max_items == bluesky.MAX_IMAGES
    assert rules["bluesky"].max_image_bytes == bluesky.MAX_IMAGE_BYTES
    assert rules["bluesky"].kinds == bluesky.IMAGE_TYPES
    assert rules["telegram"].max_items == telegram.ALBUM_LIMIT
    assert rules["weibo"].max_items == weibo.MAX_PICTURES
    assert rules["linkedin"].max_items == linkedin.MAX_IMAGES
    assert rules["linkedin"].kinds == frozenset(linkedin.IMAGE_TYPES.values())
    assert rules["threads"].max_items == threads.MAX_IMAGES
    from connectors.registry import PLATFORMS

    assert set(PLATFORMS) <= set(rules)


def test_a_stored_file_has_the_name_and_kind_its_content_calls_for() -> None:
    found = media.from_bytes("Nauryz Fest 2027.PNG", png_bytes())
    assert found.name == "Nauryz_Fest_2027.png"
    assert isinstance(found, MediaFile) and found.kind == "image/png"
