"""The cost of every request: our pages against a plain Flask page, on the same machine.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench_pipeline REDIS_URL=redis://127.0.0.1:6379/5 \
        SECRET_KEY=bench-secret .venv/bin/python bench/bench_request_cost.py

It prepares the database as bench_pipeline.py does (1M customers, 100k open deals; reused
when there) and starts two gunicorns of 2 workers x 4 threads (the Procfile's web process):
the app with bench/pipeline_wsgi.py's two bare pages, and bench/plain_wsgi.py, a plain Flask
page that runs the same indexed 50-row query through `psycopg_pool` and renders it with Jinja
(no session, no ORM, nothing of ours): the yardstick. `wrk -t2 -c20` (apt-get install wrk;
without it, bench_pipeline.py's asyncio client) then loads, in --rounds rounds, the yardstick
and right after it each scenario, so that a machine whose speed drifts minute to minute (or
that others share) weighs on both sides of each ratio alike; a page's ratio is the median of
its rounds' ratios:

- bare page without sign-in: the bare query and template through our app, tenant from ?org=;
- bare page signed in: the same behind the session, the user, the tenant and CSRF set-up;
- customer list fragment, customer search fragment (a common surname), pipeline board
  fragment and forecast fragment (HX-Request), signed in as a seller.

Each line: requests/s, its ratio to the yardstick (and the rounds' range), p50/p95 latency at
20 clients, the same page alone with one client (p50/p95), and the CPU milliseconds one request
costs the app's processes, ours and the yardstick's (PostgreSQL's are left out: the server is
shared). Then the profile of the signed-in bare page in one process (cProfile, by layer and by
function): the floor the framework sets.

Targets (issue 12): signed-in bare page >= 0.55x, customer list and search >= 0.3x, board and
forecast >= 0.4x of the yardstick; single-client p95 of every fragment <= 25 ms.
"""

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import p50_p95, start_gunicorn, stop, wait_for_port
from bench_pipeline import cpu_seconds, prepare, run_scenario, sign_in

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
TARGETS = {
    "bare page, signed in": 0.55,
    "customer list fragment": 0.3,
    "customer search fragment": 0.3,
    "board fragment": 0.4,
    "forecast fragment": 0.4,
}


@dataclass
class Load:
    """Requests, seconds, latency percentiles and CPU seconds of one or more runs."""

    requests: int = 0
    seconds: float = 0.0
    p50s: list[float] = field(default_factory=list)
    p95s: list[float] = field(default_factory=list)
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=lambda: {"app": 0.0})

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def add(self, other: "Load") -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.p50s += other.p50s
        self.p95s += other.p95s
        self.errors += other.errors
        for user in self.cpu:
            self.cpu[user] += other.cpu[user]

    def cpu_ms(self, user: str) -> float:
        return self.cpu[user] * 1000 / max(self.requests, 1)


def load(url: str, headers: dict, clients: int, seconds: float, pids: list[int]) -> Load:
    """`clients` closed-loop clients on `url` for `seconds` (wrk, else asyncio)."""
    before = _cpu(pids)
    if shutil.which("wrk"):
        threads = min(2, clients)
        command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "-s", str(WRK_SCRIPT)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
        report = json.loads(output.strip().splitlines()[-1])
        result = Load(
            report["requests"],
            report["seconds"],
            [report["p50_ms"]],
            [report["p95_ms"]],
            report["socket_errors"] + report["bad_status"],
        )
    else:
        port = int(url.split(":")[2].split("/")[0])
        path = "/" + url.split("/", 3)[3]
        samples, errors, elapsed = asyncio.run(
            run_scenario(
                port,
                headers.get("Cookie", ""),
                "",
                clients,
                seconds,
                lambda rng: ("GET", path, b""),
            )
        )
        p50, p95 = p50_p95(samples)
        result = Load(len(samples), elapsed, [p50], [p95], len(errors))
    after = _cpu(pids)
    result.cpu = {user: after[user] - before[user] for user in result.cpu}
    return result


def _cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the gunicorns (and their workers) so far. PostgreSQL's are left out: the
    server is shared, its CPU time is not ours alone."""
    return {"app": sum(cpu_seconds(pid)["app"] for pid in pids)}


def signed_in_cookie(port: int) -> str:
    """The session cookie of the bench's seller, as a browser holds it after its first page:
    that page's answer carries the snapshot of the user (crm_web.accounts.signed_in), which
    a client that kept sending the sign-in's own cookie would make every request take again."""
    import http.client

    cookie, _csrf = sign_in(port)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/bench/bare", headers={"Cookie": cookie})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (response.getheader("Set-Cookie") or cookie).split(";")[0]


