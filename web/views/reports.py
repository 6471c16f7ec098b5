"""Reports: the effectiveness report built live for the chosen campaign, audience and period
(read as of a chosen moment), shown in the page, and downloaded as XLSX, CSV (a zip) or JSON.
It goes through the report builder's own functions: scope → model → renderer."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_babel import gettext as _
from sqlalchemy import select

from campaigns.schema import Audience, Campaign
from web import app as web_app
from web import context, identity
from web.identity import signed_in

blueprint = Blueprint("reports", __name__, url_prefix="/reports")
FORMATS = ("xlsx", "csv", "json")


def _day(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, _("%(name)s must be a date (YYYY-MM-DD).", name=name))


def _scope() -> tuple[Any, dict[str, Any]]:
    from reports.data import Scope

    session = context.db()
    campaign = request.args.get("campaign") or None
    if campaign is not None and session.get(Campaign, campaign) is None:
        abort(404, _("No such campaign."))
    audience_raw = request.args.get("audience", "")
    audience = int(audience_raw) if audience_raw.isdigit() else None
    if audience is not None:
        found = session.get(Audience, audience)
        if found is None or (campaign is not None and found.campaign_id != campaign):
            abort(404, _("No such audience in this campaign."))
    since, until, as_of_day = _day("since"), _day("until"), _day("as_of")
    if since and until and since > until:
        abort(400, _("The period must start before it ends."))
    now = context.now()
    reading = (
        datetime.combine(as_of_day + timedelta(days=1), time(), tzinfo=UTC) if as_of_day else now
    )
    stop = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC) if until else None
    scope = Scope(
        as_of=min(reading, stop) if stop else reading,
        campaign=campaign,
        audience=audience,
        since=datetime.combine(since, time(), tzinfo=UTC) if since else None,
        until=stop,
    )
    chosen = {
        "campaign": campaign,
        "audience": audience,
        "since": since,
        "until": until,
        "as_of": as_of_day,
    }
    return scope, chosen


def _build() -> Any:
    from reports.data import load
    from reports.figures import build_report

    scope, _chosen = _scope()
    return build_report(load(context.runtime().engine, scope), generated_at=context.now())


@blueprint.get("")
@signed_in
def show() -> str:
    identity.require("report.view")
    _unused, chosen = _scope()
    session = context.db()
    campaigns = session.execute(select(Campaign.id, Campaign.title).order_by(Campaign.id)).all()
    audiences = session.execute(
        select(Audience.id, Audience.campaign_id, Audience.name).order_by(
            Audience.campaign_id, Audience.id
        )
    ).all()
    query = {k: v for k, v in request.args.items() if v}
    return render_template(
        "reports.html",
        chosen=chosen,
        campaigns=campaigns,
        audiences=audiences,
        query=query,
        formats=FORMATS,
    )


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
        from reports.render_data import to_json

        data = to_json(built).encode("utf-8")
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
