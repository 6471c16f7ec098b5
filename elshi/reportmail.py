"""A report e-mail (``[reports.NAME]``): the executive summary as the body, in plain text and
HTML, and the report files (HTML, XLSX...) attached. Built here because it joins the reports
package and the notifiers; sent by ``scheduler.alerts`` on its schedule, or by
``elshi report send NAME`` at once."""

from __future__ import annotations

import html
import tempfile
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from notify.base import Attachment, Message, NotifierConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from elshi.config import Config
    from elshi.settings import ReportMailConfig
    from reports.model import Report

CONTENT_TYPES = {
    "html": "text/html",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "md": "text/markdown",
}


def build_report_mail(
    config: Config,
    sessions: sessionmaker[Session],
    name: str,
    scheduled_for: datetime,
    key: str,
    *,
    now: datetime,
) -> Message:
    from elshi.settings import NotifyConfig, ReportMailConfig
    from reports.request import build

    spec = config.named(ReportMailConfig)[name]
    with sessions() as session:
        audience = _audience(session, name, spec)
    engine = sessions.kw["bind"]
    since = scheduled_for - timedelta(seconds=spec.period_seconds) if spec.period_seconds else None
    built = build(
        engine,
        now=now,
        as_of=scheduled_for,
        campaign=spec.campaign,
        audience=audience,
        since=since,
        until=scheduled_for,
        imitates=config.text_platforms,
    )
    text, page = summary(built)
    stamp = scheduled_for.astimezone(_zone(spec.timezone)).strftime("%Y-%m-%d")
    subject = spec.subject or f"Elshi report {name}: {built.scope} ({stamp})"
    base = f"elshi-{name}-{stamp}"
    attachments = tuple(
        Attachment(f"{base}.{fmt}", CONTENT_TYPES[fmt], _render(built, fmt)) for fmt in spec.formats
    )
    recipients = spec.to or config.named(NotifyConfig)[spec.via or ""].to
    return Message(
        key=key,
        subject=subject + (" — SIMULATED data" if built.simulated else ""),
        text=text,
        html=page,
        payload={"type": "report", "report": name, "scheduled_for": scheduled_for.isoformat()},
        attachments=attachments,
        recipients=tuple(str(r) for r in recipients),
    )


def summary(report: Report) -> tuple[str, str]:
    """The body: the executive summary (which audiences, narratives and variants stand out,
    with their intervals) and the headline figures per audience, in plain text and as a small
    HTML page; the attachments hold everything else."""
    from reports.model import SIMULATED_NOTICE, format_interval, format_value
    from reports.render_text import terminal_summary
    from reports.summary import summary_html

    attached = "The full report is attached (HTML for reading, XLSX for your own analysis)."
    text = terminal_summary(report).replace(
        "Full report: elshi report --format html --out report.html", attached
    )
    cards = []
    for card in report.cards:
        rows = "".join(
            "<tr><td>{}</td><td style='text-align:right'>{}</td><td>{}</td></tr>".format(
                html.escape(fig.label),
                html.escape(format_value(fig.value, fig.kind)),
                html.escape(format_interval(fig.low, fig.high, fig.kind) or ""),
            )
            for fig in card.figures
        )
        cards.append(
            f"<h3>{html.escape(card.title)} · {html.escape(card.campaign_id)}</h3>"
            f"<p>{html.escape(card.subtitle)}</p>"
            f"<table cellpadding='4' style='border-collapse:collapse'>{rows}</table>"
        )
    notice = (
        f"<p style='color:#b5473a;font-weight:bold'>{html.escape(SIMULATED_NOTICE)}</p>"
        if report.simulated
        else ""
    )
    executive = summary_html(report.summary) if report.summary is not None else ""
    page = (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2>{html.escape(report.title)}</h2>"
        f"<p>{html.escape(report.scope)} · counters as of "
        f"{report.as_of:%Y-%m-%d %H:%M} UTC</p>{notice}{executive}"
        + ("".join(cards) or "<p>No deliveries in scope.</p>")
        + f"<p>{html.escape(attached)}</p></body></html>"
    )
    return text, page


def _render(report: Report, fmt: str) -> bytes:
    if fmt == "html":
        from reports.render_html import render

        return render(report).encode("utf-8")
    if fmt == "xlsx":
        from reports.render_xlsx import write_xlsx

        with tempfile.TemporaryDirectory(prefix="elshi-report-") as folder:
            path = Path(folder) / "report.xlsx"
            write_xlsx(report, path)
            return path.read_bytes()
    if fmt == "json":
        from reports.render_data import json_bytes

        return json_bytes(report)
    from reports.render_text import to_markdown

    return to_markdown(report).encode("utf-8")


def _audience(session: Session, name: str, spec: ReportMailConfig) -> int | None:
    if spec.audience is None:
        return None
    from click import ClickException

    from elshi.commands.report import _audience_id

    try:
        return _audience_id(session, spec.audience, spec.campaign)
    except ClickException as exc:
        raise NotifierConfigError(f"[reports.{name}] audience: {exc.message}") from None


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
