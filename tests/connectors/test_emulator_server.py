"""The test HTTP servers (the emulators', the webhook receiver's) keep failed requests out of
the test process's stderr."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connectors.testing.mastodon import MastodonEmulator
from notify.testing.webhook import WebhookReceiver


@pytest.mark.parametrize(
    "server_of", [MastodonEmulator, lambda: WebhookReceiver("s3cret")], ids=["emulator", "webhook"]
)
def test_a_failed_request_goes_to_the_log_not_to_stderr(
    server_of: Any, capsys: Any, caplog: Any
) -> None:
    """socketserver prints a failed request's traceback to sys.stderr; a command's output
    captured by click's runner (which swaps sys.stderr) then held another thread's traceback
    (`elshi status --check --json` was not JSON any more: a webhook receiver's answer, held
    past the notifier's timeout by an earlier test, failed with a broken pipe meanwhile)."""
    with server_of() as emulator, caplog.at_level(logging.DEBUG, "elshi.emulator"):
        server = emulator._server
        assert server is not None
        try:
            raise ConnectionResetError("the client hung up")
        except ConnectionResetError:
            server.handle_error(None, ("127.0.0.1", 40000))
    assert capsys.readouterr().err == ""
    assert any(
        "request from ('127.0.0.1', 40000) failed" in r.getMessage() and r.exc_info
        for r in caplog.records
    )
