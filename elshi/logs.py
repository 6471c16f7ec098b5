"""Logging set-up: human-readable lines by default, one JSON object per line with ``--log-json``;
a filter on every handler replaces the values of configured secrets (and Telegram-style tokens
in URLs) with ``[redacted]`` in messages and tracebacks."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_TOKEN_IN_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]{20,}")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN_IN_URL.sub(r"\1[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[0] is not None:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("delivery", "channel", "campaign", "state", "from_state", "worker"):
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_text:
            payload["error"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|_KEY$|CREDENTIAL", re.I)
_FILTERS: list[RedactingFilter] = []


def secret_values(env_names: Iterable[str] | None = None) -> list[str]:
    """Values of the named environment variables, or of every variable whose name says it holds
    a secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*_KEY``)."""
    if env_names is None:
        env_names = [n for n in os.environ if _SECRET_NAME.search(n)]
    return [os.environ[name] for name in env_names if len(os.environ.get(name, "")) >= 6]


def add_secrets(values: Iterable[str]) -> None:
    """Redact these values too from now on (called once the configuration names them)."""
    for log_filter in _FILTERS:
        merged = set(log_filter.secrets) | {v for v in values if v and len(v) >= 4}
        log_filter.secrets = sorted(merged, key=len, reverse=True)


def setup(*, json_lines: bool, level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_elshi", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._elshi = True  # type: ignore[attr-defined]
    log_filter = RedactingFilter([*secrets, *secret_values()])
    _FILTERS[:] = [log_filter]
    handler.addFilter(log_filter)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler", "alembic", "telegram"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
