"""Actors for CSV imports: the dry run and the import of one job."""

from crm_web.imports import services
from worker.actors.base import tenant_actor


# No retries: a failed run is written on the job for the person to see and start again, and
# a 1M-row import may need minutes.
@tenant_actor(queue_name="imports", max_retries=0, time_limit=60 * 60 * 1000)
def run_import_job(job_id: int) -> None:
    services.run_import_job(job_id)
