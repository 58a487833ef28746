"""Role dashboards: each role's cards against hand-computed rows, the card fragments, tenant
isolation, the activity feed and the materialized views' refresh."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from crm_web.dashboard import registry
from crm_web.dashboard import services as dashboards
from crm_web.dashboard.admin_cards import operations
from crm_web.dashboard.feed import events
from crm_web.dashboard.figures import months
from crm_web.dashboard.sales_cards import (
    at_risk,
    closing_this_month,
    forecast_vs_target,
    my_pipeline,
    my_tasks,
    team_win_rate,
    win_rate,
)
from crm_web.dashboard.support_cards import breach_rate, by_channel, csat_trend, my_queue
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline import stages as pipeline_stages
from tests import factories


def _sql(statement: str, **params) -> None:
    db.session.execute(text(statement), params)


@pytest.fixture
def shop(make_org, make_user):
    """Sid sells: 3 open deals (1000, 2000 closing this month at 50 %, 500 dated last month),
    2 won and 1 lost this month, 1 won and 1 lost last month; Sue supports: 3 tickets."""
    organization, admin = make_org(name="Dash Co", currency="TRY")
    manager = make_user(organization, role="manager", name="Meg Manager")
    seller = make_user(organization, role="sales", name="Sid Seller")
    agent = make_user(organization, role="support", name="Sue Support")
    marketer = make_user(organization, role="marketing", name="Mo Marketer")
    set_tenant(organization.id, seller.id)
    period = months()
    customers = factories.customer_rows(organization.id, 2)
    _sql(
        "UPDATE customers SET owner_id = :seller WHERE id = ANY(:ids)",
        seller=seller.id,
        ids=[c.id for c in customers],
    )
    stages = {stage.name: stage for stage in pipeline_stages.list_stages()}
    open_stage = next(s for s in stages.values() if s.outcome == "open")
    won_stage = next(s for s in stages.values() if s.outcome == "won")
    lost_stage = next(s for s in stages.values() if s.outcome == "lost")

    def deal(amount, close, **fields):
        return factories.deal(
            customers[0].id,
            amount,
            owner_id=seller.id,
            stage_id=open_stage.id,
            expected_close_date=close,
            **fields,
        )

    far = period.next_month + timedelta(days=40)
    deal("1000", far, probability=Decimal("10"))
    deal("2000", period.this_month + timedelta(days=1), probability=Decimal("50"))
    stale = deal("500", period.last_month + timedelta(days=2), probability=Decimal("20"))
    this_close = period.this_start + timedelta(minutes=5)
    last_close = period.last_start + timedelta(days=1)
    closed = [
        ("won", "3000", this_close),
        ("won", "1000", this_close),
        ("lost", "700", this_close),
        ("won", "400", last_close),
        ("lost", "100", last_close),
    ]
    for status, amount, at in closed:
        made = deal(amount, far)
        _sql(
            """UPDATE opportunities SET status = :status, stage_id = :stage, closed_at = :at,
                      created_at = :created WHERE id = :id""",
            status=status,
            stage=(won_stage if status == "won" else lost_stage).id,
            at=at,
            created=at - timedelta(days=10),
            id=made.id,
        )
    _sql(
        "UPDATE opportunities SET updated_at = now() - interval '30 days' WHERE id = :id",
        id=stale.id,
    )
    # Tasks: one overdue, one later today (or just after now), one completed this month.
    on = {"assigned_to_id": seller.id, "customer_id": customers[1].id}
    factories.activity(**on, due_at=datetime.now(UTC) - timedelta(hours=2))
    factories.activity(**on, due_at=datetime.now(UTC) + timedelta(seconds=5))
    done = factories.activity(
        assigned_to_id=seller.id, customer_id=customers[0].id, subject="Kick-off call"
    )
    _sql(
        "UPDATE activities SET status = 'completed', completed_at = now() WHERE id = :id",
        id=done.id,
    )
    # Support: three tickets for Sue (routing gives her the third); one by phone, breached.
    first = factories.ticket(organization, user=agent, channel="phone", assignee_id=agent.id)
    second = factories.ticket(organization, user=agent, channel="email", assignee_id=agent.id)
    third = factories.ticket(organization, user=agent, channel="email")
    set_tenant(organization.id, agent.id)
    _sql(
        """UPDATE tickets SET first_response_breached = true, first_response_seconds = 7200,
                  csat_rating = 4, csat_submitted_at = now() WHERE id = :id""",
        id=first.id,
    )
    _sql(
        """UPDATE tickets SET first_response_seconds = 1800, csat_rating = 5,
                  csat_submitted_at = now() WHERE id = :id""",
        id=second.id,
    )
    _sql("UPDATE tickets SET first_response_seconds = 3600 WHERE id = :id", id=third.id)
    db.session.commit()
    dashboards.refresh()
    set_tenant(organization.id, seller.id)
    return {
        "organization": organization,
        "admin": admin,
        "manager": manager,
        "seller": seller,
        "agent": agent,
        "marketer": marketer,
    }


def test_every_role_has_its_cards_and_the_feed():
    keys = {role: [c.key for c in registry.cards_for([role])] for role in registry.ROLE_DASHBOARDS}
    assert keys["sales"][:2] == ["my_pipeline", "closing"] and "win_rate" in keys["sales"]
    assert {"team_pipeline", "forecast", "quotes_waiting", "at_risk"} <= set(keys["manager"])
    assert {"my_queue", "breaching", "breach_rate", "csat", "channels"} <= set(keys["support"])
    assert {"campaigns", "audience", "segments", "campaign_roi"} <= set(keys["marketing"])
    assert {"operations", "system_health"} <= set(keys["admin"])
    assert all(keys[role][-1] == "feed" for role in keys)
    # Several roles: the union, each card once.
    both = [c.key for c in registry.cards_for(["sales", "support"])]
    assert len(both) == len(set(both)) and {"my_pipeline", "my_queue"} <= set(both)


def test_sales_figures(app, shop):
    seller = shop["seller"]
    with app.test_request_context():
        set_tenant(shop["organization"].id, seller.id)
        pipeline = my_pipeline(seller)
        assert pipeline.value == Decimal("3500.00")
        assert pipeline.rows[0].value == Decimal("1200.00")  # 100 + 1000 + 100
        closing = closing_this_month(seller)
        assert (closing.value, closing.previous) == (1, 1)
        assert closing.rows[0].value == Decimal("2000.00")
        tasks = my_tasks(seller)
        assert tasks.caption.startswith("1 overdue")
        assert tasks.rows[0].value == 1
        rate = win_rate(seller)
        # 2 of 3 this month, 1 of 2 last month.
        assert (rate.value, rate.previous) == (Decimal("66.7"), Decimal("50.0"))
        assert rate.rows[0].value == Decimal("4000.00") and rate.as_of is not None
        assert team_win_rate(seller).value == Decimal("66.7")


def test_manager_figures(app, shop):
    with app.test_request_context():
        set_tenant(shop["organization"].id, shop["manager"].id)
        forecast = forecast_vs_target(shop["manager"])
        # Won this month 4000 + the open deal closing this month at 50 % (1000).
        assert forecast.value == Decimal("5000.00")
        assert "No target" in forecast.note
        _sql(
            "INSERT INTO sales_targets (organization_id, month, amount) VALUES (:org, :m, 10000)",
            org=shop["organization"].id,
            m=months().this_month,
        )
        with_target = forecast_vs_target(shop["manager"])
        assert with_target.rows[1].value == Decimal("50.0") and not with_target.note
        risk = at_risk(shop["manager"])
        # The 2000 deal dated the 2nd of this month and the 500 one dated last month.
        if months().today.day > 2:
            assert risk.value == 2 and risk.rows[2].value == Decimal("2500.00")


def test_support_figures(app, shop):
    agent = shop["agent"]
    with app.test_request_context():
        set_tenant(shop["organization"].id, agent.id)
        assert my_queue(agent).value == 3
        rate = breach_rate(agent)
        assert rate.value == Decimal("33.3")
        channels = by_channel(agent)
        assert channels.value == 3 and [(r.label, r.value) for r in channels.rows] == [
            ("Email", 2),
            ("Phone", 1),
        ]
        assert csat_trend(agent).value == Decimal("4.50")


def test_operations_and_tenant_isolation(app, shop, make_org):
    with app.test_request_context():
        set_tenant(shop["organization"].id, shop["admin"].id)
        figure = operations(shop["admin"])
        rows = {row.label: row.value for row in figure.rows}
        assert rows["Deals won"] == 3 and rows["Revenue won"] == Decimal("4400.00")
        assert rows["Open tickets"] == 3 and rows["Average CSAT"] == Decimal("4.5")
        # 4.5 / 5 * 25 + 30 (won) + 10 (no resolution yet) + 0 (no campaign sent)
        assert figure.value == Decimal("62.5")
        other, other_admin = make_org(name="Other Co")
        set_tenant(other.id, other_admin.id)
        assert operations(other_admin).value is None  # not refreshed since it was made
        assert win_rate(other_admin).value is None
        assert db.session.execute(text("SELECT count(*) FROM sales_dashboard_rows")).scalar() == 0


def test_the_feed_shows_business_events_not_sign_ins(app, shop):
    with app.test_request_context():
        set_tenant(shop["organization"].id, shop["seller"].id)
        found = events()
        assert [e.kind for e in found] == ["won", "won", "won"]
        assert found[0].amount in (Decimal("3000.00"), Decimal("1000.00"))


def test_each_role_page_and_card_fragments(client, shop, login_as):
    for role, key, expected in (
        ("seller", "my_pipeline", "TRY\u00a03,500.00"),
        ("manager", "forecast", "TRY\u00a05,000.00"),
        ("agent", "my_queue", 'data-value="3"'),
        ("admin", "operations", "62.5"),
        ("marketer", "campaigns", 'data-value="0"'),
    ):
        login_as(shop[role])
        page = client.get("/").get_data(as_text=True)
        assert f'hx-get="/dashboard/cards/{key}"' in page and 'hx-trigger="load"' in page
        assert 'hx-get="/dashboard/cards/feed"' in page
        fragment = client.get(f"/dashboard/cards/{key}", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        body = fragment.get_data(as_text=True)
        assert expected in body and "<html" not in body, (role, body[:800])
        assert (
            client.get("/dashboard/cards/feed", headers={"HX-Request": "true"}).status_code == 200
        )
    # A card of another role's dashboard is not found.
    login_as(shop["agent"])
    assert client.get("/dashboard/cards/my_pipeline").status_code == 404


def test_refresh_runs_while_the_dashboard_is_read(app, shop):
    """CONCURRENTLY: a refresh waits for no reader and leaves the previous rows readable."""
    set_tenant(shop["organization"].id, shop["seller"].id)
    before = db.session.execute(text("SELECT sum(won_count) FROM sales_dashboard_rows")).scalar()
    assert before == 3
    assert set(dashboards.refresh()) == set(dashboards.VIEWS)
    set_tenant(shop["organization"].id, shop["seller"].id)
    after = db.session.execute(text("SELECT sum(won_count) FROM sales_dashboard_rows")).scalar()
    assert after == 3
