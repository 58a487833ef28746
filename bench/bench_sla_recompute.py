"""SLA recompute benchmark: moving the due times of N open tickets after a policy or
business-hours change. Run by hand (prints figures; not a test), on a database of its own:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_sla_recompute.py --tickets 2000 [--profile]

It migrates the database, creates an organization with support agents, seeds customers and
N active tickets (their demo due times are counted around the clock, without escalation
points), then times `recompute.recompute_in_transaction` (every open ticket, in one
transaction) three times:

- "first": business hours apply; every ticket's due times move and get escalation points;
- "moved": the working hours change (written behind the services' back, so only the timed
  recompute runs); every due time moves again, its old points are cancelled, new ones made;
- "unchanged": nothing changed; the recompute reads, computes and writes nothing.

Then a change through the service a manager calls (`update_settings`): above
recompute.INLINE_LIMIT open tickets it hands the work to the background job, so the request
only commits and enqueues (its time is printed apart); the job's chunks are run here, in this
process, and timed with it. Each line gives tickets per second, the SQL statements and the
time spent in them. The tables are analyzed between runs, as autovacuum would have done by a
manager's next change. --profile prints the top functions of the "moved" run.
"""

import argparse
import cProfile
import os
import pstats
import time

from _common import SqlMeter, migrated_app, vacuum_analyze
from bench_tickets_queue import support_desk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import text

    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic
    from crm_web.extensions import db
    from crm_web.sla import recompute
    from crm_web.tickets.seeding import seed_tickets

    app = migrated_app()
    with app.app_context():
        organization, _agents = support_desk("Recompute bench", 8)
        # Business hours before the tickets: the seeded due times are still calendar time.
        set_hours(["09:00-17:00"] * 5 + ["", ""])
        atomic(seed_customers)(args.customers, seed=7)
        atomic(seed_tickets)(args.tickets, seed=7, open_share=1.0)

        def analyze() -> None:
            # The statistics autovacuum keeps: without them the planner takes this new
            # organization for an empty one and may scan all its points per chunk.
            vacuum_analyze(app.config["DATABASE_URL"], "tickets", "customers", "sla_escalations")

        analyze()
        meter = SqlMeter(db.engine)
        print(f"{args.tickets:,} open tickets; machine load {os.getloadavg()[0]:.1f}")

        def recompute_all() -> None:
            atomic(recompute.recompute_in_transaction)()

        measure("first", meter, organization.id, recompute_all)
        analyze()
        db.session.execute(
            text("UPDATE sla_settings SET weekly_hours = :hours WHERE organization_id = :org"),
            {"hours": ["08:30-12:00, 13:00-18:00"] * 5 + ["", ""], "org": organization.id},
        )
        db.session.commit()
        profiler = cProfile.Profile() if args.profile else None
        measure("moved", meter, organization.id, recompute_all, profiler)
        measure("unchanged", meter, organization.id, recompute_all)
        analyze()

        def change_and_run_the_job() -> float:
            set_hours(["09:00-17:30"] * 5 + ["", ""])
            request_done = time.perf_counter()
            _finish_background_job()
            return request_done

        measure("change + background job", meter, organization.id, change_and_run_the_job)
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print(f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def set_hours(weekly_hours: list[str]) -> None:
    """Save the business hours as a manager does (the open tickets follow)."""
    from crm_web.sla import configuration

    configuration.update_settings(
        timezone="Europe/Istanbul",
        weekly_hours=weekly_hours,
        warning_percents="50, 80",
        breach_raise_priority=False,
        breach_reassign_to_id=None,
        sms_numbers="",
    )


def _finish_background_job() -> None:
    """Run the organization's recompute job here, chunk by chunk, if a change started one."""
    from crm_web.sla import recompute

    job = recompute.recompute_status()
    if job is not None and job.running:
        recompute.run_job(job.generation)


def measure(label: str, meter: SqlMeter, organization_id: int, fn, profiler=None) -> None:
    """Time fn() and print tickets per second; fn may return when its request part ended
    (a perf_counter reading), to print that part apart."""
    from sqlalchemy import func, select

    from crm_web.extensions import db
    from crm_web.tickets.models import ACTIVE_STATUSES, Ticket

    meter.reset()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    request_done = fn()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    statements, sql_seconds = meter.statements, meter.seconds
    tickets = db.session.scalar(
        select(func.count()).where(
            Ticket.organization_id == organization_id, Ticket.status.in_(ACTIVE_STATUSES)
        )
    )
    db.session.commit()
    request = f"   (request {(request_done - started) * 1000:.0f} ms)" if request_done else ""
    print(
        f"{label:<28} {seconds:7.2f} s   {tickets / seconds:7.0f} tickets/s"
        f"   {statements:5d} statements, SQL {sql_seconds:6.2f} s{request}"
    )


if __name__ == "__main__":
    main()
