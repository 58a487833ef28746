"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import (  # noqa: F401
    activities,
    campaigns,
    imports,
    leads,
    outbox,
    segments,
    sla,
    system,
)
