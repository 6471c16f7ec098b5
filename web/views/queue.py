"""The approval queue: what waits for me (the posts whose waiting step I may approve, soonest
due first, with the step), everything still waiting (any step, anyone), approving several at once
after a confirmation page, and the expired approvals (posts whose time passed before their chain
was complete). The rules and the queue itself are ``campaigns.approval``'s."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from campaigns import approval
from campaigns.schema import Approval, Campaign, Channel, Delivery, DeliveryState, Post
from web import actions, context, forms, identity
from web.filters import Filter, joined, options, row_id
from web.identity import signed_in

blueprint = Blueprint("queue", __name__, url_prefix="/approvals")
VIEWS = ("mine", "all", "expired")


def waiting(session: Session, f: Filter) -> list[Any]:
    """Every post still awaiting approval, whoever's step it waits for, with its first due time,
    channels and deliveries; one query."""
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
            Delivery.state == DeliveryState.draft.value,
            *f.conditions(with_state=False),
        )
        .group_by(Post.id, Post.key, Post.category, Campaign.id, Campaign.title)
        .order_by(func.min(Delivery.due_at), Post.id)
    )
    return list(session.execute(query))


def _matching(session: Session, f: Filter, post_ids: list[int]) -> set[int]:
    """Of ``post_ids``, those with a delivery the filter keeps."""
    if not post_ids:
        return set()
    query = joined(Post.id).where(Post.id.in_(post_ids), *f.conditions(with_state=False))
    return set(session.scalars(query.distinct()))


def rows_for(session: Session, view: str, f: Filter) -> list[Any]:
    if view == "all":
        return waiting(session, f)
    if view == "expired":
        items: list[Any] = approval.expired(session, campaign=f.campaign)
    else:
        items = approval.queue(session, identity.person(), now=context.now(), campaign=f.campaign)
    if f.active:
        keep = _matching(session, f, [i.post_id for i in items])
        items = [i for i in items if i.post_id in keep]
    titles = dict(session.execute(select(Campaign.id, Campaign.title)).all())
    return [{"item": i, "campaign_title": titles.get(i.campaign, i.campaign)} for i in items]


def _page(view: str) -> str:
    identity.require("campaign.view")
    f = Filter.from_args(request.args)
    session = context.db()
    return render_template(
        "queue.html", rows=rows_for(session, view, f), f=f, opts=options(session), view=view
    )


@blueprint.get("")
@signed_in
def show() -> str:
    return _page("mine")


@blueprint.get("/all")
@signed_in
def everything() -> str:
    return _page("all")


@blueprint.get("/expired")
@signed_in
def expired() -> str:
    return _page("expired")


@blueprint.post("/bulk")
@signed_in
def bulk() -> str | Response | tuple[str, int]:
    who = identity.require("post.approve")
    ids = [i for i in map(row_id, request.form.getlist("post")) if i is not None][:1000]
    session = context.db()
    posts = list(session.scalars(select(Post).where(Post.id.in_(ids)).order_by(Post.id)))
    if not posts:
        return forms.refused(_("Tick the posts to approve."), show)
    if request.form.get("confirmed") != "yes":
        return render_template("queue_confirm.html", posts=posts)
    try:
        actions.decide(session, posts, who, approve=True, comment=None)
    except actions.Refused as exc:  # all or nothing: the queue with the same posts ticked
        return forms.refused(str(exc), show)
    session.commit()
    flash(
        ngettext("You approved %(num)s post.", "You approved %(num)s posts.", len(posts)),
        "ok",
    )
    return redirect(forms.return_to("queue.show"))
