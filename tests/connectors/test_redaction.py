"""The one redaction mechanism: every form a secret may take in a log line or a message."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
from urllib.parse import quote, quote_plus, urlencode

import pytest

from connectors import redaction
from connectors.redaction import REDACTED, redact

SECRET = "s3cr3t/+Key=with&odd:chars"


@pytest.fixture(autouse=True)
def registered() -> None:
    redaction.register([SECRET])


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    ],
    ids=["raw", "url-encoded", "form-encoded", "json-escaped", "base64", "base64url"],
)
def test_a_registered_secret_is_hidden_in_every_encoded_form(form: str) -> None:
    text = f"GET https://api.example/x?q={form}&n=1 failed: {form!r}"

    cleaned = redact(text)

    assert form not in cleaned
    assert REDACTED in cleaned


def test_secret_shaped_values_are_hidden_before_anyone_registers_them() -> None:
    text = (
        "POST https://api.weixin.qq.com/cgi-bin/draft/add?access_token=78_fresh-token-abc "
        'body={"refresh_token": "AQX-refresh-123456", "title": "ok"} '
        "Authorization: Bearer eyJhbGciOi.payload.sig "
        + urlencode({"client_secret": "cs-987654", "grant_type": "refresh_token"})
        + " https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"
    )

    cleaned = redact(text)

    for leaked in ("78_fresh-token-abc", "AQX-refresh-123456", "eyJhbGciOi", "cs-987654"):
        assert leaked not in cleaned
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in cleaned
    assert '"title": "ok"' in cleaned  # ordinary fields stay readable
    assert "grant_type=refresh_token" in cleaned


def test_secrets_passed_along_are_hidden_without_being_registered() -> None:
    assert redact("token was 9f8e7d6c", ["9f8e7d6c"]) == f"token was {REDACTED}"
    assert "9f8e7d6c" not in redaction.REDACTOR._known


def test_short_values_are_not_treated_as_secrets() -> None:
    redaction.register(["ab"])

    assert redact("a tab and a cab") == "a tab and a cab"


def test_the_log_filter_cleans_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redaction.RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s", f"/token?secret={quote(SECRET, safe='')}")
        try:
            raise RuntimeError(f"refused {base64.b64encode(SECRET.encode()).decode()}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    output = stream.getvalue()
    assert quote(SECRET, safe="") not in output
    assert base64.b64encode(SECRET.encode()).decode() not in output
    assert "RuntimeError: refused [redacted]" in output


def test_the_cli_log_setup_hides_url_encoded_secrets_of_configured_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from elshi import logs

    monkeypatch.setenv("ELSHI_WEIBO_TOKEN", "2.00weibo/token+value==")
    logs.setup(json_lines=False)

    logging.getLogger("urllib3.connectionpool").warning(
        "Retrying https://api.weibo.com/2/statuses/share.json?source=x&access_token=%s",
        quote("2.00weibo/token+value==", safe=""),
    )
    logging.getLogger("elshi.test").warning("token %s", "2.00weibo/token+value==")

    err = capsys.readouterr().err
    assert "2.00weibo" not in err
    assert err.count(REDACTED) == 2


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_the_daemons_background_log_writer_redacts_and_writes_every_line_before_closing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    import threading

    from elshi import logs

    monkeypatch.setenv("ELSHI_WEIBO_TOKEN", "2.00weibo/token+value==")
    logs.setup(json_lines=json_lines)
    log = logging.getLogger("elshi.test")

    def work(n: int) -> None:
        for i in range(50):
            log.warning("thread %d line %d token %s", n, i, "2.00weibo/token+value==")

    with logs.background():
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            raise RuntimeError("refused 2.00weibo/token+value==")
        except RuntimeError:
            log.exception("the call failed")
    log.warning("after the writer closed")

    lines = capsys.readouterr().err.splitlines()
    text = "\n".join(lines)
    assert "2.00weibo" not in text
    assert sum(f"token {REDACTED}" in line for line in lines) == 200
    assert "RuntimeError: refused [redacted]" in (
        json.loads(next(x for x in lines if "the call failed" in x))["error"]
        if json_lines
        else text
    )
    assert "after the writer closed" in lines[-1]


def _every_pattern(text: str) -> str:
    """`redact` as it was before its shortcuts: every shape-based pattern on every text."""
    for form in redaction.REDACTOR._forms:
        text = text.replace(form, REDACTED)
    text = redaction._TELEGRAM_URL.sub(r"\1" + REDACTED, text)
    text = redaction._BEARER.sub(r"\1" + REDACTED, text)
    text = redaction._PARAM.sub(lambda m: m.group(1) + redaction._keep(m.group(2)), text)
    return redaction._JSON_FIELD.sub(lambda m: m.group(1) + redaction._keep(m.group(2)), text)


def test_the_patterns_skipped_for_a_text_could_not_have_matched_it() -> None:
    # Each shape-based pattern runs only on texts holding what all its matches hold; the
    # result must be the same as running every pattern on every text.
    pieces = [
        "delivery 12 kz/p-1#2@c01: publishing → published (published (attempt 1))",
        "channel c01: published status 109876543210",
        "Authorization: Bearer eyJhbGciOi.payload.sig",
        "auth: BEARER abcdefgh12345678",
        "header oAuTh2   tok.en_value-123",
        "OAuth abcdefghij",
        "bearer short",
        "https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
        "/BOT123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "GET /x?access_token=78_fresh-token-abc&n=1",
        "PASSWORD=hunter2hunter2",
        "form: client_secret=cs-987654;token=abc",
        '{"refresh_token": "AQX-refresh-123456", "title": "ok"}',
        "{'Secret': 'value-abcdef'}",
        '{\\"id_token\\": \\"xyz-123456\\"}',
        "token: no quotes here",
        "Ｂearer ｆｕｌｌｗｉｄｔｈ",
        "ſecret=ſtrange-value kelvin \u212a",
        "",
    ]
    rng = random.Random(14)
    texts = list(pieces)
    for _ in range(400):
        texts.append(" ".join(rng.sample(pieces, rng.randint(1, 4))))
        texts.append("".join(rng.choice(pieces)[rng.randint(0, 8) :] for _ in range(2)))
    for text in texts:
        assert redact(text) == _every_pattern(text), text


def test_only_the_letters_of_bearer_and_oauth_match_them_in_any_case() -> None:
    # `redact` tests the lower-cased text for these words before the case-insensitive
    # pattern: no other character of Unicode may match one of their letters.
    everything = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    for word in ("bearer", "oauth"):
        matching = set(re.findall(f"(?i)[{word}]", everything))
        assert {c.lower() for c in matching} <= set(word), word
