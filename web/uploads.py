"""Campaign files that arrive over HTTP, with the media files they name.

A file is validated with the same code as ``elshi campaign validate`` (a spreadsheet is first
imported as ``elshi campaign import`` does, on top of the campaign's current file), planned with
the function ``elshi campaign plan`` runs, kept byte for byte in ``campaign_upload`` once valid,
and applied with the function ``elshi campaign apply`` calls. A broken file is never kept and
changes nothing.

Media: the file's ``media:`` paths are matched by file name against the images uploaded with
it (``campaigns.media.MappingSource``); a path not uploaded this time is taken from the
campaign's previous version, by its reference in the media store. New media go into the store
(by SHA-256, in the database) when the upload is kept, so the bytes published are the bytes
that were uploaded and approved.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.media import (
    MappingSource,
    MediaError,
    MediaFile,
    MediaSource,
    from_bytes,
    store,
    stored,
)
from campaigns.people import Person
from campaigns.planning import Change, apply_campaign
from campaigns.schema import CampaignUpload
from campaigns.states import record
from campaigns.validation import Loaded, load_campaign
from web import WebError

YAML_SUFFIXES = (".yaml", ".yml")
SHEET_SUFFIXES = (".xlsx", ".csv")
MAX_FILE_BYTES = 5 * 1024 * 1024


class UploadError(WebError):
    """The upload itself is unusable (no file, wrong kind, too big); nothing was changed."""


@dataclass(frozen=True)
class Finding:
    """One problem, located: ``line``/``column`` in the YAML, or ``where`` (sheet row/column)."""

    message: str
    line: int = 0
    column: int = 0
    where: str = ""
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Checked:
    filename: str
    content: bytes
    campaign_yaml: bytes | None
    findings: list[Finding] = field(default_factory=list)
    campaign_id: str | None = None
    changes: list[Change] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)
    """Media path as written in the file → its reference in the media store."""
    new_media: list[MediaFile] = field(default_factory=list)
    """Media uploaded with this file, with their bytes (stored when the upload is kept)."""

    @property
    def ok(self) -> bool:
        return self.campaign_yaml is not None and not any(f.is_error for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def lines(self) -> list[str]:
        """The YAML's lines (to show each error at its line)."""
        if self.campaign_yaml is None:
            return []
        return self.campaign_yaml.decode("utf-8", errors="replace").splitlines()


