"""/health for load balancers and the admin's System page."""

import ipaddress

from flask import Blueprint, current_app, jsonify, request

from crm_web.outbox import services as outbox
from crm_web.permissions import can, requires
from crm_web.rendering import render
from crm_web.security import public
from crm_web.system import services

bp = Blueprint("system", __name__)


# A proxy that relays a request says so in one of these; their values are never trusted.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _from_loopback() -> bool:
    """Whether the request came from this machine itself (a local monitor), by the socket's
    peer address in the WSGI environ alone; a relayed request (a forwarding header) never is."""
    if not current_app.config["HEALTH_DETAILS_FROM_LOOPBACK"]:
        return False
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _may_see_details() -> bool:
    return _from_loopback() or can("view system")


@bp.route("/health")
@public
def health():
    """{"status": "ok"} (200) or {"status": "degraded"} (503) for anyone; the checks and queue
    depths only for a signed-in admin or a request from loopback."""
    healthy, report = services.health()
    response = jsonify(report if _may_see_details() else {"status": report["status"]})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/system")
@requires("view system")
def index():
    healthy, report = services.health()
    jobs = services.scheduled_jobs()
    return render(
        "system/index.html",
        block="status",
        healthy=healthy,
        report=report,
        jobs=[job for job in jobs if job.name != services.TICK_JOB],
        last_tick=next((job.last_run_at for job in jobs if job.name == services.TICK_JOB), None),
        worker_heartbeat=services.last_worker_heartbeat(),
        failed_jobs=services.recent_failed_jobs(),
        failed_system_jobs=services.failed_system_job_count(),
        outbox=outbox.report(),
    )
