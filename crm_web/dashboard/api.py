"""The dashboard in the JSON API: GET /api/v1/crm/dashboard/ (the reader's cards and figures)."""

from flask import Blueprint, jsonify
from flask_login import current_user

from crm_web.dashboard import registry
from crm_web.pagination import list_json

bp = Blueprint("dashboard_api", __name__)


@bp.route("/crm/dashboard/")
def dashboard():
    """Every card of the reader's dashboards with its figure (`items`; one page), the
    dashboards' names alongside."""
    roles = (current_user.role,)
    items = [
        {"key": card.key, "title": str(card.title), "figure": card.build(current_user).as_json()}
        for card in registry.cards_for(roles)
    ]
    return jsonify(list_json(items, None, dashboards=list(registry.dashboards_for(roles))))
