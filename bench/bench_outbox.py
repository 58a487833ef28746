"""Outbox send rate: N queued personalised emails sent by real `dramatiq` worker processes into
a real SMTP sink. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_outbox.py --messages 100000 --processes 2 --threads 2 \\
            [--sinks smtp-sink,aiosmtpd] [--profile 5000]

BENCH_DATABASE_URL names a server (its maintenance database): the bench creates a database of
its own there (crm_bench_outbox, dropped at the end) and migrates it. BENCH_REDIS_URL's
database is flushed before and after.

No kind sends bulk personalised mail to customers yet (campaigns are to come), so the bench
sends invitations: N invited users (one INSERT ... SELECT), then one outbox row each (another),
then ANALYZE. Each message renders the invitation's text and HTML templates with the user's
name and a signed token, so every message differs.

For each sink (--sinks: Postfix's C `smtp-sink` dumping every transaction to a file,
`smtp-sink-count` only counting, and an aiosmtpd server recording Message-IDs), the rows are put back in the queue, `dramatiq
worker.main --queues outbox` starts with --processes x --threads, and the bench enqueues
--loops `deliver_outbox` messages (one delivery loop each) and waits until no message is queued
or claimed. The default is 2 x processes x threads: a Dramatiq process prefetches twice its
threads' worth of messages, so with fewer the first process to wake takes them all and the
others stay idle. The rate runs from the first claim (polled: the
claimed rows' updated_at) to the last mark (max sent_at). Lost is rows not sent; duplicated is
Message-IDs the sink received more than once. RSS is the peak (VmHWM) of each worker process;
CPU is user + system time over the run of the workers, the database's backends serving them,
and the sink, against the machine's busy time (other work on the machine shows there).

--profile N runs `delivery.deliver` in this process instead, under cProfile (CPU time), for N
messages into smtp-sink, and prints where the CPU goes.
"""

import argparse
import cProfile
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
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

