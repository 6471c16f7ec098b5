"""``elshi post``: approve or reject posts (who and when are recorded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from elshi.app import App, BadInput
from elshi.output import table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campaigns.schema import Post


@click.group("post")
def group() -> None:
    """Approve or reject posts before they may be published."""


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


@group.command("approve")
@click.argument("posts", nargs=-1)
@click.option("--campaign", help="Campaign id (to disambiguate, or with --all).")
@click.option("--all", "all_", is_flag=True, help="Every post of --campaign.")
@click.option("--by", help="Who approves (default: the OS user).")
@click.pass_obj
def approve(
    app: App, posts: tuple[str, ...], campaign: str | None, all_: bool, by: str | None
) -> None:
    """Approve posts so their deliveries may be published. Examples:

    elshi post approve de-2027-gateway/abai-day-teaser
    elshi post approve --campaign de-2027-gateway --all --by "A. Nurlanovna"
    """
    from campaigns.approval import approve as do_approve

    with app.sessions() as session:
        rows = _select(session, posts, campaign, all_)
        decisions = do_approve(session, rows, actor=app.actor(by), now=app.now())
        session.commit()
    click.echo(
        table(
            ["post", "was", "now", "deliveries released"],
            [[d.post, d.before, d.after, d.deliveries] for d in decisions],
        )
    )


@group.command("reject")
@click.argument("posts", nargs=-1)
@click.option("--campaign", help="Campaign id (to disambiguate, or with --all).")
@click.option("--all", "all_", is_flag=True, help="Every post of --campaign.")
@click.option("--reason", help="Why (recorded in the audit log).")
@click.option("--by", help="Who rejects (default: the OS user).")
@click.pass_obj
def reject(
    app: App,
    posts: tuple[str, ...],
    campaign: str | None,
    all_: bool,
    reason: str | None,
    by: str | None,
) -> None:
    """Reject posts: their waiting deliveries are cancelled until the text is changed and the
    campaign applied again. Example:

        elshi post reject cn-2027-silk-road/visa-free-b --reason "tone"
    """
    from campaigns.approval import reject as do_reject

    with app.sessions() as session:
        rows = _select(session, posts, campaign, all_)
        decisions = do_reject(session, rows, actor=app.actor(by), now=app.now(), reason=reason)
        session.commit()
    click.echo(
        table(
            ["post", "was", "now", "deliveries cancelled"],
            [[d.post, d.before, d.after, d.deliveries] for d in decisions],
        )
    )
