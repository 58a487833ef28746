"""Campaign sending and tracking: a personalised campaign to N recipients sent by real `dramatiq`
worker processes into Postfix's C `smtp-sink`, then the tracking endpoints against a hello-world
route on the same gunicorn. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_campaigns.py --recipients 100000 --processes 2 --threads 2 \\
            [--kills 5] [--tracking-seconds 10] [--profile 5000]

It makes a database of its own (crm_bench_campaigns, dropped at the end), seeds N customers
with the `crm seed` service, all agreeing to email, a static segment of them all and the starter
"Newsletter" template (the customer's name, three tracked links, the open pixel and a signed
unsubscribe link in every message). With the workers ready and idle, the clock starts at the
start request (`schedule_campaign(..., now)`: the ledger with its consent rules and one outbox
row per recipient, one statement each) and stops at the last mark (max sent_at). The sink
(`smtp-sink -D`) records every transaction, so lost and duplicated Message-IDs are counted.

--kills K SIGKILLs the whole worker process group K times during the run (evenly, after the
first marks), restarting it each time; this process plays the scheduler's outbox sweep (every
second; every 10 s without kills, as in production), which puts a dead worker's expired claims
back in the queue (the lease is 5 s here) and nudges what a lost nudge left behind.
Lost must be 0; duplicates are at most the messages in flight at each kill.

--profile N starts the campaign, then runs one delivery loop in this process under cProfile for
N messages (CPU per message, SQL statements per message, where the CPU goes), no workers.

Tracking: gunicorn (2 workers x 4 threads, --preload) serves the app plus /bench/hello (a route that
returns a word, the ceiling); `wrk` (2 threads, 32 connections, --tracking-seconds each) hits
the hello route, an open pixel and a click redirect of a real recipient. Target (issue 15): the
tracking endpoints at >= 0.5x the hello route's requests per second.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from _common import (
    ROOT,
    bench_environment,
    fresh_database,
    migrated_app,
    new_organization,
    server_url,
    stop,
    wait_for_port,
)
from bench_outbox import Sink, children, cpu_seconds, machine_busy_seconds, peak_rss_mb, profile

DATABASE = "crm_bench_campaigns"
LEASE_SECONDS = 5


def start_workers(args, env: dict, log_path: Path) -> subprocess.Popen:
    workers = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dramatiq"), "worker.main",
            "--processes", str(args.processes), "--threads", str(args.threads),
            "--queues", "outbox",
        ],
        cwd=ROOT, env=env, stdout=log_path.open("a"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    ready = log_path.read_text().count("Worker process is ready")
    while log_path.read_text().count("Worker process is ready") < ready + args.processes:
        if workers.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The workers did not start; see {log_path}")
        time.sleep(0.2)
    return workers


def left(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT count(*) FILTER (WHERE status IN ('queued', 'claimed')), "
            "count(*) FILTER (WHERE status = 'sent') FROM outbox_messages WHERE kind = 'campaign'"
        ).fetchone()


def send(
    args, app, url: str, env: dict, organization_id: int, admin_id: int, campaign_id: int, sink
):
    from crm_web.campaigns import services
    from crm_web.db import tenant_scope
    from crm_web.extensions import db
    from crm_web.outbox import delivery

    logs = ROOT / "instance" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / "campaign-workers.log"
    log_path.write_text("")
    env = {**env, "SMTP_URL": sink.url, "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS)}
    workers = start_workers(args, env, log_path)
    worker_pids = children(workers.pid)
    cpu_before = {pid: cpu_seconds(pid) for pid in worker_pids}
    busy_before = machine_busy_seconds()
    rss: dict[int, float] = {}
    kills, killed_in_flight = 0, 0
    try:
        with app.app_context(), tenant_scope(organization_id, admin_id):
            started = time.time()
            services.schedule_campaign(campaign_id)
            queued_in = time.time() - started
            db.session.commit()
        print(f"start request (ledger + {args.recipients:,} outbox rows): {queued_in:.2f} s")
        kill_every = args.recipients // (args.kills + 1) if args.kills else None
        last_progress, last_left, last_sweep = time.monotonic(), None, 0.0
        while True:
            waiting, sent = left(url)
            if waiting == 0:
                break
            for pid in children(workers.pid):
                rss[pid] = max(rss.get(pid, 0.0), peak_rss_mb(pid))
            if kill_every and kills < args.kills and sent >= kill_every * (kills + 1):
                with psycopg.connect(url) as connection:
                    killed_in_flight += connection.execute(
                        "SELECT count(*) FROM outbox_messages WHERE status = 'claimed'"
                    ).fetchone()[0]
                os.killpg(workers.pid, signal.SIGKILL)
                workers.wait()
                kills += 1
                print(f"  SIGKILL {kills} at {sent:,} sent")
                workers = start_workers(args, env, log_path)
            # The scheduler's outbox sweep, as in production (every 10 s; every second with
            # kills, for the short lease): without it one lost nudge or failed job stalls the run.
            if time.monotonic() - last_sweep > (1 if args.kills else 10):
                with app.app_context():
                    delivery.sweep()
                last_sweep = time.monotonic()
            if waiting != last_left:
                last_progress, last_left = time.monotonic(), waiting
            elif time.monotonic() - last_progress > args.timeout:
                print(f"no progress for {args.timeout:.0f} s with {waiting} left: giving up")
                break
            time.sleep(0.2)
        cpu = sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in worker_pids)
        busy = machine_busy_seconds() - busy_before
    finally:
        stop(workers)
    report(args, url, started, sink, rss, cpu, busy, kills, killed_in_flight)
    failed = [
        line
        for line in log_path.read_text().splitlines()
        if "job failed" in line or "Failed to process message" in line
    ]
    print(f"{'jobs that failed (worker log)':<40}{len(failed)}")
    for line in failed[:5]:
        print("   ", line[:300])


def start_only(app, organization_id: int, admin_id: int, campaign_id: int) -> None:
    """The start request alone (no worker runs), timed."""
    from crm_web.campaigns import services
    from crm_web.db import tenant_scope

    with app.app_context(), tenant_scope(organization_id, admin_id):
        started = time.time()
        services.schedule_campaign(campaign_id)
        print(f"start request: {time.time() - started:.2f} s")


def report(args, url, started, sink, rss, cpu, busy, kills, in_flight) -> None:
    with psycopg.connect(url) as connection:
        statuses = dict(
            connection.execute(
                "SELECT status, count(*) FROM outbox_messages WHERE kind = 'campaign' GROUP BY status"
            )
        )
        last_mark = connection.execute(
            "SELECT extract(epoch FROM max(sent_at)) FROM outbox_messages WHERE kind = 'campaign'"
        ).fetchone()[0]
        ledger = dict(
            connection.execute("SELECT status, count(*) FROM campaign_recipients GROUP BY status")
        )
    time.sleep(1)
    received = sink.message_ids()
    sent = statuses.get("sent", 0)
    seconds = float(last_mark) - started if last_mark else 0.0
    duplicated = sum(count - 1 for count in received.values() if count > 1)
    print(
        f"\n== campaign: {args.recipients:,} recipients, {args.processes} processes x "
        f"{args.threads} threads, {kills} SIGKILLs, load {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(f"{'outbox statuses':<40}{dict(sorted(statuses.items()))}")
    print(f"{'ledger statuses':<40}{dict(sorted(ledger.items()))}")
    print(f"{'start request to last mark':<40}{seconds:.1f} s")
    print(f"{'messages/s (start request to last mark)':<40}{sent / seconds if seconds else 0:,.0f}")
    print(f"{'lost (not sent)':<40}{args.recipients - sent}")
    print(
        f"{'received by the sink':<40}{sum(received.values()):,}   distinct {len(received):,}, "
        f"duplicated {duplicated} (claimed at the kills: {in_flight})"
    )
    for pid, megabytes in sorted(rss.items()):
        print(f"{f'worker {pid} peak RSS (VmHWM)':<40}{megabytes:.0f} MB")
    print(
        f"{'CPU seconds':<40}workers {cpu:.1f} (first run's processes); machine busy "
        f"{busy:.1f} of {seconds * (os.cpu_count() or 1):.1f} core-seconds"
    )


def tracking(args, url: str, env: dict, organization_id: int) -> None:
    """wrk against /bench/hello, an open pixel and a click of one recipient, on one gunicorn."""
    from crm_web.campaigns import content

    with psycopg.connect(url) as connection:
        recipient, version = connection.execute(
            "SELECT r.id, v.version_id FROM campaign_recipients r JOIN campaign_variants v "
            "ON v.campaign_id = r.campaign_id AND v.position = 0 ORDER BY r.id LIMIT 1"
        ).fetchone()
    from crm_web import create_app

    with create_app().app_context():
        opened = f"/t/o/{content.sign('open', organization_id, recipient)}.gif"
        clicked = f"/t/c/{content.sign('click', organization_id, recipient, version, 0)}"
    from crm_web.devservices import free_port

    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--threads", "4",
            "--preload",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "tracking_wsgi:app",
        ],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        # The app is loaded before the fork (--preload); each path is warmed all the same.
        for path in ("/bench/hello", opened, clicked):
            subprocess.run(
                ["wrk", "-t2", "-c8", "-d3s", f"http://127.0.0.1:{port}{path}"],
                capture_output=True, check=True,
            )  # fmt: skip
        rates = {}
        for name, path in (("hello", "/bench/hello"), ("open pixel", opened), ("click", clicked)):
            output = subprocess.run(
                ["wrk", "-t2", "-c32", f"-d{args.tracking_seconds}s", f"http://127.0.0.1:{port}{path}"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
            non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
            rates[name] = rate
            print(
                f"{name:<40}{rate:>10,.0f} requests/s"
                + (f"   ({non_2xx.group(1)} not 2xx/3xx)" if non_2xx else "")
            )
        for name in ("open pixel", "click"):
            print(f"{name + ' / hello':<40}{rates[name] / rates['hello']:>10.2f}x")
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=90, help="seconds without progress")
    parser.add_argument("--tracking-seconds", type=int, default=10)
    parser.add_argument(
        "--profile", type=int, default=0, help="start, then profile N messages in this process"
    )
    args = parser.parse_args()

    server = server_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    url = fresh_database(server, DATABASE)
    env = bench_environment(
        DATABASE_URL=url, REDIS_URL=redis_url, SECRET_KEY="bench-campaigns", LOG_LEVEL="WARNING"
    )
    env.pop("SMTP_URL", None)
    import redis

    from crm_web.campaigns import library, services
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, tenant_scope
    from crm_web.devservices import drop_database
    from crm_web.extensions import db
    from crm_web.segments.services import create_segment

    redis.Redis.from_url(redis_url).flushdb()
    app = migrated_app()
    folder = Path(tempfile.mkdtemp(prefix="bench-campaigns-"))
    try:
        with app.app_context():
            organization, admin = new_organization("Bench Kampanya", slug="bench-campaigns")
            db.session.commit()
            with tenant_scope(organization.id, admin.id):
                atomic(seed_customers)(args.recipients, seed=15)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                "UPDATE customers SET email_opt_in = true, do_not_contact = false, is_active = true, "
                "primary_email = 'customer' || id || '@bench.example'"
            )
            connection.execute("VACUUM ANALYZE customers")
        with app.app_context(), tenant_scope(organization.id, admin.id):
            segment = create_segment({"segment_name": "All", "is_dynamic": False})
            library.add_starter_templates()
            newsletter = next(t for t in library.list_templates() if t.name == "Newsletter")
            campaign = services.create_campaign(
                {
                    "name": "Bench",
                    "include_segment_ids": [segment.id],
                    "variants": [{"template_id": newsletter.id}],
                }
            )
            organization_id, admin_id, campaign_id = organization.id, admin.id, campaign.id
        print(f"{args.recipients:,} customers, a segment of them all and a draft campaign ready")
        sink = Sink("smtp-sink", folder)
        try:
            if args.profile:
                start_only(app, organization_id, admin_id, campaign_id)
                profile(app, organization_id, args.profile, sink)
                return
            send(args, app, url, env, organization_id, admin_id, campaign_id, sink)
        finally:
            sink.stop()
        print()
        tracking(args, url, env, organization_id)
    finally:
        with app.app_context():
            db.engine.dispose()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server, DATABASE)


if __name__ == "__main__":
    main()
