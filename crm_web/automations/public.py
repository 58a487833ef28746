"""What an automation email links to: the open pixel, the click redirect and the unsubscribe
link. Each carries a signed token naming the step run; a tampered one is a 404."""

from flask import Blueprint, abort, current_app, make_response, request
from flask_babel import gettext as _

from crm_web.automations import services
from crm_web.campaigns import tracking
from crm_web.campaigns.public import pixel, signed_token
from crm_web.customers.services import set_consent
from crm_web.db import atomic, tenant_scope
from crm_web.errors import NotFound
from crm_web.extensions import csrf
from crm_web.rendering import render
from crm_web.security import public

bp = Blueprint("automation_links", __name__)


@bp.route("/t/j/o/<token>.gif")
@public
def opened(token: str):
    found = signed_token("journey_open", token)
    with tenant_scope(found.organization_id):
        services.record_hit("open", found.recipient_id)
    return pixel()


@bp.route("/t/j/c/<token>")
@public
def clicked(token: str):
    found = signed_token("journey_click", token)
    target = tracking.link_target(found.organization_id, found.version_id, found.link)
    if target is None:
        abort(404)
    with tenant_scope(found.organization_id):
        services.record_hit("click", found.recipient_id)
    return current_app.response_class(status=302, headers={"Location": target})


@atomic
def _unsubscribe(run_id: int) -> None:
    customer_id = services.run_customer(run_id)
    set_consent(customer_id, source="unsubscribe", note=_("Unsubscribed from an automation email"),
                email_opt_in=False)  # fmt: skip


@bp.route("/u/j/<token>", methods=["GET", "POST"])
@public
@csrf.exempt  # the signed token is the authority; mail clients post without a session (RFC 8058)
def unsubscribe(token: str):
    found = signed_token("journey_unsubscribe", token)
    with tenant_scope(found.organization_id):
        try:
            services.run_customer(found.recipient_id)
            if request.method == "POST":
                _unsubscribe(found.recipient_id)
        except NotFound:
            abort(404)
    if request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click":
        return make_response("", 204)
    return render("automations/unsubscribe.html", done=request.method == "POST")
