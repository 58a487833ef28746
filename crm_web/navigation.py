"""The navigation: the links each domain declares (crm_web/domains.py), in groups, per role.

A link names its page's endpoint; who sees it is whoever may open that page, read from the
capabilities its view declares (`@requires`), so the navigation can never offer a link that
answers 403. A link to a page that is not registered (a dev page without its folder) is left
out, and so is a group left empty.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from crm_web.permissions import view_allows

log = logging.getLogger("crm.navigation")

# The groups, in the order the navigation shows them; links without a group come first.
GROUPS = {
    "sales": _l("Sales"),
    "service": _l("Service"),
    "marketing": _l("Marketing"),
    "commerce": _l("Commerce"),
    "insights": _l("Insights"),
    "admin": _l("Admin"),
}


@dataclass(frozen=True)
class NavEntry:
    """One link: its group (a key of GROUPS, or None for the top), label and page, and its
    place in the group (`order`, lowest first).

    `also` names the other pages it stands for, as endpoints or as "blueprint." prefixes: the
    link the current page matches most closely is marked as the current one. `badge` counts
    what waits there (asked only for those who see the link)."""

    group: str | None
    label: object
    endpoint: str
    order: int = 50
    also: tuple[str, ...] = ()
    badge: Callable[[], int] | None = None

    def match(self, endpoint: str) -> int:
        """How closely `endpoint` belongs to this link: 0 not at all, longer is closer."""
        if endpoint == self.endpoint:
            return 1000
        return max(
            (
                len(pattern)
                for pattern in self.also
                if endpoint == pattern or (pattern.endswith(".") and endpoint.startswith(pattern))
            ),
            default=0,
        )


@dataclass
class NavLink:
    label: str
    url: str
    key: str
    current: bool = False
    badge: int | None = None


@dataclass
class NavGroup:
    key: str | None
    label: str
    links: list[NavLink] = field(default_factory=list)


class Navigation:
    """The app's links, and what a signed-in user's request shows of them."""

    def __init__(self, app: Flask, entries: tuple[NavEntry, ...]):
        for entry in entries:
            if entry.group is not None and entry.group not in GROUPS:
                raise ValueError(f"Unknown navigation group {entry.group!r} for {entry.endpoint}")
        self.entries = tuple(sorted(entries, key=lambda entry: entry.order))
        self.app = app
        # role -> (entry, URL) of the links it may open: both fixed once the app serves.
        self._for_role: dict[str, list[tuple[NavEntry, str]]] = {}

    def _visible(self, role: str) -> list[tuple[NavEntry, str]]:
        if role not in self._for_role:
            visible = []
            for entry in self.entries:
                view = self.app.view_functions.get(entry.endpoint)
                if view is None or not view_allows(role, view):
                    continue
                visible.append((entry, url_for(entry.endpoint)))
            self._for_role[role] = visible
        return self._for_role[role]

    def for_request(self) -> list[NavGroup]:
        """The signed-in user's groups of links, the current page's link marked."""
        if not current_user.is_authenticated:
            return []
        visible = self._visible(current_user.role)
        endpoint = request.endpoint or ""
        closeness = [entry.match(endpoint) for entry, _url in visible]
        best = max(closeness, default=0)
        groups = {None: NavGroup(None, "")}
        groups.update({key: NavGroup(key, str(label)) for key, label in GROUPS.items()})
        for (entry, url), close in zip(visible, closeness, strict=True):
            groups[entry.group].links.append(
                NavLink(
                    label=str(entry.label),
                    url=url,
                    key=entry.endpoint.replace(".", "-").replace("_", "-"),
                    current=bool(close) and close == best,
                    badge=badge_count(entry) if entry.badge else None,
                )
            )
        return [group for group in groups.values() if group.links]


def badge_count(entry: NavEntry) -> int | None:
    """The entry's badge; none when it cannot be counted (the error page of a failed database
    call shows the navigation too, and must not fail itself)."""
    try:
        return entry.badge()
    except SQLAlchemyError:
        log.warning("navigation badge of %s not counted", entry.endpoint, exc_info=True)
        return None
