"""One permission vocabulary: what each role may do, asked by views, API, services and templates.

A route declares what it needs (`@requires("edit customers")`), a template asks
`can("edit customers")` and a service `user.can("approve quotes")`. Who holds a capability is
decided in `CAPABILITIES` and nowhere else; the README's "Permissions" lists the same table.
"""

import functools

from flask import abort
from flask_login import current_user

from crm_web.errors import PermissionDenied

ROLES = ("admin", "manager", "sales", "support", "marketing")
EVERYONE = ROLES

# capability -> the roles that hold it
CAPABILITIES: dict[str, tuple[str, ...]] = {
    # Customers and their 360 page
    "view customers": EVERYONE,
    "edit customers": ("admin", "manager", "sales", "support"),
    "merge customers": ("admin", "manager"),
    "import customers": ("admin", "manager", "marketing"),
    # A whole customer base in one file: the people who own the data, not every seller.
    "export customers": ("admin", "manager", "marketing"),
    "assign customer owners": ("admin", "manager"),
    "tag customers": ("admin", "manager", "sales", "marketing"),
    "deactivate customers": ("admin", "manager"),
    "write notes": EVERYONE,
    "moderate notes": ("admin", "manager"),
    "change contact preferences": EVERYONE,
    "log communications": ("admin", "manager", "sales", "support"),
    "read documents": ("admin", "manager", "sales", "support"),
    "manage documents": ("admin", "manager", "sales"),
    # Events
    "view events": EVERYONE,
    "organize events": ("admin", "manager", "marketing"),
    "register attendees": ("admin", "manager", "sales", "marketing"),
    # Leads
    "view leads": ("admin", "manager", "sales", "marketing"),
    "capture leads": ("admin", "manager", "sales", "marketing"),
    "work leads": ("admin", "manager", "sales"),
    "assign leads": ("admin", "manager"),
    "configure leads": ("admin", "manager"),
    "analyse lead scoring": ("admin", "manager", "marketing"),
    # Deals, quotes and activities
    "work deals": ("admin", "manager", "sales"),
    "approve quotes": ("admin", "manager"),
    "set sales targets": ("admin", "manager"),
    "configure pipeline": ("admin",),
    "plan activities": ("admin", "manager", "sales"),
    "change any activity": ("admin", "manager"),
    # Support
    "work tickets": ("admin", "manager", "support"),
    "configure tickets": ("admin", "manager"),
    "manage SLA": ("admin", "manager"),
    # Your own account (the profile page): API tokens act with the user's own capabilities.
    "use API tokens": EVERYONE,
    # Administration
    "manage users": ("admin",),
    "configure organization": ("admin",),
    "manage API tokens": ("admin",),
    "view audit log": ("admin",),
    "preview messages": ("admin",),
    "view system": ("admin",),
}


def roles_with(capability: str) -> tuple[str, ...]:
    """The roles that hold `capability`."""
    try:
        return CAPABILITIES[capability]
    except KeyError:
        raise KeyError(f"Unknown capability {capability!r}: see crm_web/permissions.py") from None


def allows(role: str, *capabilities: str) -> bool:
    """Whether `role` holds at least one of `capabilities`."""
    return any(role in roles_with(capability) for capability in capabilities)


def can(*capabilities: str) -> bool:
    """Whether the signed-in user holds at least one of `capabilities` (templates' `can()`)."""
    return current_user.is_authenticated and allows(current_user.role, *capabilities)


def requires(*capabilities: str, message: str | None = None):
    """Only users holding one of `capabilities` may use the view (or its fragments); the others
    get a 403, with `message` when given."""
    for capability in capabilities:
        roles_with(capability)  # a misspelt name fails when the module loads, not on a request

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not can(*capabilities):
                if message:
                    raise PermissionDenied(message)
                abort(403)
            return view(*args, **kwargs)

        wrapper.capabilities = capabilities
        return wrapper

    return decorator
