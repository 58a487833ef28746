"""The card registry: which cards each role's dashboard shows, gathered from every domain.

A card is a `Card`: a key (its URL), a title, the dashboards it belongs to and a `build(user)`
that returns a `crm_web.dashboard.figures.Figure` from one or two indexed queries (or a
materialized view). A domain adds its cards by listing them in a module's `CARDS` and naming
that module in `CARD_MODULES` below (surveys and automations add theirs the same way:
`crm_web/surveys/cards.py` with `CARDS = (Card("survey_nps", ...),)`). Each dashboard lists
its cards in the order of `order`.

Which dashboards a role opens is `ROLE_DASHBOARDS`; a person holding several roles sees the
union, each card once (`cards_for`). The activity feed is on every dashboard.
"""

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from crm_web.dashboard.figures import Figure

DASHBOARDS = ("sales", "manager", "support", "marketing", "admin")
EVERY_DASHBOARD = DASHBOARDS

# role -> the dashboards it opens (crm_web.permissions.ROLES)
ROLE_DASHBOARDS: dict[str, tuple[str, ...]] = {
    "sales": ("sales",),
    "manager": ("manager",),
    "support": ("support",),
    "marketing": ("marketing",),
    "admin": ("admin",),
}

CARD_MODULES = (
    "crm_web.dashboard.sales_cards",
    "crm_web.dashboard.support_cards",
    "crm_web.dashboard.marketing_cards",
    "crm_web.dashboard.admin_cards",
    "crm_web.surveys.cards",
    "crm_web.automations.cards",
    "crm_web.dashboard.feed",
)


@dataclass(frozen=True)
class Card:
    key: str
    title: object  # a lazy string
    dashboards: tuple[str, ...]
    build: Callable[..., Figure]
    order: int = 100
    wide: bool = False
    template_block: str = "figure"  # the block of dashboard/index.html that draws it


_cards: dict[str, Card] | None = None


def all_cards() -> dict[str, Card]:
    """Every registered card by key (the modules are imported once, on first use)."""
    global _cards
    if _cards is None:
        found: dict[str, Card] = {}
        for name in CARD_MODULES:
            for card in importlib.import_module(name).CARDS:
                if card.key in found:
                    raise ValueError(f"Two dashboard cards are called {card.key!r}")
                unknown = set(card.dashboards) - set(DASHBOARDS)
                if unknown:
                    raise ValueError(f"Card {card.key!r} names unknown dashboards {unknown}")
                found[card.key] = card
        _cards = found
    return _cards


def dashboards_for(roles: Iterable[str]) -> tuple[str, ...]:
    """The dashboards `roles` open, in DASHBOARDS order."""
    wanted = {name for role in roles for name in ROLE_DASHBOARDS.get(role, ())}
    return tuple(name for name in DASHBOARDS if name in wanted)


def cards_for(roles: Iterable[str]) -> list[Card]:
    """The cards of every dashboard `roles` open, each once, in order."""
    dashboards = set(dashboards_for(roles))
    return sorted(
        (card for card in all_cards().values() if dashboards & set(card.dashboards)),
        key=lambda card: (card.order, card.key),
    )


def card_for(roles: Iterable[str], key: str) -> Card | None:
    """The card `key` when one of `roles` may see it, else None."""
    return next((card for card in cards_for(roles) if card.key == key), None)
