"""The JSON API under /api/v1/: bearer tokens only, JSON errors only.

Each domain's `api.py` has a blueprint of its own; `blueprint()` nests them all under this one,
so its token check runs before every API route.
"""

from collections.abc import Iterable

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_login import login_user

from crm_web.error_pages import error_response
from crm_web.errors import Unauthorized
from crm_web.limits import too_long_texts


def blueprint(domain_apis: Iterable[Blueprint]) -> Blueprint:
    """The /api/v1 blueprint for one app, over the domains' API blueprints."""
    # Made per app: a blueprint takes no more nested ones once an app has registered it.
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    bp.before_request(require_token)
    for domain_api in domain_apis:
        bp.register_blueprint(domain_api)
    return bp


def _token_user():
    from crm_web.accounts.services import user_for_token

    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_for_token(token.strip())


def _unauthorized(message: str, challenge: str):
    response = error_response(401, _("Unauthorized"), message)
    response.headers["WWW-Authenticate"] = challenge
    return response


def require_token():
    """Every API request carries `Authorization: Bearer <token>`; cookies never count."""
    try:
        user = _token_user()
    except Unauthorized as exc:
        return _unauthorized(exc.message, 'Bearer realm="api", error="invalid_token"')
    if user is None:
        return _unauthorized(
            _("Send a valid API token as 'Authorization: Bearer <token>'."), 'Bearer realm="api"'
        )
    # Makes current_user (and so role checks) work; the API's session is never saved.
    login_user(user)
    # Every body's text is capped here, whatever the endpoint: the services check the shorter
    # limits of their own fields (a subject, a name).
    too_long = too_long_texts(request.get_json(silent=True))
    if too_long:
        return error_response(
            422, _("Please check your input"), _("Some text is too long."), too_long
        )
    return None
