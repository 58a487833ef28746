"""Customer value (RFM) recomputed set-based, and the sales analytics page with its exports."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_web.catalog import analytics, customer_value, fulfilment, orders
from crm_web.catalog.customer_value import SEGMENT_LABELS
from crm_web.catalog.models import RFM_SEGMENTS, CustomerValue
from crm_web.db import set_tenant
from crm_web.extensions import db
from tests import factories

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def shop(make_org):
    organization, admin = make_org("Analytics", currency="TRY")
    set_tenant(organization.id, admin.id)
    factories.product(stock=1000, sku="MUG", price="100", tax_rate="0")
    buyers = [factories.customer(organization, first_name=f"Buyer{i}") for i in range(10)]
    set_tenant(organization.id, admin.id)
    return organization, admin, buyers


def _buy(customer, days_ago: int, quantity: int = 1):
    return orders.place_order(
        customer_id=customer.id,
        lines=[{"sku": "MUG", "quantity": quantity}],
        status="paid",
        ordered_at=(NOW - dt.timedelta(days=days_ago)).isoformat(),
    )


def test_rfm_quintiles_and_segments(shop):
    _organization, _admin, buyers = shop
    # Buyer i bought i + 1 times, the last time 30 x (9 - i) days ago: the last buyers are the
    # most recent, frequent and valuable.
    for index, buyer in enumerate(buyers):
        for time in range(index + 1):
            _buy(buyer, days_ago=30 * (9 - index) + time)
    returned = _buy(buyers[0], days_ago=1)
    fulfilment.change_status(returned.id, "returned")
    assert customer_value.recompute(NOW) == 10
    best, worst = customer_value.value_of(buyers[9].id), customer_value.value_of(buyers[0].id)
    assert (best.r_score, best.f_score, best.m_score, best.segment) == (5, 5, 5, "champions")
    assert (worst.r_score, worst.f_score, worst.segment) == (1, 1, "hibernating")
    assert worst.order_count == 1 and worst.monetary == Decimal("100.00")  # the return counts not
    figures, computed = customer_value.segments()
    assert [f.segment for f in figures] == list(RFM_SEGMENTS) and computed == NOW
    assert sum(f.customers for f in figures) == 10
    # A buyer whose only purchase comes back is no buyer any more.
    fulfilment.change_status(
        orders.search_orders(orders.OrderFilters(customer_id=buyers[0].id)).items[-1].id, "returned"
    )
    assert customer_value.recompute(NOW + dt.timedelta(seconds=1)) == 9
    assert customer_value.value_of(buyers[0].id) is None
    assert set(SEGMENT_LABELS) == set(RFM_SEGMENTS)


def test_a_recompute_rewrites_only_the_values_that_changed(shop):
    _organization, _admin, buyers = shop
    # Buyer i bought i + 1 times, the last time 10 x (5 - i) days ago.
    for index, buyer in enumerate(buyers[:5]):
        for time in range(index + 1):
            _buy(buyer, days_ago=10 * (5 - index) + time)
    assert customer_value.recompute(NOW) == 5
    later = NOW + dt.timedelta(hours=1)
    # Nothing changed: no row is written again, yet the run is the latest recompute.
    assert customer_value.recompute(later) == 5
    assert {v.computed_at for v in db.session.scalars(db.select(CustomerValue))} == {NOW}
    assert customer_value.segments()[1] == later
    # A sixth buyer, once and the most recent: the scores they shift are written, the rest stay.
    _buy(buyers[5], days_ago=0)
    assert customer_value.recompute(later) == 6
    db.session.expire_all()
    values = {v.customer_id: v for v in db.session.scalars(db.select(CustomerValue))}
    scores = {
        index: (values[buyers[index].id].r_score, values[buyers[index].id].computed_at)
        for index in (0, 4, 5)
    }
    assert scores == {0: (1, NOW), 4: (4, later), 5: (5, later)}


def test_the_sales_report_compares_with_the_year_before(shop):
    _organization, _admin, buyers = shop
    _buy(buyers[0], days_ago=3, quantity=2)
    _buy(buyers[0], days_ago=40)
    _buy(buyers[1], days_ago=5)
    _buy(buyers[2], days_ago=400, quantity=4)
    report = analytics.sales_report(NOW)
    assert (report.revenue, report.previous_revenue, report.orders) == (
        Decimal("400.00"),
        Decimal("400.00"),
        3,
    )
    assert (report.buyers, report.repeat_buyers, report.repeat_rate) == (2, 1, Decimal("50.0"))
    assert report.growth == Decimal("0.0") and report.average_order == Decimal("133.33")
    assert [(row.sku, row.units) for row in report.products] == [("MUG", 4)]
    assert len(report.months) == 12 and report.months[-1].start.day == 1


def test_the_page_and_its_csv_for_sales_not_support(client, shop, make_user, login_as):
    organization, _admin, buyers = shop
    _buy(buyers[0], days_ago=3, quantity=2)
    customer_value.recompute(NOW)
    db.session.commit()
    login_as(make_user(organization, role="sales"))
    page = client.get("/analytics/sales").get_data(as_text=True)
    assert "TRY\u00a0200.00" in page
    # One buyer is every quintile's lowest.
    assert "Buyer0" in page.split('id="sales-customers"')[1] and "Hibernating" in page
    csv = client.get("/analytics/sales.csv?table=products").get_data(as_text=True)
    assert csv.splitlines()[0] == "\ufeffsku,product,units,revenue"
    assert csv.splitlines()[1] == "MUG,Blue mug,2,200.00"
    assert client.get("/analytics/sales.csv?table=nope").status_code == 404
    login_as(make_user(organization, role="support"))
    assert client.get("/analytics/sales").status_code == 403
