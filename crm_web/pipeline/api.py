"""Opportunities, the pipeline and the forecast on the JSON API (seed 001's sales endpoints)."""

from decimal import Decimal

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _

from crm_web.errors import invalid
from crm_web.inputs import iso_date, json_field, json_object, query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires
from crm_web.pipeline import board as pipeline_board
from crm_web.pipeline import forecast as forecasting
from crm_web.pipeline import opportunities

bp = Blueprint("pipeline", __name__)


def _money(value) -> str:
    return f"{Decimal(value or 0).quantize(Decimal('0.01')):f}"


def _opportunity(row) -> dict:
    return {
        "id": row.id,
        "opportunity_number": row.opportunity_number,
        "name": row.name,
        "customer": {"id": row.customer_id, "name": row.customer_name},
        "stage_id": row.stage_id,
        "status": row.status,
        "amount": _money(row.amount),
        "currency": row.currency,
        "probability": _money(row.probability),
        "expected_close_date": row.expected_close_date.isoformat(),
        "owner": row.owner_name,
        "position": row.position,
    }


def _int(body: dict, name: str, *, required: bool = False) -> int | None:
    value = json_field(body, name, int)
    if value is None and required:
        raise invalid({name: _("Send an integer id.")})
    return value


@bp.route("/crm/opportunities/", methods=["GET"])
@requires("work deals")
def list_opportunities():
    """Deals by expected close date; filters as on the board, plus status and stage_id."""
    filters = pipeline_board.parse_filters(request.args)
    stage_id = query_int("stage_id")
    page = pipeline_board.opportunity_list(
        filters,
        status=request.args.get("status") or None,
        stage_id=stage_id,
        cursor=request.args.get("cursor"),
        limit=max(1, min(query_int("limit", pipeline_board.LIST_PAGE_SIZE), 200)),
    )
    return jsonify(list_json([_opportunity(row) for row in page.rows], page.next_cursor))


@bp.route("/crm/opportunities/", methods=["POST"])
@requires("work deals")
def create_opportunity():
    body = json_object()
    expected_close_date = iso_date(body.get("expected_close_date"), "expected_close_date")
    opportunity = opportunities.create_opportunity(
        name=str(body.get("name") or ""),
        customer_id=_int(body, "customer_id", required=True),
        amount=body.get("amount"),
        expected_close_date=expected_close_date,
        stage_id=_int(body, "stage_id"),
        owner_id=_int(body, "owner_id"),
        lead_id=_int(body, "lead_id"),
        probability=body.get("probability"),
        currency=json_field(body, "currency", str),
        source=str(body.get("source") or ""),
        competitor=str(body.get("competitor") or ""),
        next_step=str(body.get("next_step") or ""),
        description=str(body.get("description") or ""),
    )
    response = jsonify(_opportunity(pipeline_board.card(opportunity.id)))
    response.status_code = 201
    response.headers["Location"] = url_for("pipeline.detail", opportunity_id=opportunity.id)
    return response


@bp.route("/crm/opportunities/<int:opportunity_id>/stage/", methods=["PUT"])
@requires("work deals")
def move_opportunity(opportunity_id: int):
    """Move a deal: {"stage_id": 3, "after_id": 17 | null, "before_id": ..., "reason": "..."}."""
    body = json_object()
    left = opportunities.move_opportunity(
        opportunity_id,
        stage_id=_int(body, "stage_id", required=True),
        after_id=_int(body, "after_id"),
        before_id=_int(body, "before_id"),
        reason=str(body.get("reason") or ""),
    )
    return jsonify({**_opportunity(pipeline_board.card(opportunity_id)), "previous_stage_id": left})


@bp.route("/crm/pipeline/")
@requires("work deals")
def pipeline():
    """The stages with their totals and first cards (filters as on the board)."""
    filters = pipeline_board.parse_filters(request.args)
    limit = max(0, min(query_int("limit", pipeline_board.BOARD_FIRST_CARDS), 100))
    return jsonify(
        {
            "stages": [
                {
                    "id": column.stage.id,
                    "name": column.stage.name,
                    "position": column.stage.position,
                    "probability": _money(column.stage.probability),
                    "outcome": column.stage.outcome,
                    "count": column.count,
                    "amount": _money(column.amount),
                    "weighted_amount": _money(column.weighted),
                    "opportunities": [_opportunity(row) for row in column.cards],
                    "next_cursor": column.next_cursor,
                }
                for column in pipeline_board.board(filters, limit=limit)
            ]
        }
    )


def _figures(figures: forecasting.Figures) -> dict:
    return {
        "label": figures.label,
        "month": figures.month.isoformat() if figures.month else None,
        "open_count": figures.open_count,
        "overdue_count": figures.overdue_count,
        "pipeline": _money(figures.pipeline),
        "weighted": _money(figures.weighted),
        "won": _money(figures.won),
        "worst_case": _money(figures.worst_case),
        "expected": _money(figures.expected),
        "best_case": _money(figures.best_case),
        "historical": _money(figures.historical),
        "target": None if figures.target is None else _money(figures.target),
        "coverage": None if figures.coverage is None else _money(figures.coverage),
    }


@bp.route("/crm/forecast/")
@requires("work deals")
def forecast():
    """Best, expected and worst case per month, per owner, and win rates by stage."""
    result = forecasting.forecast()
    return jsonify(
        {
            "currency": result.currency,
            "start": result.start.isoformat(),
            "open_pipeline": _money(result.open_pipeline),
            "open_weighted": _money(result.open_weighted),
            "open_count": result.open_count,
            "months": [_figures(figures) for figures in result.months],
            "total": _figures(result.total),
            "owners": [_figures(figures) for figures in result.owners],
            "win_rate_12m": None if result.win_rate_12m is None else str(result.win_rate_12m),
            "stage_win_rates": [
                {
                    "stage_id": rate.stage_id,
                    "name": rate.name,
                    "reached": rate.reached,
                    "won": rate.won,
                    "win_rate": None if rate.win_rate is None else str(rate.win_rate),
                    "average_days": None if rate.average_days is None else str(rate.average_days),
                }
                for rate in result.stage_rates
            ],
        }
    )
