"""Actors for the catalog: recomputing customer value (RFM) per organization, and nightly for all."""

from crm_web import jobs
from crm_web.catalog import customer_value
from worker.actors.base import actor_for


@actor_for(jobs.RECOMPUTE_CUSTOMER_VALUES)
def recompute_customer_values() -> None:
    customer_value.recompute()


@actor_for(jobs.RECOMPUTE_CUSTOMER_VALUES_EVERYWHERE)
def recompute_customer_values_everywhere() -> None:
    customer_value.schedule_everywhere()
