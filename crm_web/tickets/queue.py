"""The agent's queue: which active tickets a view shows, in which order, a keyset page at a time."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, false, func, or_, select, true
from sqlalchemy.orm import selectinload

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page
from crm_web.sla import services as sla
from crm_web.tickets.models import ACTIVE_STATUSES, CATEGORIES, CHANNELS, PRIORITIES, Ticket

VIEWS = {
    "mine": "My tickets",
    "team": "Team queue",
    "unassigned": "Unassigned",
    "breaching": "Breaching soon",
    "breached": "Breached",
    "all": "All open",
}
SORTS = {"due": "SLA due", "newest": "Newest", "oldest": "Oldest"}
PAGE_SIZE = 50
BREACHING_SOON_SECONDS = sla.BREACHING_SOON.total_seconds()
COUNT_CAP = 1000
# A live refresh re-renders every row the agent has loaded, up to this many.
MAX_REFRESH_ROWS = 500


@dataclass
class QueueFilters:
    view: str = "mine"
    sort: str = "due"
    status: str = ""
    priority: str = ""
    channel: str = ""
    category: str = ""
    tag: str = ""
    q: str = ""

    @classmethod
    def parse(cls, args) -> "QueueFilters":
        """Filters from query arguments; unknown values fall back to the defaults."""
        filters = cls(
            view=args.get("view", "mine"),
            sort=args.get("sort", "due"),
            status=args.get("status", ""),
            priority=args.get("priority", ""),
            channel=args.get("channel", ""),
            category=args.get("category", ""),
            tag=args.get("tag", "").strip().lower(),
            q=args.get("q", "").strip()[:100],
        )
        filters.view = filters.view if filters.view in VIEWS else "mine"
        filters.sort = filters.sort if filters.sort in SORTS else "due"
        filters.status = filters.status if filters.status in ACTIVE_STATUSES else ""
        filters.priority = filters.priority if filters.priority in PRIORITIES else ""
        filters.channel = filters.channel if filters.channel in CHANNELS else ""
        filters.category = filters.category if filters.category in CATEGORIES else ""
        return filters

    def query_args(self) -> dict[str, str]:
        """The non-default filters, for URLs that keep them."""
        args = {
            "view": self.view,
            "sort": self.sort,
            "status": self.status,
            "priority": self.priority,
            "channel": self.channel,
            "category": self.category,
            "tag": self.tag,
            "q": self.q,
        }
        defaults = {"view": "mine", "sort": "due"}
        return {k: v for k, v in args.items() if v and defaults.get(k) != v}


def _view_clause(view: str, user: User):
    if view == "mine":
        return Ticket.assignee_id == user.id
    if view == "team":
        # A user without a team has no team queue.
        return Ticket.department == user.department if user.department else false()
    if view == "unassigned":
        return Ticket.assignee_id.is_(None)
    if view == "breaching":
        return sla.queue_clauses().breaching_soon
    if view == "breached":
        return sla.queue_clauses().breached
    return true()


def _base(user: User, view: str) -> Select:
    return select(Ticket).where(
        Ticket.organization_id == current_organization_id(),
        Ticket.status.in_(ACTIVE_STATUSES),
        _view_clause(view, user),
    )


def _filtered(stmt: Select, filters: QueueFilters) -> Select:
    if filters.status:
        stmt = stmt.where(Ticket.status == filters.status)
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.channel:
        stmt = stmt.where(Ticket.channel == filters.channel)
    if filters.category:
        stmt = stmt.where(Ticket.category == filters.category)
    if filters.tag:
        stmt = stmt.where(Ticket.tags.contains([filters.tag]))
    if filters.q:
        number = filters.q.upper().removeprefix("T-")
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        conditions = [Ticket.subject.ilike(pattern + "%", escape="\\")]
        if number.isdigit() and len(number) < 18:
            conditions.append(Ticket.number == int(number))
        stmt = stmt.where(or_(*conditions))
    return stmt


def queue_page(
    user: User, filters: QueueFilters, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """One page of the queue; tickets carry their customer and assignee."""
    stmt = _filtered(_base(user, filters.view), filters).options(
        selectinload(Ticket.customer), selectinload(Ticket.assignee)
    )
    limit = max(1, min(limit, MAX_REFRESH_ROWS))
    if filters.sort == "due":
        # Soonest deadline first; tickets without one (paused) last, oldest first among them.
        return keyset_page(
            stmt, (Ticket.sla_due_sort, Ticket.id), cursor=cursor, limit=limit, descending=False
        )
    return keyset_page(
        stmt, (Ticket.id,), cursor=cursor, limit=limit, descending=filters.sort == "newest"
    )


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // (24 * 60)} d"


def due_state(ticket: Ticket, now: datetime) -> tuple[str, str]:
    """How the queue shows a ticket's next deadline: (text, css class)."""
    if ticket.sla_due_at is None:
        return ("paused", "paused") if ticket.sla_paused else ("—", "")
    seconds = (ticket.sla_due_at - now).total_seconds()
    if seconds < 0:
        return f"overdue {_span(seconds)}", "breached"
    return f"in {_span(seconds)}", "soon" if seconds <= BREACHING_SOON_SECONDS else ""


def view_counts(user: User) -> dict[str, int]:
    """How many active tickets each view holds, counted up to COUNT_CAP + 1 (shown as "1,000+"),
    so the live refresh costs the same at 50k open tickets as at 500: one statement, each
    count a bounded index scan. Counting in the queue's order makes each one read the index
    its view's page reads, a range that stops at the cap, where the planner would otherwise
    guess a scan of the table is as cheap (a deadline range is hard to estimate)."""
    counts = [
        select(func.count())
        .select_from(
            select(Ticket.id)
            .where(
                Ticket.organization_id == current_organization_id(),
                Ticket.status.in_(ACTIVE_STATUSES),
                _view_clause(view, user),
            )
            .order_by(Ticket.sla_due_sort, Ticket.id)
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        .scalar_subquery()
        .label(view)
        for view in VIEWS
    ]
    return dict(db.session.execute(select(*counts)).one()._mapping)


def queue_version(now: datetime) -> str:
    """Changes when any ticket of the organization changes, and every minute (deadlines move):
    the live refresh skips rendering while it stays the same.

    A change committed late by a transaction that began before a later one already seen can
    go unnoticed until the minute turns; the queue is then at most a minute behind.
    """
    latest = db.session.scalar(
        select(func.max(Ticket.updated_at)).where(
            Ticket.organization_id == current_organization_id()
        )
    )
    return f"{latest.timestamp() if latest else 0:.6f}-{int(now.timestamp()) // 60}"
