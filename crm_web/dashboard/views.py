"""The home page after sign-in."""

from flask import Blueprint

from crm_web.dashboard import services
from crm_web.rendering import render

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    return render("dashboard/index.html", block="summary", summary=services.summary())
