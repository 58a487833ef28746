"""Automations at 1M customers: the daily birthday fan-out, and a tick that moves 100,000
enrollments from a finished wait to an email step. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_automations.py --customers 1000000 [--enrollments 100000]

It makes a database of its own (--database, crm_bench_automations by default; dropped at the
end unless --keep), migrates it, seeds N customers with birth dates with the `crm seed` service
(COPY) and VACUUM ANALYZEs; with --seeded NAME the seeded database is kept under NAME and the
next runs start from a copy of it. Then:

- birthday fan-out: an active "birthday" journey (an email, then an SMS) and one scheduler run
  (`runner.run`) at 20:00 UTC today, past the 09:00 send hour in every customer's zone: the
  enrollment INSERT ... SELECT over the customers and advancing every enrollment, which writes
  the queued messages to the outbox. Target (issue 16): < 2 s.
- wait -> email: a journey [wait 1 day, email]; E enrollments written (generate_series) as
  having finished their wait and due at the email step, then one scheduler run that advances
  them all: enrollments/s (the messages are queued in the outbox; SMTP is not part of it).
  Target: >= 5,000/s.

The machine may be shared: the load average is printed beside the figures.
"""

import argparse
import datetime as dt
import os
import time

import psycopg
from _common import (
    bench_environment,
    copied_or_fresh,
    copy_database,
    migrated_app,
    new_organization,
    server_url,
    vacuum_analyze,
)

DATABASE = "crm_bench_automations"


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--database", default=DATABASE, help="the bench database's name")
    parser.add_argument(
        "--seeded",
        help="a database kept between runs with the seeded customers: made (and seeded) by the "
        "first run, copied by the next ones instead of seeding again",
    )
    args = parser.parse_args()
    from crm_web.devservices import drop_database

    server = server_url()
    url, copied = copied_or_fresh(server, args.database, args.seeded)
    bench_environment(
        DATABASE_URL=url,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        SECRET_KEY="bench-automations",
    )
    from crm_web.campaigns import library
    from crm_web.db import tenant_scope
    from crm_web.extensions import db

    app = migrated_app()
    try:
        with app.app_context():
            organization_id, admin_id = _organization(url) if copied else _seed(args.customers)
            with tenant_scope(organization_id, admin_id):
                template_id = library.list_templates()[0].id
            db.session.commit()
            if args.seeded and not copied:
                db.engine.dispose()
                copy_database(server, args.database, args.seeded)
        vacuum_analyze(url, "customers")
        today = dt.date.today()
        now = dt.datetime(today.year, today.month, today.day, 20, 0, tzinfo=dt.UTC)
        with app.app_context(), tenant_scope(organization_id, admin_id):
            birthday_fan_out(now, template_id)
        vacuum_analyze(url, "automation_enrollments", "automation_step_runs", "outbox_messages")
        with app.app_context(), tenant_scope(organization_id, admin_id):
            wait_then_email(now + dt.timedelta(days=1), template_id, args.enrollments, url)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            drop_database(server, args.database)


SLUG = "bench-automations"


def _seed(customers: int) -> tuple[int, int]:
    """A new organization with `customers` seeded customers and the starter templates."""
    from crm_web.campaigns import library
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, tenant_scope
    from crm_web.extensions import db

    organization, admin = new_organization(
        "Bench Automations", slug=SLUG, timezone="Europe/Istanbul"
    )
    db.session.commit()
    ids = organization.id, admin.id
    with tenant_scope(*ids):
        started = time.perf_counter()
        atomic(seed_customers)(customers, seed=16)
        print(f"{customers:,} customers seeded in {time.perf_counter() - started:.1f} s")
        library.add_starter_templates()
        db.session.commit()
    return ids


def _organization(url: str) -> tuple[int, int]:
    """The seeded organization of a copied database, and its admin (read as the owner: the
    app's role sees no organization before it acts for one)."""
    with psycopg.connect(url) as connection:
        organization_id, admin_id, customers = connection.execute(
            "SELECT o.id, u.id, (SELECT count(*) FROM customers) FROM organizations o"
            " JOIN users u ON u.organization_id = o.id AND u.email = %s WHERE o.slug = %s",
            (f"admin@{SLUG}.example", SLUG),
        ).fetchone()
    print(f"{customers:,} customers copied from the seeded database")
    return organization_id, admin_id


