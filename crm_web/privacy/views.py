"""The admin's audit log page."""

from flask import Blueprint, request, url_for

from crm_web.accounts.services import list_users
from crm_web.inputs import query_int
from crm_web.permissions import requires
from crm_web.privacy import services
from crm_web.rendering import render

bp = Blueprint("privacy", __name__)


@bp.route("/admin/audit")
@requires("view audit log")
def audit_log():
    filters = {
        "table_name": request.args.get("table_name", ""),
        "action": request.args.get("action", ""),
        "user_id": query_int("user_id"),
        "row_id": request.args.get("row_id", "").strip(),
    }
    page = services.search_audit_log(**filters, cursor=request.args.get("cursor"))
    active = {key: value for key, value in filters.items() if value}
    next_url = (
        url_for("privacy.audit_log", cursor=page.next_cursor, **active)
        if page.next_cursor
        else None
    )
    block = "rows" if request.args.get("cursor") else "results"
    return render(
        "privacy/audit.html",
        block=block,
        page=page,
        next_url=next_url,
        filters=filters,
        tables=services.audit_tables(),
        actions=services.ACTIONS,
        users={user.id: user for user in list_users()},
    )
