"""Media files: what they are (by content), where a campaign file may take them from, and the
content-addressed store the deliveries point at.

* **Kinds** are recognised from the first bytes (`sniff`), never from the file name: a text
  file named ``yurt.png`` is refused, a JPEG named ``.png`` is published as the JPEG it is.
* **Sources.** A campaign file's ``media:`` paths are resolved by a `MediaSource`:
  `FolderSource` confines them to one folder (the campaign file's, or the configured media
  folder) — an absolute path, ``..`` or a symbolic link leading out of it is refused, so no
  readable image on the host can reach a public account; `MappingSource` takes them from files
  uploaded with the campaign (the web workspace) or already in the store.
* **The store** is in the database (tables ``media_blob`` and ``media_chunk``, 1 MiB chunks),
  keyed by SHA-256. `store` writes a campaign's files in the transaction of its apply; a
  delivery keeps references ``<sha256>/<name>``; the daemon gets the bytes with `materialize`,
  which checks them against their hash before any upload. So the bytes published are the
  bytes approved, whichever host runs the daemon and wherever the campaign folder went. Why the
  database and not a shared folder: it is already what every daemon reads, it is backed up and
  replicated with the rest, and a blob and the deliveries that use it are committed together.

Errors derive from `MediaError` (a ValueError); each message says which file and what to do.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import mediarules
from campaigns.errors import CampaignInputError
from campaigns.inputfiles import unusable
from campaigns.mediarules import EXTENSIONS, MAX_FILE_BYTES, size
from campaigns.schema import MediaBlob, MediaChunk

CHUNK_BYTES = 1024 * 1024
MAX_CAMPAIGN_BYTES = 1024 * 1024 * 1024
"""The media one campaign file may name, together (each file is hashed when it is checked)."""
REFERENCE = re.compile(r"^([0-9a-f]{64})/([\w.-]{1,120})$")


class MediaError(CampaignInputError, ValueError):
    """A media file cannot be used; the message names it and says what to do."""


class MediaMissing(MediaError):
    """A referenced file is not in the store (a local problem, not the platform's)."""


class MediaChanged(MediaError):
    """A file's bytes are not the ones that were checked (it changed in between)."""


@dataclass(frozen=True)
class MediaFile:
    """One media file as a campaign uses it."""

    written: str
    """The path as the campaign file writes it."""
    name: str
    """A safe file name with the extension of its kind (what platforms and readers see)."""
    sha256: str
    size: int
    kind: str
    source: Path | bytes | None = field(default=None, compare=False, repr=False)
    """Where the bytes are until they are stored (None: already in the store)."""

    @property
    def reference(self) -> str:
        return f"{self.sha256}/{self.name}"


def sniff(head: bytes) -> str | None:
    """The MIME type of a file starting with ``head`` (its first 16 bytes or more), if Elshi
    publishes that kind."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return mediarules.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return mediarules.JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return mediarules.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return mediarules.WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"):
            return None
        return mediarules.MOV if brand == b"qt  " else mediarules.MP4
    return None


def _what(head: bytes) -> str:
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[4:8] == b"ftyp":
        return "a HEIC/AVIF image (export it as JPEG)"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z", b"Rar!")):
        return "an archive"
    if head.startswith(b"<svg") or b"<svg" in head[:64]:
        return "an SVG drawing (export it as PNG)"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image (export it as JPEG or PNG)"
    if head.startswith(b"BM") and len(head) >= 14:
        return "a BMP image (export it as PNG)"
    if head.startswith(b"8BPS"):
        return "a Photoshop file (export it as JPEG or PNG)"
    if not head:
        return "empty"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "not an image or a video Elshi knows"
    if any(c < " " and c not in "\t\n\r" for c in text):  # binary that happens to decode
        return "not an image or a video Elshi knows"
    return "text, not an image or a video"


def safe_name(written: str, kind: str) -> str:
    """The file's own name, made safe, with the extension its content calls for."""
    stem = PurePosixPath(written.replace("\\", "/")).name
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "media"
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return (stem[:100] or "media") + EXTENSIONS[kind]


def _check_kind(written: str, head: bytes, count: int) -> str:
    kind = sniff(head)
    if kind is None:
        names = ", ".join(sorted(set(mediarules.NAMES.values())))
        raise MediaError(f"{written}: {_what(head)}; media must be {names}")
    if count > MAX_FILE_BYTES:
        raise MediaError(
            f"{written}: {size(count)}; no platform takes files over {size(MAX_FILE_BYTES)}"
        )
    return kind


MAX_IMAGE_PIXELS = 50_000_000
"""No platform takes a larger picture (X and Bluesky scale down far below it); decoding one
bigger would cost memory a validation must not spend."""


def _check_whole(written: str, kind: str, stream: BinaryIO) -> None:
    """Read an image to its last byte (its structure and checksums, then its pixels), so that a
    damaged or cut-off file is refused here with its name rather than by the platform at
    publishing time (the reference Bluesky server answers one with an internal error, which
    reads as an outage and is retried)."""
    if kind not in mediarules.IMAGES:
        return
    from PIL import Image, UnidentifiedImageError

    name = mediarules.NAMES[kind]
    formats = [name.upper()]
    start = stream.tell()
    try:
        with Image.open(stream, formats=formats) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise MediaError(
                    f"{written}: {width}×{height} pixels; no platform takes pictures over "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels: scale it down"
                )
            image.verify()  # chunks, checksums and the end marker
        stream.seek(start)
        with Image.open(stream, formats=formats) as image:
            image.load()  # every pixel
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise MediaError(
            f"{written}: a picture of more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels; "
            "no platform takes one: scale it down"
        ) from None
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        detail = (
            "its content is not one"
            if isinstance(exc, UnidentifiedImageError)
            else str(exc) or type(exc).__name__
        )
        raise MediaError(
            f"{written}: a damaged {name} file ({detail}); open it in an image editor and "
            f"save it again as {name}"
        ) from None


def from_bytes(written: str, data: bytes) -> MediaFile:
    """A media file given as bytes (an upload); `MediaError` when it is no image or video."""
    kind = _check_kind(written, data[:32], len(data))
    _check_whole(written, kind, io.BytesIO(data))
    digest = hashlib.sha256(data).hexdigest()
    return MediaFile(written, safe_name(written, kind), digest, len(data), kind, data)


class MediaSource(ABC):
    """Where the media paths of one campaign file are resolved."""

    @abstractmethod
    def find(self, written: str) -> MediaFile:
        """The file ``written`` names; `MediaError` saying why it cannot be used."""


class FolderSource(MediaSource):
    """Files inside ``root`` (the campaign file's folder or the configured media folder)."""

    def __init__(self, root: Path, *, what: str = "the campaign file's folder") -> None:
        self.root = root.resolve()
        self.what = what
        self._seen: dict[Path, MediaFile] = {}
        self._total = 0

    def find(self, written: str) -> MediaFile:
        relative = PurePosixPath(written.replace("\\", "/"))
        outside = (
            relative.is_absolute()
            or written.startswith("~")
            or re.match(r"^[A-Za-z]:", written) is not None
            or ".." in relative.parts
        )
        try:
            path = (self.root / relative).resolve() if not outside else None
        except (OSError, RuntimeError, ValueError):  # a name too long, a loop of links
            path = self.root / relative
        if path is None and ".." in relative.parts and not relative.is_absolute():
            inside = os.path.normpath(relative)  # 'sub/../a.png' is a.png, written plainly
            if not inside.startswith("..") and inside != ".":
                raise MediaError(f"{written}: write the path without '..': {inside}")
        if path is None or not path.is_relative_to(self.root):
            raise MediaError(
                f"{written}: media must be inside {self.what} ({self.root}); write a path "
                "relative to it, e.g. media/yurt.png"
            )
        if path in self._seen:
            found = self._seen[path]
            return MediaFile(written, found.name, found.sha256, found.size, found.kind, path)
        reason = unusable(path)
        if reason is not None and reason != "no such file":
            raise MediaError(f"{written}: cannot read it ({reason})")
        if reason is None and not path.is_file():  # a folder, a pipe, a device: never opened
            raise MediaError(f"{written}: not a file (looked for {path})")
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                kind = _check_kind(written, handle.read(32), stat.st_size)
                self._total += stat.st_size
                if self._total > MAX_CAMPAIGN_BYTES:
                    raise MediaError(
                        f"{written}: the campaign's media add up to more than "
                        f"{size(MAX_CAMPAIGN_BYTES)}; split it into several campaign files"
                    )
                handle.seek(0)
                _check_whole(written, kind, handle)
                handle.seek(0)
                digest = _hash(_chunks(handle))
        except FileNotFoundError:
            raise MediaError(f"{written}: no such file (looked for {path})") from None
        except OSError as exc:
            raise MediaError(f"{written}: cannot read it ({exc.strerror})") from None
        found = MediaFile(written, safe_name(written, kind), digest, stat.st_size, kind, path)
        self._seen[path] = found
        return found


class MappingSource(MediaSource):
    """Files given by path as written (or by file name, when that is unambiguous): uploads
    (`from_bytes`) and files already in the store (`stored`)."""

    def __init__(self, files: Mapping[str, MediaFile]) -> None:
        self.files = {_normal(k): v for k, v in files.items()}
        names: dict[str, list[MediaFile]] = {}
        for key, value in self.files.items():
            names.setdefault(PurePosixPath(key).name, []).append(value)
        self._by_name = {k: v[0] for k, v in names.items() if len(v) == 1}

    def find(self, written: str) -> MediaFile:
        found = self.files.get(_normal(written)) or self._by_name.get(
            PurePosixPath(_normal(written)).name
        )
        if found is None:
            raise MediaError(f"{written}: not uploaded with the campaign file (nor stored before)")
        return MediaFile(written, found.name, found.sha256, found.size, found.kind, found.source)


def _normal(path: str) -> str:
    return str(PurePosixPath(path.replace("\\", "/")))


def _chunks(handle: object) -> Iterator[bytes]:
    read = handle.read  # type: ignore[attr-defined]
    while chunk := read(CHUNK_BYTES):
        yield chunk


def _hash(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


# --- the store -----------------------------------------------------------------------------


def store(session: Session, files: Iterable[MediaFile], *, now: datetime) -> int:
    """Put ``files`` into the store (in the caller's transaction); returns how many were new.
    A file whose bytes no longer match the hash it was checked with raises `MediaChanged`; one
    that should be in the store already and is not raises `MediaMissing`."""
    added = 0
    for item in {f.sha256: f for f in files}.values():
        if session.get(MediaBlob, item.sha256) is not None:
            continue
        if item.source is None:
            raise MediaMissing(f"{item.written}: its bytes ({item.sha256[:12]}…) are not stored")
        session.add(MediaBlob(sha256=item.sha256, size=item.size, kind=item.kind, created_at=now))
        session.flush()
        digest = hashlib.sha256()
        count = 0
        for seq, chunk in enumerate(_source_chunks(item)):
            digest.update(chunk)
            count += len(chunk)
            session.add(MediaChunk(sha256=item.sha256, seq=seq, data=chunk))
            session.flush()
        if digest.hexdigest() != item.sha256 or count != item.size:
            raise MediaChanged(
                f"{item.written}: the file changed after it was checked; run the command again"
            )
        added += 1
    return added


def _source_chunks(item: MediaFile) -> Iterator[bytes]:
    if isinstance(item.source, bytes):
        for start in range(0, len(item.source), CHUNK_BYTES):
            yield item.source[start : start + CHUNK_BYTES]
        return
    assert item.source is not None
    try:
        with item.source.open("rb") as handle:
            yield from _chunks(handle)
    except OSError as exc:
        raise MediaChanged(
            f"{item.written}: cannot read it any more ({exc.strerror}); run the command again"
        ) from None


def store_bytes(session: Session, data: bytes, name: str, *, now: datetime) -> MediaFile:
    """Store an uploaded file (if its bytes are not stored yet) and return it, as stored; its
    ``reference`` is what a delivery keeps. `MediaError` when it is no image or video."""
    found = from_bytes(name, data)
    store(session, [found], now=now)
    return MediaFile(found.written, found.name, found.sha256, found.size, found.kind)


def stored(session: Session, reference: str, *, written: str | None = None) -> MediaFile:
    """The stored file a reference names (for a `MappingSource`); `MediaMissing` if absent."""
    match = REFERENCE.match(reference)
    blob = session.get(MediaBlob, match.group(1)) if match else None
    if match is None or blob is None:
        raise MediaMissing(f"{written or reference}: not in the media store")
    return MediaFile(written or match.group(2), match.group(2), blob.sha256, blob.size, blob.kind)


def read(session: Session, reference: str) -> Iterator[bytes]:
    """The stored bytes of ``reference``, chunk by chunk."""
    match = REFERENCE.match(reference)
    if match is None or session.get(MediaBlob, match.group(1)) is None:
        raise MediaMissing(f"{reference}: not in the media store")
    rows = session.scalars(
        select(MediaChunk.data).where(MediaChunk.sha256 == match.group(1)).order_by(MediaChunk.seq)
    )
    yield from rows


def is_reference(value: str) -> bool:
    return REFERENCE.match(value) is not None


def materialize(session: Session, reference: str, cache: Path) -> Path:
    """A local file with the stored bytes of ``reference`` (``cache/<sha256>/<name>``), checked
    against the hash each time; `MediaMissing` when the store does not have them."""
    match = REFERENCE.match(reference)
    if match is None:
        raise MediaMissing(f"{reference}: not a media reference")
    digest, name = match.groups()
    target = cache / digest / name
    if target.is_file():
        with target.open("rb") as handle:
            if _hash(_chunks(handle)) == digest:
                return target
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A partial file of this call's own: the publishing threads of one daemon (and other
    # daemons) may write the same file at once, and each one's rename must find its own.
    fd, name_of_partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target.parent)
    partial = Path(name_of_partial)
    try:
        check = hashlib.sha256()
        with os.fdopen(fd, "wb") as handle:
            for chunk in read(session, reference):
                check.update(chunk)
                handle.write(chunk)
        if check.hexdigest() != digest:
            raise MediaMissing(f"{reference}: the stored bytes do not match their hash")
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
