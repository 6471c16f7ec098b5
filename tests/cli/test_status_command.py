"""``elshi status`` says why a channel waits: the platform rate-limited it, or the platform was
unavailable and said when to come back, or (cause not recorded) that the platform asked to
wait; the JSON output carries the cause."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import ConnectorError, RateLimitedError, TransientError
from tests.campaigns.factory import doc, post, write
from tests.cli.conftest import Run


@pytest.fixture
def channel(run: Run, workspace: Path) -> str:
    """The applied campaign's channel."""
    from campaigns.schema import Channel
    from campaigns.store import make_engine, session_factory

    document = doc(posts=[post("hello")])
    document["campaign"]["approval"] = False
    write(workspace / "campaign.yaml", document)
    run("campaign", "apply", "campaign.yaml")
    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    with session_factory(engine)() as session:
        name = session.scalars(select(Channel.name)).first()
    engine.dispose()
    assert name is not None
    return name


def _block(workspace: Path, name: str, answer: ConnectorError | None) -> datetime:
    """Block channel ``name`` for an hour as the daemon does after ``answer`` (None: by other
    means, nothing recorded); the block's end."""
    from campaigns.schema import Channel
    from campaigns.store import make_engine, session_factory
    from scheduler.dispatch import block_channel

    now = datetime.now(UTC)
    until = now + timedelta(hours=1)
    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    with session_factory(engine)() as session:
        row = session.scalars(select(Channel).where(Channel.name == name)).one()
        if answer is None:
            row.blocked_until = until
        else:
            block_channel(session, row, until, answer, now, actor="daemon:test")
        session.commit()
    engine.dispose()
    return until


@pytest.mark.parametrize(
    ("answer", "said", "cause"),
    [
        (
            RateLimitedError("Too many requests", retry_after=3600),
            "the channel is rate-limited until",
            "rate_limit",
        ),
        (
            TransientError("503 Service Unavailable", status=503, retry_after=3600),
            "the platform is unavailable (HTTP 503) until",
            "unavailable",
        ),
        (None, "the platform asked us to wait until", None),
    ],
    ids=["429", "503", "unrecorded"],
)
def test_status_says_why_a_channel_waits(
    run: Run,
    workspace: Path,
    channel: str,
    answer: ConnectorError | None,
    said: str,
    cause: str | None,
) -> None:
    until = _block(workspace, channel, answer)
    shown = f"{until:%Y-%m-%d %H:%M:%S} UTC"
    out = run("status").output
    assert f"Channel {channel}: {said} {shown}; nothing is sent to it before then" in out
    assert "rate-limited" not in out or cause == "rate_limit"
    (item,) = json.loads(run("status", "--json").stdout)["rate_limited_channels"]
    assert (item["channel"], item["cause"], item["words"]) == (channel, cause, f"{said} {shown}")
