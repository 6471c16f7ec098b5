"""``elshi post``: approval chains from the command line — approve, reject, what waits for me,
what expired, where a post stands. The rules are in `campaigns.approval`; who runs the command
comes from `App.person` (``--as``, ``ELSHI_USER``, ``ELSHI_TOKEN``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import echo_json, say, table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from campaigns.approval import Outcome
    from campaigns.schema import Post


@click.group("post")
def command() -> None:
    """Approve or reject posts before they may be published; see what waits for you. Example:

    \b
        elshi --as saule post approve --campaign de-2027-gateway --all
    """


def _select(
    session: Session, refs: tuple[str, ...], campaign: str | None, all_: bool
) -> list[Post]:
    from campaigns.approval import ApprovalError, campaign_posts, find_posts

    try:
        if all_:
            if not campaign or refs:
                raise BadInput("--all needs --campaign ID and no post ids")
            return campaign_posts(session, campaign)
        if not refs:
            raise BadInput("name posts (CAMPAIGN/POST, POST or id), or --campaign ID --all")
        return find_posts(session, refs, campaign)
    except ApprovalError as exc:
        raise BadInput(str(exc)) from None


def _decide(app: App, verb: str, by: str | None, fn: Any, all_: bool, **kwargs: Any) -> None:
    """Run ``fn`` (approve or reject) as the acting person. Naming posts is all or nothing: a
    refusal changes nothing (exit 2). With ``--all`` what may be decided is, and the rest is
    listed with the reason."""
    from campaigns.approval import ApprovalError
    from campaigns.people import PeopleError

    refs, campaign = kwargs.pop("refs"), kwargs.pop("campaign")
    with app.sessions() as session:
        person = app.person(session, by)
        rows = _select(session, refs, campaign, all_)
        try:
            outcomes: Sequence[Outcome] = fn(session, rows, by=person, now=app.now(), **kwargs)
        except (ApprovalError, PeopleError) as exc:
            raise BadInput(str(exc)) from None
        refused = [o for o in outcomes if o.refused]
        if refused and not all_:
            session.rollback()
            raise BadInput(
                "nothing was changed:\n" + "\n".join(f"  {o.post}: {o.refused}" for o in refused)
            )
        session.commit()
    say(
        table(
            ["post", "step", "was", "now", f"deliveries {verb}", "note"],
            [[o.post, o.step, o.before, o.after, o.deliveries, o.refused] for o in outcomes],
        )
    )


@command.command("approve")
@click.argument("posts", nargs=-1)
@options.campaign("Campaign id (to disambiguate, or with --all).")
@click.option("--all", "all_", is_flag=True, help="Every post of --campaign you may approve.")
@click.option("--step", help="The step you approve (default: the one waiting).")
@click.option("--comment", help="A note kept with the approval.")
@options.by("Same as the global --as USER.")
@click.pass_obj
def approve(
    app: App,
    posts: tuple[str, ...],
    campaign: str | None,
    all_: bool,
    step: str | None,
    comment: str | None,
    by: str | None,
) -> None:
    """Approve the waiting step of posts. When the last step is approved, their deliveries may
    be published. You cannot approve a post you uploaded or changed, nor two steps of one post.
    Examples:

    \b
        elshi --as saule post approve de-2027-gateway/abai-day-teaser
        elshi --as saule post approve --campaign de-2027-gateway --all
    """
    from campaigns.approval import approve as do_approve

    _decide(
        app,
        "released",
        by,
        do_approve,
        all_,
        refs=posts,
        campaign=campaign,
        step=step,
        comment=comment,
    )


@command.command("reject")
@click.argument("posts", nargs=-1)
@options.campaign("Campaign id (to disambiguate, or with --all).")
@click.option("--all", "all_", is_flag=True, help="Every post of --campaign you may reject.")
@click.option("--comment", "--reason", "comment", required=True, help="What must change.")
@click.option("--step", help="The step you decide (default: the one waiting).")
@options.by("Same as the global --as USER.")
@click.pass_obj
def reject(
    app: App,
    posts: tuple[str, ...],
    campaign: str | None,
    all_: bool,
    comment: str,
    step: str | None,
    by: str | None,
) -> None:
    """Reject posts with a comment: their waiting deliveries are cancelled until the text is
    changed and the campaign applied again (or you approve after all). Example:

    \b
        elshi --as saule post reject cn-2027-silk-road/visa-free-b --comment "tone"
    """
    from campaigns.approval import reject as do_reject

    _decide(
        app,
        "cancelled",
        by,
        do_reject,
        all_,
        refs=posts,
        campaign=campaign,
        comment=comment,
        step=step,
    )


@command.command("queue")
@options.campaign("Only this campaign.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="At most this many posts.")
@options.json_output
@options.by("Same as the global --as USER.")
@click.pass_obj
def queue(app: App, campaign: str | None, limit: int | None, as_json: bool, by: str | None) -> None:
    """What waits for your approval, per step, soonest due first. Example:

    \b
        elshi --as saule post queue
    """
    from dataclasses import asdict

    from campaigns.approval import queue as waiting

    with app.sessions() as session:
        app.check_campaign(session, campaign)
        person = app.person(session, by)
        items = waiting(session, person, now=app.now(), campaign=campaign, limit=limit)
    if as_json:
        echo_json([asdict(i) for i in items])
        return
    if not items:
        say(f"Nothing waits for {person.username}.")
        return
    say(
        table(
            ["post", "step", "due (UTC)", "deliveries"],
            [
                [
                    f"{i.campaign}/{i.post}",
                    f"{i.step_title} ({i.position}/{i.steps})",
                    i.due_at,
                    i.deliveries,
                ]
                for i in items
            ],
        )
    )


@command.command("expired")
@options.campaign("Only this campaign.")
@options.json_output
@click.pass_obj
def expired(app: App, campaign: str | None, as_json: bool) -> None:
    """Posts missed because their approval chain was incomplete at their time. Retry one with
    a new time after approving it: elshi deliveries retry ID. Example:

    \b
        elshi post expired --campaign de-2027-gateway
    """
    from dataclasses import asdict

    from campaigns.approval import expired as find_expired

    with app.sessions() as session:
        app.check_campaign(session, campaign)
        items = find_expired(session, campaign=campaign)
    if as_json:
        echo_json([asdict(i) for i in items])
        return
    if not items:
        say("No expired approvals.")
        return
    say(
        table(
            ["post", "due (UTC)", "deliveries missed", "was waiting for"],
            [[f"{i.campaign}/{i.post}", i.due_at, i.deliveries, i.waiting_for] for i in items],
        )
    )


@command.command("show")
@click.argument("post")
@options.campaign("Campaign id (to disambiguate).")
@options.json_output
@click.pass_obj
def show(app: App, post: str, campaign: str | None, as_json: bool) -> None:
    """Where a post stands in its approval chain: each step, who may approve it, who did.
    Example:

    \b
        elshi post show de-2027-gateway/abai-day-teaser
    """
    from dataclasses import asdict

    from campaigns.approval import status

    with app.sessions() as session:
        row = _select(session, (post,), campaign, False)[0]
        state = status(session, row)
        authors = list(row.authors)
        label = f"{row.campaign_id}/{row.key}"
    if as_json:
        echo_json({"post": label, "authors": authors, **asdict(state)})
        return
    say(f"{label} (revision {state.revision}): {state.summary()}")
    if authors:
        say(f"uploaded or changed by: {', '.join(authors)}")
    if state.steps:
        say(
            table(
                ["#", "step", "who may approve", "approved by", "rejected by"],
                [
                    [
                        n,
                        s.title,
                        s.who,
                        ", ".join(s.approved_by),
                        "; ".join(f"{a}: {c}" for a, c in s.rejected_by),
                    ]
                    for n, s in enumerate(state.steps, 1)
                ],
            )
        )
