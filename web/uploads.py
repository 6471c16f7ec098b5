"""Campaign files that arrive over HTTP, with the media files they name.

A file is validated with the same code as ``elshi campaign validate`` (a spreadsheet is first
imported as ``elshi campaign import`` does, on top of the campaign's current file), planned with
the function ``elshi campaign plan`` runs, kept byte for byte in ``campaign_upload`` once valid,
and applied with the function ``elshi campaign apply`` calls. A broken file is never kept and
changes nothing.

Media: the file's ``media:`` paths are matched by file name against the images uploaded with
it; a path not uploaded this time is taken from the campaign's previous version. Media bytes are
kept by SHA-256 in the media folder, and an applied version gets a folder of its own there (the
YAML and its media at the paths it names), which is what its deliveries point at — so the bytes
published are the bytes that were uploaded and approved.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.planning import Change, apply_campaign
from campaigns.schema import CampaignUpload
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
    """Media path as written in the file → SHA-256 of the bytes it resolved to."""
    new_media: dict[str, bytes] = field(default_factory=dict)
    """SHA-256 → bytes of media uploaded with this file (not yet in the media folder)."""

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
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).name)[:120]
    return name.lstrip(".") or "campaign.yaml"


def current_version(session: Session, campaign_id: str) -> CampaignUpload | None:
    return session.scalar(
        select(CampaignUpload)
        .where(CampaignUpload.campaign_id == campaign_id, CampaignUpload.status == "applied")
        .order_by(CampaignUpload.version.desc())
        .limit(1)
    )


def _media_paths(yaml_bytes: bytes) -> list[str]:
    """The media paths a campaign file names (read leniently: validation reports the rest)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(io.BytesIO(yaml_bytes))
    except (YAMLError, ValueError, RecursionError):
        return []
    posts = data.get("posts") if isinstance(data, dict) else None
    out: list[str] = []
    for post in posts if isinstance(posts, list) else []:
        items = post.get("media") if isinstance(post, dict) else None
        for item in items if isinstance(items, list) else []:
            path = item.get("file") or item.get("path") if isinstance(item, dict) else item
            if isinstance(path, str) and path not in out:
                out.append(path)
    return out