def common_surname(organization_id: int) -> str:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        return connection.execute(
            "SELECT last_name FROM customers WHERE organization_id = %s AND country = 'TR'"
            " GROUP BY last_name ORDER BY count(*) DESC LIMIT 1",
            (organization_id,),
        ).fetchone()[0]


# Where a function's own time is counted: the package its file belongs to.
LAYERS = (
    ("werkzeug/test.py", "the test client (not in production)"),
    ("flask/testing.py", "the test client (not in production)"),
    ("flask_login", "flask-login"),
    ("flask_sqlalchemy", "sqlalchemy"),
    ("flask_babel", "babel"),
    ("flask_wtf", "flask-wtf (CSRF)"),
    ("werkzeug", "flask + werkzeug"),
    ("flask", "flask + werkzeug"),
    ("itsdangerous", "session cookie (itsdangerous)"),
    ("jinja2", "jinja2 + markupsafe"),
    ("markupsafe", "jinja2 + markupsafe"),
    ("templates/", "jinja2 + markupsafe"),
    ("<template>", "jinja2 + markupsafe"),
    ("sqlalchemy", "sqlalchemy"),
    ("psycopg", "psycopg (driver, waiting on PostgreSQL)"),
    ("crm_web", "crm_web (ours)"),
    ("bench/", "the bare page itself"),
)


def _layer(filename: str, function: str) -> str:
    for marker, layer in LAYERS:
        if marker in filename:
            return layer
    if filename == "~":
        # Built-ins: mostly str.join over template output and the socket's reads and writes.
        return "built-ins (" + ("str.join: templates" if "join" in function else "other") + ")"
    return "python standard library and others"