def _journey(name: str, trigger: str, steps: list, now: dt.datetime, config: dict | None = None):
    from crm_web.automations import services
    from crm_web.extensions import db

    automation = services.create_automation(
        {"name": name, "trigger_kind": trigger, "trigger_config": config or {}, "steps": steps}
    )
    services.activate(automation.id)
    automation.activated_at = now - dt.timedelta(days=1)
    db.session.commit()
    return automation


def _paused(automation) -> None:
    from crm_web.automations import services

    services.pause(automation.id)


def birthday_fan_out(now: dt.datetime, template_id: int) -> None:
    from sqlalchemy import text

    from crm_web.automations import runner
    from crm_web.extensions import db

    automation = _journey(
        "Birthday",
        "birthday",
        [{"type": "email", "template_id": template_id}, {"type": "sms", "template": "birthday"}],
        now,
    )
    started = time.perf_counter()
    result = runner.run(now, batch=1000)
    seconds = time.perf_counter() - started
    queued = db.session.scalar(
        text("SELECT count(*) FROM outbox_messages WHERE kind LIKE 'automation%'")
    )
    print(
        f"{'birthday fan-out (enroll + advance)':<40}{seconds:>8.2f} s   "
        f"{result['enrolled']:,} enrolled, {queued:,} messages queued   [{load()}]"
    )
    _paused(automation)


_ENROLLMENTS = """
INSERT INTO automation_enrollments (organization_id, automation_id, customer_id, occurrence,
                                    step_id, next_run_at, state, exited_reason, goal_reached,
                                    enrolled_at)
SELECT c.organization_id, :automation, c.id, 'bench', :step, :due, 'active', '', false, :enrolled
  FROM customers c
 WHERE c.organization_id = :org
 ORDER BY c.id
 LIMIT :count
"""


def wait_then_email(now: dt.datetime, template_id: int, count: int, url: str) -> None:
    from sqlalchemy import text

    from crm_web.automations import runner
    from crm_web.db import current_organization_id
    from crm_web.extensions import db

    automation = _journey(
        "Wait then email",
        "tag_added",
        [{"type": "wait", "days": 1}, {"type": "email", "template_id": template_id}],
        now,
        {"tag": "never-added"},
    )
    wait_id, email_id = (step["id"] for step in automation.steps)
    # Enrolled a day ago: the wait ran then and is finished; the email step is due now.
    db.session.execute(
        text(_ENROLLMENTS),
        {"automation": automation.id, "step": email_id, "due": now - dt.timedelta(minutes=1),
         "enrolled": now - dt.timedelta(days=1), "org": current_organization_id(),
         "count": count},
    )  # fmt: skip
    db.session.execute(
        text(
            "INSERT INTO automation_step_runs (organization_id, automation_id, enrollment_id,"
            " step_id, step_type, outcome, ran_at)"
            " SELECT organization_id, automation_id, id, :wait, 'wait', 'done', enrolled_at"
            " FROM automation_enrollments WHERE automation_id = :automation"
        ),
        {"wait": wait_id, "automation": automation.id},
    )
    db.session.commit()
    vacuum_analyze(url, "automation_enrollments", "automation_step_runs")
    before = db.session.scalar(text("SELECT count(*) FROM outbox_messages"))
    started = time.perf_counter()
    result = runner.run(now, batch=1000)
    seconds = time.perf_counter() - started
    queued = db.session.scalar(text("SELECT count(*) FROM outbox_messages")) - before
    print(
        f"{'wait -> email, one tick':<40}{seconds:>8.2f} s   {result['advanced']:,} enrollments,"
        f" {result['advanced'] / seconds:,.0f}/s, {queued:,} emails queued   [{load()}]"
    )


if __name__ == "__main__":
    main()
