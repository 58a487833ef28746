"""What a domain gives the global search: a provider that finds its records for a term.

A provider answers a few hits, quickly, through an index (each one's docstring says which), for
the organization set for the transaction only; the search asks only the providers whose
capability the user holds.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from crm_web.accounts.models import User

# Shorter terms are no search (a single letter matches everything and no trigram).
MIN_TERM_LENGTH = 2
# Substring search needs a whole trigram; shorter terms only match whole numbers and words.
MIN_SUBSTRING_LENGTH = 3


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One record found: what it is called, a line about it, and the page that shows it."""

    title: str
    detail: str
    endpoint: str
    values: dict = field(default_factory=dict)

    @classmethod
    def of(cls, title: str, endpoint: str, values: dict, *details: str) -> "SearchHit":
        """A hit whose line about it is the `details` given (empty ones left out)."""
        return cls(title, " · ".join(str(part) for part in details if part), endpoint, values)


@dataclass(frozen=True)
class SearchProvider:
    """A domain's search: `find(term, limit, user)` answers at most `limit` hits.

    `list_endpoint` is the domain's list page that takes the term as `?q=` (the "see all" link),
    with `list_args` besides.
    """

    key: str
    label: object
    capability: str
    find: Callable[[str, int, User], list[SearchHit]]
    list_endpoint: str | None = None
    list_args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SearchGroup:
    provider: SearchProvider
    hits: list[SearchHit]


def like_pattern(term: str) -> str:
    """A LIKE pattern that finds `term` anywhere, its own % and _ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def normalized(term: str) -> str:
    """The term as searched: words separated by single spaces, at most 100 characters."""
    return " ".join((term or "").split())[:100]


def search_all(
    term: str, providers: tuple[SearchProvider, ...], user: User, limit: int
) -> list[SearchGroup]:
    """What each of `providers` finds for the term (those that find something), in their order."""
    term = normalized(term)
    if len(term) < MIN_TERM_LENGTH:
        return []
    groups = (SearchGroup(provider, provider.find(term, limit, user)) for provider in providers)
    return [group for group in groups if group.hits]
