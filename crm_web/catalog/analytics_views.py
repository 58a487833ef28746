"""The sales analytics page, its CSV exports and recomputing customer value (RFM)."""

from flask import Blueprint, Response, abort, flash, request, stream_with_context, url_for
from flask_babel import gettext as _

from crm_web.catalog import analytics, customer_value
from crm_web.csv_writer import stream_csv
from crm_web.db import atomic
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render

bp = Blueprint("sales", __name__)


@bp.route("/analytics/sales")
@requires("view sales analytics")
def index():
    return render(
        "catalog/analytics.html",
        report=analytics.sales_report(),
        segment_labels=customer_value.SEGMENT_LABELS,
        exports=analytics.EXPORTS,
    )


@bp.route("/analytics/sales.csv")
@requires("view sales analytics")
def export():
    table = request.args.get("table", "")
    if table not in analytics.EXPORTS:
        abort(404)
    rows = analytics.export_rows(table, analytics.sales_report())
    response = Response(
        stream_with_context(stream_csv(analytics.EXPORTS[table], rows)),
        mimetype="text/csv; charset=utf-8",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="sales-{table}.csv"'
    return response


@bp.route("/analytics/sales/recompute", methods=["POST"])
@requires("view sales analytics")
def recompute():
    """Recompute customer value now (a worker job; the page shows when it last ran)."""
    atomic(customer_value.recompute_later)()
    flash(_("Customer value is being recomputed; reload the page in a minute."), "success")
    return redirect_to(url_for(".index"))
