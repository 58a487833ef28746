"""The reports page (seed 003's five charts) and its four CSV reports, parsed back; the
dashboard's JSON API."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from crm_web.catalog import customer_value, orders
from crm_web.communications.services import log_communication
from crm_web.dashboard import services as dashboards
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.reports import services as reports
from tests import factories

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def shop(make_org):
    organization, admin = make_org("Reports Co", currency="TRY")
    set_tenant(organization.id, admin.id)
    factories.product(stock=1000, sku="MUG", name="Blue mug", price="100", tax_rate="0")
    factories.product(stock=1000, sku="HAT", name="Red hat", price="30", tax_rate="0")
    ada = factories.customer(organization, first_name="Ada", last_name="Buyer")
    bob = factories.customer(organization, first_name="=cmd", last_name="Formula")
    set_tenant(organization.id, admin.id)
    factories.customer_rows(organization.id, 1, name="Widgets Ltd")
    for customer, lines, days_ago in (
        (ada, [{"sku": "MUG", "quantity": 2}], 1),
        (ada, [{"sku": "HAT", "quantity": 1}], 2),
        (bob, [{"sku": "MUG", "quantity": 1}], 3),
        (bob, [{"sku": "MUG", "quantity": 5}], 60),  # before the period
    ):
        orders.place_order(
            customer_id=customer.id,
            lines=lines,
            status="paid",
            ordered_at=(NOW - dt.timedelta(days=days_ago)).isoformat(),
        )
    log_communication(ada.id, communication_type="call", direction="outbound", subject="Hi")
    log_communication(ada.id, communication_type="call", direction="inbound", subject="Back")
    log_communication(bob.id, communication_type="email", direction="outbound", subject="Offer")
    customer_value.recompute(NOW)
    db.session.commit()
    dashboards.refresh()
    set_tenant(organization.id, admin.id)
    return organization, admin, ada, bob


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_five_charts_from_hand_computed_rows(app, shop):
    with app.test_request_context():
        report = reports.build(reports.parse_period({}))
        assert [chart.title for chart in report.charts] == [
            "Customers by type",
            "Revenue by day",
            "Top customers by lifetime value",
            "Interactions by type",
            "Top products by revenue",
        ]
        assert report.tables["types"] == [("Person", 2), ("Company", 1)]
        revenue = report.tables["revenue"]
        assert len(revenue) == 30 and sum(amount for _day, amount in revenue) == Decimal("330.00")
        assert report.tables["interactions"] == [("Call", 2), ("Email", 1)]
        assert [(row.sku, row.units, row.revenue) for row in report.tables["products"]] == [
            ("MUG", 3, Decimal("300.00")),
            ("HAT", 1, Decimal("30.00")),
        ]
        # Lifetime value counts every order, the one before the period too.
        top = report.tables["customers"]
        assert [(row.name, row.monetary) for row in top] == [
            ("=cmd Formula", Decimal("600.00")),
            ("Ada Buyer", Decimal("230.00")),
        ]


def test_a_bad_period_is_a_field_error(app, shop):
    with pytest.raises(reports.ValidationError) as raised:
        reports.parse_period({"from": "2026-02-30"})
    assert "from" in raised.value.fields
    with pytest.raises(reports.ValidationError):
        reports.parse_period({"from": "2026-05-02", "to": "2026-05-01"})


def test_the_page_and_the_four_csv_reports_parse_back(client, shop, make_user, login_as):
    organization, admin, ada, bob = shop
    login_as(admin)
    page = client.get("/reports")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Top products by revenue" in body and "TRY\u00a0300.00" in body
    customers = _csv(client.get("/reports/customers.csv"))
    assert customers[0] == list(reports.CSV_HEADERS["customers"])
    by_name = {row[1]: row for row in customers[1:]}
    assert "Ada Buyer" in by_name, customers
    assert by_name["Ada Buyer"][7:] == ["2", "230.00"]
    # A name a spreadsheet would run is disarmed by the one CSV writer.
    assert "'=cmd Formula" in by_name and by_name["Widgets Ltd"][2] == "company"
    interactions = _csv(client.get("/reports/interactions.csv"))
    assert [row[3] for row in interactions[1:]] == ["call", "call", "email"]
    products = _csv(client.get("/reports/product-revenue.csv"))
    assert products[1:] == [["MUG", "Blue mug", "3", "300.00"], ["HAT", "Red hat", "1", "30.00"]]
    pipeline = _csv(client.get("/reports/pipeline.csv"))
    assert pipeline[0][0] == "opportunity_number" and len(pipeline) == 1
    assert client.get("/reports/nope.csv").status_code == 404
    # Sellers read reports but may not take the whole customer base.
    login_as(make_user(organization, role="sales"))
    assert client.get("/reports").status_code == 200
    assert client.get("/reports/customers.csv").status_code == 403
    login_as(make_user(organization, role="support"))
    assert client.get("/reports").status_code == 403


def test_the_dashboard_api(client, shop):
    organization, admin, _ada, _bob = shop
    answer = client.get("/api/v1/crm/dashboard/", headers=factories.bearer(admin))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["dashboards"] == ["admin"] and body["next_cursor"] is None
    cards = {item["key"]: item["figure"] for item in body["items"]}
    operations = {row["label"]: row["value"] for row in cards["operations"]["rows"]}
    assert operations["Customers"] == 3 and cards["operations"]["as_of"]
    assert cards["feed"]["rows"] == []
