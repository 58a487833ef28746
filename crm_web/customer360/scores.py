"""KPIs and the engagement and health scores of one customer, after seed 004's get_customer_360_view.

Engagement score (0-100): how actively the customer deals with us, after the behavioural and
engagement parts of seed 004's calculate_dynamic_lead_score. An *interaction* is a call or
meeting, anything the customer sent us (inbound), an email or SMS they opened or clicked (a
campaign email too), or an event they attended; outbound messages they ignored do not count.

    activity    interactions in the last 90 days: >10 -> 25, >5 -> 15, >2 -> 10, >=1 -> 5
    recency     last interaction: <=7 days -> 20, <=30 -> 10, <=90 -> 5, older or never -> 0
    opens       emails opened in the last 90 days: >5 -> 15, >=1 -> 8
    clicks      emails clicked in the last 90 days: >=1 -> 15
    inbound     messages or calls from the customer in the last 90 days: >=1 -> 10
    events      events attended in the last 365 days: >=2 -> 15, 1 -> 10
                                                          (maximum 25+20+15+15+10+15 = 100)

Health score (0-100): how likely the relationship is to last, after seed 004's organization
health score (satisfaction 25 %, sales 30 %, support 20 %, marketing 25 %) brought down to
one customer. Each component is a value from 0 to 1 with a weight; the score is
100 x sum(weight x value) / sum(weight) over the components that can be computed. A
component that cannot be measured (orders: no orders module yet; satisfaction: the customer
rated nothing) is left out rather than counted as zero, and shown as "not available".

    engagement    25   engagement score / 100 (seed 004: marketing effectiveness)
    purchasing    30   ordered in the last 365 days -> 1, ever -> 0.5, never -> 0 (needs orders)
    support       20   tickets still being worked: 0 -> 1, 1 -> 0.5, 2 or more -> 0
    satisfaction  25   average rating the customer gave their tickets (CSAT, 1-5) in the last
                       365 days / 5; left out while there is none
    relationship  20   lifecycle stage: champion 1, loyal 0.9, customer 0.8, opportunity 0.6,
                       lead 0.5, subscriber 0.4, churned 0; halved when marked do-not-contact
    contact       20   last contact (any communication or attended event): <=30 days -> 1,
                       <=90 -> 0.5, <=180 -> 0.25, older or never -> 0

KPIs: lifetime value, order count, average order and last purchase come from the customer's
orders (crm_web.catalog.orders.customer_purchases). Open deals, open tickets and upcoming
activities are counted by crm_web.customer360.open_work.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, literal, or_, select

from crm_web.campaigns.models import CampaignRecipient
from crm_web.catalog.orders import Purchases, customer_purchases
from crm_web.communications.models import Communication
from crm_web.customer360.open_work import OpenWork, customer_open_work
from crm_web.customers.fields import BY_NAME
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.events.models import EventAttendee
from crm_web.extensions import db
from crm_web.tickets.models import Ticket

LIFECYCLE_HEALTH = {
    "champion": 1.0,
    "loyal": 0.9,
    "customer": 0.8,
    "opportunity": 0.6,
    "lead": 0.5,
    "subscriber": 0.4,
    "churned": 0.0,
}


@dataclass(frozen=True)
class Activity:
    """What the customer did with us, as counted for the scores."""

    last_contact_at: dt.datetime | None = None
    last_interaction_at: dt.datetime | None = None
    interactions_90d: int = 0
    emails_opened_90d: int = 0
    emails_clicked_90d: int = 0
    inbound_90d: int = 0
    events_attended_365d: int = 0
    # The average CSAT rating (1-5) of the customer's tickets rated in the last 365 days.
    satisfaction: float | None = None


@dataclass(frozen=True)
class Kpis:
    """The 360 page's figures; None means nothing supplies it yet (orders) or nothing to
    measure (satisfaction without ratings)."""

    lifetime_value: Decimal | None
    order_count: int | None
    average_order: Decimal | None
    last_order_at: dt.datetime | None
    open_deals: int
    # The open deals' total; None when they are in several currencies.
    open_pipeline: Decimal | None
    open_pipeline_currency: str
    open_tickets: int
    upcoming_activities: int
    satisfaction: float | None
    last_contact_at: dt.datetime | None


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    detail: str
    # Engagement: points out of max_points. Health: a value in 0..1 weighted by max_points.
    points: float | None
    max_points: float

    @property
    def available(self) -> bool:
        return self.points is not None


@dataclass(frozen=True)
class Score:
    value: int
    components: list[Component] = field(default_factory=list)


def customer_activity(customer_id: int, now: dt.datetime | None = None) -> Activity:
    """Count the customer's communications, attendances and ratings in one round trip."""
    now = now or dt.datetime.now(dt.UTC)
    organization_id = current_organization_id()
    days_90 = now - dt.timedelta(days=90)
    interaction = or_(
        Communication.communication_type.in_(("call", "meeting")),
        Communication.direction == "inbound",
        Communication.opened_date.isnot(None),
        Communication.clicked_date.isnot(None),
    )
    communications = (
        select(
            func.max(Communication.created_at).label("last_contact_at"),
            func.max(Communication.created_at).filter(interaction).label("last_interaction_at"),
            func.count()
            .filter(interaction, Communication.created_at >= days_90)
            .label("interactions"),
            func.count()
            .filter(
                Communication.communication_type == "email", Communication.opened_date >= days_90
            )
            .label("opened"),
            func.count()
            .filter(
                Communication.communication_type == "email", Communication.clicked_date >= days_90
            )
            .label("clicked"),
            func.count()
            .filter(Communication.direction == "inbound", Communication.created_at >= days_90)
            .label("inbound"),
        )
        .where(
            Communication.organization_id == organization_id,
            Communication.customer_id == customer_id,
        )
        .subquery()
    )
    attended = (
        select(
            func.max(EventAttendee.attended_at).label("last_attended_at"),
            func.count().filter(EventAttendee.attended_at >= days_90).label("attended_90d"),
            func.count()
            .filter(EventAttendee.attended_at >= now - dt.timedelta(days=365))
            .label("attended_365d"),
        )
        .where(
            EventAttendee.organization_id == organization_id,
            EventAttendee.customer_id == customer_id,
            EventAttendee.attended_at.isnot(None),
        )
        .subquery()
    )
    rated = (
        select(func.avg(Ticket.csat_rating).label("satisfaction"))
        .where(
            Ticket.organization_id == organization_id,
            Ticket.customer_id == customer_id,
            Ticket.csat_submitted_at >= now - dt.timedelta(days=365),
        )
        .subquery()
    )
    # Campaign emails: each one opened or clicked is an interaction (at its first open or click).
    engaged = func.least(CampaignRecipient.opened_at, CampaignRecipient.clicked_at)
    campaigns = (
        select(
            func.max(CampaignRecipient.sent_at).label("last_sent_at"),
            func.max(
                func.greatest(CampaignRecipient.opened_at, CampaignRecipient.clicked_at)
            ).label("last_engaged_at"),
            func.count().filter(engaged >= days_90).label("engaged_90d"),
            func.count().filter(CampaignRecipient.opened_at >= days_90).label("campaign_opened"),
            func.count().filter(CampaignRecipient.clicked_at >= days_90).label("campaign_clicked"),
        )
        .where(
            CampaignRecipient.organization_id == organization_id,
            CampaignRecipient.customer_id == customer_id,
        )
        .subquery()
    )
    row = db.session.execute(
        select(communications, attended, rated, campaigns).select_from(
            communications.join(attended, literal(True))
            .join(rated, literal(True))
            .join(campaigns, literal(True))
        )
    ).one()
    return Activity(
        last_contact_at=_latest(row.last_contact_at, row.last_attended_at, row.last_sent_at),
        last_interaction_at=_latest(
            row.last_interaction_at, row.last_attended_at, row.last_engaged_at
        ),
        interactions_90d=row.interactions + row.attended_90d + row.engaged_90d,
        emails_opened_90d=row.opened + row.campaign_opened,
        emails_clicked_90d=row.clicked + row.campaign_clicked,
        inbound_90d=row.inbound,
        events_attended_365d=row.attended_365d,
        satisfaction=None if row.satisfaction is None else float(row.satisfaction),
    )


