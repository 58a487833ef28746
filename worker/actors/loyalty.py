"""Actors for loyalty: settling an order's points, and the periodic run (expiry, tier reviews,
settling what a lost nudge left)."""

from crm_web import jobs
from crm_web.loyalty import daily, earning
from worker.actors.base import actor_for


@actor_for(jobs.SETTLE_ORDER_POINTS)
def settle_order_points(order_id: int) -> None:
    earning.settle_order(order_id)


@actor_for(jobs.RUN_LOYALTY_DAY)
def run_loyalty_day() -> None:
    daily.run()


@actor_for(jobs.RUN_LOYALTY_DAY_EVERYWHERE)
def run_loyalty_day_everywhere() -> None:
    daily.schedule_everywhere()
