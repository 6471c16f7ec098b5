"""The web's words for the steps the rest of Elshi words for its command line.

`campaigns`, `scheduler` and the connectors write what to do next the way a terminal user does it
("approve it first (elshi post approve)", "check the channel, then: elshi deliveries resolve 12
--published URL | --not-published"): in the refusals they raise, in a delivery's last error and
in the reasons of the audit log, which are kept in the database and read by the CLI, the alerts
and the web alike. A person on the web has no terminal: every such text the workspace shows
passes through `for_web`, which words each step as the button or page that does it. One table,
`STEPS`, holds every command the web may meet (tests/web/test_wording.py reads the modules whose
texts the web shows and fails on a command the table does not word); the CLI's wording stays
the recorded one.

Where it applies: the ``web_words`` template filter, on every flashed message (a refused form's
reason among them) and error page (`base.html`, `error.html`), and on what the rules recorded
that the Operations, post and upload pages show (a delivery's last error, its history's reasons,
a channel's pause reason, an upload's problems). Not the audit log, which shows what was
recorded, as recorded; not the JSON API, whose callers are programs with their own tools."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask_babel import gettext as _

STEPS: tuple[tuple[re.Pattern[str], Callable[[], str]], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        # Deliveries: settled and retried with the buttons of the Operations page's lists.
        (
            r"`?elshi deliveries resolve( \d+ --published URL \| --not-published)?`?",
            lambda: _(
                "the buttons “It was published” (with the post's address) or “It was not "
                "published: send again” on the Operations page"
            ),
        ),
        (r"elshi deliveries retry \d+", lambda: _("Retry on the Operations page")),
        (r"^--published: ", lambda: _("The post's address: ")),
        # Approvals, campaigns, people, the workspace's configuration.
        (r"elshi post approve[^)]*", lambda: _("Approve on the post's page")),
        (r"see: elshi campaign list", lambda: _("see the Campaigns page")),
        (r"see: elshi user list", lambda: _("see the Users page")),
        (r"add --role admin", lambda: _("tick the role admin")),
        (r" ?\(the CLI names its user with --as USER, ELSHI_USER or ELSHI_TOKEN\)", lambda: ""),
        (r"run 'elshi init'", lambda: _("the server has no elshi.toml")),
    )
)


def for_web(text: object) -> str:
    """``text`` with every command-line step worded as the web's button or page ('' for
    None)."""
    if text is None:
        return ""
    out = str(text)
    for pattern, words in STEPS:
        if pattern.search(out):
            # A replacement string, its backslashes escaped (sub reads them as group refs).
            out = pattern.sub(words().replace("\\", "\\\\"), out)
    return out


def install(app: Flask) -> None:
    app.jinja_env.filters["web_words"] = for_web
