"""Actors, one module per domain; importing this package declares them all."""

from worker.actors import (  # noqa: F401
    activities,
    automations,
    campaigns,
    catalog,
    dashboard,
    imports,
    leads,
    loyalty,
    outbox,
    segments,
    sla,
    system,
)
