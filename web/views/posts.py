"""One post: its text exactly as each channel will publish it (language, hashtags, tagged link,
per-platform override) with the length each platform counts, its media, its thread, its
deliveries with their history; and approving or rejecting it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaigns import approval, people, textrules
from campaigns.schema import AuditEntry, Delivery, Post
from web import actions, context, formatting, forms, identity
from web.identity import signed_in

blueprint = Blueprint("posts", __name__)


def _channel_view(post: Post, channel_deliveries: list[Delivery]) -> dict[str, Any]:
    first = channel_deliveries[0]
    channel = first.channel
    text_platform = context.settings().text_platforms.get(channel.name, channel.platform)
    media = _media_items(first)
    limit = textrules.limit_for(text_platform, caption=bool(media))
    size = textrules.length(text_platform, first.text, caption=bool(media))
    variants = post.content.get("text", {}).get(first.language, {})
    override = text_platform if isinstance(variants, dict) and text_platform in variants else None
    return {
        "channel": channel,
        "text_platform": text_platform,
        "language": first.language,
        "override": override,
        "text": first.text,
        "length": size,
        "limit": limit,
        "over": size - limit.maximum if size > limit.maximum else 0,
        "problem": textrules.check(text_platform, first.text, caption=bool(media)),
        "links": [_link(u) for u in textrules.URL_RE.findall(first.text)],
        "media": media,
        "deliveries": channel_deliveries,
    }


def _link(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "url": url,
        "base": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "params": [(k, v) for k, v in parse_qsl(parts.query) if k.startswith("utm_")],
    }


def _media_items(delivery: Delivery) -> list[dict[str, Any]]:
    """A delivery's media (references ``<sha256>/<name>`` or, on old rows, paths) with the alt
    text each goes out with (``media_alt``, parallel to ``media``, in the delivery's language)."""
    alts = list(delivery.media_alt or [])
    out = []
    for n, entry in enumerate(delivery.media):
        alt = alts[n] if n < len(alts) else None
        out.append({"name": str(entry).rsplit("/", 1)[-1], "alt": alt or None})
    return out


@blueprint.get("/posts/<int:post_id>")
@signed_in
def show(post_id: int) -> str:
    identity.require("campaign.view")
    session = context.db()
    post = session.get(Post, post_id)
    if post is None:
        abort(404, _("No such post."))
    deliveries = sorted(post.deliveries, key=lambda d: (d.channel.name, d.occurrence))
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for d in deliveries:
        by_channel[d.channel.name].append(d)
    history: dict[int, list[AuditEntry]] = defaultdict(list)
    if deliveries:
        for entry in session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.entity == "delivery",
                AuditEntry.entity_id.in_([str(d.id) for d in deliveries]),
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        ):
            history[int(entry.entity_id)].append(entry)
    post_history = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "post", AuditEntry.entity_id == str(post.id))
        .order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    parent = session.get(Post, post.reply_to_post_id) if post.reply_to_post_id else None
    chain = approval.status(session, post)
    # Approve and Reject only while a step waits, and only for someone the rules let decide it.
    who = identity.person()
    may_decide = chain.current is not None and not post.retired and people.may(who, "post.approve")
    refusal = None
    if may_decide and chain.current is not None:
        if approval.refusal(who, post, chain) is not None:
            refusal = (
                _("you uploaded or changed this post; someone else must approve it")
                if who.actor in post.authors
                else _("this step is for %(who)s", who=formatting.step_words(chain.current.who))
            )
        elif who.actor in chain.current.approved_by:
            refusal = _("you approved this step; it waits for the others it names")
        elif any(who.actor in s.approved_by for s in chain.steps):
            refusal = _("you approved an earlier step; each step needs a different person")
    replies = session.scalars(
        select(Post).where(Post.reply_to_post_id == post.id).order_by(Post.id)
    ).all()
    return render_template(
        "post.html",
        post=post,
        channels=[_channel_view(post, ds) for ds in by_channel.values()],
        history=history,
        post_history=post_history,
        parent=parent,
        replies=replies,
        chain=chain,
        may_decide=may_decide and refusal is None,
        refusal=refusal,
    )


@blueprint.post("/posts/<int:post_id>/decide")
@signed_in
def decide(post_id: int) -> Response | tuple[str, int]:
    session = context.db()
    post = session.get(Post, post_id)
    if post is None:
        abort(404, _("No such post."))
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        abort(400, _("Choose approve or reject."))
    who = identity.require("post.approve" if decision == "approve" else "post.reject")
    try:
        actions.decide(
            session,
            [post],
            who,
            approve=decision == "approve",
            comment=request.form.get("comment"),
        )
    except actions.Refused as exc:
        return forms.refused(str(exc), lambda: show(post_id))
    session.commit()
    flash(
        _("You approved %(post)s.", post=post.key)
        if decision == "approve"
        else _("You rejected %(post)s.", post=post.key),
        "ok",
    )
    return redirect(url_for("posts.show", post_id=post_id))
