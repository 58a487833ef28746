"""The app's Redis connection (sessions, rate limits, health)."""

import redis
from flask import current_app


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def init_redis(app) -> None:
    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=5)
