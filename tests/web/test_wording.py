"""Web users read web words: every command-line step the rules write ("elshi deliveries retry
12", "--published", "elshi post approve") is worded as the button or page that does it wherever
the workspace shows it (`web.wording`). The CLI keeps its own wording."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.schema import Delivery, DeliveryState, Post
from campaigns.store import session_factory
from tests.conftest import ROOT
from tests.web.conftest import Workspace, post_form

CLI = re.compile(r"\belshi (?!web\b)[a-z]+|(?<![\w-])--[a-z][\w-]*")
"""A command or an option of the command line (`elshi web` names the server itself)."""

SHOWN = sorted(
    {
        *ROOT.glob("campaigns/*.py"),
        *ROOT.glob("connectors/*.py"),
        *(ROOT / "scheduler" / name for name in ("operations.py", "dispatch.py", "recovery.py")),
    }
    - {
        # What only the command line, its files or the alerts show:
        ROOT / "campaigns" / "events.py",  # alert e-mails and messages
        ROOT / "campaigns" / "reference.py",  # `elshi campaign reference`
        ROOT / "campaigns" / "store.py",  # `elshi db upgrade --revision`
    }
)
"""The modules whose texts reach web pages: refusals, delivery errors, audit reasons."""
CLI_ONLY = {
    # the comment atop the skeleton file `elshi campaign import` writes; the web adds a
    # spreadsheet's posts to a campaign uploaded before and never makes a skeleton
    ("campaigns/spreadsheet.py", "Imported from "),
}


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """The string literals of a module (an f-string's fields as 7), without docstrings and
    logging calls' arguments (the daemon's log is read on its host)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):  # docstrings, and a class attribute's string after it
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    skip.add(id(statement.value))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("log", "logger")
        ):
            skip.update(id(inner) for inner in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            yield (
                node.lineno,
                "".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values),
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_every_command_line_step_the_web_may_show_has_web_words(ws: Workspace) -> None:
    """Reads the modules whose texts reach the web: a new "run elshi ..." there fails here
    until `web.wording.STEPS` words it."""
    from web.wording import for_web

    found = 0
    with ws.app.test_request_context("/"):
        for path in SHOWN:
            name = str(path.relative_to(ROOT))
            for line, text in _texts(path):
                if not CLI.search(text) or any(
                    name == where and text.startswith(start) for where, start in CLI_ONLY
                ):
                    continue
                found += 1
                worded = for_web(text)
                assert not CLI.search(worded), f"{name}:{line}: {worded!r}"
    assert found >= 8  # the scan reads what it should (eight such texts when written)


def test_templates_name_no_command(ws: Workspace) -> None:
    for template in sorted((ROOT / "web" / "templates").glob("*.html")):
        texts = re.findall(r"_\('((?:[^'\\]|\\.)*)'", template.read_text(encoding="utf-8"))
        assert not [t for t in texts if CLI.search(t)], template.name


def _flash(page: str) -> str:
    return " ".join(
        html.unescape(m) for m in re.findall(r'class="flash flash-error"[^>]*>(.*?)</', page, re.S)
    )


def test_refusals_and_recorded_reasons_read_in_web_words(ws: Workspace) -> None:
    olga = ws.client("olga")
    # A pause of a campaign that is gone (a page opened before it was): the Campaigns page.
    gone = post_form(
        olga, "/operations/pause", {"what": "campaign:gone", "reason": "r"}, page="/operations"
    )
    assert gone.status_code == 422
    said = _flash(gone.text)
    assert "no campaign 'gone'" in said and "see the Campaigns page" in said
    assert not CLI.search(said), said

    with session_factory(ws.engine)() as s:
        delivery = s.scalars(
            select(Delivery).join(Post).where(Post.key == "nauryz").order_by(Delivery.id)
        ).first()
        assert delivery is not None
        delivery_id, post_id = delivery.id, delivery.post_id
        delivery.state = DeliveryState.missed.value
        s.commit()
    # Retry of a delivery whose post is not approved: approve it on the post's page.
    refused = post_form(
        olga,
        "/operations/deliveries",
        {"action": "retry", "delivery": str(delivery_id)},
        page="/operations",
    )
    assert refused.status_code == 422
    said = _flash(refused.text)
    assert "approve it first (Approve on the post's page)" in said, said

    # What recovery records for a post it cannot find, as the Operations and post pages show it.
    from campaigns.states import transition

    written = (
        "cannot tell whether it was published: timeout; check the channel, then: elshi "
        f"deliveries resolve {delivery_id} --published URL | --not-published"
    )
    with session_factory(ws.engine)() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        row.state = DeliveryState.publishing.value
        transition(
            s, row, DeliveryState.needs_review, actor="daemon:t", at=ws.clock(), reason=written
        )
        row.last_error = f"the media file is gone (then: elshi deliveries retry {delivery_id})"
        s.commit()
    for page in (f"/posts/{post_id}", "/operations"):
        text = html.unescape(olga.get(page).text)
        assert "“It was published” (with the post's address)" in text, page
        assert not CLI.search(re.sub(r"<[^>]+>", " ", text)), page
    post_page = html.unescape(olga.get(f"/posts/{post_id}").text)
    assert "the media file is gone (then: Retry on the Operations page)" in post_page
    # The audit log shows what was recorded, as recorded.
    assert "elshi deliveries resolve" in html.unescape(
        ws.client("admin").get(f"/audit?entity=delivery&entity_id={delivery_id}").text
    )


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_web_words_are_in_the_viewers_language(ws: Workspace, language: str) -> None:
    from web.wording import for_web

    client = ws.client("olga")
    client.set_cookie("elshi_lang", language)
    with ws.app.test_request_context("/", headers={"Cookie": f"elshi_lang={language}"}):
        worded = for_web("delivery 3: its post is pending; approve it first (elshi post approve)")
    expected = {"en": "Approve on the post's page", "ru": "«Одобрить» на странице поста"}
    assert expected[language] in worded
