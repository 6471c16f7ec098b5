"""Log-in throttling, counted in the database so every web process (gunicorn worker, second
server) sees the same numbers: after too many failures for one user name, or from one address,
within the window, further attempts are refused for one more window — whether or not
the password would have been right, and with the same answer for names that do not exist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.schema import LoginThrottle


def keys(username: str, address: str) -> tuple[str, str]:
    return f"user:{username.strip().casefold()[:200]}", f"address:{address[:80]}"


def blocked_until(session: Session, names: Sequence[str], now: datetime) -> datetime | None:
    """The latest moment any of ``names`` is blocked until, if any is blocked now."""
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(names))).all()
    ends = [r.blocked_until for r in rows if r.blocked_until is not None and r.blocked_until > now]
    return max(ends) if ends else None


def fail(session: Session, limits: dict[str, int], *, now: datetime, window: timedelta) -> None:
    """Count one failure against each key (``key → the failures it may have``) and commit."""
    for key, limit in limits.items():
        for _ in range(2):  # a concurrent first failure may insert the row before us
            row = session.scalar(
                select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
            )
            if row is None:
                session.add(
                    LoginThrottle(key=key, failures=1, window_started_at=now, blocked_until=None)
                )
            else:
                if now - row.window_started_at > window:
                    row.failures, row.window_started_at, row.blocked_until = 0, now, None
                row.failures += 1
                if row.failures >= limit:
                    row.blocked_until = now + window
            try:
                session.commit()
                break
            except IntegrityError:
                session.rollback()


def succeed(session: Session, username_key: str) -> None:
    """A correct log-in clears the name's count (not the address's: one good password must not
    reset an address that is trying many names)."""
    row = session.get(LoginThrottle, username_key)
    if row is not None:
        session.delete(row)
