"""Escalation lateness: N tickets whose deadlines fall within the same minute, fired by real
`dramatiq` worker processes. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/bench_escalations.py --tickets 2000 --processes 2 [--burst]

BENCH_DATABASE_URL names a server (its maintenance database): the bench creates a database of
its own there (crm_bench_escalations, dropped at the end) and migrates it. BENCH_REDIS_URL's
database is flushed before and after. It starts an SMTP sink (aiosmtpd, its own process),
`dramatiq worker.main` with --processes processes and one scheduler (`python -m
worker.scheduler`, whose sweep enqueues the points more than five minutes ahead), then opens
the tickets through tickets.services.create_ticket, so due times and delayed messages come
from the real hook. Each ticket has escalation points for its first response and its
resolution: the warnings (--warnings, default 50% and 80%) and the breach.

The tickets are opened while the organization is closed; then its business hours open at a
whole minute (saving them recomputes the open tickets' due times), so every ticket's clock
starts at that moment. By default each ticket has already used a random share of a minute
of working time (uniform, 0 to 60 s), so each kind of point falls due for the N tickets
spread uniformly across one minute: the issue's case. --burst leaves them all at zero, so
each kind of point falls due for all N tickets in the same second (the Monday-morning case,
the hardest).

Lateness is fired_at - fire_at as the escalation log records it; "mailed" is when the
point's last notification was marked sent.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from _common import (
    ROOT,
    bench_environment,
    fresh_database,
    migrated_app,
    new_organization,
    percentile,
    server_url,
    stop,
)

DATABASE = "crm_bench_escalations"


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def open_tickets(app, organization_id, admin_id, agent_ids, customer_ids, creators: int) -> float:
    """Open one ticket per customer from `creators` threads, each given to an agent in turn
    (so routing's per-organization lock is not what is measured); returns the seconds taken."""
    from crm_web.db import set_tenant
    from crm_web.tickets import services as tickets

    chunks = [list(enumerate(customer_ids))[i::creators] for i in range(creators)]
    errors = []

    def run(chunk):
        try:
            with app.app_context():
                set_tenant(organization_id, admin_id)
                for n, customer_id in chunk:
                    tickets.create_ticket(
                        subject=f"Bench ticket for {customer_id}",
                        customer_id=customer_id,
                        priority="urgent",
                        assignee_id=agent_ids[n % len(agent_ids)],
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def open_at(organization_id: int, admin_id: int, moment: datetime, *, stagger: bool) -> None:
    """Open the business hours at `moment` (for 24 hours); saving them recomputes the due
    times of the open tickets. With `stagger`, each ticket has used a random share of a
    minute of working time first, so its deadlines fall anywhere within that minute."""
    from sqlalchemy import text

    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db
    from crm_web.sla import policies

    set_tenant(organization_id, admin_id)
    settings = policies.get_settings()

    @atomic
    def stagger_and_open():
        if stagger:
            db.session.execute(
                text("UPDATE tickets SET sla_elapsed_seconds = 60 * random() WHERE id = id")
            )
        open_only(moment.weekday(), f"{moment:%H:%M}-{moment:%H:%M}", settings.warning_percents)

    stagger_and_open()


def open_only(weekday: int, window: str, warning_percents) -> None:
    """Business hours (UTC) of one window on one weekday ("09:00-09:00" is 24 hours)."""
    from crm_web.sla import configuration

    weekly = [""] * 7
    weekly[weekday] = window
    configuration.update_settings(
        timezone="UTC",
        weekly_hours=weekly,
        warning_percents=warning_percents,
        breach_raise_priority=False,
        breach_reassign_to_id=None,
        sms_numbers=[],
    )


def report(connection, opened_seconds: float) -> None:
    rows = connection.execute(
        """
        SELECT e.target, e.level, e.status, e.fire_at,
               extract(epoch FROM e.fired_at - e.fire_at),
               (SELECT extract(epoch FROM max(n.sent_at) - e.fire_at) FROM sla_notifications n
                 WHERE n.escalation_id = e.id AND n.status = 'sent')
          FROM sla_escalations e
         WHERE e.status IN ('fired', 'skipped')
        """
    ).fetchall()
    print(f"opened the tickets in {opened_seconds:.1f} s")
    print(
        f"{'point':<22}{'fired':>7}{'skipped':>9}{'deadline spread':>17}"
        f"{'p50 late':>10}{'p99 late':>10}{'max':>8}{'p50 mailed':>12}{'p99 mailed':>12}"
    )
    everything: list[float] = []
    for target in ("first_response", "resolution"):
        for level in (50, 80, 100):
            points = [r for r in rows if r[0] == target and r[1] == level]
            fired = [float(r[4]) for r in points if r[2] == "fired"]
            mailed = [float(r[5]) for r in points if r[2] == "fired" and r[5] is not None]
            skipped = sum(1 for r in points if r[2] == "skipped")
            if not points:
                continue
            moments = [r[3] for r in points]
            spread = (max(moments) - min(moments)).total_seconds()
            everything += fired
            # Early and late within the group: a backlog shows as lateness growing in order.
            in_order = [float(r[4]) for r in sorted(points, key=lambda r: r[3]) if r[2] == "fired"]
            tenth = max(1, len(in_order) // 10)
            name = f"{target.replace('_', ' ')} {'breach' if level == 100 else f'{level}%'}"
            print(
                f"{name:<22}{len(fired):>7}{skipped:>9}{spread:>15.1f} s"
                f"{percentile(fired, 0.5):>9.2f}s{percentile(fired, 0.99):>9.2f}s{max(fired):>7.2f}s"
                f"{percentile(mailed, 0.5):>11.2f}s{percentile(mailed, 0.99):>11.2f}s"
                f"   (first tenth p50 {statistics.median(in_order[:tenth]):.2f} s,"
                f" last tenth {statistics.median(in_order[-tenth:]):.2f} s)"
            )
    print(
        f"all {len(everything)} fired points: p50 {statistics.median(everything):.2f} s, "
        f"p99 {percentile(everything, 0.99):.2f} s, max {max(everything):.2f} s after their moment"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="worker threads per process")
    parser.add_argument("--creators", type=int, default=4, help="threads opening tickets")
    parser.add_argument(
        "--burst", action="store_true", help="every deadline in the same second, not one minute"
    )
    parser.add_argument("--database", default=DATABASE, help="the bench's own database")
    parser.add_argument(
        "--warnings", default="50,80", help='warning levels in percent; "" for breaches only'
    )
    # Long enough that a ticket's warnings do not fall due the moment its clock starts.
    parser.add_argument("--first-response", type=int, default=2, help="minutes")
    parser.add_argument("--resolution", type=int, default=5, help="minutes")
    args = parser.parse_args()
    mode = "burst (same second)" if args.burst else "one minute (uniform)"

    server = server_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    logs = ROOT / "instance" / "bench"
    logs.mkdir(parents=True, exist_ok=True)

    from crm_web.devservices import drop_database, free_port

    url = fresh_database(server, args.database)
    smtp_port = free_port()
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{smtp_port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        cwd=ROOT,
    )
    env = bench_environment(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        SECRET_KEY="bench-escalations",
    )

    import redis
    from sqlalchemy import text

    from crm_web.accounts.services import create_user
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db
    from crm_web.sla import configuration
    from crm_web.sla.recompute import INLINE_LIMIT
    from crm_web.tickets import services as tickets

    redis.Redis.from_url(redis_url).flushdb()
    app = migrated_app()
    processes: list[subprocess.Popen] = []
    try:
        with app.app_context():
            organization, admin = new_organization(slug="bench")
            set_tenant(organization.id, admin.id)
            agent_ids = [
                create_user(email=f"agent{n}@bench.example", name=f"Agent {n}", role="support").id
                for n in range(10)
            ]
            create_user(email="lead@bench.example", name="Lead", role="manager")
            tickets.update_settings(agent_ticket_cap=1000)
            configuration.save_policy(
                priority="urgent",
                first_response_minutes=args.first_response,
                resolution_minutes=args.resolution,
                business_hours=True,
            )
            # Closed but for a window days away, until the tickets are all in.
            later = datetime.now(UTC) + timedelta(days=3)
            open_only(later.weekday(), "12:00-13:00", args.warnings)
            atomic(seed_customers)(args.tickets, seed=5)
            customer_ids = [
                row[0]
                for row in db.session.execute(
                    text("SELECT id FROM customers WHERE organization_id = :o ORDER BY id"),
                    {"o": organization.id},
                )
            ]
            db.session.commit()

        bin_dir = Path(sys.executable).parent
        processes.append(
            start(
                [
                    str(bin_dir / "dramatiq"),
                    "worker.main",
                    "--processes",
                    str(args.processes),
                    "--threads",
                    str(args.threads),
                ],
                env,
                logs / "workers.log",
            )
        )
        processes.append(
            start([sys.executable, "-m", "worker.scheduler"], env, logs / "scheduler.log")
        )
        time.sleep(5)  # the workers import the app and connect

        opened = open_tickets(
            app, organization.id, admin.id, agent_ids, customer_ids, args.creators
        )
        # The next whole minute that leaves time to recompute the tickets' due times.
        moment = datetime.now(UTC) + timedelta(seconds=90)
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        started = time.perf_counter()
        with app.app_context():
            open_at(organization.id, admin.id, moment, stagger=not args.burst)
        print(
            f"{args.tickets} tickets opened in {opened:.1f} s; business hours open at "
            f"{moment:%H:%M:%S} UTC (saved in {time.perf_counter() - started:.1f} s; above "
            f"{INLINE_LIMIT} open tickets the workers recompute the due times after); "
            f"machine load {os.getloadavg()[0]:.1f}"
        )
        print(f"waiting for the last resolution breach ({args.resolution} min after the opening)")

        with psycopg.connect(url, autocommit=True) as connection:
            # Until the last point has fired, or 15 minutes past its moment at the latest.
            ahead = (moment - datetime.now(UTC)).total_seconds()
            deadline = time.monotonic() + max(ahead, 0) + args.resolution * 60 + 900
            while time.monotonic() < deadline:
                pending, last = connection.execute(
                    "SELECT count(*) FILTER (WHERE status = 'pending'), max(fire_at) "
                    "FROM sla_escalations WHERE status <> 'cancelled'"
                ).fetchone()
                if pending == 0 and last < datetime.now(UTC):
                    break
                time.sleep(2)
            time.sleep(3)  # the last notifications
            print(
                f"deadlines {mode}: {args.tickets} tickets, {args.processes} worker processes x "
                f"{args.threads} threads, machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            report(connection, opened)
    finally:
        for process in processes:
            stop(process)
        stop(sink)
        with app.app_context():
            db.engine.dispose()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server, args.database)


if __name__ == "__main__":
    main()
