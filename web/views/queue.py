"""The approval queue: posts waiting for a decision, soonest due first; approving several at
once after a confirmation page; and the expired approvals (posts whose time passed unapproved)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from campaigns.schema import Approval, Campaign, Channel, Delivery, DeliveryState, Post
from web import actions, context, identity
from web.filters import Filter, joined, options
from web.identity import signed_in

blueprint = Blueprint("queue", __name__, url_prefix="/approvals")


def waiting(session: Session, f: Filter, *, expired: bool = False) -> list[Any]:
    """Posts awaiting approval (or, with ``expired``, whose deliveries were missed unapproved)
    with their first due time and channels; one query."""
    state = DeliveryState.missed if expired else DeliveryState.draft
    query = (
        joined(
            Post.id,
            Post.key,
            Post.category,
            Campaign.id.label("campaign"),
            Campaign.title.label("campaign_title"),
            func.min(Delivery.due_at).label("first_due"),
            func.count(Delivery.id).label("deliveries"),
            func.count(func.distinct(Channel.id)).label("channels"),
        )
        .where(
            Post.retired.is_(False),
            Post.approval == Approval.pending.value,
            Delivery.state == state.value,
            *f.conditions(with_state=False),
        )
        .group_by(Post.id, Post.key, Post.category, Campaign.id, Campaign.title)
        .order_by(func.min(Delivery.due_at).desc() if expired else func.min(Delivery.due_at))
    )
    return list(session.execute(query))


@blueprint.get("")
@signed_in
def show() -> str:
    identity.require("campaign.view")
    f = Filter.from_args(request.args)
    session = context.db()
    return render_template(
        "queue.html", rows=waiting(session, f), f=f, opts=options(session), expired=False
    )


@blueprint.get("/expired")
@signed_in
def expired() -> str:
    identity.require("campaign.view")
    f = Filter.from_args(request.args)
    session = context.db()
    return render_template(
        "queue.html",
        rows=waiting(session, f, expired=True),
        f=f,
        opts=options(session),
        expired=True,
    )


@blueprint.post("/bulk")
@signed_in
def bulk() -> str | Response:
    who = identity.require("post.approve")
    ids = [int(v) for v in request.form.getlist("post") if v.isdigit()][:1000]
    session = context.db()
    posts = list(session.scalars(select(Post).where(Post.id.in_(ids)).order_by(Post.id)))
    if not posts:
        flash(_("Tick the posts to approve."), "error")
        return redirect(url_for("queue.show"))
    if request.form.get("confirmed") != "yes":
        return render_template("queue_confirm.html", posts=posts)
    try:
        actions.decide(session, posts, who, approve=True, comment=None)
    except actions.Refused as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("queue.show"))
    session.commit()
    flash(
        ngettext("You approved %(num)s post.", "You approved %(num)s posts.", len(posts)),
        "ok",
    )
    return redirect(url_for("queue.show"))
