"""Routing a new ticket (seed 004's route_support_ticket): priority rules, then an agent.

Agents are the organization's active support users. The ticket goes to an agent whose
department or skills match its team or category when one is under the cap, else to any
agent under the cap, fewest active tickets first, the longest-waiting agent among equals
(round-robin); nobody under the cap leaves it unassigned. A transaction-scoped advisory lock
per organization serialises routing, so two tickets created at once never both see the same
free slot.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import text

from crm_web.extensions import db
from crm_web.tickets.models import ACTIVE_STATUSES, PRIORITIES, VIP_TAG

BILLING_TYPES = ("billing_issue", "account_issue")


@dataclass(frozen=True)
class Decision:
    priority: str
    reason: str


def _at_least(priority: str, floor: str) -> str:
    return max(priority, floor, key=PRIORITIES.index)


def decide_priority(priority: str, ticket_type: str, customer_tags: list[str]) -> Decision:
    """The priority the rules give a new ticket, and why; the rules only ever raise it."""
    if VIP_TAG in customer_tags:
        return Decision("urgent", _("VIP customer"))
    if ticket_type in BILLING_TYPES:
        return Decision(_at_least(priority, "high"), _("Billing or account issue"))
    if priority == "urgent":
        return Decision("urgent", _("Urgent as requested"))
    if ticket_type == "bug_report":
        return Decision(_at_least(priority, "high"), _("Bug report"))
    return Decision(priority, _("Standard routing"))


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    department: str
    matches: bool
    load: int


AGENTS_SQL = text(
    """
    SELECT u.id, u.name, u.department,
           (u.department <> '' AND lower(u.department) IN (lower(:department), lower(:category)))
             OR lower(:category) = ANY(u.skills) AS matches,
           (SELECT count(*) FROM tickets t
             WHERE t.organization_id = u.organization_id AND t.assignee_id = u.id
               AND t.status = ANY(:active)) AS load,
           s.last_assigned_at
      FROM users u
      LEFT JOIN ticket_agent_states s ON s.organization_id = u.organization_id AND s.user_id = u.id
     WHERE u.organization_id = :org AND u.is_active AND u.role = 'support'
    """
)


def pick_agent(organization_id: int, *, department: str, category: str, cap: int) -> Agent | None:
    """Lock routing for the organization and choose the agent for one ticket, or None."""
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('ticket-routing:' || :org, 0))"),
        {"org": organization_id},
    )
    row = db.session.execute(
        text(
            f"SELECT id, name, department, matches, load FROM ({AGENTS_SQL.text}) agents "
            "WHERE load < :cap "
            "ORDER BY matches DESC, load, last_assigned_at NULLS FIRST, id LIMIT 1"
        ),
        {
            "org": organization_id,
            "department": department,
            "category": category,
            "active": list(ACTIVE_STATUSES),
            "cap": cap,
        },
    ).first()
    if row is None:
        return None
    db.session.execute(
        text(
            "INSERT INTO ticket_agent_states (organization_id, user_id, last_assigned_at) "
            "VALUES (:org, :user, :now) ON CONFLICT (organization_id, user_id) "
            "DO UPDATE SET last_assigned_at = EXCLUDED.last_assigned_at"
        ),
        # Not now(): that is the transaction's start, and routings within one transaction would tie.
        {"org": organization_id, "user": row.id, "now": datetime.now(UTC)},
    )
    return Agent(row.id, row.name, row.department, row.matches, row.load)


def agent_loads(organization_id: int) -> list[Agent]:
    """Every support agent with their current load (the settings page shows it)."""
    rows = db.session.execute(
        text(f"SELECT * FROM ({AGENTS_SQL.text}) agents ORDER BY lower(name)"),
        {"org": organization_id, "department": "", "category": "", "active": list(ACTIVE_STATUSES)},
    )
    return [Agent(r.id, r.name, r.department, False, r.load) for r in rows]
