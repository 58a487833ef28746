"""Segments on the JSON API (seed 001): list and create, refresh, and a segment's customers."""

from flask import Blueprint, jsonify, request, url_for

from crm_web.customers.api import customer_json
from crm_web.inputs import json_object, query_int
from crm_web.pagination import iso, list_json
from crm_web.permissions import requires
from crm_web.segments import services

bp = Blueprint("segments", __name__)

# What a segment is written with (seed 001's CustomerSegment field names).
WRITABLE = (
    "segment_name",
    "segment_code",
    "description",
    "segment_type",
    "criteria",
    "is_dynamic",
    "refresh_minutes",
)


def segment_json(segment) -> dict:
    """A segment as the API shows it."""
    return {
        "id": segment.id,
        "segment_name": segment.segment_name,
        "segment_code": segment.segment_code,
        "description": segment.description,
        "segment_type": segment.segment_type,
        "criteria": segment.criteria,
        "is_dynamic": segment.is_dynamic,
        "refresh_minutes": segment.refresh_minutes,
        "customer_count": segment.customer_count,
        "last_updated": iso(segment.last_refreshed_at),
        "refreshing": segment.refreshing,
        "created_by_id": segment.created_by_id,
        "is_active": segment.is_active,
        "created_at": iso(segment.created_at),
    }


def _limit() -> int:
    return query_int("limit", 50, minimum=1, maximum=200)


@bp.route("/crm/segments/", methods=["GET"])
@requires("view segments")
def list_segments():
    """Active segments, newest first; keyset `cursor`, `limit`."""
    page = services.list_segments(cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([segment_json(s) for s in page.items], page.next_cursor))


@bp.route("/crm/segments/", methods=["POST"])
@requires("manage segments")
def create_segment():
    """Save a segment; its members are taken at once (201 with the count)."""
    body = json_object()
    segment = services.create_segment({key: body[key] for key in WRITABLE if key in body})
    response = jsonify(segment_json(segment))
    response.status_code = 201
    response.headers["Location"] = url_for(".segment_customers", segment_id=segment.id)
    return response


@bp.route("/crm/segments/<int:segment_id>/refresh/", methods=["POST"])
@requires("manage segments")
def refresh_segment(segment_id: int):
    """Refresh a dynamic segment now; answers with the new count and who came and went."""
    result = services.refresh_segment_now(segment_id)
    segment = services.get_segment(segment_id)
    return jsonify({**segment_json(segment), "entered": result.entered, "left": result.left})


@bp.route("/crm/segments/<int:segment_id>/customers/", methods=["GET"])
@requires("view segments")
def segment_customers(segment_id: int):
    """The segment's current members, newest first; keyset `cursor`, `limit`."""
    page = services.members_page(segment_id, cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([customer_json(c) for c in page.items], page.next_cursor))
