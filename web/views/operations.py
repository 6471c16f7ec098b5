"""Operations: what ``elshi status`` shows (daemons, what needs attention, what is being
published, what is overdue, what comes next, paused channels), and the operator's actions — retry,
cancel, resolve, pause and resume a channel — through the functions the CLI calls."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campaigns.schema import Delivery
from scheduler import operations
from web import actions, context, identity
from web.filters import Filter, joined, options
from web.identity import signed_in

blueprint = Blueprint("operations", __name__, url_prefix="/operations")


@blueprint.get("")
@signed_in
def show() -> str:
    identity.require("status.view")
    f = Filter.from_args(request.args)
    session = context.db()
    data = operations.status(session, context.now(), upcoming=15, campaign=f.campaign)
    if f.active:
        lists = ("attention", "publishing", "overdue", "upcoming")
        ids = {d["id"] for name in lists for d in data[name]}
        keep = set(
            session.scalars(joined(Delivery.id).where(Delivery.id.in_(ids), *f.conditions()))
        )
        for name in lists:
            data[name] = [d for d in data[name] if d["id"] in keep]
        if f.channel:
            for name in ("paused_channels", "rate_limited_channels"):
                data[name] = [c for c in data[name] if c["channel"] == f.channel]
    return render_template("operations.html", s=data, f=f, opts=options(session))


def _ids() -> list[int]:
    raw = request.form.getlist("delivery")
    return [int(v) for v in raw if v.isdigit()][:1000]


def _back() -> Response:
    return redirect(request.form.get("back") or url_for("operations.show"))


@blueprint.post("/deliveries")
@signed_in
def deliveries() -> Response:
    action = request.form.get("action", "")
    ids = _ids()
    if action not in ("retry", "cancel", "resolve-published", "resolve-not-published"):
        flash(_("Choose what to do."), "error")
        return _back()
    if not ids:
        flash(_("Tick at least one delivery."), "error")
        return _back()
    who = identity.require(
        {"retry": "delivery.retry", "cancel": "delivery.cancel"}.get(action, "delivery.resolve")
    )
    session = context.db()
    url = (request.form.get("url") or "").strip() or None
    if action == "resolve-published" and url is None:  # the address itself is checked by the rules
        flash(_("Give the post's address (https://…) on the platform."), "error")
        return _back()
    try:
        done = actions.deliveries(
            session,
            who,
            action.split("-")[0],
            ids,
            reason=request.form.get("reason"),
            published_url=url if action == "resolve-published" else None,
            cancel_instead=request.form.get("cancel") == "yes",
        )
    except actions.Refused as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back()
    session.commit()
    flash(
        ", ".join(
            _(
                "delivery %(id)s: %(before)s → %(after)s",
                id=o.delivery,
                before=o.before,
                after=o.after,
            )
            for o in done
        ),
        "ok",
    )
    return _back()


@blueprint.post("/channels/<name>/resume")
@signed_in
def resume_channel(name: str) -> Response:
    who = identity.require("channel.resume")
    session = context.db()
    try:
        changed = operations.resume_channel(session, name, actor=who, now=context.now())
    except operations.OperationError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back()
    session.commit()
    flash(
        _("Channel %(name)s resumed.", name=name)
        if changed
        else _("Channel %(name)s was not paused.", name=name),
        "ok",
    )
    return _back()
