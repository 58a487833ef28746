"""The month and day views (0039) against the live computation they replace: the same rows, in
an organization far from UTC, with rows either side of its month and day boundaries, read by
the cards and the reports once the views are refreshed."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from crm_web.campaigns.results import recipient_count_by_status
from crm_web.catalog import orders
from crm_web.communications.services import log_communication
from crm_web.dashboard import services as dashboards
from crm_web.dashboard.figures import months
from crm_web.dashboard.marketing_cards import audience_growth, campaigns
from crm_web.dashboard.sales_cards import at_risk, my_tasks, recent_activity, team_activity
from crm_web.dashboard.support_cards import breach_rate, by_channel, csat_trend, response_times
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline import stages as pipeline_stages
from crm_web.reports import services as reports
from tests import factories

ZONE = "America/New_York"  # midnight is 04:00 or 05:00 UTC: a UTC month is the wrong one


def _sql(statement: str, **params):
    return db.session.execute(text(statement), params)


@pytest.fixture
def far(make_org, make_user):
    organization, admin = make_org(name="Far Co", currency="USD", timezone=ZONE)
    ann = make_user(organization, role="sales", name="Ann", password=None)
    ben = make_user(organization, role="sales", name="Ben", password=None)
    agent = make_user(organization, role="support", name="Sue", password=None)
    set_tenant(organization.id, admin.id)
    period = months()
    # Either side of this month's and last month's first local midnight, and ahead of now.
    instants = [
        period.this_start + timedelta(minutes=1),
        period.this_start - timedelta(minutes=1),
        period.last_start + timedelta(minutes=1),
        period.last_start - timedelta(minutes=1),
        period.now - timedelta(hours=1),
        period.now + timedelta(days=2),
    ]
    customers = factories.customer_rows(organization.id, 2)
    _sql("UPDATE customers SET owner_id = :ann WHERE id = :id", ann=ann.id, id=customers[0].id)
    for n, at in enumerate(instants):
        for person, customer in ((ann, customers[n % 2]), (ben, customers[0])):
            done = factories.activity(assigned_to_id=person.id, customer_id=customer.id)
            _sql(
                "UPDATE activities SET status = 'completed', completed_at = :at WHERE id = :id",
                at=at,
                id=done.id,
            )
        ticket = factories.ticket(
            organization, user=agent, channel=("email", "phone")[n % 2], customer_id=customers[0].id
        )
        set_tenant(organization.id, admin.id)
        _sql(
            """UPDATE tickets SET created_at = :at, first_response_seconds = :first,
                      resolution_seconds = :resolution, first_response_breached = :missed,
                      csat_rating = :rating, csat_submitted_at = :at + interval '1 minute',
                      sla_due_at = :at + interval '1 hour'
                WHERE id = :id""",
            at=at,
            first=600 * (n + 1),
            resolution=3600 * (n + 2),
            missed=n % 3 == 0,
            rating=1 + n % 5,
            id=ticket.id,
        )
        _sql(
            """INSERT INTO customer_consent_events (organization_id, customer_id, channel,
                      old_value, new_value, source, note, created_at)
               VALUES (:org, :customer, 'email', :old, :new, 'form', '', :at)""",
            org=organization.id,
            customer=customers[1].id,
            old=n % 2 == 0,
            new=n % 2 == 1,
            at=at,
        )
        message = log_communication(
            customers[0].id,
            communication_type=("call", "email")[n % 2],
            direction="outbound",
            subject="Hi",
        )
        _sql("UPDATE communications SET created_at = :at WHERE id = :id", at=at, id=message.id)
    factories.product(stock=100, sku="MUG", name="Blue mug", price="10", tax_rate="0")
    factories.product(stock=100, sku="HAT", name="Red hat", price="3.33", tax_rate="0")
    for n, at in enumerate(instants[:5]):
        orders.place_order(
            customer_id=customers[n % 2].id,
            lines=[{"sku": "MUG", "quantity": 1 + n}, {"sku": "HAT", "quantity": 3}],
            status="paid" if n != 2 else "pending",
            ordered_at=at.isoformat(),
        )
    db.session.commit()
    dashboards.refresh()
    set_tenant(organization.id, admin.id)
    return {"organization": organization, "admin": admin, "ann": ann, "ben": ben}


def _live_one(sql: str, **params):
    return _sql(sql, **{**months().params, **params}).one()


def test_activity_cards_equal_the_live_counts(app, far):
    with app.test_request_context():
        ann = far["ann"]
        set_tenant(far["organization"].id, ann.id)
        live = _live_one(
            """SELECT count(*) FILTER (WHERE completed_at >= :this_start) AS this,
                      count(*) FILTER (WHERE completed_at < :this_start) AS last
                 FROM activities
                WHERE organization_id = :org AND status = 'completed'
                  AND completed_at >= :last_start"""
        )
        team = team_activity(ann)
        assert (team.value, team.previous) == (live.this, live.last) == (6, 4)
        assert [(row.label, row.value) for row in team.rows] == [("Ann", 3), ("Ben", 3)]
        assert team.as_of is not None
        tasks = my_tasks(ann)
        assert [row.value for row in tasks.rows] == [3, 2]
        mine = _live_one(
            """SELECT count(*) FILTER (WHERE a.completed_at >= :this_start) AS this,
                      count(*) FILTER (WHERE a.completed_at < :this_start) AS last
                 FROM activities a JOIN customers c ON c.id = a.customer_id
                WHERE a.organization_id = :org AND c.owner_id = :user
                  AND a.status = 'completed' AND a.completed_at >= :last_start""",
            user=ann.id,
        )
        accounts = recent_activity(ann)
        assert (accounts.value, accounts.previous) == (mine.this, mine.last) == (5, 3)


def test_support_and_marketing_cards_equal_the_live_figures(app, far):
    with app.test_request_context():
        admin = far["admin"]
        set_tenant(far["organization"].id, admin.id)
        active = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
        breached = (
            f"(first_response_breached OR resolution_breached OR (sla_due_at < :now AND {active}))"
        )
        live = _live_one(
            f"""SELECT count(*) FILTER (WHERE created_at >= :this_start) AS tickets,
                       count(*) FILTER (WHERE created_at >= :this_start AND {breached}) AS breached,
                       count(*) FILTER (WHERE created_at < :this_start) AS tickets_before,
                       count(*) FILTER (WHERE created_at < :this_start AND {breached})
                           AS breached_before
                  FROM tickets WHERE organization_id = :org AND created_at >= :last_start"""
        )
        rate = breach_rate(admin)
        assert rate.value == Decimal(live.breached * 100 / live.tickets).quantize(Decimal("0.1"))
        assert rate.previous == (
            Decimal(live.breached_before * 100 / live.tickets_before).quantize(Decimal("0.1"))
        )
        medians = _live_one(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
                          FILTER (WHERE created_at >= :this_start AND created_at < :next) AS first,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds)
                          FILTER (WHERE created_at < :this_start) AS resolution_before
                 FROM tickets WHERE organization_id = :org AND created_at >= :last_start""",
            next=datetime.combine(months().next_month, time(), months().zone),
        )
        times = response_times(admin)
        assert times.value == (Decimal(medians.first) / 3600).quantize(Decimal("0.1"))
        assert times.rows[1].value == (Decimal(medians.resolution_before) / 3600).quantize(
            Decimal("0.1")
        )
        channels = _sql(
            """SELECT channel, count(*) FILTER (WHERE created_at >= :this_start) AS this
                 FROM tickets WHERE organization_id = :org AND created_at >= :last_start
                GROUP BY channel ORDER BY this DESC, channel""",
            **months().params,
        ).all()
        assert [(r.label.lower(), r.value) for r in by_channel(admin).rows] == [
            tuple(row) for row in channels
        ]
        csat = _live_one(
            """SELECT round(avg(csat_rating), 2) AS rating FROM tickets
                WHERE organization_id = :org AND csat_submitted_at >= :this_start"""
        )
        assert csat_trend(admin).value == csat.rating
        consent = _live_one(
            """SELECT count(*) FILTER (WHERE new_value AND created_at >= :this_start) AS ins,
                      count(*) FILTER (WHERE NOT new_value AND created_at < :this_start) AS outs
                 FROM customer_consent_events
                WHERE organization_id = :org AND channel = 'email'
                  AND created_at >= :last_start"""
        )
        growth = audience_growth(admin)
        assert (growth.rows[0].value, growth.rows[3].value) == (consent.ins, consent.outs)


