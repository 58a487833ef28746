"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import accounts, sla, system, tickets  # noqa: F401
