"""Logs an operator reads: one line per event, with the organization, request and job it is about.

Every module logs under `crm.<domain>`; this module gives those lines their context (the tenant
of `crm_web.db`, the web request's id, the background job's actor and message id) and their
format: `LOG_FORMAT=text` (default) or `json` (one object per line, for a log shipper), at
`LOG_LEVEL` (default INFO). Tests leave logging to pytest.
"""

import json
import logging
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import Flask, g

from crm_web.db import current_tenant
from crm_web.rendering import request_header

_job: ContextVar[tuple[str, str] | None] = ContextVar("log_job", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(context)s] %(message)s"


def job_started(actor_name: str, message_id: str) -> None:
    """Name the background job whose lines follow (called by the worker's middleware)."""
    _job.set((actor_name, message_id))


def job_finished() -> None:
    _job.set(None)


def _request_id() -> str | None:
    try:
        return g.get("request_id")
    except RuntimeError:  # outside a request (a job, the scheduler)
        return None


class ContextFilter(logging.Filter):
    """Adds org, request_id, job and message_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.org = current_tenant().organization_id
        record.request_id = _request_id()
        job = _job.get()
        record.job, record.message_id = job if job else (None, None)
        parts = [f"org={record.org}"] if record.org is not None else []
        if record.request_id:
            parts.append(f"req={record.request_id}")
        if record.job:
            parts.append(f"job={record.job}:{record.message_id}")
        record.context = " ".join(parts) or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "org": getattr(record, "org", None),
            "request_id": getattr(record, "request_id", None),
            "job": getattr(record, "job", None),
            "message_id": getattr(record, "message_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps({key: value for key, value in line.items() if value is not None})


def configure(app: Flask) -> None:
    """Give the `crm` loggers a handler, a format and a level, once per process; name requests."""
    app.before_request(_name_request)
    app.after_request(_echo_request_id)
    if app.testing:
        return
    logger = logging.getLogger("crm")
    if any(isinstance(f, ContextFilter) for h in logger.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    # Dramatiq and gunicorn give the root logger handlers of their own: say each line once.
    logger.propagate = False


def _name_request() -> None:
    given = request_header("X-Request-ID") or ""
    # A proxy's id is kept when it looks like one; anything else is replaced.
    g.request_id = given if 8 <= len(given) <= 64 and given.isprintable() else secrets.token_hex(8)


def _echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