def profile_page(requests: int, top: int, path: str = "/bench/bare", htmx: bool = False) -> str:
    """Where a signed-in page's time goes (the bare page unless `path` names another; `htmx`
    asks for its fragment): cProfile (CPU time) of `requests` requests in this process through
    the test client, summed by layer, then the costliest functions."""
    # Here, not at the top: importing it creates the app, after prepare() migrated the database.
    from profile_pipeline import sign_in as sign_in_test_client

    from bench.pipeline_wsgi import app

    client = app.test_client()
    headers = sign_in_test_client(client)
    if htmx:
        headers = {**headers, "HX-Request": "true"}
    for _ in range(50):  # warm the caches and the pool
        client.get(path, headers=headers)
    started = time.process_time()
    for _ in range(requests):
        client.get(path, headers=headers)
    cpu_ms = (time.process_time() - started) * 1000 / requests
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.status_code
    profiler.disable()
    stats = pstats.Stats(profiler)
    layers: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        layer = _layer(filename, function)
        layers[layer] = layers.get(layer, 0.0) + own
    total = sum(layers.values())
    lines = [
        f"Profile of {path} signed in ({requests} requests in one process, test client):"
        f" {cpu_ms:.2f} ms CPU per request unprofiled; share of the profiled CPU time by layer:"
    ]
    for layer, seconds in sorted(layers.items(), key=lambda item: -item[1]):
        lines.append(f"  {seconds / total:6.1%}  {layer}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    body = out.getvalue()
    return (
        "\n".join(lines) + "\n\nCostliest functions (own time):\n" + body[body.index("   ncalls") :]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single-seconds", type=int, default=8)
    parser.add_argument("--port", type=int, default=5081)
    parser.add_argument("--plain-port", type=int, default=5082)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile-requests", type=int, default=500)
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument("--profile-path", default="/bench/bare", help="the page to profile")
    parser.add_argument("--profile-htmx", action="store_true", help="profile its fragment")
    parser.add_argument("--only", action="append", help="scenarios whose name contains this")
    args = parser.parse_args()

    data = prepare(args.customers, args.open)
    org = data["organization_id"]
    surname = common_surname(org)
    app = start_gunicorn("bench.pipeline_wsgi:app", args.port, args.workers, args.threads)
    plain = start_gunicorn("bench.plain_wsgi:app", args.plain_port, args.workers, args.threads)
    try:
        wait_for_port(args.port, app)
        wait_for_port(args.plain_port, plain)
        cookie = signed_in_cookie(args.port)
        base = f"http://127.0.0.1:{args.port}"
        signed = {"Cookie": cookie}
        htmx = {"Cookie": cookie, "HX-Request": "true"}
        yardstick = (
            "plain Flask page (yardstick)",
            f"http://127.0.0.1:{args.plain_port}/plain?org={org}",
            {},
            plain,
        )
        scenarios = [
            ("bare page, no sign-in", f"{base}/bench/bare-anonymous?org={org}", {}, app),
            ("bare page, signed in", f"{base}/bench/bare", signed, app),
            ("customer list fragment", f"{base}/customers", htmx, app),
            ("customer search fragment", f"{base}/customers?q={surname}", htmx, app),
            ("board fragment", f"{base}/pipeline", htmx, app),
            ("forecast fragment", f"{base}/forecast", htmx, app),
        ]
        if args.only:
            scenarios = [s for s in scenarios if any(part in s[0] for part in args.only)]

        def measure(scenario, clients: int, seconds: float) -> Load:
            _name, url, headers, server = scenario
            return load(url, headers, clients, seconds, [server.pid])

        # Warm-up: every process's pools, caches and kept fragments.
        for scenario in [yardstick, *scenarios]:
            measure(scenario, args.clients, 2)

        pooled = {name: (Load(), Load()) for name, *_ in scenarios}
        ratios: dict[str, list[float]] = {name: [] for name, *_ in scenarios}
        for _round in range(args.rounds):
            for scenario in scenarios:
                ours, theirs = pooled[scenario[0]]
                plain_round = measure(yardstick, args.clients, args.seconds)
                our_round = measure(scenario, args.clients, args.seconds)
                theirs.add(plain_round)
                ours.add(our_round)
                ratios[scenario[0]].append(our_round.rate / plain_round.rate)
        singles = {
            scenario[0]: measure(scenario, 1, args.single_seconds)
            for scenario in [yardstick, *scenarios]
        }

        print(
            f"\n{args.clients} clients (wrk -t2 -c{args.clients}{'' if shutil.which('wrk') else ': not found, asyncio client'}),"
            f" gunicorn {args.workers} workers x {args.threads} threads, {args.rounds} rounds of"
            f" {args.seconds} s per page, each right after a round of the yardstick; machine load"
            f" {os.getloadavg()[0]:.1f}\n"
            "ratio: the median of the rounds' ratios (their range beside it); CPU ratio: the"
            " yardstick's app CPU per request over ours (PostgreSQL's left out)\n"
        )
        print(
            f"{'page':<30} {'req/s':>7} {'plain':>7} {'ratio':>6} {'range':>11} {'target':>7}"
            f" {'p50 ms':>7} {'p95 ms':>7} {'1-client p50':>13} {'p95':>6}"
            "   app CPU ms: ours  plain  CPU ratio"
        )
        plain_single = singles[yardstick[0]]
        print(
            f"{yardstick[0]:<30} {'':>7} {'':>7} {'':>6} {'':>11} {'':>7} {'':>7} {'':>7}"
            f" {plain_single.p50s[0]:>13.1f} {plain_single.p95s[0]:>6.1f}"
        )
        for name, (ours, theirs) in pooled.items():
            ratio = statistics.median(ratios[name])
            spread = f"{min(ratios[name]):.2f}-{max(ratios[name]):.2f}"
            target = TARGETS.get(name)
            single = singles[name]
            print(
                f"{name:<30} {ours.rate:>7.0f} {theirs.rate:>7.0f} {ratio:>5.2f}x {spread:>11}"
                f" {f'>={target:.2f}' if target else '':>7}"
                f" {max(ours.p50s):>7.1f} {max(ours.p95s):>7.1f}"
                f" {single.p50s[0]:>13.1f} {single.p95s[0]:>6.1f}"
                f"   {ours.cpu_ms('app'):>5.2f} {theirs.cpu_ms('app'):>6.2f}"
                f" {theirs.cpu_ms('app') / ours.cpu_ms('app'):>9.2f}x"
                + (f"  {ours.errors} errors" if ours.errors else "")
            )
        print(
            "\n(p50/p95 at 20 clients: the worst round's; 1-client: one round of"
            f" {args.single_seconds} s)\n"
        )
    finally:
        stop(app)
        stop(plain)
    if args.profile_requests:
        print(
            profile_page(
                args.profile_requests, args.profile_top, args.profile_path, args.profile_htmx
            )
        )


if __name__ == "__main__":
    main()
