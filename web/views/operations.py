"""Operations: what ``elshi status`` shows (daemons, what needs attention, what is being
published, what is overdue, what comes next, paused channels), and the operator's actions — retry,
cancel, resolve, resume a channel, and the kill switch (pause everything, a campaign, a country
or a channel with a reason; resume with a send-or-skip decision for each delivery that became
overdue) — through the functions the CLI calls."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaigns import pauses, people
from campaigns.schema import Campaign, Channel, Delivery, DeliveryState, Pause
from scheduler import operations
from web import actions, context, forms, identity
from web.filters import Filter, joined, options, row_id
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
    sending = set(
        session.scalars(
            select(Delivery.id).where(
                Delivery.state == DeliveryState.publishing.value, Delivery.sending_at.is_not(None)
            )
        )
    )
    return render_template(
        "operations.html",
        s=data,
        f=f,
        opts=options(session),
        pauses=pauses.active(session),
        describe=pauses.describe,
        sending=sending,
        targets=_targets(session),
    )


def _targets(session: Any) -> dict[str, list[tuple[str, str]]]:
    """What the kill switch can pause: campaigns, countries, channels (value, label)."""
    campaigns = session.execute(select(Campaign.id, Campaign.title, Campaign.country)).all()
    channels = session.scalars(select(Channel.name).order_by(Channel.name)).all()
    return {
        "campaign": [(c.id, c.title) for c in sorted(campaigns, key=lambda c: c.title)],
        "country": [(c, c) for c in sorted({c.country for c in campaigns})],
        "channel": [(c, c) for c in channels],
    }


@blueprint.post("/pause")
@signed_in
def pause() -> Response | tuple[str, int]:
    """The kill switch: pause everything, a campaign, a country or a channel, with a reason."""
    who = identity.require("pause.create")
    scope, _sep, target = (request.form.get("what") or "").partition(":")
    reason = (request.form.get("reason") or "").strip()
    context.db().rollback()  # the pause takes the database's write lock itself
    try:
        done = pauses.pause(
            context.runtime().writers,
            scope=scope,
            target=target,
            reason=reason,
            by=who,
            now=context.now(),
        )
    except (pauses.PauseError, people.Forbidden) as exc:
        return forms.refused(str(exc), show)
    message = _("Paused. Nothing it covers starts publishing any more.")
    if not done.created:
        message = _("This was paused already.")
    if done.handed_back:
        message += " " + _(
            "%(n)s claimed deliveries were handed back before sending.", n=len(done.handed_back)
        )
    flash(message, "ok")
    if done.in_flight:
        flash(
            _(
                "Already being sent when the pause began (they may still go out): %(list)s",
                list=", ".join(f"{i.label} ({i.worker})" for i in done.in_flight),
            ),
            "error",
        )
    return redirect(forms.return_to("operations.show") + "#killswitch")


@blueprint.get("/pauses/<int:pause_id>/resume")
@signed_in
def resume_form(pause_id: int) -> str:
    identity.require("pause.resume")
    session = context.db()
    row = session.get(Pause, pause_id)
    if row is None or row.resumed_at is not None:
        abort(404, _("No such active pause."))
    return render_template(
        "resume.html",
        pause=row,
        describe=pauses.describe,
        held=pauses.overdue(session, pause_id, now=context.now()),
    )


@blueprint.post("/pauses/<int:pause_id>/resume")
@signed_in
def resume(pause_id: int) -> Response | tuple[str, int]:
    who = identity.require("pause.resume")
    decisions: dict[int, str] = {}
    for key, value in request.form.items():
        held = row_id(key[1:]) if key.startswith("d") else None
        if held is not None and value in ("send", "skip"):
            decisions[held] = value
    context.db().rollback()  # the resume takes the database's write lock itself
    try:
        done = pauses.resume(
            context.runtime().writers,
            pause_id,
            by=who,
            now=context.now(),
            send=[k for k, v in decisions.items() if v == "send"],
            skip=[k for k, v in decisions.items() if v == "skip"],
        )
    except (pauses.PauseError, people.Forbidden) as exc:  # the decisions stay as made
        return forms.refused(str(exc), lambda: resume_form(pause_id))
    flash(
        _(
            "Resumed: %(sent)s overdue sent now, %(skipped)s skipped.",
            sent=len(done.sent),
            skipped=len(done.skipped),
        ),
        "ok",
    )
    return redirect(url_for("operations.show"))


def _ids() -> list[int]:
    raw = request.form.getlist("delivery")
    return [i for i in map(row_id, raw) if i is not None][:1000]


def _back() -> Response:
    """Back to the page the form was on (a path on this site only: see `forms.return_to`)."""
    return redirect(forms.return_to("operations.show"))


@blueprint.post("/deliveries")
@signed_in
def deliveries() -> Response | tuple[str, int]:
    action = request.form.get("action", "")
    ids = _ids()
    if action not in ("retry", "cancel", "resolve-published", "resolve-not-published"):
        return forms.refused(_("Choose what to do."), show)
    if not ids:
        return forms.refused(_("Tick at least one delivery."), show)
    who = identity.require(
        {"retry": "delivery.retry", "cancel": "delivery.cancel"}.get(action, "delivery.resolve")
    )
    session = context.db()
    url = (request.form.get("url") or "").strip() or None
    if action == "resolve-published" and url is None:  # the address itself is checked by the rules
        return forms.refused(_("Give the post's address (https://…) on the platform."), show)
    try:
        done = actions.deliveries(
            session,
            who,
            action.split("-")[0],
            ids,
            reason=request.form.get("reason"),
            published_url=url if action == "resolve-published" else None,
            remote_id=request.form.get("remote_id") if action == "resolve-published" else None,
            cancel_instead=request.form.get("cancel") == "yes",
        )
    except actions.Refused as exc:
        return forms.refused(str(exc), show)
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
