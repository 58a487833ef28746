"""The agent's queue: which active tickets a view shows, in which order, a keyset page at a time."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Select, and_, any_, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from crm_web.accounts.models import User
from crm_web.customers.models import Customer, display_name
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pagination import Page, cursor_key, page_of
from crm_web.sla import reading as sla
from crm_web.sla.ticket_columns import clock_paused
from crm_web.tickets.models import (
    ACTIVE_STATUSES,
    CATEGORIES,
    CHANNELS,
    PRIORITIES,
    TICKET_CUSTOMER,
    TICKET_SEARCH_KEYS,
    Ticket,
    ticket_reference,
)

VIEWS = {
    "mine": _l("My tickets"),
    "team": _l("Team queue"),
    "unassigned": _l("Unassigned"),
    "breaching": _l("Breaching soon"),
    "breached": _l("Breached"),
    "all": _l("All open"),
}
SORTS = {"due": _l("SLA due"), "newest": _l("Newest"), "oldest": _l("Oldest")}
_ID, _SLA_DUE_SORT = TICKET_SEARCH_KEYS
# sort -> its keyset columns (ticket_search_page orders by them).
SORT_KEYS = {"due": (_SLA_DUE_SORT, _ID), "newest": (_ID,), "oldest": (_ID,)}
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


def _matches(user: User, filters: QueueFilters, *, after: dict | None = None, limit: int) -> Select:
    """The active tickets the view and filters hold, as ticket_search_page's rows (ids and sort
    keys): at most `limit`, in the sort's order after its key `after` (by column name).

    The function writes the views (the deadline ones as sla.queue_clauses does); a user
    without a team has no team queue."""
    after = after or {}
    pattern = number = None
    if filters.q:
        # A subject containing the words as typed (any case, Turkish letters folded by the
        # function), or the ticket with that number.
        escaped = filters.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern = f"%{escaped}%"
        number = whole_number(filters.q.upper().removeprefix("T-"))
    page = func.ticket_search_page(
        filters.view,
        user.id,
        user.department or None,
        sla.BREACHING_SOON,
        filters.status or None,
        filters.priority or None,
        filters.channel or None,
        filters.category or None,
        filters.tag or None,
        pattern,
        number,
        filters.sort,
        after.get("sla_due_sort"),
        after.get("id"),
        limit,
    ).table_valued(*TICKET_SEARCH_KEYS)
    return select(page)


def queue_page(
    user: User, filters: QueueFilters, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """One page of the queue, as QueueRows.

    The page's ids come from ticket_search_page, where the search and the tag filter use
    their indexes (see TICKET_SEARCH_KEYS) and the rest the queue's own; the rows are then
    read by primary key."""
    limit = max(1, min(limit, MAX_REFRESH_ROWS))
    columns = SORT_KEYS[filters.sort]
    after = cursor_key(cursor, columns)
    rows = db.session.execute(_matches(user, filters, after=after, limit=limit + 1)).all()
    page = page_of(rows, columns, limit)
    page.items = queue_rows([row.id for row in page.items])
    return page


@dataclass(frozen=True, slots=True)
class QueueRow:
    """What a queue row shows of a ticket, labels worked out: read with its customer's and
    assignee's names in one query, with none of the ORM's per-object costs."""

    id: int
    reference: str
    subject: str
    channel: str
    category: str
    tags: list[str]
    priority: str
    status: str
    assignee_id: int | None
    assignee_name: str
    customer_name: str
    sla_due_at: datetime | None
    sla_paused: bool
    updated_at: datetime


def queue_rows(ticket_ids: list[int]) -> list[QueueRow]:
    """These tickets as queue rows, in the order given (ids of other organizations left out)."""
    organization_id = current_organization_id()
    found = {
        row.id: QueueRow(
            id=row.id,
            reference=ticket_reference(row.number),
            subject=row.subject,
            channel=row.channel,
            category=row.category,
            tags=row.tags,
            priority=row.priority,
            status=row.status,
            assignee_id=row.assignee_id,
            assignee_name=row.assignee_name or "",
            customer_name=display_name(
                row.customer_type, row.company_name, row.first_name, row.last_name
            ),
            sla_due_at=row.sla_due_at,
            sla_paused=clock_paused(row.status, row.sla_clock_started_at),
            updated_at=row.updated_at,
        )
        for row in db.session.execute(
            select(
                Ticket.id,
                Ticket.number,
                Ticket.subject,
                Ticket.channel,
                Ticket.category,
                Ticket.tags,
                Ticket.priority,
                Ticket.status,
                Ticket.assignee_id,
                User.name.label("assignee_name"),
                Customer.customer_type,
                Customer.company_name,
                Customer.first_name,
                Customer.last_name,
                Ticket.sla_due_at,
                Ticket.sla_clock_started_at,
                Ticket.updated_at,
            )
            .join(Customer, TICKET_CUSTOMER)
            .outerjoin(
                User,
                and_(User.organization_id == Ticket.organization_id, User.id == Ticket.assignee_id),
            )
            .where(
                Ticket.organization_id == organization_id,
                # One array parameter, not one per id: a page of 200 rows is one bind.
                Ticket.id == any_(cast(ticket_ids, ARRAY(BigInteger))),
            )
        )
    }
    return [found[ticket_id] for ticket_id in ticket_ids if ticket_id in found]


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return _("%(minutes)s min", minutes=minutes)
    if minutes < 48 * 60:
        return _("%(hours)s h %(minutes)02d", hours=minutes // 60, minutes=minutes % 60)
    return _("%(days)s d", days=minutes // (24 * 60))


def due_state(ticket: QueueRow, now: datetime) -> tuple[str, str]:
    """How the queue shows a ticket's next deadline: (text, css class)."""
    if ticket.sla_due_at is None:
        return (_("paused"), "paused") if ticket.sla_paused else ("—", "")
    seconds = (ticket.sla_due_at - now).total_seconds()
    if seconds < 0:
        return _("overdue %(time)s", time=_span(seconds)), "breached"
    return _(
        "in %(time)s", time=_span(seconds)
    ), "soon" if seconds <= BREACHING_SOON_SECONDS else ""


def view_counts(user: User) -> dict[str, int]:
    """How many active tickets each view holds, counted up to COUNT_CAP + 1 (shown as "1,000+"),
    so the live refresh costs the same at 50k open tickets as at 500: one statement, each
    count a bounded index scan. Counting in the queue's order makes each one read the index
    its view's page reads, a range that stops at the cap, where the planner would otherwise
    guess a scan of the table is as cheap (a deadline range is hard to estimate)."""
    counts = [
        select(func.count())
        .select_from(_matches(user, QueueFilters(view=view), limit=COUNT_CAP + 1).subquery())
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
