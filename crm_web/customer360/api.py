"""GET /api/v1/crm/customers/{id}/360/ and /timeline/: the customer 360 view as JSON.

The 360 answer follows seed 004's get_customer_360_view: customer_profile,
recent_interactions (the last 90 days, newest 10), active_opportunities (soonest close first),
open_tickets (nearest SLA deadline first), upcoming_activities (soonest due first; the first 10
of each, counted in full in kpis), lifetime_value_metrics, engagement_score and health_score,
each score with its breakdown.
"""

import datetime as dt
from dataclasses import asdict
from decimal import Decimal

from flask import Blueprint, jsonify, request

from crm_web.customer360 import scores, timeline
from crm_web.customers.api import customer_json
from crm_web.customers.services import get_customer
from crm_web.inputs import query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("customer360", __name__)

RECENT_DAYS = 90
RECENT_LIMIT = 10


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _entry(entry: timeline.TimelineEntry) -> dict:
    return _plain(
        {
            "id": entry.id,
            "type": entry.kind,
            "label": entry.label,
            "occurred_at": entry.occurred_at,
            "title": entry.title,
            "body": entry.body,
            "details": entry.details,
            "link": entry.link,
        }
    )


def _score(score: scores.Score, *, weighted: bool) -> dict:
    breakdown = []
    for component in score.components:
        item = {"key": component.key, "label": component.label, "detail": component.detail}
        if weighted:
            item |= {
                "value": component.points,
                "weight": component.max_points,
                "available": component.available,
            }
        else:
            item |= {"points": component.points, "max_points": component.max_points}
        breakdown.append(item)
    return {"score": score.value, "breakdown": breakdown}


@bp.route("/crm/customers/<int:customer_id>/360/")
@requires("view customers")
def customer_360(customer_id: int):
    """The customer's profile, recent interactions, KPIs and scores with their breakdown."""
    customer = get_customer(customer_id)
    overview = scores.customer_overview(customer)
    recent = timeline.timeline_page(
        customer.id,
        limit=RECENT_LIMIT,
        since=dt.datetime.now(dt.UTC) - dt.timedelta(days=RECENT_DAYS),
    )
    kpis, work = overview.kpis, overview.work
    return jsonify(
        {
            "customer_profile": {**customer_json(customer), "name": customer.display_name},
            "recent_interactions": [_entry(entry) for entry in recent.entries],
            "active_opportunities": [_plain(asdict(deal)) for deal in work.deals.rows],
            "open_tickets": [_plain(asdict(ticket)) for ticket in work.tickets.rows],
            "upcoming_activities": [_plain(asdict(item)) for item in work.activities.rows],
            "lifetime_value_metrics": _plain(
                {
                    "total_revenue": kpis.lifetime_value,
                    "total_orders": kpis.order_count,
                    "average_order_value": kpis.average_order,
                    "last_order": kpis.last_order_at,
                    "customer_since": customer.customer_since,
                }
            ),
            "kpis": _plain(
                {
                    "last_contact": kpis.last_contact_at,
                    "open_opportunities": kpis.open_deals,
                    "open_pipeline_amount": kpis.open_pipeline,
                    "open_pipeline_currency": kpis.open_pipeline_currency or None,
                    "open_tickets": kpis.open_tickets,
                    "upcoming_activities": kpis.upcoming_activities,
                    "satisfaction": kpis.satisfaction,
                }
            ),
            "engagement_score": _score(overview.engagement, weighted=False),
            "health_score": _score(overview.health, weighted=True),
        }
    )


@bp.route("/crm/customers/<int:customer_id>/timeline/")
@requires("view customers")
def customer_timeline(customer_id: int):
    """The customer's timeline, newest first: ?types=note,email&cursor=...&limit=..."""
    customer = get_customer(customer_id)
    page = timeline.timeline_page(
        customer.id,
        types=timeline.parse_groups(request.args.get("types")),
        cursor=request.args.get("cursor"),
        limit=query_int("limit", timeline.DEFAULT_PAGE_SIZE),
    )
    return jsonify(
        list_json(
            [_entry(entry) for entry in page.entries], page.next_cursor, types=timeline.groups()
        )
    )
