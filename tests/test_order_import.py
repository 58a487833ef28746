"""CSV import of orders on the shared machinery: one order per reference with its lines, each
order whole or not at all, the stock guard's refusals reported row by row (in the dry run too),
references imported before skipped."""

from decimal import Decimal

import import_helpers
import pytest
from import_helpers import check, run, upload_dir  # noqa: F401
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.catalog import products
from crm_web.catalog.models import Order
from crm_web.db import set_tenant
from crm_web.extensions import db
from tests import factories

HEADER = ["Sipariş no", "Müşteri kodu", "Stok kodu", "Adet", "Birim fiyat", "Durum", "Tarih"]


def csv_bytes(rows, header=HEADER) -> bytes:
    return import_helpers.csv_bytes(rows, header)


@pytest.fixture
def shop(make_org):
    organization, admin = import_helpers.importer(make_org, "Order Importer")
    customer = factories.customer(organization, first_name="Ayşe")
    set_tenant(organization.id, admin.id)
    mug = factories.product(stock=5, sku="MUG", price="100", tax_rate="20")
    tea = factories.product(stock=3, sku="TEA", price="30", tax_rate="10")
    return organization, customer, mug, tea


upload = import_helpers.uploader("orders", "siparisler.csv")


def _orders(organization_id: int) -> dict[str, Order]:
    found = db.session.scalars(
        select(Order)
        .where(Order.organization_id == organization_id)
        .execution_options(populate_existing=True)
    )
    return {order.external_ref: order for order in found}


def _stock(product) -> int:
    db.session.expire_all()
    return products.get_product(product.id).stock_on_hand


def test_lines_grouped_by_reference_and_stock_refusals_per_row(shop):
    organization, customer, mug, tea = shop
    code = customer.customer_code
    data = csv_bytes(
        [
            ["W-1", code, "mug", "2", "", "paid", "2026-01-05 10:00"],
            ["W-1", code, "TEA", "1", "25,00", "paid", "2026-01-05 10:00"],
            ["W-2", code, "MUG", "4", "", "", ""],  # 3 left after W-1: refused whole
            ["W-2", code, "TEA", "1", "", "", ""],
            ["W-3", code, "TEA", "2", "", "pending", ""],
            ["W-4", "CUS-NOPE", "MUG", "1", "", "", ""],
            ["W-4", code, "TEA", "1", "", "", ""],  # its order has a bad row
            ["W-5", code, "MUG", "1", "", "paid", ""],
            ["W-5", code, "MUG", "1", "", "pending", ""],  # disagrees on the status
        ]
    )
    job = check(upload(data))
    assert job.status == "checked", job.message
    rejects = import_helpers.rejects(job)
    # The dry run tried the stock: W-2's rows are refused there already, and nothing stays.
    assert set(rejects) == {4, 5, 7, 8, 9, 10}
    assert "Only 3 of MUG in stock; 4 asked." in rejects[4][1] and "W-2" in rejects[5][1]
    assert "Customer code: No customer has this code." in rejects[7][1]
    assert "Row 7 of order W-4" in rejects[8][1]
    assert "different values of Status" in rejects[9][1]
    assert job.report["create"] == 3 and job.report["reject"] == 6
    assert _orders(organization.id) == {} and _stock(mug) == 5

    job = run(job)
    assert job.status == "imported", job.message
    assert job.report["created"] == 2 and set(import_helpers.rejects(job)) == set(rejects)
    orders = _orders(organization.id)
    assert set(orders) == {"W-1", "W-3"}
    first = orders["W-1"]
    assert [(line.sku, line.quantity, line.unit_price) for line in first.lines] == [
        ("MUG", 2, Decimal("100.00")),
        ("TEA", 1, Decimal("25.00")),
    ]
    # 200 + 40 tax; 25 + 2.50 tax
    assert (first.subtotal, first.tax_total, first.total) == (
        Decimal("225.00"),
        Decimal("42.50"),
        Decimal("267.50"),
    )
    assert first.status == "paid" and first.paid_at == first.ordered_at
    assert first.ordered_at.isoformat().startswith("2026-01-05T07:00")  # Istanbul, UTC+3
    assert orders["W-3"].status == "pending" and orders["W-3"].customer_id == customer.id
    assert first.order_number != orders["W-3"].order_number
    assert (_stock(mug), _stock(tea)) == (3, 0)


def test_references_imported_before_are_skipped_and_email_names_the_customer(shop):
    organization, customer, mug, _tea = shop
    header = ["Order reference", "Customer email", "SKU", "Quantity"]
    data = csv_bytes([["S-1", customer.primary_email.upper(), "MUG", "1"]], header=header)
    assert run(check(upload(data))).report["created"] == 1
    again = check(upload(data))
    assert again.report["skip"] == 1 and again.report["create"] == 0
    assert "Already imported as order ORD-" in import_helpers.rejects(again)[2][1]
    assert len(_orders(organization.id)) == 1 and _stock(mug) == 4


def test_a_mapping_without_reference_customer_or_in_update_mode_is_refused(shop):
    job = upload(csv_bytes([["MUG", "1"]], header=["SKU", "Quantity"]))
    with pytest.raises(Exception, match="Order reference"):
        check(job, mapping=["sku", "quantity"])
    job = upload(csv_bytes([["S-1", "MUG"]], header=["Order reference", "SKU"]))
    with pytest.raises(Exception, match="Customer code"):
        check(job, mapping=["external_ref", "sku"])
    job = upload(csv_bytes([["S-1", "x@example.com", "MUG"]], header=["Ref", "Email", "SKU"]))
    with pytest.raises(Exception, match="cannot be changed"):
        check(job, mapping=["external_ref", "primary_email", "sku"], mode="update")


def test_the_orders_page_links_the_same_import_pages(shop, client, login_as):
    organization, _customer, _mug, _tea = shop
    login_as(db.session.scalar(select(User).where(User.organization_id == organization.id)))
    assert 'id="import-orders"' in client.get("/orders").get_data(as_text=True)
    page = client.get("/imports/orders/new")
    assert page.status_code == 200 and "Import orders from a CSV file" in page.get_data(
        as_text=True
    )
