"""Campaigns and email templates on the JSON API."""

import datetime as dt

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _

from crm_web.campaigns import library, results, services
from crm_web.errors import invalid
from crm_web.inputs import json_object, query_int
from crm_web.pagination import iso, list_json
from crm_web.permissions import requires

bp = Blueprint("campaigns", __name__)


def campaign_json(campaign) -> dict:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "channel": campaign.channel,
        "sms_body": campaign.sms_body,
        "sender_id": campaign.sender_id,
        "sms": sms_cost_json(campaign),
        "topic": campaign.topic,
        "survey_id": campaign.survey_id,
        "from_name": campaign.from_name,
        "from_address": campaign.from_address,
        "reply_to": campaign.reply_to,
        "include_segment_ids": campaign.include_segment_ids,
        "exclude_segment_ids": campaign.exclude_segment_ids,
        "schedule_mode": campaign.schedule_mode,
        "send_at": iso(campaign.send_at),
        "starts_at": iso(campaign.starts_at),
        "throttle_per_minute": campaign.throttle_per_minute,
        "ab_test_percent": campaign.ab_test_percent,
        "ab_metric": campaign.ab_metric,
        "ab_wait_minutes": campaign.ab_wait_minutes,
        "winner_variant": campaign.winner_variant,
        "variants": [
            {"position": v.position, "version_id": v.version_id, "subject": v.subject}
            for v in results.variants(campaign)
        ],
        "recipient_count": campaign.recipient_count,
        "started_at": iso(campaign.started_at),
        "finished_at": iso(campaign.finished_at),
        "created_at": iso(campaign.created_at),
    }


def sms_cost_json(campaign) -> dict | None:
    """An SMS campaign's length and parts (with sample merge fields), per message."""
    if campaign.channel != "sms":
        return None
    cost = results.sms_cost(campaign.sms_body)
    return {
        "characters": cost.characters,
        "encoding": cost.encoding,
        "parts": cost.parts,
    }


def stats_json(campaign) -> dict:
    stats = results.stats(campaign)
    return {
        "recipients": stats.recipients,
        "queued": stats.queued,
        "held": stats.held,
        "sent": stats.sent,
        "delivered": stats.delivered,
        "failed": stats.failed,
        "skipped": stats.skipped,
        "unique_opens": stats.opened,
        "unique_clicks": stats.clicked,
        "total_opens": stats.total_opens,
        "total_clicks": stats.total_clicks,
        "suspect_opens": stats.suspect_opens,
        "suspect_clicks": stats.suspect_clicks,
        "unsubscribes": stats.unsubscribed,
        "open_rate": round(stats.share(stats.opened), 4),
        "click_through_rate": round(stats.share(stats.clicked), 4),
        "percent_done": stats.percent,
        "rate_per_second": stats.rate_per_second,
        "eta_seconds": stats.eta_seconds,
        "links": [
            {"url": url, "clicks": clicks, "unique_clicks": people}
            for url, clicks, people in results.link_clicks(campaign)
        ],
        "variants": [
            {
                "variant": r.label,
                "subject": r.subject,
                "sent": r.sent,
                "unique_opens": r.opened,
                "unique_clicks": r.clicked,
            }
            for r in results.variant_results(campaign)
        ],
    }


@bp.route("/crm/campaigns/", methods=["GET"])
@requires("view campaigns")
def list_campaigns():
    page = services.list_campaigns(
        cursor=request.args.get("cursor"), limit=query_int("limit", 50, minimum=1, maximum=200)
    )
    return jsonify(list_json([campaign_json(c) for c in page.items], page.next_cursor))


@bp.route("/crm/campaigns/", methods=["POST"])
@requires("send campaigns")
def create_campaign():
    campaign = services.create_campaign(json_object())
    response = jsonify(campaign_json(campaign))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_campaign", campaign_id=campaign.id)
    return response


@bp.route("/crm/campaigns/<int:campaign_id>/", methods=["GET"])
@requires("view campaigns")
def get_campaign(campaign_id: int):
    return jsonify(campaign_json(services.get_campaign(campaign_id)))


@bp.route("/crm/campaigns/<int:campaign_id>/schedule/", methods=["POST"])
@requires("send campaigns")
def schedule(campaign_id: int):
    """`{"send_at": ISO-8601 | null}` (null: now); or `{"local_date": ..., "local_time": ...}`
    for that time in each recipient's timezone."""
    body = json_object()
    send_at, mode = body.get("send_at"), "now"
    local_date = local_time = None
    if send_at is not None:
        try:
            send_at = dt.datetime.fromisoformat(send_at) if isinstance(send_at, str) else None
        except ValueError:
            send_at = None
        if send_at is None or send_at.tzinfo is None:
            raise invalid({"send_at": _("Give an ISO 8601 time with its offset, or null.")})
        mode = "at"
    elif body.get("local_date") is not None or body.get("local_time") is not None:
        try:
            local_date = dt.date.fromisoformat(str(body.get("local_date")))
            local_time = dt.time.fromisoformat(str(body.get("local_time")))
        except ValueError:
            raise invalid(
                {"local_date": _("Give local_date 2026-03-31 and local_time 09:00.")}
            ) from None
        mode = "local"
    campaign = services.schedule_campaign(
        campaign_id, mode=mode, send_at=send_at, local_date=local_date, local_time=local_time
    )
    return jsonify(campaign_json(campaign))


def _change(campaign_id: int, do):
    return jsonify(campaign_json(do(campaign_id)))


@bp.route("/crm/campaigns/<int:campaign_id>/pause/", methods=["POST"])
@requires("send campaigns")
def pause(campaign_id: int):
    return _change(campaign_id, services.pause_campaign)


@bp.route("/crm/campaigns/<int:campaign_id>/resume/", methods=["POST"])
@requires("send campaigns")
def resume(campaign_id: int):
    return _change(campaign_id, services.resume_campaign)


@bp.route("/crm/campaigns/<int:campaign_id>/cancel/", methods=["POST"])
@requires("send campaigns")
def cancel(campaign_id: int):
    return _change(campaign_id, services.cancel_campaign)


@bp.route("/crm/campaigns/<int:campaign_id>/stats/", methods=["GET"])
@requires("view campaigns")
def stats(campaign_id: int):
    return jsonify(stats_json(services.get_campaign(campaign_id)))


def template_json(template) -> dict:
    version = library.current_version(template)
    return {
        "id": template.id,
        "name": template.name,
        "category": template.category,
        "version": template.current_version,
        "version_id": version.id,
        "subject": version.subject,
        "preheader": version.preheader,
        "html": version.html,
        "text": version.text,
        "links": version.links,
    }


@bp.route("/crm/email-templates/", methods=["GET"])
@requires("manage email templates")
def list_templates():
    return jsonify(list_json([template_json(t) for t in library.list_templates()], None))


@bp.route("/crm/email-templates/", methods=["POST"])
@requires("manage email templates")
def create_template():
    template = library.create_template(json_object())
    response = jsonify(template_json(template))
    response.status_code = 201
    return response
