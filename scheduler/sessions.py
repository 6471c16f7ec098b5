"""The database-backed `SessionStore`: platform logins (Bluesky's JWTs, WeChat's access token,
LinkedIn's tokens) kept in the ``connector_session`` table, so every daemon and every command
reuses one login instead of creating a new one each run (Bluesky allows about 30 logins per
5 minutes per account; a new WeChat token invalidates the previous one).

A payload is encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256) with a key derived from
the secret in the environment variable ``ELSHI_SECRET_KEY`` when it is set; without it the
payload is stored as plain JSON, and `encrypted` says so (``elshi channels check`` warns). A
payload that cannot be read (encrypted under another key, or damaged) counts as absent: the
connector logs in again and overwrites it. Nothing here logs a payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from campaigns.schema import ConnectorSession
from campaigns.store import immediate
from connectors import redaction
from connectors.base import StoredSession

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger("elshi.sessions")

KEY_ENV = "ELSHI_SECRET_KEY"
_FERNET = "fernet:"
_PLAIN = "plain:"


def _fernet(secret: str) -> Fernet:
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"elshi connector sessions v1\x00" + secret.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class DatabaseSessionStore:
    """A `connectors.base.SessionStore` on the ``connector_session`` table."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cipher = _fernet(secret) if secret else None

    @classmethod
    def from_environment(
        cls,
        sessions: sessionmaker[Session],
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> DatabaseSessionStore:
        env = os.environ if environ is None else environ
        return cls(sessions, secret=env.get(KEY_ENV) or None, clock=clock)

    @property
    def encrypted(self) -> bool:
        return self._cipher is not None

    def load(self, key: str) -> StoredSession | None:
        with self._sessions() as session:
            row = session.get(ConnectorSession, key)
            if row is None:
                return None
            payload, expires_at = row.payload, row.expires_at
        data = self._decode(key, payload)
        if data is None:
            return None
        redaction.register(data.values())
        return StoredSession(data=data, expires_at=expires_at)

    def save(self, key: str, stored: StoredSession) -> None:
        redaction.register(stored.data.values())
        payload = self._encode(dict(stored.data))
        # BEGIN IMMEDIATE on SQLite: a read that turns into a write while another process
        # writes would fail at once ("database is locked") instead of waiting its turn.
        with immediate(self._sessions) as session:
            row = session.get(ConnectorSession, key, with_for_update=True)
            if row is None:
                row = ConnectorSession(key=key, payload=payload, updated_at=self._clock())
                session.add(row)
            row.payload = payload
            row.expires_at = stored.expires_at
            row.updated_at = self._clock()
            session.commit()

    def forget(self, key: str) -> None:
        with immediate(self._sessions) as session:
            row = session.get(ConnectorSession, key)
            if row is not None:
                session.delete(row)
                session.commit()

    def _encode(self, data: dict[str, str]) -> str:
        text = json.dumps(data, sort_keys=True)
        if self._cipher is None:
            return _PLAIN + text
        token = self._cipher.encrypt(text.encode("utf-8"))
        return _FERNET + token.decode("ascii")

    def _decode(self, key: str, payload: str) -> dict[str, str] | None:
        if payload.startswith(_PLAIN):
            text = payload.removeprefix(_PLAIN)
        elif payload.startswith(_FERNET):
            if self._cipher is None:
                log.warning(
                    "the stored login %s is encrypted but %s is not set; logging in again",
                    key,
                    KEY_ENV,
                )
                return None
            from cryptography.fernet import InvalidToken

            try:
                raw = self._cipher.decrypt(payload.removeprefix(_FERNET).encode("ascii"))
            except InvalidToken:
                log.warning(
                    "the stored login %s was encrypted with another %s; logging in again",
                    key,
                    KEY_ENV,
                )
                return None
            text = raw.decode("utf-8")
        else:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): str(v) for k, v in data.items()}
