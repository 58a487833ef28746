"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import accounts, activities, imports, leads, sla, system, tickets  # noqa: F401
