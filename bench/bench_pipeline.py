"""Pipeline benchmark: the board, a column's "load more", a drag-move and the forecast under load.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench_pipeline REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_pipeline.py --customers 1000000 --open 100000

It migrates the database and, unless an organization from an earlier run is there, creates one
with ten sellers, 1M customers and enough deals for 100k open ones (plus won and lost ones with
their stage history and quotes) through the `crm seed` services. Then it starts gunicorn as the
Procfile does (2 workers x 4 threads; --workers, --threads to compare) on bench/pipeline_wsgi.py and drives it with 20 concurrent
keep-alive clients (asyncio, one process), one scenario at a time, in --rounds rounds of
--seconds, each round right after a round of the bare endpoint (the figures pool the rounds):

- bare: bench/pipeline_wsgi.py's /bench/bare, one indexed 50-row query rendered with Jinja,
  behind the same sign-in: the ceiling, measured in turns with each scenario so that a busy
  or drifting machine weighs on both sides of each ratio alike;
- board fragment (first paint of the board: all columns, totals, the first cards of each,
  HX-Request); the columns' cards come rendered from Redis while their stages are unchanged,
  which is what a board looks like between drops (profile_pipeline.py's "board-cold" times
  the rendering from the database);
- column "load more": the next 20 cards of a column from cursors spread through it;
- drag-move: POST a card into another open column below a visible card (the move and its
  out-of-band totals), round trip;
- forecast page.

Besides latency and throughput it prints what one request costs in CPU time: the app
(gunicorn's processes), PostgreSQL, Redis and this client, all sharing the machine's cores.

Targets (the issue's): fragment p95 <= 50 ms and throughput >= 0.5x the bare endpoint.
"""

import argparse
import asyncio
import os
import random
import statistics
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    PASSWORD,
    form_csrf,
    htmx_csrf,
    migrated_app,
    new_organization,
    percentile,
    start_gunicorn,
    stop,
    vacuum_analyze,
    wait_for_port,
)

SLUG = "bench-pipeline"

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_USERS = ("app", "postgres", "redis", "client")


def cpu_seconds(gunicorn_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the app (gunicorn and its workers), PostgreSQL, Redis and this
    client: what one request costs each of them on the machine's two cores."""
    used = {"app": 0.0, "postgres": 0.0, "redis": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process has exited
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        pid, parent = int(stat.parent.name), int(fields[1])
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        if gunicorn_pid in (pid, parent):
            used["app"] += seconds
        elif name.startswith(("postgres", "postmaster")):
            used["postgres"] += seconds
        elif name.startswith("redis-server"):
            used["redis"] += seconds
    times = os.times()
    used["client"] = times.user + times.system
    return used


@dataclass
class Run:
    """Latencies (ms), error statuses, seconds taken and CPU seconds by user, of one or more rounds."""

    samples: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CPU_USERS, 0.0))

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.elapsed

    def add(self, other: "Run") -> None:
        self.samples += other.samples
        self.errors += other.errors
        self.elapsed += other.elapsed
        for user in CPU_USERS:
            self.cpu[user] += other.cpu[user]

    def report(self, name: str, ceiling: float | None = None) -> None:
        ratio = f"{self.throughput / ceiling:>7.2f}x" if ceiling else f"{'':>8}"
        print(
            f"{name:<30} {len(self.samples):>9,} {self.throughput:>8.0f} "
            f"{statistics.median(self.samples):>8.1f} {percentile(self.samples, 0.95):>8.1f} {ratio}   "
            + " / ".join(f"{self.cpu[user] * 1000 / len(self.samples):.2f}" for user in CPU_USERS)
            + (f"  ({len(self.errors)} errors: {sorted(set(self.errors))})" if self.errors else "")
        )