DATABASE = "crm_bench_outbox"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_MESSAGE_ID_LINE = re.compile(rb"^Message-ID: (<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


# -- the sinks ----------------------------------------------------------------------------------


class MessageIdRecorder:
    """aiosmtpd handler (run by `python -m aiosmtpd -c bench_outbox.MessageIdRecorder FILE`):
    appends each received message's Message-ID to FILE, one a line."""

    def __init__(self, path: str):
        self.file = open(path, "a", buffering=1)  # noqa: SIM115 (open for the server's life)

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        match = _MESSAGE_ID_LINE.search(envelope.original_content or envelope.content)
        self.file.write((match.group(1).decode() if match else "-") + "\n")
        return "250 Message accepted for delivery"


class Sink:
    """An SMTP sink process on a free loopback port whose received Message-IDs can be read."""

    def __init__(self, name: str, folder: Path):
        from crm_web.devservices import free_port

        self.name = name
        self.port = free_port()
        self.record = folder / f"{name}.received"
        output = None
        if name.startswith("smtp-sink"):
            # As root it must drop privileges, so the folder is writable by all.
            folder.chmod(0o777)
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            if name == "smtp-sink":
                # -D appends every transaction (headers included) to one file.
                options = ["-D", str(self.record)]
            else:
                # -c only counts (a line of counters after each message): the sink's own cost
                # without the dump, but no Message-IDs to find duplicates by.
                options, output = ["-c"], self.record.open("w")
            command = [SMTP_SINK, *user, *options, f"127.0.0.1:{self.port}", "1000"]
            env = None
        else:
            command = [
                sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
                "-c", "bench_outbox.MessageIdRecorder", str(self.record),
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": str(ROOT / "bench")}
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output)
        wait_for_port(self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def message_ids(self) -> Counter | None:
        """How often the sink received each Message-ID (None when it only counts)."""
        if self.name == "smtp-sink-count" or not self.record.exists():
            return None if self.name == "smtp-sink-count" else Counter()
        data = self.record.read_bytes()
        if self.name == "smtp-sink":
            return Counter(match.group(1) for match in _MESSAGE_ID_LINE.finditer(data))
        return Counter(line.encode() for line in data.decode().splitlines())

    def received(self) -> int:
        """Messages the sink accepted, from its last line of counters (smtp-sink -c)."""
        counters = self.record.read_text().replace("\r", "\n").split()
        return int(next((c for c in reversed(counters) if c.startswith("mesg=")), "mesg=0")[5:])

    def stop(self) -> None:
        stop(self.process)


# -- processes ----------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Every descendant of `pid`."""
    found = []
    try:
        direct = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, direct):
        found += [child, *children(child)]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 for one that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time every core spent on anything but idle and I/O wait since boot."""
    fields = list(map(int, Path("/proc/stat").read_text().split("\n")[0].split()[1:]))
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def backend_pids(connection) -> list[int]:
    return [
        row[0]
        for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    ]


# -- the data -----------------------------------------------------------------------------------


def seed(url: str, organization_id: int, count: int, domain: str) -> float:
    """`count` invited users and one queued invitation each, set-based; returns the seconds."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        # Every other name is Turkish, so half the To headers are RFC 2047 encoded-words.
        connection.execute(
            """
            INSERT INTO users (organization_id, email, name, role, department, skills,
                               is_active, created_at, updated_at)
            SELECT %(org)s, 'invitee' || n || '@bench.example',
                   CASE WHEN n %% 2 = 0 THEN 'Davetli Çağrı Öztürk ' ELSE 'Invitee Smith ' END || n,
                   'sales', '', '{}', true, now(), now()
              FROM generate_series(1, %(count)s) AS n
            """,
            {"org": organization_id, "count": count},
        )
        connection.execute(
            """
            INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context,
                user_id, to_address, to_name, language, message_id, next_attempt_at)
            SELECT organization_id, 'email', 'invitation', id, '{}', id, email, name, 'en',
                   '<' || replace(gen_random_uuid()::text, '-', '') || '@' || %(domain)s || '>',
                   now()
              FROM users
             WHERE organization_id = %(org)s AND password_hash IS NULL
             ORDER BY id
            """,
            {"org": organization_id, "domain": domain},
        )
        connection.execute("VACUUM ANALYZE users, outbox_messages")
    return time.perf_counter() - started


def requeue(url: str) -> None:
    """Put every message back in the queue, as it was before the first run."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            """
            UPDATE outbox_messages
               SET status = 'queued', attempts = 0, lease_owner = NULL, lease_expires_at = NULL,
                   provider_id = '', last_error = '', sent_at = NULL, next_attempt_at = now(),
                   updated_at = now()
            """
        )
        connection.execute("VACUUM ANALYZE outbox_messages")


# -- one run ------------------------------------------------------------------------------------


def run(args, sink: Sink, url: str, env: dict, organization_id: int, logs: Path) -> None:
    from crm_web import jobs

    env = {**env, "SMTP_URL": sink.url}
    log_path = logs / f"workers-{sink.name}.log"
    workers = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dramatiq"), "worker.main",
            "--processes", str(args.processes), "--threads", str(args.threads),
            "--queues", "outbox",
        ],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while log_path.read_text().count("Worker process is ready") < args.processes:
            if workers.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"The workers did not start; see {log_path}")
            time.sleep(0.2)
        # Dramatiq's supervisor forks one consumer process per --processes.
        worker_pids = children(workers.pid)
        with psycopg.connect(url, autocommit=True) as connection:
            cpu_before = {pid: cpu_seconds(pid) for pid in [*worker_pids, sink.process.pid]}
            busy_before = machine_busy_seconds()
            for _ in range(loops(args)):
                jobs.enqueue(jobs.DELIVER_OUTBOX, organization_id, "email")
            first_claim = wait(connection, args.timeout)
            backends = backend_pids(connection)
            cpu = {pid: cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in cpu_before}
            database_cpu = sum(cpu_seconds(pid) for pid in backends)
            busy = machine_busy_seconds() - busy_before
            rss = {pid: peak_rss_mb(pid) for pid in worker_pids}
            report(args, sink, connection, first_claim, cpu, database_cpu, busy, rss)
    finally:
        stop(workers)


def loops(args) -> int:
    return args.loops or 2 * args.processes * args.threads


def wait(connection, timeout: float):
    """Until nothing is queued or claimed (or no progress for `timeout` s); the first claim."""
    first_claim = None
    last_progress, last_left = time.monotonic(), None
    while True:
        if first_claim is None:
            first_claim = connection.execute(
                "SELECT min(updated_at) FROM outbox_messages WHERE status = 'claimed'"
            ).fetchone()[0]
        left = connection.execute(
            "SELECT count(*) FROM outbox_messages WHERE status IN ('queued', 'claimed')"
        ).fetchone()[0]
        if left == 0:
            return first_claim
        if left != last_left:
            last_progress, last_left = time.monotonic(), left
        elif time.monotonic() - last_progress > timeout:
            print(f"no progress for {timeout:.0f} s with {left} messages left: giving up")
            return first_claim
        time.sleep(0.05 if first_claim is None else 0.5)


def report(args, sink, connection, first_claim, cpu, database_cpu, busy, rss) -> None:
    statuses = dict(
        connection.execute("SELECT status, count(*) FROM outbox_messages GROUP BY status")
    )
    first_mark, last_mark = connection.execute(
        "SELECT min(sent_at), max(sent_at) FROM outbox_messages WHERE status = 'sent'"
    ).fetchone()
    sent = statuses.get("sent", 0)
    total = sum(statuses.values())
    expected = {
        row[0].encode() for row in connection.execute("SELECT message_id FROM outbox_messages")
    }
    time.sleep(1)  # the sink's last writes
    received = sink.message_ids()
    seconds = (last_mark - (first_claim or first_mark)).total_seconds() if sent else 0.0
    worker_cpu = sum(cpu[pid] for pid in rss)
    print(
        f"\n== {sink.name}: {total} messages, {args.processes} processes x {args.threads} threads, "
        f"{loops(args)} delivery loops, "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'sent':<34}{sent:>10}   statuses {dict(sorted(statuses.items()))}")
    print(f"{'first claim to last mark':<34}{seconds:>10.1f} s")
    print(f"{'messages/s':<34}{sent / seconds if seconds else 0:>10.0f}")
    if first_mark and last_mark > first_mark:
        marks = (last_mark - first_mark).total_seconds()
        print(f"{'messages/s (first to last mark)':<34}{sent / marks:>10.0f}")
    print(f"{'lost (not sent)':<34}{total - sent:>10}")
    if received is None:
        print(f"{'received by the sink':<34}{sink.received():>10}   (counted, no Message-IDs)")
    else:
        duplicated = sum(count - 1 for count in received.values() if count > 1)
        unknown = sum(1 for message_id in received if message_id not in expected)
        print(
            f"{'received by the sink':<34}{sum(received.values()):>10}   distinct "
            f"{len(received)}, duplicated {duplicated}, unknown {unknown}"
        )
    for pid, megabytes in sorted(rss.items()):
        print(f"{f'worker {pid} peak RSS (VmHWM)':<34}{megabytes:>10.0f} MB   CPU {cpu[pid]:.1f} s")
    print(
        f"{'CPU seconds':<34}{'':>10}   workers {worker_cpu:.1f}, PostgreSQL backends "
        f"{database_cpu:.1f}, sink {cpu[sink.process.pid]:.1f}; machine busy {busy:.1f} "
        f"of {seconds * (os.cpu_count() or 1):.1f} core-seconds"
    )
    if sent:
        print(
            f"{'CPU per message':<34}{'':>10}   workers {worker_cpu / sent * 1e6:.0f} µs, "
            f"PostgreSQL {database_cpu / sent * 1e6:.0f} µs"
        )


def profile(app, organization_id: int, count: int, sink: Sink) -> None:
    """Run the delivery loop here under cProfile for `count` messages; print where time goes
    and how many SQL statements (database round trips) each message costs."""
    from sqlalchemy import event

    from crm_web.db import tenant_scope
    from crm_web.extensions import db
    from crm_web.outbox import delivery

    app.config["SMTP_URL"] = sink.url
    # CPU time, not wall time: waiting for the sink or the database is not what costs here.
    profiler = cProfile.Profile(time.process_time)
    statements = [0]

    def counted(*args):
        statements[0] += 1

    with app.app_context(), tenant_scope(organization_id):
        event.listen(db.engine, "before_cursor_execute", counted)
        started, cpu_started = time.perf_counter(), time.process_time()
        profiler.enable()
        totals, _batches = delivery._deliver(
            "email", max_batches=max(1, count // delivery.CLAIM_BATCH)
        )
        profiler.disable()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        event.remove(db.engine, "before_cursor_execute", counted)
    sent = totals.get("sent", 0)
    print(f"\n== profile: one loop in this process: {totals} in {seconds:.1f} s")
    print(
        f"{sent / seconds:.0f} messages/s (with the profiler's own cost); "
        f"CPU per message {cpu / max(sent, 1) * 1e6:.0f} µs; "
        f"SQL statements {statements[0]} ({statements[0] / max(sent, 1):.3f} per message)"
    )
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="worker threads per process")
    parser.add_argument("--loops", type=int, default=0, help="deliver_outbox messages enqueued")
    parser.add_argument("--sinks", default="smtp-sink,smtp-sink-count,aiosmtpd")
    parser.add_argument("--timeout", type=float, default=60, help="seconds without progress")
    parser.add_argument("--profile", type=int, default=0, help="profile N messages in-process")
    parser.add_argument("--database", default=DATABASE, help="the bench's own database")
    args = parser.parse_args()

    server = server_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    logs = ROOT / "instance" / "bench"
    logs.mkdir(parents=True, exist_ok=True)

    from crm_web.devservices import drop_database

    url = fresh_database(server, args.database)
    env = bench_environment(DATABASE_URL=url, REDIS_URL=redis_url, SECRET_KEY="bench-outbox")
    env.pop("SMTP_URL", None)

    import redis

    from crm_web.extensions import db
    from crm_web.outbox.services import mail_domain

    redis.Redis.from_url(redis_url).flushdb()
    app = migrated_app()
    folder = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    try:
        with app.app_context():
            organization, _admin = new_organization("Bench Tekstil", slug="bench")
            organization_id = organization.id
            domain = mail_domain()
            db.session.commit()
        seconds = seed(url, organization_id, args.messages, domain)
        print(f"{args.messages} invitations queued (users and outbox rows) in {seconds:.1f} s")
        for index, name in enumerate(["smtp-sink"] if args.profile else args.sinks.split(",")):
            if index:
                requeue(url)
            sink = Sink(name, folder)
            try:
                if args.profile:
                    profile(app, organization_id, args.profile, sink)
                else:
                    run(args, sink, url, env, organization_id, logs)
            finally:
                sink.stop()
    finally:
        with app.app_context():
            db.engine.dispose()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server, args.database)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
