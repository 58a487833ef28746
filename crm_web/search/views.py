"""The global search: one page at /search, whose results block is what the search box shows
as one types."""

from flask import Blueprint, current_app, request
from flask_login import current_user

from crm_web.permissions import can
from crm_web.rendering import render
from crm_web.search.providers import MIN_TERM_LENGTH, normalized, search_all

bp = Blueprint("search", __name__)

# Hits per kind of record: a few to choose from as one types, the list pages for the rest.
SUGGESTIONS = 5


@bp.route("/search")
def index():
    """Open to every signed-in user: each asks only the providers of what they may see."""
    term = normalized(request.args.get("q", ""))
    providers = tuple(
        provider
        for provider in current_app.extensions["search_providers"]
        if can(provider.capability)
    )
    return render(
        "search/index.html",
        block="results",
        term=term,
        searched=len(term) >= MIN_TERM_LENGTH,
        groups=search_all(term, providers, current_user, SUGGESTIONS),
    )
