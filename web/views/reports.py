"""Reports: the effectiveness report built live for the chosen campaign, audience and period
(read as of a chosen moment), shown in the page, and downloaded as XLSX, CSV (a zip) or JSON.
It goes through the report builder's own functions: scope → model → renderer."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_babel import gettext as _
from sqlalchemy import select

from campaigns.schema import Audience, Campaign, Channel
from web import app as web_app
from web import context, identity
from web.filters import options, row_id
from web.identity import signed_in

blueprint = Blueprint("reports", __name__, url_prefix="/reports")
FORMATS = ("xlsx", "csv", "json")
SCOPE_ARGS = ("campaign", "country", "audience", "channel", "since", "until", "as_of")


class _Unusable(Exception):
    """The choices cannot make a report: the status and what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _moment(name: str, *, end: bool) -> datetime | None:
    from reports.request import BadMoment, moment

    try:
        return moment(request.args.get(name), end=end)
    except BadMoment:
        field = {"since": _("From"), "until": _("To"), "as_of": _("Counters as of")}[name]
        raise _Unusable(
            400, _("“%(field)s” must be a day (YYYY-MM-DD): choose one.", field=field)
        ) from None


def _scope() -> dict[str, Any]:
    """The chosen campaign, audience, period and report time, read as `elshi report` reads its
    options: a period's end day is included; the report time (a day: its end) says what was
    known and is not clamped to the period. Choices that cannot make a report raise
    `_Unusable`: the page says why beside the choices, a download or the frame answers 4xx."""
    session = context.db()
    campaign = request.args.get("campaign") or None
    if campaign is not None and session.get(Campaign, campaign) is None:
        raise _Unusable(404, _("No such campaign."))
    audience_raw = request.args.get("audience", "")
    audience = row_id(audience_raw)
    if audience is not None:
        found = session.get(Audience, audience)
        if found is None or (campaign is not None and found.campaign_id != campaign):
            raise _Unusable(404, _("No such audience in this campaign."))
    channel = request.args.get("channel") or None
    if (
        channel is not None
        and session.scalar(select(Channel.id).where(Channel.name == channel)) is None
    ):
        raise _Unusable(404, _("No such channel."))
    country = (request.args.get("country") or "").upper() or None
    since, until = _moment("since", end=False), _moment("until", end=True)
    if since and until and since >= until:
        raise _Unusable(400, _("The period must start before it ends: “From” is after “To”."))
    return {
        "campaign": campaign,
        "audience": audience,
        "channel": channel,
        "country": country,
        "since": since,
        "until": until,
        "as_of": _moment("as_of", end=True),
    }


def _build() -> Any:
    from reports.request import build

    settings = context.settings()
    try:
        scope = _scope()
    except _Unusable as exc:
        abort(exc.status, exc.message)
    scope["as_of"] = scope["as_of"] or settings.report_as_of
    return build(
        context.runtime().engine, now=context.now(), imitates=settings.text_platforms, **scope
    )


@blueprint.get("")
@signed_in
def show() -> str | tuple[str, int]:
    identity.require("report.view")
    try:
        scope, unusable = _scope(), None
    except _Unusable as exc:  # the page with the choices as made, and what to change
        scope, unusable = _chosen(), exc
    chosen = {
        **scope,
        "since": request.args.get("since", ""),
        "until": request.args.get("until", ""),
        "as_of": request.args.get("as_of", ""),
    }
    session = context.db()
    campaigns = session.execute(select(Campaign.id, Campaign.title).order_by(Campaign.id)).all()
    audiences = session.execute(
        select(Audience.id, Audience.campaign_id, Audience.name).order_by(
            Audience.campaign_id, Audience.id
        )
    ).all()
    # What the downloads and the frame repeat: the report's own choices, nothing else.
    query = {k: v for k, v in request.args.items() if v and k in SCOPE_ARGS}
    page = render_template(
        "reports.html",
        chosen=chosen,
        campaigns=campaigns,
        audiences=audiences,
        query=query,
        opts=options(session),
        formats=FORMATS,
        default_as_of=context.settings().report_as_of,
        unusable=unusable.message if unusable else None,
    )
    return (page, unusable.status) if unusable else page


def _chosen() -> dict[str, Any]:
    """The choices as they came, for showing them again beside why they make no report."""
    return {
        "campaign": request.args.get("campaign") or None,
        "audience": row_id(request.args.get("audience")),
        "channel": request.args.get("channel") or None,
        "country": (request.args.get("country") or "").upper() or None,
    }


@blueprint.get("/document")
@signed_in
def document() -> Response:
    identity.require("report.view")
    from reports.render_html import render

    response = Response(render(_build()), mimetype="text/html")
    response.headers["Content-Security-Policy"] = web_app.REPORT_CSP
    return response


@blueprint.get("/download.<fmt>")
@signed_in
def download(fmt: str) -> Response:
    identity.require("report.view")
    if fmt not in FORMATS:
        abort(404)
    built = _build()
    stamp = context.now().strftime("%Y%m%d-%H%M")
    if fmt == "json":
        from reports.render_data import json_bytes

        data = json_bytes(built)
    else:
        import tempfile
        from pathlib import Path

        from reports.render_data import write_csv
        from reports.render_xlsx import write_xlsx

        with tempfile.TemporaryDirectory(prefix="elshi-report-") as folder:
            if fmt == "csv":
                fmt = "zip"
                target = Path(folder) / "report.zip"
                write_csv(built, target)
            else:
                target = write_xlsx(built, Path(folder) / "report.xlsx")
            data = target.read_bytes()
    mimetype = {
        "json": "application/json",
        "zip": "application/zip",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    return send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"elshi-report-{stamp}.{fmt}",
    )