def safe_name(filename: str) -> str:
    """The uploaded file's name without folders or odd characters, at most 120 characters,
    keeping its extension (which says what kind of file it is)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).name).lstrip(".")
    if len(name) > 120:
        stem, dot, suffix = name.rpartition(".")
        keep = dot and stem and len(suffix) <= 10
        name = f"{stem[: 119 - len(suffix)]}.{suffix}" if keep else name[:120]
    return name or "campaign.yaml"


def current_version(session: Session, campaign_id: str) -> CampaignUpload | None:
    return session.scalar(
        select(CampaignUpload)
        .where(CampaignUpload.campaign_id == campaign_id, CampaignUpload.status == "applied")
        .order_by(CampaignUpload.version.desc())
        .limit(1)
    )


class _Recording(MediaSource):
    """The media source of one upload, remembering which files the campaign file used."""

    def __init__(self, files: Mapping[str, MediaFile]) -> None:
        self.inner = MappingSource(files)
        self.used: dict[str, MediaFile] = {}

    def find(self, written: str) -> MediaFile:
        found = self.inner.find(written)
        self.used[written] = found
        return found


def _source(
    session: Session,
    uploaded: Sequence[tuple[str, bytes]],
    previous: Mapping[str, str],
    findings: list[Finding],
) -> _Recording:
    """Uploaded files (by file name) over the previous version's (by path, from the store).
    Two uploaded files of one name (once made safe) with different bytes are a finding: which
    one the campaign file means cannot be told (the same bytes twice are one file)."""
    files: dict[str, MediaFile] = {}
    for path, reference in previous.items():
        try:
            files[path] = stored(session, reference, written=path)
        except MediaError:
            continue  # not in the store any more: the file must be uploaded again
    seen: dict[str, bytes] = {}
    for name, data in uploaded:
        clean = safe_name(name)
        if seen.setdefault(clean, data) != data:
            findings.append(
                Finding(
                    "two different files of this name were uploaded; upload one",
                    where=clean,
                )
            )
            continue
        try:
            files[clean] = from_bytes(clean, data)
        except MediaError as exc:
            findings.append(Finding(str(exc), where=clean))
    return _Recording(files)


def check(
    session: Session,
    filename: str,
    content: bytes,
    *,
    channels: dict[str, str] | None,
    platforms: dict[str, str],
    now: datetime,
    media: Sequence[tuple[str, bytes]] = (),
    previous: CampaignUpload | None = None,
    channel_options: dict[str, dict[str, Any]] | None = None,
) -> Checked:
    """Validate and plan ``content``; nothing is written to the database.
    The plan is apply run in a savepoint of ``session`` that is rolled back (a writer's session:
    on SQLite it holds the write lock). ``previous`` is the campaign's current version: the base
    of a spreadsheet, and where media not uploaded this time come from."""
    name = safe_name(filename)
    lower = name.lower()
    if not lower.endswith(YAML_SUFFIXES + SHEET_SUFFIXES):
        raise UploadError(
            f"{name}: upload a campaign file (.yaml or .yml) or a spreadsheet (.xlsx, .csv)"
        )
    if not content:
        raise UploadError(f"{name}: the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise UploadError(f"{name}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
    checked = Checked(filename=name, content=content, campaign_yaml=None)
    if lower.endswith(SHEET_SUFFIXES):
        base = previous.campaign_yaml if previous is not None else None
        yaml_bytes = _import_sheet(checked, base)
        if yaml_bytes is None:
            return checked
        if base is None:
            # Without a campaign to add them to, the posts would go into a skeleton whose
            # FILL-IN placeholders (made for `elshi campaign import`, which writes a file to
            # edit) are refused at lines of a file this person never sees.
            checked.findings.append(
                Finding(
                    "the spreadsheet holds posts only: it adds them to a campaign whose file was "
                    "uploaded here (a new campaign also needs its campaign, events and "
                    "audiences); upload the campaign file (.yaml) first, then choose that "
                    "campaign for the spreadsheet",
                    where=name,
                )
            )
            return checked
        yaml_name = Path(name).stem + ".yaml"
    else:
        yaml_bytes, yaml_name = content, name
    checked.campaign_yaml = yaml_bytes
    source = _source(session, media, previous.media if previous else {}, checked.findings)
    try:
        text = yaml_bytes.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # the validator reads the bytes itself and names the bad one
    loaded = _load(yaml_name, yaml_bytes, text, channels, now, source, channel_options)
    checked.findings.extend(_findings(loaded))
    if not loaded.ok or loaded.desired is None:
        return checked
    checked.campaign_id = loaded.desired.spec.id
    checked.media = {w: f.reference for w, f in source.used.items()}
    checked.new_media = [f for f in source.used.values() if f.source is not None]
    if previous is not None and previous.campaign_id != checked.campaign_id:
        checked.findings.append(
            Finding(f"this file is campaign {checked.campaign_id!r}, not {previous.campaign_id!r}")
        )
        return checked
    savepoint = session.begin_nested()
    try:
        checked.changes = apply_campaign(
            session, loaded.desired, platforms=platforms, actor="plan", now=now, store_media=False
        )
    finally:
        savepoint.rollback()
    return checked


def _load(
    name: str,
    data: bytes,
    text: str | None,
    channels: dict[str, str] | None,
    now: datetime,
    media: MediaSource,
    options: dict[str, dict[str, Any]] | None = None,
) -> Loaded:
    """The validator on text already read; bytes that are not UTF-8 go through a file, so the
    validator locates the bad byte itself."""
    if text is not None:
        return load_campaign(
            Path(name),
            channels=channels,
            now=now,
            label=name,
            text=text,
            media=media,
            channel_options=options,
        )
    with tempfile.TemporaryDirectory(prefix="elshi-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return load_campaign(
            path, channels=channels, now=now, label=name, media=media, channel_options=options
        )


def _import_sheet(checked: Checked, base: bytes | None) -> bytes | None:
    from campaigns.spreadsheet import SheetError, import_sheet

    with tempfile.TemporaryDirectory(prefix="elshi-sheet-") as folder:
        work = Path(folder)
        sheet = work / checked.filename
        sheet.write_bytes(checked.content)
        base_path = None
        if base is not None:
            base_path = work / "current-campaign.yaml"
            base_path.write_bytes(base)
        try:
            text, _count = import_sheet(sheet, campaign_file=base_path)
        except SheetError as exc:
            for problem in exc.problems:
                problem = problem.replace(str(work) + "/", "")
                where, _, message = problem.partition(": ")
                checked.findings.append(Finding(message or problem, where=where))
            return None
    return text.encode("utf-8")


def _findings(loaded: Loaded) -> list[Finding]:
    return [
        Finding(
            p.message,
            line=p.line,
            column=p.column,
            where=p.file,
            severity=p.severity,
        )
        for p in loaded.problems
    ]


def keep(session: Session, checked: Checked, *, actor: str, now: datetime) -> CampaignUpload:
    """Keep a valid upload (``planned``) until someone applies it; its new media go into the
    media store now."""
    assert checked.ok and checked.campaign_id and checked.campaign_yaml is not None
    try:
        store(session, checked.new_media, now=now)
    except MediaError as exc:
        raise UploadError(str(exc)) from None
    upload = CampaignUpload(
        campaign_id=checked.campaign_id,
        version=None,
        filename=checked.filename,
        content=checked.content,
        campaign_yaml=checked.campaign_yaml,
        sha256=hashlib.sha256(checked.content).hexdigest(),
        media=dict(checked.media),
        status="planned",
        uploaded_by=actor,
        uploaded_at=now,
    )
    session.add(upload)
    session.flush()
    record(
        session,
        actor=actor,
        entity="upload",
        entity_id=upload.id,
        at=now,
        to_state="planned",
        reason=f"uploaded {upload.filename} (campaign {upload.campaign_id})",
        detail={"sha256": upload.sha256, "media": sorted(upload.media)},
    )
    return upload


def apply(
    session: Session,
    upload: CampaignUpload,
    *,
    channels: dict[str, str] | None,
    platforms: dict[str, str],
    actor: str | Person,
    now: datetime,
    channel_options: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[Change], list[Finding]]:
    """Validate the kept file again (the database may have moved since the plan) and apply it
    in the caller's transaction; the upload becomes the campaign's next version."""
    findings: list[Finding] = []
    source = _source(session, (), upload.media or {}, findings)
    name = Path(upload.filename).stem + ".yaml"
    text = upload.campaign_yaml.decode("utf-8", errors="replace")
    loaded = _load(name, upload.campaign_yaml, text, channels, now, source, channel_options)
    if not loaded.ok or loaded.desired is None:
        return [], [f for f in _findings(loaded) if f.is_error]
    if loaded.desired.spec.id != upload.campaign_id:
        return [], [Finding(f"the file is now campaign {loaded.desired.spec.id!r}")]
    changes = apply_campaign(session, loaded.desired, platforms=platforms, actor=actor, now=now)
    latest = session.scalar(
        select(func.max(CampaignUpload.version)).where(
            CampaignUpload.campaign_id == upload.campaign_id
        )
    )
    upload.version = (latest or 0) + 1
    upload.status = "applied"
    upload.applied_by = actor if isinstance(actor, str) else actor.actor
    upload.applied_at = now
    record(
        session,
        actor=upload.applied_by,
        entity="upload",
        entity_id=upload.id,
        at=now,
        from_state="planned",
        to_state="applied",
        reason=f"{upload.filename} applied as version {upload.version} of {upload.campaign_id}",
    )
    return changes, []


def describe(upload: CampaignUpload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "campaign": upload.campaign_id,
        "version": upload.version,
        "filename": upload.filename,
        "status": upload.status,
        "uploaded_by": upload.uploaded_by,
        "uploaded_at": upload.uploaded_at.isoformat(),
        "media": sorted(upload.media or {}),
    }
