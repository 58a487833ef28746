"""/health for load balancers and the admin's System page."""

from flask import Blueprint, jsonify

from crm_web.outbox import services as outbox
from crm_web.rendering import render
from crm_web.security import public, roles_required
from crm_web.system import services

bp = Blueprint("system", __name__)


@bp.route("/health")
@public
def health():
    healthy, report = services.health()
    response = jsonify(report)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/system")
@roles_required("admin")
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