def prepare(customers: int, open_deals: int) -> dict:
    """Migrate and seed once; later runs reuse the organization."""
    from sqlalchemy import text

    from crm_web.accounts.services import create_user, organization_id_for_slug
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.devservices import ensure_database
    from crm_web.extensions import db
    from crm_web.pipeline.seeding import seed_pipeline

    url = os.environ["DATABASE_URL"]
    ensure_database(url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1])
    app = migrated_app()
    with app.app_context():
        organization_id = organization_id_for_slug(SLUG)
        if organization_id is None:
            organization, admin = new_organization("Bench Pipeline", slug=SLUG)
            organization_id = organization.id
            set_tenant(organization_id, admin.id)
            for index in range(10):
                create_user(
                    email=f"seller{index}@{SLUG}.example",
                    name=f"Seller {index}",
                    role="sales",
                    password=PASSWORD,
                )
        set_tenant(organization_id)
        existing = db.session.execute(
            text(
                "SELECT (SELECT count(*) FROM customers WHERE organization_id = :org),"
                " (SELECT count(*) FROM opportunities WHERE organization_id = :org)"
            ),
            {"org": organization_id},
        ).one()
        if not existing[0]:
            started = time.perf_counter()
            atomic(seed_customers)(customers, seed=5)
            print(f"seed: {customers:,} customers in {time.perf_counter() - started:.1f} s")
        if not existing[1]:
            share = 0.8
            started = time.perf_counter()
            atomic(seed_pipeline)(int(open_deals / share), seed=5, open_share=share)
            print(
                f"seed: {int(open_deals / share):,} deals (with history and quotes) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            vacuum_analyze(
                app.config["DATABASE_URL"],
                "customers",
                "opportunities",
                "opportunity_stage_history",
                "quotes",
            )
        # Earlier runs' moves leave dead rows and pages the visibility map no longer covers (the
        # forecast's index-only scan of won deals then visits the table): start each run from a
        # vacuumed database, as autovacuum (off on a bench server) would keep it.
        vacuum_analyze(
            app.config["DATABASE_URL"],
            "opportunities",
            "pipeline_stage_totals",
            "pipeline_month_totals",
            "opportunity_stage_history",
            "audit_log",
        )
        set_tenant(organization_id)
        counts = db.session.execute(
            text(
                "SELECT (SELECT count(*) FROM customers WHERE organization_id = :org),"
                " (SELECT count(*) FROM opportunities WHERE organization_id = :org AND status = 'open')"
            ),
            {"org": organization_id},
        ).one()
        print(f"data: {counts[0]:,} customers, {counts[1]:,} open deals")
        stages = db.session.execute(
            text(
                "SELECT s.id, t.opportunity_count FROM pipeline_stages s JOIN pipeline_stage_totals t"
                " ON t.stage_id = s.id WHERE s.organization_id = :org AND s.outcome = 'open'"
                " ORDER BY s.position"
            ),
            {"org": organization_id},
        ).all()
        # Cursors spread through each open column, for "load more" from anywhere in it.
        cursors = []
        from crm_web.pagination import encode_cursor

        for stage_id, count in stages:
            for offset in (20, count // 4, count // 2, (3 * count) // 4):
                row = db.session.execute(
                    text(
                        "SELECT position, id FROM opportunities WHERE organization_id = :org"
                        " AND stage_id = :s ORDER BY position, id OFFSET :o LIMIT 1"
                    ),
                    {"org": organization_id, "s": stage_id, "o": offset},
                ).one()
                cursors.append(f"/pipeline/columns/{stage_id}?cursor={encode_cursor(list(row))}")
        # Deals the move scenario drags, and the cards they may land below (from first pages).
        movable = list(
            db.session.scalars(
                text(
                    "SELECT id FROM opportunities WHERE organization_id = :org AND status = 'open'"
                    " ORDER BY random() LIMIT 5000"
                ),
                {"org": organization_id},
            )
        )
        anchors = {
            stage_id: list(
                db.session.scalars(
                    text(
                        "SELECT id FROM opportunities WHERE organization_id = :org AND stage_id = :s"
                        " ORDER BY position, id LIMIT 20"
                    ),
                    {"org": organization_id, "s": stage_id},
                )
            )
            for stage_id, _count in stages
        }
    return {
        "organization_id": organization_id,
        "stages": [s for s, _ in stages],
        "cursors": cursors,
        "movable": movable,
        "anchors": anchors,
    }


class Client:
    """One keep-alive HTTP/1.1 connection, minimal parsing (Content-Length bodies only)."""

    def __init__(self, port: int, cookie: str, csrf: str):
        self.port, self.cookie, self.csrf = port, cookie, csrf
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"", htmx: bool = True):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        headers = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"X-CSRFToken: {self.csrf}",
        ]
        if self.cookie:
            headers.append(f"Cookie: {self.cookie}")
        if htmx:
            headers.append("HX-Request: true")
        if body:
            headers += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return status, data


