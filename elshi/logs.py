"""Logging set-up: human-readable lines by default, one JSON object per line with ``--log-json``.
Secrets are hidden by the one redaction mechanism (`connectors.redaction`): its filter sits on
Elshi's handler and on the client libraries' loggers, and it learns the values of configured
secrets (and of every variable named like one) here, in every encoded form."""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import os
import queue
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from connectors import redaction


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


def secret_values(env_names: Iterable[str] | None = None) -> list[str]:
    """Values of the named environment variables, or of every variable whose name says it holds
    a secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*_KEY``)."""
    if env_names is None:
        env_names = [n for n in os.environ if _SECRET_NAME.search(n)]
    return [os.environ[name] for name in env_names if len(os.environ.get(name, "")) >= 6]


def add_secrets(values: Iterable[str]) -> None:
    """Redact these values too from now on (called once the configuration names them)."""
    redaction.register(values)


def setup(*, json_lines: bool, level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_elshi", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._elshi = True  # type: ignore[attr-defined]
    redaction.register([*secrets, *secret_values()])
    handler.addFilter(redaction.install())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler", "alembic", "telegram"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _Enqueue(logging.handlers.QueueHandler):
    """Hands records to the writing thread with their message and traceback already rendered
    (a record's arguments may change after the call), but not yet formatted or redacted: the
    handler it replaces does that, as before."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.message = record.getMessage()
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _EXCEPTIONS.formatException(record.exc_info)
            record.exc_info = None
        return record


_EXCEPTIONS = logging.Formatter()


@contextmanager
def background() -> Iterator[None]:
    """Elshi's log lines written by one thread of their own while this is open (for the daemon:
    its many publishing threads then never queue behind each other's writes to stderr, which
    with the GIL means behind each other's turns to run); every line still queued is written
    when it closes."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_elshi", False)]
    if not ours:
        yield
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    enqueue = _Enqueue(records)
    enqueue._elshi = True  # type: ignore[attr-defined]
    listener = logging.handlers.QueueListener(records, *ours, respect_handler_level=True)
    for handler in ours:
        root.removeHandler(handler)
    root.addHandler(enqueue)
    listener.start()
    try:
        yield
    finally:
        root.removeHandler(enqueue)
        listener.stop()
        for handler in ours:
            root.addHandler(handler)