def test_report_sums_equal_the_live_sums(app, far):
    with app.test_request_context():
        set_tenant(far["organization"].id, far["admin"].id)
        local = months()
        period = reports.Period(local.last_month - timedelta(days=1), local.today)
        since, until = period.bounds()
        bounds = {"org": far["organization"].id, "since": since, "until": until}
        revenue = _sql(
            """SELECT (ordered_at AT TIME ZONE :zone)::date AS day,
                      sum(total - refunded_total) AS revenue
                 FROM orders
                WHERE organization_id = :org AND status = ANY(:purchased)
                  AND ordered_at >= :since AND ordered_at < :until GROUP BY 1""",
            zone=ZONE,
            purchased=list(orders.PURCHASED),
            **bounds,
        ).all()
        by_day = {day: amount for day, amount in reports.revenue_by_day(period) if amount}
        assert by_day == dict(revenue) and len(by_day) >= 3
        products = _sql(
            """SELECT l.sku, max(l.name) AS name, sum(l.quantity - l.returned_quantity) AS units,
                      round(sum(l.line_total * (l.quantity - l.returned_quantity) / l.quantity), 2)
                          AS revenue
                 FROM order_lines l JOIN orders o ON o.id = l.order_id
                WHERE l.organization_id = :org AND o.status = ANY(:purchased)
                  AND o.ordered_at >= :since AND o.ordered_at < :until
                  AND l.quantity > l.returned_quantity
                GROUP BY l.sku ORDER BY revenue DESC, l.sku""",
            purchased=list(orders.PURCHASED),
            **bounds,
        ).all()
        assert [tuple(row) for row in reports.top_products(period)] == [
            tuple(row) for row in products
        ]
        assert [list(row) for row in reports.csv_rows("product-revenue", period)] == [
            list(row) for row in products
        ]
        interactions = _sql(
            """SELECT communication_type, count(*) AS n FROM communications
                WHERE organization_id = :org AND created_at >= :since AND created_at < :until
                GROUP BY 1 ORDER BY n DESC, 1""",
            **bounds,
        ).all()
        assert [n for _name, n in reports.interaction_types(period)] == [
            n for _type, n in interactions
        ]
        assert reports.build(period).as_of is not None