def _confined(path: str) -> PurePosixPath | None:
    rel = PurePosixPath(path.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None
    return rel


def _place_media(
    checked: Checked,
    work: Path,
    uploaded: Mapping[str, bytes],
    previous: Mapping[str, str],
    store: Path | None,
) -> None:
    """Put each named media file where the YAML expects it in ``work``."""
    by_name = {safe_name(name): data for name, data in uploaded.items()}
    assert checked.campaign_yaml is not None
    for path in _media_paths(checked.campaign_yaml):
        rel = _confined(path)
        if rel is None:
            continue  # validation refuses it with its line
        data = by_name.get(safe_name(rel.name))
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
            checked.new_media[digest] = data
        elif path in previous and store is not None and _stored(store, previous[path]).is_file():
            digest = previous[path]
            data = _stored(store, digest).read_bytes()
        else:
            continue
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        checked.media[path] = digest


def _stored(store: Path, digest: str) -> Path:
    return store / "by-sha256" / digest[:2] / digest


def check(
    session: Session,
    filename: str,
    content: bytes,
    *,
    channels: dict[str, str] | None,
    platforms: dict[str, str],
    now: datetime,
    media: Mapping[str, bytes] | None = None,
    previous: CampaignUpload | None = None,
    store: Path | None = None,
) -> Checked:
    """Validate and plan ``content``; nothing is written to the database or the media folder.
    The plan is apply run in a savepoint of ``session`` that is rolled back (a writer's session:
    on SQLite it holds the write lock). ``previous`` is the campaign's current version: the base
    of a spreadsheet, and where media not uploaded this time come from."""
    name = safe_name(filename)
    lower = name.lower()
    if not lower.endswith(YAML_SUFFIXES + SHEET_SUFFIXES):
        raise UploadError(
            f"{filename}: upload a campaign file (.yaml or .yml) or a spreadsheet (.xlsx, .csv)"
        )
    if not content:
        raise UploadError(f"{filename}: the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise UploadError(f"{filename}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
    checked = Checked(filename=name, content=content, campaign_yaml=None)
    with tempfile.TemporaryDirectory(prefix="elshi-upload-") as folder:
        work = Path(folder)
        if lower.endswith(SHEET_SUFFIXES):
            base = previous.campaign_yaml if previous is not None else None
            yaml_bytes = _import_sheet(checked, work / "sheet", base)
            if yaml_bytes is None:
                return checked
            yaml_name = Path(name).stem + ".yaml"
        else:
            yaml_bytes, yaml_name = content, name
        checked.campaign_yaml = yaml_bytes
        campaign_dir = work / "campaign"
        campaign_dir.mkdir()
        _place_media(checked, campaign_dir, media or {}, previous.media if previous else {}, store)
        path = campaign_dir / yaml_name
        path.write_bytes(yaml_bytes)
        loaded = load_campaign(path, channels=channels, now=now, label=yaml_name)
        checked.findings.extend(_findings(loaded, campaign_dir))
        if not loaded.ok or loaded.desired is None:
            return checked
        checked.campaign_id = loaded.desired.spec.id
        if previous is not None and previous.campaign_id != checked.campaign_id:
            checked.findings.append(
                Finding(
                    f"this file is campaign {checked.campaign_id!r}, not {previous.campaign_id!r}"
                )
            )
            return checked
        savepoint = session.begin_nested()
        try:
            checked.changes = apply_campaign(
                session, loaded.desired, platforms=platforms, actor="plan", now=now
            )
        finally:
            savepoint.rollback()
    return checked


def _import_sheet(checked: Checked, work: Path, base: bytes | None) -> bytes | None:
    from campaigns.spreadsheet import SheetError, import_sheet

    work.mkdir()
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


def _findings(loaded: Loaded, folder: Path) -> list[Finding]:
    """The validator's problems, without the temporary folder's name."""
    hidden = str(folder.resolve()) + "/"
    return [
        Finding(
            p.message.replace(hidden, ""),
            line=p.line,
            column=p.column,
            where=p.file,
            severity=p.severity,
        )
        for p in loaded.problems
    ]


def keep(
    session: Session, checked: Checked, *, actor: str, now: datetime, store: Path | None
) -> CampaignUpload:
    """Store a valid upload (``planned``) until someone applies it; its new media go into the
    media folder by SHA-256."""
    assert checked.ok and checked.campaign_id and checked.campaign_yaml is not None
    if checked.new_media:
        if store is None:
            raise UploadError("this workspace has no media folder; media cannot be uploaded")
        for digest, data in checked.new_media.items():
            target = _stored(store, digest)
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(target)
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
    return upload


def apply(
    session: Session,
    upload: CampaignUpload,
    *,
    channels: dict[str, str] | None,
    platforms: dict[str, str],
    actor: str,
    now: datetime,
    store: Path | None,
) -> tuple[list[Change], list[Finding]]:
    """Validate the kept file again (the database may have moved since the plan) and apply it
    in the caller's transaction; the upload becomes the campaign's next version."""
    name = Path(upload.filename).stem + ".yaml"
    if store is not None:
        folder = store / "versions" / f"upload-{upload.id}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="elshi-apply-")
        folder = Path(cleanup.name)
    try:
        for path, digest in (upload.media or {}).items():
            rel = _confined(path)
            if rel is not None and store is not None and _stored(store, digest).is_file():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_stored(store, digest), folder / rel)
        (folder / name).write_bytes(upload.campaign_yaml)
        loaded = load_campaign(folder / name, channels=channels, now=now, label=name)
        if not loaded.ok or loaded.desired is None:
            return [], [f for f in _findings(loaded, folder) if f.is_error]
        if loaded.desired.spec.id != upload.campaign_id:
            return [], [Finding(f"the file is now campaign {loaded.desired.spec.id!r}")]
        changes = apply_campaign(session, loaded.desired, platforms=platforms, actor=actor, now=now)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    latest = session.scalar(
        select(func.max(CampaignUpload.version)).where(
            CampaignUpload.campaign_id == upload.campaign_id
        )
    )
    upload.version = (latest or 0) + 1
    upload.status = "applied"
    upload.applied_by = actor
    upload.applied_at = now
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
