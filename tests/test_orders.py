"""Orders: placing them (the stock guard), totals, status, cancellation and returns with restock;
their pages and API."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from crm_web.catalog import fulfilment, orders, products, stock
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from tests import factories


@pytest.fixture
def shop(make_org):
    organization, admin = make_org("Shop", currency="TRY")
    set_tenant(organization.id, admin.id)
    customer = factories.customer(organization, first_name="Ayşe", last_name="Yılmaz")
    set_tenant(organization.id, admin.id)
    mug = factories.product(stock=10, sku="MUG", price="100", tax_rate="20")
    tea = factories.product(stock=5, sku="TEA", price="30.50", tax_rate="10")
    return organization, admin, customer, mug, tea


def _stock(product_id: int) -> int:
    db.session.expire_all()
    return products.get_product(product_id).stock_on_hand


def _count(table: str) -> int:
    return db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_an_order_takes_its_stock_and_adds_up_exactly(shop):
    _organization, _admin, customer, mug, tea = shop
    order = orders.place_order(
        customer_id=customer.id,
        lines=[
            {"sku": "mug", "quantity": "3", "discount_percent": "10"},
            {"product_id": tea.id, "quantity": 2},
        ],
    )
    assert order.order_number.startswith("ORD-") and order.currency == "TRY"
    # 3 x 100 less 10 % = 270.00 + 20 % tax 54.00; 2 x 30.50 = 61.00 + 10 % tax 6.10
    assert [(line.net_amount, line.tax_amount, line.line_total) for line in order.lines] == [
        (Decimal("270.00"), Decimal("54.00"), Decimal("324.00")),
        (Decimal("61.00"), Decimal("6.10"), Decimal("67.10")),
    ]
    assert (order.subtotal, order.tax_total, order.total) == (
        Decimal("331.00"),
        Decimal("60.10"),
        Decimal("391.10"),
    )
    assert (_stock(mug.id), _stock(tea.id)) == (7, 3)
    sales = stock.movements(mug.id).items
    assert (sales[0].kind, sales[0].quantity, sales[0].order_id) == ("sale", -3, order.id)


def test_a_line_beyond_the_stock_refuses_the_whole_order_and_names_the_line(shop):
    _organization, _admin, customer, mug, tea = shop
    before = (_count("orders"), _count("order_lines"), _count("stock_movements"))
    with pytest.raises(stock.OutOfStock) as refused:
        orders.place_order(
            customer_id=customer.id,
            lines=[{"sku": "MUG", "quantity": 2}, {"sku": "TEA", "quantity": 6}],
        )
    assert refused.value.fields == {"lines-1-quantity": "Only 5 of TEA in stock; 6 asked."}
    assert (_count("orders"), _count("order_lines"), _count("stock_movements")) == before
    assert (_stock(mug.id), _stock(tea.id)) == (10, 5)


def test_bad_lines_and_terms_are_refused_with_field_messages(shop):
    _organization, _admin, customer, _mug, _tea = shop
    with pytest.raises(ValidationError) as refused:
        orders.place_order(
            customer_id=customer.id,
            lines=[
                {"sku": "MUG", "quantity": "-2"},
                {"sku": "NOPE", "quantity": 1},
                {"sku": "TEA", "quantity": 1, "discount_percent": "150"},
            ],
            channel="fax",
            ordered_at="2999-01-01T00:00:00+00:00",
        )
    assert refused.value.fields == {
        "lines-0-quantity": "Enter a whole number from 1 to 100000.",
        "lines-1-sku": "No product with this SKU.",
        "lines-2-discount_percent": "Enter a number from 0 to 100.",
        "channel": "Choose one of: store, online, phone.",
        "ordered_at": "An order cannot be placed in the future.",
    }
    with pytest.raises(ValidationError, match="correct"):
        orders.place_order(customer_id=customer.id, lines=[])


def test_a_shop_reference_is_taken_once(shop):
    _organization, _admin, customer, _mug, _tea = shop
    first = orders.place_order(
        customer_id=customer.id, lines=[{"sku": "MUG"}], external_ref="shop-1", status="paid"
    )
    assert first.status == "paid" and first.paid_at is not None
    with pytest.raises(Conflict, match=first.order_number):
        orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG"}], external_ref="shop-1")


def test_the_status_flow_and_a_cancellation_that_restocks(shop):
    _organization, _admin, customer, mug, _tea = shop
    order = orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG", "quantity": 4}])
    with pytest.raises(Conflict, match="cannot become Shipped"):
        fulfilment.change_status(order.id, "shipped")
    fulfilment.change_status(order.id, "paid", payment_method="card")
    assert _stock(mug.id) == 6
    cancelled = fulfilment.change_status(order.id, "cancelled", reason="Changed their mind")
    assert cancelled.status == "cancelled"
    assert cancelled.refunded_total == cancelled.total
    assert _stock(mug.id) == 10
    assert stock.movements(mug.id).items[0].kind == "cancellation"
    with pytest.raises(Conflict):
        fulfilment.change_status(order.id, "paid")


def test_a_partial_return_restocks_and_refunds_its_share_then_the_rest_closes_the_order(shop):
    _organization, _admin, customer, mug, tea = shop
    order = orders.place_order(
        customer_id=customer.id,
        lines=[{"sku": "MUG", "quantity": 3}, {"sku": "TEA", "quantity": 1}],
        status="paid",
    )
    mug_line, tea_line = order.lines
    first = fulfilment.return_items(order.id, {mug_line.id: 1}, reason="Chipped")
    assert first.refund_amount == Decimal("120.00")  # one of three 360.00
    assert _stock(mug.id) == 8
    with pytest.raises(ValidationError) as too_many:
        fulfilment.return_items(order.id, {mug_line.id: 3})
    assert too_many.value.fields == {
        f"return-{mug_line.id}": "Between 0 and 2 of MUG can come back."
    }
    damaged = fulfilment.return_items(order.id, {tea_line.id: 1}, restock=False)
    assert damaged.restocked is False and _stock(tea.id) == 4
    last = fulfilment.change_status(order.id, "returned")
    assert last.status == "returned"
    assert last.refunded_total == last.total
    assert _stock(mug.id) == 10


def test_a_pending_order_takes_no_return(shop):
    _organization, _admin, customer, _mug, _tea = shop
    order = orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG"}])
    with pytest.raises(Conflict, match="only paid, shipped or delivered"):
        fulfilment.return_items(order.id, {order.lines[0].id: 1})


def test_orders_are_listed_by_filters_newest_first(shop):
    _organization, _admin, customer, _mug, _tea = shop
    placed = [
        orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG"}], channel=channel)
        for channel in ("store", "online", "online")
    ]
    online = orders.search_orders(orders.OrderFilters(channel="online"))
    assert [o.id for o in online.items] == [placed[2].id, placed[1].id]
    by_number = orders.search_orders(orders.OrderFilters(q=placed[0].order_number.lower()))
    assert [o.id for o in by_number.items] == [placed[0].id]
    by_code = orders.search_orders(orders.OrderFilters(q=customer.customer_code))
    assert len(by_code.items) == 3
    first = orders.search_orders(orders.OrderFilters(), limit=2)
    rest = orders.search_orders(orders.OrderFilters(), cursor=first.next_cursor, limit=2)
    assert [o.id for o in first.items + rest.items] == [o.id for o in reversed(placed)]


# Pages


def test_a_seller_places_an_order_and_an_over_stock_line_is_shown_on_its_line(
    client, shop, make_user, login_as
):
    organization, _admin, customer, _mug, _tea = shop
    db.session.commit()
    seller = make_user(organization, role="sales")
    login_as(seller)
    page = client.get(f"/orders/new?customer={customer.customer_code}").get_data(as_text=True)
    assert customer.customer_code in page
    data = {
        "customer": customer.customer_code,
        "channel": "store",
        "status": "pending",
        "payment_method": "",
        "lines-0-sku": "TEA",
        "lines-0-quantity": "9",
        "lines-1-sku": "MUG",
        "lines-1-quantity": "-1",
    }
    refused = client.post("/orders/new", data=data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Only 5 of TEA in stock; 9 asked." not in html  # the bad quantity is caught first
    assert "Enter a whole number from 1 to 100000." in html
    data["lines-1-quantity"] = "1"
    over = client.post("/orders/new", data=data, headers={"HX-Request": "true"})
    assert over.status_code == 422
    assert 'id="lines-0-quantity-error">Only 5 of TEA in stock; 9 asked.' in over.get_data(
        as_text=True
    )
    data["lines-0-quantity"] = "2"
    placed = client.post("/orders/new", data=data)
    assert placed.status_code == 303
    order_page = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Mark paid" in order_page and "TEA" in order_page


def test_an_unknown_customer_is_a_field_error(client, shop, login_as):
    _organization, admin, _customer, _mug, _tea = shop
    login_as(admin)
    response = client.post(
        "/orders/new",
        data={
            "customer": "CUS-999999",
            "channel": "store",
            "status": "pending",
            "payment_method": "",
            "lines-0-sku": "MUG",
        },
    )
    assert response.status_code == 422
    assert "No customer has the code or email CUS-999999." in response.get_data(as_text=True)


def test_status_and_returns_from_the_order_page(client, shop, make_user, login_as):
    organization, _admin, customer, mug, _tea = shop
    order = orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG", "quantity": 2}])
    db.session.commit()
    support = make_user(organization, role="support")
    login_as(support)
    assert client.post(f"/orders/{order.id}/status", data={"status": "paid"}).status_code == 403
    clear_tenant()
    login_as(make_user(organization, role="sales"))
    paid = client.post(
        f"/orders/{order.id}/status", data={"status": "paid", "payment_method": "cash"}
    )
    assert paid.status_code == 303
    line_id = order.lines[0].id
    bad = client.post(
        f"/orders/{order.id}/returns",
        data={f"return-{line_id}": "5", "restock": "y"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert "Between 0 and 2 of MUG can come back." in bad.get_data(as_text=True)
    good = client.post(
        f"/orders/{order.id}/returns", data={f"return-{line_id}": "1", "restock": "y"}
    )
    assert good.status_code == 303
    set_tenant(organization.id)
    assert _stock(mug.id) == 9


# API


def test_the_orders_api(client, shop, make_org):
    organization, admin, customer, mug, _tea = shop
    headers = factories.bearer(admin)
    created = client.post(
        "/api/v1/crm/orders/",
        json={
            "customer_id": customer.id,
            "lines": [{"sku": "MUG", "quantity": 2, "unit_price": "90"}],
            "status": "paid",
            "payment_method": "card",
            "channel": "online",
            "external_ref": "woo-1001",
            "ordered_at": "2026-01-05T10:00:00+03:00",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["total"], body["status"], body["lines"][0]["unit_price"]) == (
        "216.00",
        "paid",
        "90.00",
    )
    again = client.post(
        "/api/v1/crm/orders/",
        json={"customer_id": customer.id, "lines": [{"sku": "MUG"}], "external_ref": "woo-1001"},
        headers=headers,
    )
    assert again.status_code == 409
    over = client.post(
        "/api/v1/crm/orders/",
        json={"customer_id": customer.id, "lines": [{"product_id": mug.id, "quantity": 99}]},
        headers=headers,
    )
    assert over.status_code == 422
    assert over.json["fields"] == {"lines-0-quantity": "Only 8 of MUG in stock; 99 asked."}
    not_a_customer = client.post(
        "/api/v1/crm/orders/", json={"customer_id": "1", "lines": []}, headers=headers
    )
    assert not_a_customer.status_code == 422 and "customer_id" in not_a_customer.json["fields"]

    order_id = body["id"]
    shipped = client.put(
        f"/api/v1/crm/orders/{order_id}/status/", json={"status": "shipped"}, headers=headers
    )
    assert shipped.json["status"] == "shipped"
    returned = client.post(
        f"/api/v1/crm/orders/{order_id}/returns/",
        json={"lines": [{"line_id": body["lines"][0]["id"], "quantity": 1}], "reason": "Too big"},
        headers=headers,
    )
    assert returned.status_code == 201 and returned.json["refund_amount"] == "108.00"
    read = client.get(f"/api/v1/crm/orders/{order_id}/", headers=headers).json
    assert read["refunded_total"] == "108.00" and len(read["returns"]) == 1
    listing = client.get(f"/api/v1/crm/orders/?customer_id={customer.id}", headers=headers).json
    assert [o["id"] for o in listing["items"]] == [order_id]

    other, other_admin = make_org("Elsewhere")
    other_headers = factories.bearer(other_admin)
    assert client.get(f"/api/v1/crm/orders/{order_id}/", headers=other_headers).status_code == 404
    assert (
        client.put(
            f"/api/v1/crm/orders/{order_id}/status/",
            json={"status": "cancelled"},
            headers=other_headers,
        ).status_code
        == 404
    )
    stolen = client.post(
        "/api/v1/crm/orders/",
        json={"customer_id": customer.id, "lines": [{"sku": "MUG"}]},
        headers=other_headers,
    )
    assert stolen.status_code == 422 and "customer_id" in stolen.json["fields"]


def test_the_customer_page_shows_what_they_bought(client, shop, login_as):
    """Lifetime value, order count, average and last purchase count paid orders after refunds;
    a pending or cancelled order counts for nothing."""
    _organization, admin, customer, _mug, _tea = shop
    kept = orders.place_order(
        customer_id=customer.id, lines=[{"sku": "MUG", "quantity": 2}], status="paid"
    )
    part = orders.place_order(customer_id=customer.id, lines=[{"sku": "TEA"}], status="paid")
    fulfilment.return_items(part.id, {part.lines[0].id: 1})  # wholly returned
    orders.place_order(customer_id=customer.id, lines=[{"sku": "MUG"}])  # pending
    purchases = orders.customer_purchases(customer.id)
    assert (purchases.lifetime_value, purchases.order_count) == (Decimal("240.00"), 1)
    assert purchases.average_order == Decimal("240.00")
    assert purchases.last_order_at == kept.ordered_at
    db.session.commit()
    login_as(admin)
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "TRY\u00a0240.00" in page and kept.order_number in page
    assert "No orders yet" not in page
    assert f"/orders/new?customer={customer.customer_code}" in page
    data = client.get(
        f"/api/v1/crm/customers/{customer.id}/360/", headers=factories.bearer(admin)
    ).json
    assert data["lifetime_value_metrics"]["total_revenue"] == "240.00"
    assert data["lifetime_value_metrics"]["total_orders"] == 1