def test_the_views_show_another_organization_nothing(app, far, make_org):
    other, other_admin = make_org(name="Other Co")
    set_tenant(other.id, other_admin.id)
    for view in dashboards.VIEWS:
        assert _sql(f"SELECT count(*) FROM {view}_rows").scalar() == 0, view
    set_tenant(far["organization"].id, far["admin"].id)
    assert _sql("SELECT count(*) FROM activity_months_rows").scalar() > 0


def test_the_campaigns_card_reads_sent_campaigns_from_the_view(app, far):
    with app.test_request_context():
        organization, admin = far["organization"], far["admin"]
        set_tenant(organization.id, admin.id)
        people = [customer.id for customer in factories.customer_rows(organization.id, 3)]
        made = {}
        for name, status in (("Sent one", "sent"), ("Still sending", "sending")):
            made[name] = _sql(
                """INSERT INTO campaigns (organization_id, name, status, topic, from_name,
                          from_address, reply_to, include_segment_ids, exclude_segment_ids,
                          schedule_mode, ab_test_percent, ab_metric, ab_wait_minutes, ab_auto,
                          recipient_count, started_at, finished_at)
                   VALUES (:org, :name, :status, '', 'Us', 'us@example.com', '', '{}', '{}',
                           'now', 0, 'opens', 240, true, 3, now(),
                           CASE WHEN :sent THEN now() END)
                   RETURNING id""",
                org=organization.id,
                name=name,
                status=status,
                sent=status == "sent",
            ).scalar()
            for n, state in enumerate(("sent", "delivered", "failed")):
                _sql(
                    """INSERT INTO campaign_recipients (organization_id, campaign_id, customer_id,
                              email, status, sent_at, opened_at, opens, clicked_at, clicks)
                       VALUES (:org, :campaign, :customer, :email, :state, now(),
                               CASE WHEN :opened THEN now() END, 1, NULL, 0)""",
                    org=organization.id,
                    campaign=made[name],
                    customer=people[n],
                    email=f"r{n}@example.com",
                    state=state,
                    opened=n > 0,
                )
        db.session.commit()
        dashboards.refresh()
        set_tenant(organization.id, admin.id)
        live = recipient_count_by_status(list(made.values()))
        card = campaigns(admin)
        shown = {row.url: (row.value, row.note) for row in card.rows}
        for name, campaign_id in made.items():
            counts = live[campaign_id]
            assert shown[f"/campaigns/{campaign_id}"] == (
                Decimal(counts["opened"] * 100 / counts["sent"]).quantize(Decimal("0.1")),
                f"{counts['sent']} sent, {counts['clicked']} clicked",
            ), name
        assert card.as_of is not None


def test_deals_at_risk_equal_the_live_count(app, far):
    with app.test_request_context():
        organization, manager = far["organization"], far["admin"]
        set_tenant(organization.id, manager.id)
        customer = factories.customer_rows(organization.id, 1)[0].id
        stages = {stage.outcome: stage for stage in pipeline_stages.list_stages()}
        period = months()
        # Dated last month, earlier this month, today and later; touched lately or not.
        for n, close in enumerate(
            (
                period.last_month,
                period.this_month,
                period.today,
                period.today + timedelta(days=3),
                period.next_month + timedelta(days=40),
            )
        ):
            for stale in (False, True):
                deal = factories.deal(
                    customer,
                    str(100 * (n + 1)),
                    stage_id=stages["open"].id,
                    expected_close_date=close,
                )
                if stale:
                    _sql(
                        "UPDATE opportunities SET updated_at = now() - interval '20 days' "
                        "WHERE id = :id",
                        id=deal.id,
                    )
        live = _live_one(
            """SELECT count(*) FILTER (WHERE expected_close_date < :today) AS overdue,
                      count(*) FILTER (WHERE expected_close_date >= :today
                                         AND updated_at < :stale) AS stale,
                      coalesce(sum(amount), 0) AS amount
                 FROM opportunities
                WHERE organization_id = :org AND status = 'open'
                  AND (expected_close_date < :today OR updated_at < :stale)""",
            stale=period.now - timedelta(days=14),
        )
        risk = at_risk(manager)
        assert [row.value for row in risk.rows] == [live.overdue, live.stale, live.amount]
        assert risk.value == live.overdue + live.stale > 0
