"""The signed-in user of a request, as the session cookie remembers them.

Loading the user and the organization through the ORM on every request was a third of a
simple page's cost. The cookie (signed with SECRET_KEY) keeps a snapshot of both rows
instead, with the stamp PostgreSQL computed from them (`signed_in_stamp`, migration 0024d: a
hash of the two rows, the sign-in checked on the way). Each request still asks PostgreSQL,
in the statement that sets up the tenant (`crm_web.db.check_sign_in`): a revoked or expired
sign-in or a deactivated user ends at the next request, as before; a changed user or
organization (a new role, a renamed organization) gives a new stamp, and the snapshot is
taken again from the rows.

The snapshot holds the rows' plain values (text, numbers, flags, lists), never the password
hash; times are left out. Views, templates and services read it as they read a `User`
(`id`, `role`, `can(...)`, `organization.timezone`, ...); it cannot be changed or saved.
"""

from flask_login import UserMixin

from crm_web.permissions import allows

PLAIN = (str, int, bool, list, type(None))


def snapshot_of(row, hidden: frozenset[str] = frozenset()) -> dict:
    """The plain column values of an ORM row, for the cookie."""
    values = {}
    for attribute in row.__mapper__.column_attrs:
        value = getattr(row, attribute.key)
        if attribute.key not in hidden and isinstance(value, PLAIN):
            values[attribute.key] = value
    return values


class Snapshot:
    """Read-only attributes from a dict of a row's values."""

    __slots__ = ("_values",)

    def __init__(self, values: dict):
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"a signed-in snapshot is read-only ({name})")


class SignedInUser(UserMixin, Snapshot):
    """The user of a request, from the session's snapshot (see the module's docstring)."""

    __slots__ = ("organization",)

    def __init__(self, user: dict, organization: dict):
        super().__init__(user)
        object.__setattr__(self, "organization", Snapshot(organization))

    @property
    def is_active(self) -> bool:
        return self._values["is_active"]

    def can(self, *capabilities: str) -> bool:
        """Whether this user's role holds at least one of `capabilities` (crm_web.permissions)."""
        return allows(self._values["role"], *capabilities)

    def __repr__(self) -> str:
        return f"<SignedInUser {self._values['id']} {self._values['role']}>"
