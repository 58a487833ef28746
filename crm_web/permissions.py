"""One permission vocabulary: what each role may do, asked by views, API, services and templates.

A route declares what it needs (`@requires("edit customers")`), a template asks
`can("edit customers")` and a service `user.can("approve quotes")`. Who holds a capability is
decided in `CAPABILITIES` and nowhere else; the README's "Permissions" lists the same table.
"""

import functools

from flask import abort, current_app
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
    # Products and stock: everyone who sees customers reads the catalog; managers keep it.
    "view catalog": EVERYONE,
    "manage catalog": ("admin", "manager"),
    "adjust stock": ("admin", "manager"),
    # Orders: sellers place and fulfil them; support takes returns too.
    "view orders": EVERYONE,
    "place orders": ("admin", "manager", "sales"),
    "fulfil orders": ("admin", "manager", "sales"),
    "process returns": ("admin", "manager", "sales", "support"),
    "view sales analytics": ("admin", "manager", "sales", "marketing"),
    # Loyalty: front-line staff enrol members and redeem rewards; managers set the rules.
    "view loyalty": EVERYONE,
    "enrol members": ("admin", "manager", "sales", "support"),
    "redeem rewards": ("admin", "manager", "sales", "support"),
    "adjust points": ("admin", "manager"),
    "configure loyalty": ("admin", "manager"),
    # Support
    "work tickets": ("admin", "manager", "support"),
    "configure tickets": ("admin", "manager"),
    "manage SLA": ("admin", "manager"),
    # Your own account (the profile page): API tokens act with the user's own capabilities.
    "use API tokens": EVERYONE,
    # Marketing: segments
    "view segments": ("admin", "manager", "marketing"),
    "manage segments": ("admin", "manager", "marketing"),
    # Marketing: email templates and campaigns
    "view campaigns": ("admin", "manager", "marketing"),
    "manage email templates": ("admin", "manager", "marketing"),
    "send campaigns": ("admin", "manager", "marketing"),
    # Marketing: automations (journeys) and their holiday calendar
    "view automations": ("admin", "manager", "marketing"),
    "manage automations": ("admin", "manager", "marketing"),
    # Surveys: support reads the results of the surveys sent after tickets.
    "view surveys": ("admin", "manager", "marketing", "support"),
    "manage surveys": ("admin", "manager", "marketing"),
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


def view_allows(role: str, view) -> bool:
    """Whether `role` may use `view`: it holds one of the capabilities the view requires, or
    the view requires none."""
    capabilities = getattr(view, "capabilities", ())
    return not capabilities or allows(role, *capabilities)


def may_open(endpoint: str) -> bool:
    """Whether the signed-in user may open the page of `endpoint` (a template's test before a
    link; False for a page this app does not serve)."""
    view = current_app.view_functions.get(endpoint)
    return (
        view is not None and current_user.is_authenticated and view_allows(current_user.role, view)
    )


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
                    raise PermissionDenied(str(message))
                abort(403)
            return view(*args, **kwargs)

        wrapper.capabilities = capabilities
        return wrapper

    return decorator
