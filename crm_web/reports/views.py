"""The reports page (five charts over a period in the URL) and its four CSV reports."""

from flask import Blueprint, Response, abort, request, stream_with_context

from crm_web.csv_writer import stream_csv
from crm_web.permissions import can, requires
from crm_web.rendering import render
from crm_web.reports import services

bp = Blueprint("reports", __name__)


@bp.route("/reports")
@requires("view sales analytics")
def index():
    period = services.parse_period(request.args)
    return render(
        "reports/index.html",
        block="report",
        report=services.build(period),
        csv_reports=services.CSV_REPORTS,
    )


@bp.route("/reports/<name>.csv")
@requires("view sales analytics")
def export(name: str):
    """One CSV report, streamed; the customers report is a whole customer base, so it needs
    the right to export customers."""
    if name not in services.CSV_HEADERS:
        abort(404)
    if name == "customers" and not can("export customers"):
        abort(403)
    period = services.parse_period(request.args)
    rows = services.csv_rows(name, period)
    response = Response(
        stream_with_context(stream_csv(services.CSV_HEADERS[name], rows)),
        mimetype="text/csv; charset=utf-8",
    )
    filename = f"{name}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
