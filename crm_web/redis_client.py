"""The web side's Redis connection (kept fragments, caches, rate limits, health), which may be down.

Redis carries work and caches only; PostgreSQL holds every truth, sessions included. A request
that finds Redis unreachable goes on without it (README, "Operations"): short timeouts and no
retries bound the wait to one short timeout, and a failure (or the probe, asked at most every
few seconds per process) makes the following requests skip Redis without waiting at all.
"""

import functools
import logging
import time

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# A page waits at most this long for a Redis that stopped answering, and only the first page.
SOCKET_TIMEOUT_SECONDS = 0.5
# How long a probe's answer (or a failure seen by a request) stands before Redis is asked again.
PROBE_SECONDS = 5.0


class RedisState:
    """Whether this process last found Redis answering, and when it last looked."""

    def __init__(self, probe_seconds: float) -> None:
        self.probe_seconds = probe_seconds
        self.up = True
        self.checked_at = float("-inf")

    def is_up(self, client: redis.Redis) -> bool:
        if time.monotonic() - self.checked_at >= self.probe_seconds:
            try:
                client.ping()
            except redis.RedisError:
                self.up = False
            else:
                self.up = True
            self.checked_at = time.monotonic()
        return self.up

    def known_down(self) -> bool:
        return not self.up and time.monotonic() - self.checked_at < self.probe_seconds

    def failed(self) -> None:
        self.up = False
        self.checked_at = time.monotonic()


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def init_redis(app) -> None:
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"],
        socket_timeout=app.config.get("REDIS_SOCKET_TIMEOUT", SOCKET_TIMEOUT_SECONDS),
        socket_connect_timeout=app.config.get("REDIS_SOCKET_TIMEOUT", SOCKET_TIMEOUT_SECONDS),
        retry=Retry(NoBackoff(), 0),
    )
    app.extensions["redis_state"] = RedisState(app.config.get("REDIS_PROBE_SECONDS", PROBE_SECONDS))


def redis_up() -> bool:
    """Whether Redis answered lately (asked at most once every few seconds per process)."""
    return current_app.extensions["redis_state"].is_up(get_redis())


def redis_known_down() -> bool:
    """Whether a probe or a failure found Redis down within the last few seconds (asks nothing)."""
    return current_app.extensions["redis_state"].known_down()


def redis_failed(what: str, error: Exception | None = None) -> None:
    """Log that `what` went without Redis; an error (not a known outage) also makes the next
    few seconds' requests skip Redis."""
    if error is not None:
        current_app.extensions["redis_state"].failed()
    reason = error.__class__.__name__ if error else "down at the last probe"
    log.warning("Redis unreachable (%s): %s; going on without it", what, reason)


def when_redis_down(fallback, what: str):
    """Decorate a function that needs Redis: while Redis is unreachable it logs and returns
    `fallback` instead of raising into the request."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not redis_up():
                redis_failed(what)
                return fallback
            try:
                return fn(*args, **kwargs)
            except redis.RedisError as error:
                redis_failed(what, error)
                return fallback

        return wrapper

    return decorator
