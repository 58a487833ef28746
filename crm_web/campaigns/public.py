"""What a campaign email links to, for anyone holding the link: the open pixel, the click
redirect, the unsubscribe page (with RFC 8058 one-click POST) and the preference center.
Every link carries a signed token; a tampered one is a 404, never a redirect."""

import base64

from flask import Blueprint, abort, current_app, make_response, request
from flask_babel import gettext as _

from crm_web.campaigns import content, tracking
from crm_web.customer360 import services as preferences
from crm_web.customer360.models import CAMPAIGN_TYPES
from crm_web.customers.services import get_customer, set_consent
from crm_web.db import atomic, set_tenant
from crm_web.errors import NotFound
from crm_web.extensions import csrf
from crm_web.rendering import render
from crm_web.security import public

bp = Blueprint("campaign_links", __name__)

PIXEL = base64.b64decode(b"R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def signed_token(purpose: str, token: str) -> content.Token:
    """The signed token's contents, or a 404 for a token that is not ours or not for this."""
    found = content.verify(purpose, token)
    if found is None:
        abort(404)
    return found


@bp.route("/t/o/<token>.gif")
@public
def opened(token: str):
    found = signed_token("open", token)
    tracking.hit("open", found.organization_id, found.recipient_id)
    return pixel()


def pixel():
    """The 1×1 GIF an open pixel answers with, never cached."""
    response = make_response(PIXEL)
    response.headers["Content-Type"] = "image/gif"
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response


@bp.route("/t/c/<token>")
@public
def clicked(token: str):
    found = signed_token("click", token)
    target = tracking.link_target(found.organization_id, found.version_id, found.link)
    if target is None:
        abort(404)
    tracking.hit("click", found.organization_id, found.recipient_id, found.link)
    # A bare 302 (redirect() writes an HTML body for old browsers nobody reads here).
    return current_app.response_class(status=302, headers={"Location": target})


def _recipient(token: str):
    found = signed_token("unsubscribe", token)
    set_tenant(found.organization_id)
    try:
        return tracking.recipient(found.recipient_id)
    except NotFound:
        abort(404)


@bp.route("/u/<token>", methods=["GET", "POST"])
@public
@csrf.exempt  # the signed token is the authority; mail clients post without a session (RFC 8058)
def unsubscribe(token: str):
    recipient = _recipient(token)
    if request.method == "POST":
        tracking.unsubscribe(recipient.id)
        if request.form.get("List-Unsubscribe") == "One-Click":
            return make_response("", 204)
        return render("campaigns/unsubscribe.html", token=token, done=True, **_choices(recipient))
    return render("campaigns/unsubscribe.html", token=token, done=False, **_choices(recipient))


def _choices(recipient) -> dict:
    customer = get_customer(recipient.customer_id)
    return {
        "customer": customer,
        "topics": CAMPAIGN_TYPES,
        "chosen": preferences.campaign_preferences(customer.id),
        "saved": False,
    }


@atomic
def _save_preferences(customer_id: int, topics: list[str], email: bool) -> None:
    preferences.set_campaign_preferences(customer_id, [t for t in topics if t in CAMPAIGN_TYPES])
    set_consent(customer_id, source="form", note=_("Preference center"), email_opt_in=email)


@bp.route("/u/<token>/preferences", methods=["POST"])
@public
@csrf.exempt  # as above: the signed token is the authority
def save_preferences(token: str):
    recipient = _recipient(token)
    _save_preferences(
        recipient.customer_id, request.form.getlist("topics"), request.form.get("email") == "yes"
    )
    context = _choices(recipient)
    return render(
        "campaigns/unsubscribe.html", token=token, done=False, **{**context, "saved": True}
    )
