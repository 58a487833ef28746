"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import activities, imports, leads, outbox, segments, sla, system  # noqa: F401
