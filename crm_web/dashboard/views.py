"""The home page after sign-in: the reader's role dashboard, each card its own fragment."""

from flask import Blueprint, abort
from flask_login import current_user

from crm_web.dashboard import registry
from crm_web.rendering import render, render_blocks

bp = Blueprint("dashboard", __name__)


def _roles() -> tuple[str, ...]:
    return (current_user.role,)


@bp.route("/")
def index():
    """The grid paints at once; every card then loads itself (hx-trigger="load")."""
    roles = _roles()
    return render(
        "dashboard/index.html",
        block="grid",
        cards=registry.cards_for(roles),
        dashboards=registry.dashboards_for(roles),
    )


@bp.route("/dashboard/cards/<key>")
def card(key: str):
    """One card's fragment (always the fragment: the page is `/`); a card the reader's roles
    do not show is not found."""
    found = registry.card_for(_roles(), key)
    if found is None:
        abort(404)
    return render_blocks(
        "dashboard/index.html",
        found.template_block,
        card=found,
        figure=found.build(current_user),
    )
