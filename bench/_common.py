"""What the benches share: the app on a migrated database (or a database of the bench's own), a
fresh organization, signing in, timing and percentiles.

Benches run by hand as scripts (`.venv/bin/python bench/bench_<name>.py`), so this folder is
on their import path and they import this module as `_common`. Nothing here imports the app
at import time: a bench sets its environment first.
"""

import functools
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# Every bench user who signs in has this password (the password policy accepts it).
PASSWORD = "quiet lake at dawn"
HTMX = {"HX-Request": "true"}


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at `fraction` (0.95 for p95) of the sorted samples, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def p50_p95(samples: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile of the samples."""
    return statistics.median(samples), percentile(samples, 0.95)


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls of `fn`."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def timed_stage(stages: dict[str, float], name: str, fn: Callable) -> Callable:
    """`fn`, adding the seconds each call takes to `stages[name]` (wrap a stage of the code
    under bench to see where its time goes)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] += time.perf_counter() - started

    return wrapper


def timed_gets(client, url: str, runs: int, headers: dict = HTMX) -> tuple[float, float, int]:
    """p50 and p95 milliseconds of `runs` GETs of `url` (each must answer 200), and the size of
    the last answer in bytes."""
    responses = []

    def get():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        responses.append(response)

    p50, p95 = p50_p95(timed(get, runs))
    return p50, p95, len(responses[-1].data)


def migrated_app():
    """The app (CSRF off, for the test client) on DATABASE_URL with every migration applied."""
    from flask_migrate import upgrade

    from crm_web import create_app

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
    return app


def new_organization(name: str = "Bench", slug: str | None = None, **fields):
    """A new organization (a unique slug unless given) whose admin signs in with PASSWORD;
    returns (organization, admin). Needs an app context."""
    from crm_web.onboarding import create_organization

    slug = slug or f"bench-{uuid.uuid4().hex[:8]}"
    return create_organization(
        name=name,
        slug=slug,
        admin_email=f"admin@{slug}.example",
        admin_name=f"{name} Admin",
        admin_password=PASSWORD,
        **fields,
    )


def sign_in(client, email: str) -> None:
    """Sign a Flask test client in (the app's CSRF off)."""
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.status_code


def form_csrf(html: str) -> str:
    """The CSRF token of a page's form (the sign-in page's, say)."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def htmx_csrf(html: str) -> str:
    """The CSRF token a signed-in page gives HTMX requests (`hx-headers` on its body)."""
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


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


def vacuum_analyze(database_url: str, *tables: str) -> None:
    """VACUUM ANALYZE the tables, as autovacuum would: statistics for the planner and the
    visibility map index-only scans use (as the owner, outside a transaction)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for table in tables:
            connection.execute(f"VACUUM ANALYZE {table}")


def server_url() -> str:
    """The PostgreSQL server of the benches with a database of their own: BENCH_DATABASE_URL
    (its maintenance database), else the local server's."""
    return os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server."""
    from sqlalchemy.engine import make_url

    from crm_web.config import sqlalchemy_url

    url = make_url(sqlalchemy_url(server_url)).set(database=name)
    return url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"
    )


def fresh_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server, dropped and created empty."""
    from crm_web.devservices import drop_database, ensure_database

    drop_database(server_url, name)
    ensure_database(server_url, name)
    return database_url(server_url, name)


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url, autocommit=True) as connection:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        return connection.execute(query, (name,)).fetchone() is not None


def copy_database(server_url: str, source: str, target: str) -> None:
    """Database `target` as a copy of `source` (file by file: much faster than seeding a
    million rows again). Nobody may be connected to `source`."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}" STRATEGY FILE_COPY')


def copied_or_fresh(server_url: str, name: str, seeded: str | None) -> tuple[str, bool]:
    """The URL of database `name`, a copy of database `seeded` when that exists (True), else
    made empty (False: the bench seeds it, and may keep a copy under `seeded` for next time)."""
    from crm_web.devservices import drop_database

    if seeded and database_exists(server_url, seeded):
        drop_database(server_url, name)
        copy_database(server_url, seeded, name)
        return database_url(server_url, name), True
    return fresh_database(server_url, name), False


def bench_environment(**values: str) -> dict[str, str]:
    """The environment for the processes a bench starts: this one's with `values` (which this
    process takes too, before it creates the app), unbuffered output and the real broker."""
    os.environ.update(values)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CRM_BROKER", None)
    return env


def wait_for_port(port: int, process: subprocess.Popen | None = None, seconds: float = 20) -> None:
    """Wait until something listens on the loopback `port` (while `process`, if given, runs)."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on port {port} after {seconds:.0f} s") from None
            time.sleep(0.1)


def start_gunicorn(app: str, port: int, workers: int = 2, threads: int = 4) -> subprocess.Popen:
    """gunicorn serving `app` (module:name, importable from the project's root) on loopback, as
    the Procfile's web process does (2 workers x 4 threads unless told)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            app,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def stop(process: subprocess.Popen) -> None:
    """Stop a process the bench started: politely, then for sure after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
