"""Actors for CSV imports: the dry run and the import of one job."""

from crm_web import jobs
from crm_web.imports import services
from worker.actors.base import actor_for


@actor_for(jobs.RUN_IMPORT_JOB)
def run_import_job(job_id: int) -> None:
    services.run_import_job(job_id)
