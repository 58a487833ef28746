"""The JSON API under /api/v1/: bearer tokens only, JSON errors only."""

from flask import Blueprint, jsonify
from flask_login import current_user

from crm_web.error_pages import error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def load_token_user(request):
    """Flask-Login's request loader: `Authorization: Bearer <token>` on API requests."""
    from crm_web.accounts.services import user_for_token

    if not request.path.startswith("/api/"):
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_for_token(token.strip())


@bp.before_request
def require_token():
    if not current_user.is_authenticated:
        response = error_response(401, "Unauthorized", "Send a valid API token as 'Authorization: Bearer <token>'.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return None


@bp.route("/me")
def me():
    """Who the token belongs to."""
    organization = current_user.organization
    return jsonify(
        {
            "user": {"id": current_user.id, "email": current_user.email, "name": current_user.name, "role": current_user.role},
            "organization": {
                "id": organization.id,
                "name": organization.name,
                "slug": organization.slug,
                "timezone": organization.timezone,
                "currency": organization.currency,
                "locale": organization.locale,
            },
        }
    )