async def run_scenario(port, cookie, csrf, clients: int, seconds: float, make_request):
    samples, errors = [], []
    deadline = time.perf_counter() + seconds

    async def worker(index: int):
        client = Client(port, cookie, csrf)
        rng = random.Random(index)
        while time.perf_counter() < deadline:
            method, path, body = make_request(rng)
            started = time.perf_counter()
            status, _data = await client.request(method, path, body)
            samples.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors.append(status)

    started = time.perf_counter()
    await asyncio.gather(*(worker(index) for index in range(clients)))
    elapsed = time.perf_counter() - started
    return samples, errors, elapsed


def sign_in(port: int) -> tuple[str, str]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    csrf = form_csrf(page)
    body = urllib.parse.urlencode(
        {"csrf_token": csrf, "email": f"seller0@{SLUG}.example", "password": PASSWORD}
    )
    connection.request(
        "POST",
        "/login",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = connection.getresponse()
    response.read()
    assert response.status == 303, response.status
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    connection.request("GET", "/pipeline", headers={"Cookie": cookie})
    response = connection.getresponse()
    page = response.read().decode()
    assert response.status == 200, response.status
    return cookie, htmx_csrf(page)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=5077)
    # The Procfile's web process; other shapes to compare with it.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--only", action="append", help="run only scenarios whose label contains this"
    )
    args = parser.parse_args()

    data = prepare(args.customers, args.open)
    gunicorn = start_gunicorn("bench.pipeline_wsgi:app", args.port, args.workers, args.threads)
    try:
        wait_for_port(args.port, gunicorn)
        cookie, csrf = sign_in(args.port)
        stages, cursors, movable, anchors = (
            data["stages"],
            data["cursors"],
            data["movable"],
            data["anchors"],
        )

        def move(rng):
            stage = rng.choice(stages)
            after = rng.choice(anchors[stage])
            body = urllib.parse.urlencode(
                {"stage_id": stage, "after_id": after, "before_id": "", "reason": ""}
            ).encode()
            return "POST", f"/pipeline/opportunities/{rng.choice(movable)}/move", body

        scenarios = [
            ("board fragment (first paint)", lambda rng: ("GET", "/pipeline", b"")),
            ("column load more", lambda rng: ("GET", rng.choice(cursors), b"")),
            ("drag-move round trip", move),
            ("forecast fragment", lambda rng: ("GET", "/forecast", b"")),
        ]
        bare = ("bare endpoint (ceiling)", lambda rng: ("GET", "/bench/bare", b""))

        def measure(make_request, signed_in: bool = True) -> Run:
            session = cookie if signed_in else ""
            # A short warm-up fills the connection pools and caches before measuring.
            asyncio.run(run_scenario(args.port, session, csrf, args.clients, 1.5, make_request))
            before = cpu_seconds(gunicorn.pid)
            samples, errors, elapsed = asyncio.run(
                run_scenario(args.port, session, csrf, args.clients, args.seconds, make_request)
            )
            after = cpu_seconds(gunicorn.pid)
            return Run(
                samples, errors, elapsed, {name: after[name] - before[name] for name in after}
            )

        print(
            f"\n{args.clients} concurrent clients, gunicorn {args.workers} workers x {args.threads}"
            f" threads; {args.rounds} rounds of {args.seconds:.0f} s per scenario, each right after"
            f" a round of the bare endpoint, pooled (machine load {os.getloadavg()[0]:.1f})\n"
        )
        print(
            f"{'scenario':<30} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'vs bare':>8}"
            "   CPU ms per request: app / postgres / redis / client"
        )
        # For reference, not a ratio: the same page without a session or a user to load.
        anonymous = f"/bench/bare-anonymous?org={data['organization_id']}"
        measure(lambda rng: ("GET", anonymous, b""), signed_in=False).report("bare without sign-in")
        for label, make_request in scenarios:
            if args.only and not any(part in label for part in args.only):
                continue
            # Alternating rounds: a machine whose speed drifts weighs on both sides alike.
            pooled = {bare[0]: Run(), label: Run()}
            for _round in range(args.rounds):
                for name, maker in (bare, (label, make_request)):
                    pooled[name].add(measure(maker))
            for name, run in pooled.items():
                run.report(name, ceiling=pooled[bare[0]].throughput)
    finally:
        stop(gunicorn)


if __name__ == "__main__":
    main()
