"""The Dramatiq broker the worker process consumes: the one `crm_web.jobs` builds."""

from crm_web.jobs import broker

__all__ = ["broker"]
