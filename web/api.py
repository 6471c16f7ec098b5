"""The JSON API under ``/api/v1``: the workspace's actions for an office's own systems.

Every request but the OpenAPI document carries ``Authorization: Bearer <token>``; the token
acts for its user with that user's roles (``campaigns.people`` decides, as for a page). No
cookies are read here, so there is no CSRF surface. Errors are JSON ``{"error", "message"}``.
The routes and `web.openapi` describe each other; a test checks they agree.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, send_file
from sqlalchemy import select

from campaigns import people
from campaigns.queries import campaign_detail, campaign_summaries
from campaigns.schema import AuditEntry, Campaign, CampaignUpload, Delivery, Post
from scheduler import operations
from web import actions, context, uploads
from web.filters import FIRST_DAY, LAST_DAY, MAX_ID, Filter, day_arg, joined, row_id

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_ROWS = 5000


@blueprint.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, "send Authorization: Bearer <token> (elshi user token, or the Users page)")
    with context.writing() as session:  # records when the token was last used
        try:
            g.api_person = people.user_for_token(session, token, now=context.now())
        except people.UnknownPerson:
            abort(401, "unknown, revoked or expired token")
        session.commit()


@blueprint.after_request
def _no_store(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="elshi"'
    return response


def _person(action: str) -> people.Person:
    who = g.api_person
    try:
        people.require(who, action)
    except people.Forbidden as exc:
        abort(403, str(exc))
    assert isinstance(who, people.Person)
    return who


def _body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # not a ValueError: `silent` lets it through
        abort(400, "the JSON body is nested too deeply")
    return data if isinstance(data, dict) else {}


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        abort(400, f"{name} must be a string")
    if _UNSTORABLE.search(value):  # JSON's "\u0000" and "\ud800" escapes
        abort(400, f"{name} must be text without NUL characters or lone UTF-16 surrogates")
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What neither database can store or look up (PostgreSQL: no NUL; both: no lone surrogate)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@blueprint.get("/openapi.json")
def openapi() -> Response:
    from web.openapi import document

    return jsonify(document())


@blueprint.get("/me")
def me() -> Any:
    who = g.api_person
    return {"username": who.username, "display_name": who.display_name, "roles": sorted(who.roles)}


@blueprint.get("/campaigns")
def campaigns() -> Any:
    _person("campaign.view")
    return {"campaigns": _plain(campaign_summaries(context.db()))}


@blueprint.get("/campaigns/<campaign_id>")
def campaign(campaign_id: str) -> Any:
    _person("campaign.view")
    detail = campaign_detail(context.db(), campaign_id)
    if detail is None:
        abort(404, f"no campaign {campaign_id!r}")
    return _plain(detail)


@blueprint.get("/campaigns/<campaign_id>/file")
def campaign_file(campaign_id: str) -> Response:
    _person("campaign.view")
    query = select(CampaignUpload).where(
        CampaignUpload.campaign_id == campaign_id, CampaignUpload.status == "applied"
    )
    version = request.args.get("version", "")
    if row_id(version) is not None:
        query = query.where(CampaignUpload.version == row_id(version))
    upload = context.db().scalars(query.order_by(CampaignUpload.version.desc()).limit(1)).first()
    if upload is None:
        abort(404, f"no applied file of campaign {campaign_id!r}")
    import io

    return send_file(
        io.BytesIO(upload.campaign_yaml),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"{campaign_id}-v{upload.version}.yaml",
    )


@blueprint.post("/campaigns")
def upload_campaign() -> Any:
    apply = request.args.get("apply", "false").lower() in ("1", "true", "yes")
    who = _person("campaign.apply" if apply else "campaign.plan")
    file = request.files.get("file")
    if file is None or not file.filename:
        abort(400, "send the campaign file as multipart/form-data field 'file'")
    media = [
        (m.filename, m.read(uploads.MAX_FILE_BYTES + 1))
        for m in request.files.getlist("media")
        if m.filename
    ]
    result = actions.upload(
        who,
        file.filename,
        file.read(uploads.MAX_FILE_BYTES + 1),
        base_campaign=request.form.get("base") or None,
        apply=apply,
        media=media,
    )
    return result.as_json(), result.status


@blueprint.get("/deliveries")
def deliveries() -> Any:
    _person("campaign.view")
    f = Filter.from_args(request.args)
    query = joined(
        Delivery.id,
        Delivery.due_at,
        Delivery.local_due,
        Delivery.timezone,
        Delivery.state,
        Delivery.language,
        Delivery.remote_url,
        Post.id.label("post_id"),
        Post.key.label("post"),
        Campaign.id.label("campaign"),
        Delivery.channel_id,
    ).where(*f.conditions())
    for name, op in (("from", "ge"), ("to", "lt")):
        raw = request.args.get(name)
        if raw:
            try:
                moment = datetime.fromisoformat(raw)
            except ValueError:
                abort(400, f"{name} must be an ISO date or date-time")
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=context.viewer_zone())
            query = query.where(
                Delivery.due_at >= moment if op == "ge" else Delivery.due_at < moment
            )
    rows = context.db().execute(query.order_by(Delivery.due_at, Delivery.id).limit(MAX_ROWS))
    from campaigns.schema import Channel

    names = dict(context.db().execute(select(Channel.id, Channel.name)).all())
    return {
        "deliveries": [
            {
                "id": r.id,
                "campaign": r.campaign,
                "post": r.post,
                "post_id": r.post_id,
                "channel": names.get(r.channel_id),
                "due_at": _iso(r.due_at),
                "local_due": r.local_due,
                "timezone": r.timezone,
                "language": r.language,
                "state": r.state,
                "url": r.remote_url,
            }
            for r in rows
        ]
    }


@blueprint.get("/posts/<int:post_id>")
def post(post_id: int) -> Any:
    _person("campaign.view")
    found = context.db().get(Post, post_id)
    if found is None:
        abort(404, f"no post {post_id}")
    return actions.post_json(found)


@blueprint.post("/posts/<int:post_id>/approve")
@blueprint.post("/posts/<int:post_id>/reject")
def decide(post_id: int) -> Any:
    approve = request.path.endswith("/approve")
    who = _person("post.approve" if approve else "post.reject")
    session = context.db()
    found = session.get(Post, post_id)
    if found is None:
        abort(404, f"no post {post_id}")
    body = _body()
    try:
        message = actions.decide(
            session, [found], who, approve=approve, comment=_string(body, "comment")
        )
    except actions.Refused as exc:
        session.rollback()
        abort(409, str(exc))
    session.commit()
    return {"message": message, "post": actions.post_json(found)}


@blueprint.get("/approvals")
def approvals() -> Any:
    _person("campaign.view")
    from web.views.queue import VIEWS, rows_for

    view = request.args.get("view", "mine")
    if view not in VIEWS:
        abort(400, f"view must be one of {', '.join(VIEWS)}")
    rows = rows_for(context.db(), view, Filter.from_args(request.args))
    if view == "all":
        items = [
            {
                "post_id": r.id,
                "post": r.key,
                "campaign": r.campaign,
                "due_at": _iso(r.first_due),
                "deliveries": r.deliveries,
            }
            for r in rows
        ]
    else:
        items = [_plain(dict(vars(r["item"]))) for r in rows]
    return {"view": view, "posts": items}


@blueprint.get("/status")
def status() -> Any:
    _person("status.view")
    return _plain(
        operations.status(context.db(), context.now(), campaign=request.args.get("campaign"))
    )


@blueprint.post("/deliveries/<int:delivery_id>/<action>")
def delivery_action(delivery_id: int, action: str) -> Any:
    if action not in ("retry", "cancel", "resolve"):
        abort(404)
    who = _person(f"delivery.{action}")
    body = _body()
    session = context.db()
    try:
        done = actions.deliveries(
            session,
            who,
            action,
            [delivery_id],
            reason=_string(body, "reason"),
            published_url=_string(body, "published_url"),
            remote_id=_string(body, "remote_id"),
            cancel_instead=bool(body.get("cancel")),
        )
    except actions.Refused as exc:
        session.rollback()
        abort(409, str(exc))
    session.commit()
    return {"outcomes": [o.__dict__ for o in done]}


@blueprint.post("/channels/<name>/resume")
def channel_resume(name: str) -> Any:
    who = _person("channel.resume")
    session = context.db()
    try:
        changed = operations.resume_channel(session, name, actor=who, now=context.now())
    except operations.OperationError as exc:
        session.rollback()
        abort(404, str(exc))
    session.commit()
    return {"channel": name, "resumed": changed}


@blueprint.get("/pauses")
def pauses_list() -> Any:
    _person("status.view")
    from campaigns import pauses

    return {
        "pauses": [
            {
                "id": p.id,
                "scope": p.scope,
                "target": p.target,
                "reason": p.reason,
                "paused_by": p.paused_by,
                "paused_at": _iso(p.paused_at),
                "what": pauses.describe(p),
            }
            for p in pauses.active(context.db())
        ]
    }


@blueprint.post("/pauses")
def pause_create() -> Any:
    """The kill switch. When this answers, nothing the pause covers starts publishing; the
    deliveries already being sent are listed as in flight."""
    who = _person("pause.create")
    from campaigns import pauses

    body = _body()
    context.db().rollback()  # the pause takes the database's write lock itself
    try:
        done = pauses.pause(
            context.runtime().writers,
            scope=_string(body, "scope") or "",
            target=_string(body, "target") or "",
            reason=_string(body, "reason") or "",
            by=who,
            now=context.now(),
        )
    except pauses.PauseError as exc:
        abort(409, str(exc))
    return {
        "pause_id": done.pause_id,
        "created": done.created,
        "handed_back": list(done.handed_back),
        "in_flight": [_plain(dict(vars(i))) for i in done.in_flight],
    }, (201 if done.created else 200)


@blueprint.get("/pauses/<int:pause_id>/overdue")
def pause_overdue(pause_id: int) -> Any:
    _person("status.view")
    from campaigns import pauses

    try:
        held = pauses.overdue(context.db(), pause_id, now=context.now())
    except pauses.PauseError as exc:
        abort(404, str(exc))
    return {"overdue": [_plain(dict(vars(h))) for h in held]}


@blueprint.post("/pauses/<int:pause_id>/resume")
def pause_resume(pause_id: int) -> Any:
    who = _person("pause.resume")
    from campaigns import pauses

    body = _body()

    def ids(name: str) -> list[int]:
        value = body.get(name) or []
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ID for v in value
        ):
            abort(400, f"{name} must be a list of delivery ids")
        return value

    context.db().rollback()
    try:
        done = pauses.resume(
            context.runtime().writers,
            pause_id,
            by=who,
            now=context.now(),
            send=ids("send"),
            skip=ids("skip"),
            send_all=bool(body.get("send_all")),
            skip_all=bool(body.get("skip_all")),
        )
    except pauses.PauseError as exc:
        abort(409, str(exc))
    return {"pause_id": done.pause_id, "sent": list(done.sent), "skipped": list(done.skipped)}


@blueprint.get("/reports")
def report() -> Response:
    _person("report.view")
    from reports.render_data import json_bytes
    from web.views.reports import _build

    return Response(json_bytes(_build()), mimetype="application/json")


@blueprint.get("/audit")
def audit() -> Any:
    _person("audit.view")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    for name, column in (("actor", AuditEntry.actor), ("entity", AuditEntry.entity)):
        if request.args.get(name):
            query = query.where(column == request.args[name])
    if request.args.get("entity_id"):
        query = query.where(AuditEntry.entity_id == request.args["entity_id"])
    # The page's rules (web.filters): days within FIRST_DAY-LAST_DAY, where a day's arithmetic
    # and the databases' dates do not overflow (9999-12-31 + 1 day was a 500).
    for name in ("since", "until"):
        try:
            day = day_arg(request.args.get(name))
        except ValueError:
            abort(400, f"{name} must be YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}")
        if day is None:
            continue
        if name == "until":
            day += timedelta(days=1)
        start = datetime.combine(day, time(), tzinfo=context.viewer_zone())
        query = query.where(AuditEntry.at >= start if name == "since" else AuditEntry.at < start)
    raw_limit = request.args.get("limit") or "200"
    limit = row_id(raw_limit)
    if limit is None:
        abort(400, f"limit must be a whole number from 1 (at most {MAX_ROWS} are sent)")
    limit = min(limit, MAX_ROWS)
    return {
        "entries": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "actor": e.actor,
                "entity": e.entity,
                "entity_id": e.entity_id,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in context.db().scalars(query.limit(limit))
        ]
    }
