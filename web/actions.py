"""What pages and the API both do, written once: approving and rejecting posts, the operator's
actions on deliveries, and taking a campaign file from upload to plan to apply. Each function
takes the acting `Person` and calls the same functions as the CLI; a refusal by those rules
becomes `Refused` with their message. The caller commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from campaigns import people
from campaigns.schema import CampaignUpload, Post
from campaigns.states import TransitionError
from scheduler import operations
from web import WebError, context, uploads


class Refused(WebError):
    """The rules refused the action; the message says why."""


def decide(
    session: Session,
    posts: Sequence[Post],
    who: people.Person,
    *,
    approve: bool,
    comment: str | None,
) -> str:
    from campaigns import approval

    comment = (comment or "").strip() or None
    if not approve and not comment:
        raise Refused(_("Say why you reject it: the author reads your comment."))
    try:
        if approve:
            done = approval.approve(
                session, list(posts), by=who, now=context.now(), comment=comment
            )
        else:
            done = approval.reject(
                session, list(posts), by=who, now=context.now(), comment=comment or ""
            )
    except approval.ApprovalError as exc:
        raise Refused(str(exc)) from None
    refused = [d for d in done if d.refused]
    if refused:
        # All or nothing: the caller does not commit, and the person reads why.
        raise Refused("; ".join(f"{d.post}: {d.refused}" for d in refused))
    verb = "approved" if approve else "rejected"
    return f"{verb} " + ", ".join(d.post for d in done)


def deliveries(
    session: Session,
    who: people.Person,
    action: str,
    ids: Sequence[int],
    *,
    reason: str | None = None,
    published_url: str | None = None,
    remote_id: str | None = None,
    cancel_instead: bool = False,
) -> list[operations.Outcome]:
    now = context.now()
    try:
        if action == "retry":
            return operations.retry(session, ids, actor=who, now=now)
        if action == "cancel":
            return operations.cancel(
                session, ids, actor=who, now=now, reason=(reason or "").strip() or None
            )
        return operations.resolve(
            session,
            ids,
            actor=who,
            now=now,
            published_url=published_url,
            remote_id=(remote_id or "").strip() or None,
            cancel_instead=cancel_instead,
            metrics_schedule=context.settings().metrics_schedule,
            # The channel's connector reads its own permalink (and refuses another's), as for
            # `elshi deliveries resolve`.
            identify=context.settings().permalinks,
        )
    except (operations.OperationError, TransitionError) as exc:
        raise Refused(str(exc)) from None


@dataclass
class UploadResult:
    checked: uploads.Checked | None
    upload: CampaignUpload | None = None
    applied: bool = False
    problems: list[uploads.Finding] = field(default_factory=list)
    message: str = ""
    status: int = 200

    def as_json(self) -> dict[str, Any]:
        findings = self.problems or (self.checked.findings if self.checked else [])
        return {
            "ok": self.status < 400,
            "message": self.message,
            "problems": [
                {
                    "line": f.line,
                    "column": f.column,
                    "where": f.where,
                    "severity": f.severity,
                    "message": f.message,
                }
                for f in findings
            ],
            "campaign": self.checked.campaign_id if self.checked else None,
            "plan": [
                {"sign": c.sign, "entity": c.entity, "key": c.key, "detail": c.detail}
                for c in (self.checked.changes if self.checked else [])
            ],
            "upload_id": self.upload.id if self.upload else None,
            "version": self.upload.version if self.upload else None,
            "applied": self.applied,
        }


def _platforms() -> tuple[dict[str, str] | None, dict[str, str]]:
    s = context.settings()
    return (dict(s.text_platforms) or None), dict(s.channel_platforms)


def _options() -> dict[str, dict[str, Any]]:
    return {name: dict(options) for name, options in context.settings().channel_options.items()}


def check_upload(
    filename: str,
    content: bytes,
    *,
    base_campaign: str | None,
    media: Sequence[tuple[str, bytes]] = (),
    kept: CampaignUpload | None = None,
) -> uploads.Checked:
    """Validate and plan a file. ``base_campaign``: the campaign whose current version a
    spreadsheet extends and whose media fill in what was not uploaded (by default the campaign
    the file names). ``kept``: re-check a kept upload with its own media."""
    if request.method in ("GET", "HEAD"):  # re-planning a kept upload: a writer's session
        with context.writing() as session:
            try:
                return _check(session, filename, content, base_campaign, media, kept)
            finally:
                session.rollback()
    return _check(context.db(), filename, content, base_campaign, media, kept)


def _check(
    session: Session,
    filename: str,
    content: bytes,
    base_campaign: str | None,
    media: Sequence[tuple[str, bytes]],
    kept: CampaignUpload | None,
) -> uploads.Checked:
    channels, platforms = _platforms()
    previous = kept or (uploads.current_version(session, base_campaign) if base_campaign else None)
    if previous is None and filename.lower().endswith(uploads.YAML_SUFFIXES):
        named = _campaign_named(content)
        previous = uploads.current_version(session, named) if named else None
    try:
        return uploads.check(
            session,
            filename,
            content,
            channels=channels,
            platforms=platforms,
            channel_options=_options(),
            now=context.now(),
            media=media,
            previous=previous,
        )
    except uploads.UploadError as exc:
        raise Refused(str(exc)) from None


def _campaign_named(content: bytes) -> str | None:
    match = re.search(
        rb"(?m)^campaign:\s*\n(?:[ \t]+.*\n)*?[ \t]+id:\s*[\"']?([a-z0-9][a-z0-9_-]*)", content
    )
    return match.group(1).decode() if match else None


def keep_upload(checked: uploads.Checked, who: people.Person) -> CampaignUpload:
    try:
        return uploads.keep(
            context.db(),
            checked,
            actor=who.actor,
            now=context.now(),
        )
    except uploads.UploadError as exc:
        raise Refused(str(exc)) from None


def apply_upload(session: Session, upload: CampaignUpload, who: people.Person) -> UploadResult:
    channels, platforms = _platforms()
    changes, problems = uploads.apply(
        session,
        upload,
        channels=channels,
        platforms=platforms,
        channel_options=_options(),
        actor=who,
        now=context.now(),
    )
    if problems:
        return UploadResult(None, upload, problems=problems, status=409, message="not applied")
    checked = uploads.Checked(upload.filename, upload.content, upload.campaign_yaml)
    checked.campaign_id, checked.changes = upload.campaign_id, changes
    return UploadResult(
        checked,
        upload,
        applied=True,
        message=f"applied version {upload.version} of {upload.campaign_id}",
    )


def upload(
    who: people.Person,
    filename: str,
    content: bytes,
    *,
    base_campaign: str | None,
    apply: bool,
    media: Sequence[tuple[str, bytes]] = (),
) -> UploadResult:
    """Check a file; keep it when valid; apply it too when asked. Commits what it keeps."""
    try:
        checked = check_upload(filename, content, base_campaign=base_campaign, media=media)
    except Refused as exc:
        return UploadResult(None, message=str(exc), status=400)
    if not checked.ok:
        return UploadResult(
            checked, status=422, message=f"{len(checked.errors)} problems; nothing was changed"
        )
    session = context.db()
    try:
        kept = keep_upload(checked, who)
    except Refused as exc:
        return UploadResult(checked, message=str(exc), status=400)
    if not apply:
        session.commit()
        return UploadResult(checked, kept, message="valid; not applied (the plan is listed)")
    result = apply_upload(session, kept, who)
    if not result.applied:
        session.rollback()
        return result
    session.commit()
    result.checked = checked
    return result


def post_json(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "campaign": post.campaign_id,
        "key": post.key,
        "category": post.category,
        "approval": post.approval,
        "approved_by": post.approved_by,
        "retired": post.retired,
        "deliveries": [
            {
                "id": d.id,
                "channel": d.channel.name,
                "language": d.language,
                "due_at": d.due_at.isoformat(),
                "local_due": d.local_due,
                "timezone": d.timezone,
                "state": d.state,
                "text": d.text,
                "media": d.media,
                "url": d.remote_url,
            }
            for d in sorted(post.deliveries, key=lambda d: (d.due_at, d.id))
        ],
    }
