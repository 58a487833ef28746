"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import activities, catalog, imports, leads, loyalty, outbox, sla, system  # noqa: F401
