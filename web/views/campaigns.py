"""Campaigns: the list, uploading a file (errors at their line → the plan → apply), one
campaign with its posts and every version of its file, and downloading any version."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaigns.queries import campaign_detail, campaign_summaries
from campaigns.schema import Campaign, CampaignUpload, Post
from web import actions, context, forms, identity, uploads
from web.filters import row_id
from web.identity import signed_in

blueprint = Blueprint("campaigns", __name__, url_prefix="/campaigns")


@blueprint.get("")
@signed_in
def index() -> str:
    identity.require("campaign.view")
    session = context.db()
    pending = session.scalars(
        select(CampaignUpload)
        .where(CampaignUpload.status == "planned")
        .order_by(CampaignUpload.uploaded_at.desc())
        .limit(20)
    ).all()
    return render_template(
        "campaigns.html",
        campaigns=campaign_summaries(session),
        pending=pending,
        choices=session.execute(select(Campaign.id, Campaign.title).order_by(Campaign.id)).all(),
    )


@blueprint.post("/upload")
@signed_in
def upload() -> str | Response | tuple[str, int]:
    who = identity.require("campaign.plan")
    file = request.files.get("file")
    if file is None or not file.filename:
        return forms.refused(_("Choose a campaign file to upload."), index)
    media = [
        (m.filename, m.read(uploads.MAX_FILE_BYTES + 1))
        for m in request.files.getlist("media")
        if m.filename
    ]
    try:
        checked = actions.check_upload(
            file.filename,
            file.read(uploads.MAX_FILE_BYTES + 1),
            base_campaign=request.form.get("base") or None,
            media=media,
        )
        if not checked.ok:
            return render_template("upload_errors.html", checked=checked), 422
        kept = actions.keep_upload(checked, who)
    except actions.Refused as exc:
        return forms.refused(str(exc), index)
    context.db().commit()
    return redirect(url_for("campaigns.plan", upload_id=kept.id))


@blueprint.get("/uploads/<int:upload_id>")
@signed_in
def plan(upload_id: int) -> str:
    identity.require("campaign.view")
    upload = context.db().get(CampaignUpload, upload_id)
    if upload is None:
        abort(404, _("No such upload."))
    checked = actions.check_upload(
        upload.filename.rsplit(".", 1)[0] + ".yaml",
        upload.campaign_yaml,
        base_campaign=None,
        kept=upload,
    )
    return render_template("upload_plan.html", upload=upload, checked=checked)


@blueprint.post("/uploads/<int:upload_id>/apply")
@signed_in
def apply(upload_id: int) -> Response:
    who = identity.require("campaign.apply")
    session = context.db()
    upload = session.get(CampaignUpload, upload_id)
    if upload is None:
        abort(404, _("No such upload."))
    if upload.status != "planned":
        flash(_("This upload was applied already."), "info")
        return redirect(url_for("campaigns.show", campaign_id=upload.campaign_id))
    result = actions.apply_upload(session, upload, who)
    if not result.applied:
        session.rollback()
        for problem in result.problems:
            flash(problem.message, "error")
        return redirect(url_for("campaigns.plan", upload_id=upload_id))
    session.commit()
    flash(
        _(
            "Applied version %(version)s of %(campaign)s: %(count)s changes.",
            version=upload.version,
            campaign=upload.campaign_id,
            count=len(result.checked.changes if result.checked else []),
        ),
        "ok",
    )
    return redirect(url_for("campaigns.show", campaign_id=upload.campaign_id))


@blueprint.get("/<campaign_id>")
@signed_in
def show(campaign_id: str) -> str:
    identity.require("campaign.view")
    session = context.db()
    detail = campaign_detail(session, campaign_id)
    if detail is None:
        abort(404, _("No such campaign."))
    versions = session.scalars(
        select(CampaignUpload)
        .where(CampaignUpload.campaign_id == campaign_id)
        .order_by(CampaignUpload.uploaded_at.desc(), CampaignUpload.id.desc())
    ).all()
    post_ids = dict(
        session.execute(select(Post.key, Post.id).where(Post.campaign_id == campaign_id)).all()
    )
    return render_template("campaign.html", d=detail, versions=versions, post_ids=post_ids)


@blueprint.get("/<campaign_id>/file")
@signed_in
def download(campaign_id: str) -> Response:
    identity.require("campaign.view")
    session = context.db()
    query = select(CampaignUpload).where(CampaignUpload.campaign_id == campaign_id)
    version = request.args.get("version", "")
    if row_id(version) is not None:
        query = query.where(CampaignUpload.version == row_id(version))
    elif row_id(request.args.get("upload")) is not None:
        query = query.where(CampaignUpload.id == row_id(request.args.get("upload")))
    else:
        query = query.where(CampaignUpload.status == "applied").order_by(
            CampaignUpload.version.desc()
        )
    upload = session.scalars(query.limit(1)).first()
    if upload is None:
        abort(404, _("No file of this campaign was uploaded here."))
    import io

    original = request.args.get("as") == "original"
    data = upload.content if original else upload.campaign_yaml
    name = upload.filename if original else upload.filename.rsplit(".", 1)[0] + ".yaml"
    stamp = f"-v{upload.version}" if upload.version else f"-upload{upload.id}"
    stem, _dot, suffix = name.rpartition(".")
    return send_file(
        io.BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"{stem}{stamp}.{suffix}",
    )
