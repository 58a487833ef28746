"""Binding a function to a job that `crm_web.jobs` declares."""

import functools

import dramatiq

from crm_web.db import tenant_scope
from crm_web.i18n import organization_language
from crm_web.jobs import Job
from worker import broker as _broker  # noqa: F401  (the broker exists before any actor)


def actor_for(job: Job):
    """The actor that runs `job`; a tenant job's first argument is the organization id, and it
    runs with that tenant set, speaking the organization's language."""

    def decorator(fn):
        if job.tenant:

            @functools.wraps(fn)
            def run(organization_id: int, *args, **kwargs):
                with tenant_scope(organization_id), organization_language():
                    return fn(*args, **kwargs)

        else:
            run = fn
        return dramatiq.actor(run, actor_name=job.name, queue_name=job.queue_name, **job.options)

    return decorator
