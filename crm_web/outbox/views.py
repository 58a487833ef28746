"""The SMS gateway's delivery reports, and the admin's preview of every message template."""

from flask import Blueprint, abort, current_app, make_response, request

from crm_web.accounts.models import Organization
from crm_web.db import current_organization_id, set_tenant
from crm_web.extensions import csrf, db
from crm_web.messaging import sms
from crm_web.outbox import kinds, preview, services
from crm_web.permissions import requires
from crm_web.rendering import render
from crm_web.security import public

bp = Blueprint("outbox", __name__)


def _signed(parse):
    """What `parse` reads from the gateway's webhook request, or 403 unless it is signed with
    the shared secret. The signature covers the URL the gateway was given, which BASE_URL built."""
    config = current_app.config
    url = config["BASE_URL"] + request.full_path.rstrip("?")
    try:
        return parse(
            sms.webhook_secret(config),
            url,
            request.form.to_dict(),
            request.headers.get(sms.SIGNATURE_HEADER, ""),
        )
    except sms.SmsError:
        abort(403)


@bp.route("/outbox/sms-status/<int:organization_id>/<int:outbox_id>", methods=["POST"])
@public
@csrf.exempt
def sms_status(organization_id: int, outbox_id: int):
    """The SMS gateway's delivery report; only a request signed with the shared secret counts."""
    report = _signed(sms.parse_status_callback)
    set_tenant(organization_id)
    services.record_sms_status(outbox_id, report)
    return make_response("", 204)


@bp.route("/outbox/sms-inbound/<int:organization_id>", methods=["POST"])
@public
@csrf.exempt
def sms_inbound(organization_id: int):
    """A text to the organization's number (the gateway's inbound webhook, signed like the
    delivery reports): keywords change the sender's SMS consent."""
    from crm_web.campaigns import sms_keywords

    inbound = _signed(sms.parse_inbound)
    if db.session.get(Organization, organization_id) is None:
        abort(404)
    set_tenant(organization_id)
    sms_keywords.handle_inbound(inbound.sender, inbound.body)
    return make_response("", 204)


@bp.route("/admin/messages")
@requires("preview messages")
def templates():
    organization = db.session.get(Organization, current_organization_id())
    previews = [preview.render_sample(kind, organization.name) for kind in kinds.all_kinds()]
    return render("outbox/templates.html", previews=previews)


@bp.route("/admin/messages/<name>.html")
@requires("preview messages")
def html_preview(name: str):
    """An email's HTML alone, for the preview's sandboxed frame: its styles are inline, as a
    mail client needs them, so this one response allows inline styles and nothing else."""
    try:
        kind = kinds.get(name)
    except KeyError:
        abort(404)
    organization = db.session.get(Organization, current_organization_id())
    sample = preview.render_sample(kind, organization.name)
    if not sample.html:
        abort(404)
    response = make_response(sample.html)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return response
