"""Ticket queue benchmark: the live queue fragment with 50k open tickets.

Run by hand (prints figures; not a test), on a database of its own:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_tickets_queue.py --tickets 50000

It migrates the database, creates an organization with support agents in a few teams, seeds
customers and N active tickets (set-based, through `crm seed`'s service), then times, as one
agent, the fragment the queue polls every few seconds (its rows plus the view counters, out of
band) for each view, sorted by SLA due, a few filtered and deeper variants, and the poll that
finds nothing changed (204). Each line also gives the SQL statements a poll runs and the
median time spent in them, so the database's share is told apart from rendering. The app's
start-up objects are frozen out of the garbage collector's sight, as wsgi.py does for the
web workers.
"""

import argparse
import gc
import html
import os
import re
import statistics
import time
import uuid

import psycopg
from bench_foundation import percentile

TEAMS = ("Support", "Billing", "Technical", "Accounts")


class SqlMeter:
    """Counts the statements run and the time spent in them (engine events)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.statements, self.seconds = 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.statements += 1
        self.seconds += time.perf_counter() - conn.info.pop("bench_started")

    def reset(self) -> None:
        self.statements, self.seconds = 0, 0.0


def timed_polls(
    client, meter: SqlMeter, url: str, runs: int
) -> tuple[float, float, int, int, float]:
    """(p50 ms, p95 ms, rows, statements, median SQL ms) for the queue's live refresh of `url`."""
    headers = {"HX-Request": "true", "HX-Target": "queue-rows"}
    client.get(url, headers=headers)  # warm the plan and connection caches
    samples, sql = [], []
    for _ in range(runs):
        meter.reset()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        sql.append(meter.seconds * 1000)
        assert response.status_code in (200, 204), (url, response.status_code)
    rows = response.get_data(as_text=True).count('data-ticket="')
    return (
        statistics.median(samples),
        percentile(samples, 0.95),
        rows,
        meter.statements,
        statistics.median(sql),
    )


def support_desk(name: str, agents: int):
    """A new organization with `agents` support agents spread over TEAMS, acting as its admin
    from now on; returns (organization, agents). Every password is "quiet lake at dawn"."""
    from crm_web.accounts.services import create_user
    from crm_web.db import set_tenant
    from crm_web.onboarding import create_organization

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    organization, admin = create_organization(
        name=name,
        slug=slug,
        admin_email=f"admin@{slug}.example",
        admin_name="Bench",
        admin_password="quiet lake at dawn",
    )
    set_tenant(organization.id, admin.id)
    return organization, [
        create_user(
            email=f"agent{n}@{slug}.example",
            name=f"Agent {n:02d}",
            role="support",
            password="quiet lake at dawn",
            department=TEAMS[n % len(TEAMS)],
        )
        for n in range(agents)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from crm_web import create_app
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic
    from crm_web.tickets.seeding import seed_tickets

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    gc.freeze()  # as wsgi.py does for the web workers: see there
    with app.app_context():
        upgrade(revision="heads")
        _organization, agents = support_desk("Queue bench", args.agents)
        atomic(seed_customers)(args.customers, seed=5)
        started = time.perf_counter()
        atomic(seed_tickets)(args.tickets, seed=5, open_share=1.0)
        seconds = time.perf_counter() - started
        print(f"seed: {args.tickets:,} open tickets in {seconds:.1f} s")
        with psycopg.connect(app.config["DATABASE_URL"], autocommit=True) as connection:
            for table in ("tickets", "ticket_messages", "customers", "users"):
                connection.execute(f"VACUUM ANALYZE {table}")
        agent = agents[0]

    from crm_web.extensions import db

    with app.app_context():
        meter = SqlMeter(db.engine)
    client = app.test_client()
    response = client.post("/login", data={"email": agent.email, "password": "quiet lake at dawn"})
    assert response.status_code == 303, response.status_code
    print(
        f"as {agent.name} ({agent.department}); rows = rows rendered; p50/p95 of {args.runs} polls"
    )
    for label, url in (
        ("my tickets, by SLA due", "/tickets?view=mine"),
        ("team queue, by SLA due", "/tickets?view=team"),
        ("unassigned, by SLA due", "/tickets?view=unassigned"),
        ("breaching soon", "/tickets?view=breaching"),
        ("breached", "/tickets?view=breached"),
        ("all open, by SLA due", "/tickets?view=all"),
        ("all open, newest", "/tickets?view=all&sort=newest"),
        ("all open, urgent only", "/tickets?view=all&priority=urgent"),
        ("all open, search 'refund'", "/tickets?view=all&q=refund"),
        ("all open, 200 rows loaded", "/tickets?view=all&rows=200"),
    ):
        print(line(label, *timed_polls(client, meter, url, args.runs)))

    # The steady state: polls that carry the version they were given answer 204 until a
    # ticket changes (or the minute turns), without rendering.
    page = client.get("/tickets?view=mine").get_data(as_text=True)
    refresh = re.search(r'<tbody id="queue-rows" hx-get="([^"]+)"', page).group(1)
    print(
        line(
            "unchanged (204, no render)",
            *timed_polls(client, meter, html.unescape(refresh), args.runs),
        )
    )
    print(f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def line(label: str, p50: float, p95: float, rows: int, statements: int, sql_ms: float) -> str:
    return (
        f"{label:<30} rows {rows:4d}   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms"
        f"   ({statements} statements, SQL p50 {sql_ms:5.1f} ms)"
    )


if __name__ == "__main__":
    main()
