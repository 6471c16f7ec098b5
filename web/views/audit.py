"""The audit log, filtered: who (actor), what kind of thing (delivery, post, user, session,
campaign, channel, pause...), which one, words in the reason, and a period; newest first, a page
at a time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import select

from campaigns.schema import AuditEntry
from web import context, identity
from web.filters import day_arg, row_id
from web.identity import signed_in

blueprint = Blueprint("audit", __name__, url_prefix="/audit")
PAGE = 200


def _day(name: str) -> date | None:
    try:
        return day_arg(request.args.get(name))
    except ValueError:
        return None


@blueprint.get("")
@signed_in
def show() -> str:
    identity.require("audit.view")
    session = context.db()
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    actor = request.args.get("actor", "").strip()[:200]
    entity = request.args.get("entity", "").strip()[:20]
    entity_id = request.args.get("entity_id", "").strip()[:80]
    words = request.args.get("q", "").strip()[:200]
    since, until = _day("since"), _day("until")
    zone = context.viewer_zone()
    if actor:
        query = query.where(AuditEntry.actor.contains(actor, autoescape=True))
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if words:
        query = query.where(AuditEntry.reason.contains(words, autoescape=True))
    if since:
        query = query.where(AuditEntry.at >= datetime.combine(since, time(), tzinfo=zone))
    if until:
        query = query.where(
            AuditEntry.at < datetime.combine(until + timedelta(days=1), time(), tzinfo=zone)
        )
    before = request.args.get("before", "")
    if row_id(before) is not None:
        query = query.where(AuditEntry.id < row_id(before))
    entries = session.scalars(query.limit(PAGE + 1)).all()
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    kinds = session.scalars(select(AuditEntry.entity).distinct().order_by(AuditEntry.entity)).all()
    return render_template(
        "audit.html",
        entries=entries,
        more=more,
        kinds=kinds,
        chosen={
            "actor": actor,
            "entity": entity,
            "entity_id": entity_id,
            "q": words,
            "since": since,
            "until": until,
        },
    )
