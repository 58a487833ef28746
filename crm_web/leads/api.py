"""Leads on the JSON API (seed 001's lead endpoints): list, capture, qualify, convert, scoring."""

from decimal import Decimal

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _

from crm_web.errors import invalid
from crm_web.inputs import iso_date, json_field, json_object, query_int
from crm_web.leads import scoring, services
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("leads", __name__)


def lead_json(lead) -> dict:
    """A lead as the API shows it."""
    return {
        "id": lead.id,
        "lead_number": lead.lead_number,
        "status": lead.status,
        "disqualified_reason": lead.disqualified_reason,
        **{name: getattr(lead, name) for name in services.LEAD_FIELDS if name != "budget"},
        "budget": None if lead.budget is None else f"{lead.budget:f}",
        "captured_via": lead.captured_via,
        "lead_score": lead.lead_score,
        "score_breakdown": lead.score_breakdown,
        "recommended_action": lead.recommended_action,
        "assigned_to_id": lead.assigned_to_id,
        "converted_customer_id": lead.converted_customer_id,
        "converted_opportunity_id": lead.converted_opportunity_id,
        "converted_at": lead.converted_at.isoformat() if lead.converted_at else None,
        "created_at": lead.created_at.isoformat(),
    }


@bp.route("/crm/leads/", methods=["GET"])
@requires("view leads")
def list_leads():
    """Leads, newest first (or `sort=score`); filters q, status, source, assigned_to, band."""
    args = request.args
    page = services.search_leads(
        q=args.get("q", ""),
        status=args.get("status", ""),
        source=args.get("source", ""),
        assigned_to=args.get("assigned_to", ""),
        band=args.get("band", ""),
        sort=args.get("sort", "newest"),
        cursor=args.get("cursor"),
        limit=query_int("limit", 50),
    )
    next_url = (
        url_for(".list_leads", **{**args, "cursor": page.next_cursor}) if page.next_cursor else None
    )
    return jsonify(
        list_json([lead_json(lead) for lead in page.items], page.next_cursor, next=next_url)
    )


@bp.route("/crm/leads/", methods=["POST"])
@requires("capture leads")
def create_lead():
    """Capture a lead; it is numbered, assigned by the rules (or to `assigned_to_id`) and scored."""
    body = json_object()
    assigned_to_id = json_field(body, "assigned_to_id", int)
    values = {key: value for key, value in body.items() if key != "assigned_to_id"}
    lead = services.create_lead(captured_via="api", assigned_to_id=assigned_to_id, **values)
    response = jsonify(lead_json(lead))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_lead", lead_id=lead.id)
    return response


@bp.route("/crm/leads/<int:lead_id>/", methods=["GET"])
@requires("view leads")
def get_lead(lead_id: int):
    return jsonify(lead_json(services.get_lead(lead_id)))


@bp.route("/crm/leads/<int:lead_id>/qualify/", methods=["PUT"])
@requires("work leads")
def qualify_lead(lead_id: int):
    """Record BANT answers and qualify (or, with `status: disqualified` and a reason, disqualify)."""
    services.get_lead(lead_id)
    body = json_object()
    bant = {name: body[name] for name in services.BANT_FIELDS if name in body}
    unknown = set(body) - {*services.BANT_FIELDS, "status", "reason"}
    if unknown:
        raise invalid(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    lead = services.qualify_lead(
        lead_id,
        status=str(body.get("status") or "qualified"),
        reason=str(body.get("reason") or ""),
        **bant,
    )
    return jsonify(lead_json(lead))


def _opportunity(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(
            {"opportunity": _("Send an object with name, amount and expected_close_date.")}
        )
    close = iso_date(value.get("expected_close_date"), "opportunity_expected_close_date")
    if close is None:
        raise invalid({"opportunity_expected_close_date": _("Use a date like 2026-03-31.")})
    amount = value.get("amount")
    return {
        "name": str(value.get("name") or ""),
        "amount": Decimal(str(amount)) if isinstance(amount, int | float) else amount,
        "expected_close_date": close,
    }


@bp.route("/crm/leads/<int:lead_id>/convert/", methods=["POST"])
@requires("work leads")
def convert_lead(lead_id: int):
    """Convert a qualified lead: `customer_id` to link a customer, else the one with its email or
    phone (unless `create_new_customer`), else a new one; `opportunity` to open a deal as well."""
    services.get_lead(lead_id)
    body = json_object()
    lead = services.convert_lead(
        lead_id,
        customer_id=json_field(body, "customer_id", int),
        create_new_customer=bool(body.get("create_new_customer")),
        opportunity=_opportunity(body.get("opportunity")),
        source="api",
    )
    return jsonify(lead_json(lead))


@bp.route("/crm/leads/scoring/", methods=["GET"])
@requires("analyse lead scoring")
def lead_scoring():
    """The scoring analysis: leads and conversion per score band, the distribution, the rules."""
    result = scoring.analysis()
    return jsonify(
        {
            "total": result.total,
            "histogram": [
                {"from": index * 10, "to": 100 if index == 9 else index * 10 + 9, "leads": count}
                for index, count in enumerate(result.histogram)
            ],
            "bands": [
                {
                    "band": band.name,
                    "leads": band.leads,
                    "average_score": round(band.average_score, 1),
                    "converted": band.converted,
                    "disqualified": band.disqualified,
                    "conversion_rate": band.conversion_rate,
                    "won_of_decided": band.decided_rate,
                }
                for band in result.bands
            ],
            "rules": [
                {
                    "id": rule.id,
                    "factor": rule.factor,
                    "label": rule.label,
                    "field": rule.field,
                    "operator": rule.operator,
                    "value": rule.value,
                    "points": rule.points,
                    "is_active": rule.is_active,
                }
                for rule in result.rules
            ],
        }
    )
