"""GET /api/v1/me: who a token belongs to."""

from flask import Blueprint, jsonify
from flask_login import current_user

bp = Blueprint("accounts", __name__)


@bp.route("/me")
def me():
    """Who the token belongs to."""
    organization = current_user.organization
    return jsonify(
        {
            "user": {
                "id": current_user.id,
                "email": current_user.email,
                "name": current_user.name,
                "role": current_user.role,
            },
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
