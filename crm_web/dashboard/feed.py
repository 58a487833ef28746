"""The activity feed on every dashboard: business events, not audit rows.

A deal won, a ticket escalated (an SLA point that fired), a campaign sent, a big order: each
kind is read newest first through its own index (a few rows each), then merged. Sign-ins,
edits and the machinery's bookkeeping stay in the audit log.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.catalog.orders import PURCHASED
from crm_web.dashboard.figures import Figure, months, plain, rows
from crm_web.dashboard.registry import EVERY_DASHBOARD, Card

# An order at least this large (in the organization's currency) is news; the partial index
# ix_orders_org_big (0033) has the same threshold, written into the query so the plan uses it.
BIG_ORDER = 5000
PER_KIND = 8
SHOWN = 10


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # won, escalated, campaign, order
    text: str
    amount: Decimal | None
    url: str

    def as_json(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "text": self.text,
            "amount": plain(self.amount),
            "url": self.url,
        }

    @property
    def endpoint(self) -> str:
        """The page the event links to, so the feed links only what its reader may open."""
        return {
            "won": "pipeline.detail",
            "escalated": "tickets.show",
            "campaign": "campaigns.show",
            "order": "orders.show",
        }[self.kind]


def events(limit: int = SHOWN) -> list[Event]:
    """The latest business events of the organization, newest first."""
    period = months()
    found: list[Event] = []
    for row in rows(
        """SELECT o.id, o.name, o.amount, o.closed_at, u.name AS owner
             FROM opportunities o
             LEFT JOIN users u ON u.id = o.owner_id AND u.organization_id = o.organization_id
            WHERE o.organization_id = :org AND o.status = 'won' AND o.closed_at IS NOT NULL
            ORDER BY o.closed_at DESC LIMIT :n""",
        period,
        n=PER_KIND,
    ):
        found.append(
            Event(
                row.closed_at,
                "won",
                _("Deal won: %(name)s", name=row.name) + (f" ({row.owner})" if row.owner else ""),
                row.amount,
                url_for("pipeline.detail", opportunity_id=row.id),
            )
        )
    for row in rows(
        """SELECT e.fired_at, e.level, t.id, t.number, t.subject
             FROM sla_escalations e JOIN tickets t
               ON t.id = e.ticket_id AND t.organization_id = e.organization_id
            WHERE e.organization_id = :org AND e.status = 'fired'
            ORDER BY e.id DESC LIMIT :n""",
        period,
        n=PER_KIND,
    ):
        found.append(
            Event(
                row.fired_at,
                "escalated",
                _(
                    "Ticket #%(number)s escalated: %(subject)s",
                    number=row.number,
                    subject=row.subject,
                ),
                None,
                url_for("tickets.show", ticket_id=row.id),
            )
        )
    for row in rows(
        """SELECT id, name, finished_at, recipient_count FROM campaigns
            WHERE organization_id = :org AND status = 'sent' AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT :n""",
        period,
        n=PER_KIND,
    ):
        found.append(
            Event(
                row.finished_at,
                "campaign",
                _(
                    "Campaign sent: %(name)s to %(count)s people",
                    name=row.name,
                    count=row.recipient_count,
                ),
                None,
                url_for("campaigns.show", campaign_id=row.id),
            )
        )
    for row in rows(
        f"""SELECT o.id, o.order_number, o.total, o.ordered_at
             FROM orders o
            WHERE o.organization_id = :org AND o.status = ANY(:purchased)
              AND o.total >= {BIG_ORDER}
            ORDER BY o.ordered_at DESC LIMIT :n""",
        period,
        n=PER_KIND,
        purchased=list(PURCHASED),
    ):
        found.append(
            Event(
                row.ordered_at,
                "order",
                _("Big order %(number)s", number=row.order_number),
                row.total,
                url_for("orders.show", order_id=row.id),
            )
        )
    found.sort(key=lambda event: event.at, reverse=True)
    return found[:limit]


def feed(user) -> Figure:
    found = events()
    return Figure(len(found), rows=found)


CARDS = (
    Card(
        "feed",
        _l("Activity feed"),
        EVERY_DASHBOARD,
        feed,
        order=1000,
        wide=True,
        template_block="feed",
    ),
)
