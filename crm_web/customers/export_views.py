"""GET /customers/export.csv: the list, as filtered on screen, as a CSV download; and\nGET /customers/consent-log.csv: the consent history (the compliance log)."""

from datetime import date

from flask import Blueprint, Response, request, stream_with_context

from crm_web.customers.export import export_consent_log, export_customers
from crm_web.customers.services import CustomerFilters
from crm_web.permissions import requires

bp = Blueprint("customer_export", __name__)


@bp.route("/customers/export.csv")
@requires("export customers")
def export():
    filters = CustomerFilters.from_args(request.args)
    return Response(
        stream_with_context(export_customers(filters)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="customers-{date.today():%Y%m%d}.csv"'
        },
    )


@bp.route("/customers/consent-log.csv")
@requires("export customers")
def consent_log():
    channel = request.args.get("channel", "")
    return Response(
        stream_with_context(export_consent_log(channel)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f'attachment; filename="consent-log-{channel or "all"}-{date.today():%Y%m%d}.csv"'
            )
        },
    )