def _latest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def customer_kpis(activity: Activity, work: OpenWork, purchases: Purchases) -> Kpis:
    """The KPI cards: orders from the customer's purchases, open work from open_work."""
    return Kpis(
        lifetime_value=purchases.lifetime_value,
        order_count=purchases.order_count,
        average_order=purchases.average_order,
        last_order_at=purchases.last_order_at,
        open_deals=work.deals.total,
        open_pipeline=work.pipeline_amount,
        open_pipeline_currency=work.pipeline_currency,
        open_tickets=work.tickets.total,
        upcoming_activities=work.activities.total,
        satisfaction=activity.satisfaction,
        last_contact_at=activity.last_contact_at,
    )


def _steps(value: int, steps: tuple[tuple[int, int], ...]) -> int:
    """The points of the first (threshold, points) step that `value` reaches."""
    return next((points for threshold, points in steps if value >= threshold), 0)


def _days_since(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds() / 86400


def engagement_score(activity: Activity, now: dt.datetime | None = None) -> Score:
    """The engagement score and its breakdown (formula in the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    days = _days_since(activity.last_interaction_at, now)
    recency = (
        0 if days is None else 20 if days <= 7 else 10 if days <= 30 else 5 if days <= 90 else 0
    )
    components = [
        Component(
            "activity",
            _("Interactions (90 days)"),
            ngettext("%(num)d interaction", "%(num)d interactions", activity.interactions_90d),
            _steps(activity.interactions_90d, ((11, 25), (6, 15), (3, 10), (1, 5))),
            25,
        ),
        Component(
            "recency",
            _("Last interaction"),
            _("never")
            if days is None
            else ngettext("%(num)d day ago", "%(num)d days ago", int(days)),
            recency,
            20,
        ),
        Component(
            "opens",
            _("Emails opened (90 days)"),
            _("%(num)d opened", num=activity.emails_opened_90d),
            _steps(activity.emails_opened_90d, ((6, 15), (1, 8))),
            15,
        ),
        Component(
            "clicks",
            _("Emails clicked (90 days)"),
            _("%(num)d clicked", num=activity.emails_clicked_90d),
            15 if activity.emails_clicked_90d else 0,
            15,
        ),
        Component(
            "inbound",
            _("Contacted us (90 days)"),
            _("%(num)d inbound", num=activity.inbound_90d),
            10 if activity.inbound_90d else 0,
            10,
        ),
        Component(
            "events",
            _("Events attended (365 days)"),
            _("%(num)d attended", num=activity.events_attended_365d),
            _steps(activity.events_attended_365d, ((2, 15), (1, 10))),
            15,
        ),
    ]
    return Score(min(100, int(sum(c.points for c in components))), components)


def health_score(
    customer: Customer,
    activity: Activity,
    kpis: Kpis,
    engagement: Score,
    now: dt.datetime | None = None,
) -> Score:
    """The health score and its breakdown (formula in the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    purchasing = None
    if kpis.order_count is not None:
        recent = kpis.last_order_at is not None and _days_since(kpis.last_order_at, now) <= 365
        purchasing = 1.0 if recent else 0.5 if kpis.order_count else 0.0
    support = 1.0 if kpis.open_tickets == 0 else 0.5 if kpis.open_tickets == 1 else 0.0
    relationship = LIFECYCLE_HEALTH.get(customer.lifecycle_stage, 0.5)
    if customer.do_not_contact:
        relationship /= 2
    days = _days_since(activity.last_contact_at, now)
    contact = (
        0.0
        if days is None
        else 1.0
        if days <= 30
        else 0.5
        if days <= 90
        else 0.25
        if days <= 180
        else 0.0
    )
    lifecycle = dict(BY_NAME["lifecycle_stage"].choices).get(customer.lifecycle_stage, "")
    components = [
        Component(
            "engagement",
            _("Engagement"),
            _("score %(score)d", score=engagement.value),
            engagement.value / 100,
            25,
        ),
        Component(
            "purchasing",
            _("Purchasing"),
            _("not available: no orders module yet")
            if purchasing is None
            else ngettext("%(num)d order", "%(num)d orders", kpis.order_count),
            purchasing,
            30,
        ),
        Component(
            "support",
            _("Support"),
            ngettext("%(num)d open ticket", "%(num)d open tickets", kpis.open_tickets),
            support,
            20,
        ),
        Component(
            "satisfaction",
            _("Satisfaction"),
            _("not available: no ticket rated in 365 days")
            if kpis.satisfaction is None
            else _("average rating %(rating).1f / 5", rating=kpis.satisfaction),
            None if kpis.satisfaction is None else kpis.satisfaction / 5,
            25,
        ),
        Component(
            "relationship",
            _("Relationship"),
            _("%(stage)s, do not contact", stage=lifecycle)
            if customer.do_not_contact
            else lifecycle,
            relationship,
            20,
        ),
        Component(
            "contact",
            _("Last contact"),
            _("never")
            if days is None
            else ngettext("%(num)d day ago", "%(num)d days ago", int(days)),
            contact,
            20,
        ),
    ]
    available = [c for c in components if c.available]
    weight = sum(c.max_points for c in available)
    value = 100 * sum(c.points * c.max_points for c in available) / weight
    return Score(round(value), components)


@dataclass(frozen=True)
class Overview:
    kpis: Kpis
    engagement: Score
    health: Score
    work: OpenWork


def customer_overview(customer: Customer) -> Overview:
    """KPIs, both scores and the open deals, tickets and activities of a customer the caller
    has already loaded: four queries."""
    now = dt.datetime.now(dt.UTC)
    activity = customer_activity(customer.id, now)
    work = customer_open_work(customer.id)
    kpis = customer_kpis(activity, work, customer_purchases(customer.id))
    engagement = engagement_score(activity, now)
    return Overview(kpis, engagement, health_score(customer, activity, kpis, engagement, now), work)
