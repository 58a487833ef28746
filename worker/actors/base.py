"""Declaring actors that act for one organization."""

import functools

import dramatiq

from worker import broker as _broker  # noqa: F401  (the broker exists before any actor)

# Names of the actors whose first argument is an organization id: a failed message of one of
# these is shown to that organization's admins only.
TENANT_ACTOR_NAMES: set[str] = set()


def tenant_actor(**options):
    """An actor whose first argument is the organization id; it runs with that tenant set."""

    def decorator(fn):
        @functools.wraps(fn)
        def run(organization_id: int, *args, **kwargs):
            from crm_web.db import tenant_scope

            with tenant_scope(organization_id):
                return fn(*args, **kwargs)

        TENANT_ACTOR_NAMES.add(fn.__name__)
        return dramatiq.actor(run, actor_name=fn.__name__, **options)

    return decorator
