"""Products, categories and the stock ledger: services, pages and the products API."""

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm_web.catalog import products, stock
from crm_web.catalog.models import StockMovement
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from tests import factories


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Catalog", currency="TRY")
    set_tenant(organization.id, admin.id)
    return organization, admin


def _movements(product_id: int) -> list[tuple[str, int, int]]:
    return [
        (m.kind, m.quantity, m.stock_after)
        for m in reversed(stock.movements(product_id, limit=200).items)
    ]


def test_a_new_product_books_its_opening_stock_as_a_receipt(org):
    product = factories.product(stock=7, sku="MUG-1", price="12.5")
    assert product.stock_on_hand == 7
    assert product.price == Decimal("12.50")
    assert _movements(product.id) == [("receipt", 7, 7)]


def test_product_fields_are_checked_with_field_messages(org):
    factories.product(sku="MUG-1")
    with pytest.raises(ValidationError) as refused:
        products.create_product(
            {"sku": "mug-1", "name": "", "price": "-1", "tax_rate": "120", "reorder_level": "x"}
        )
    assert set(refused.value.fields) == {"name", "price", "tax_rate", "reorder_level"}
    with pytest.raises(ValidationError) as duplicate:
        products.create_product({"sku": "mug-1", "name": "Another", "price": "1"})
    assert duplicate.value.fields == {"sku": "Another product has this SKU."}
    with pytest.raises(ValidationError) as decimals:
        products.create_product({"sku": "X", "name": "X", "price": "1.999"})
    assert decimals.value.fields == {"price": "Use at most 2 decimals."}


def test_receipts_and_corrections_move_the_stock_and_a_correction_needs_its_reason(org):
    product = factories.product(stock=2)
    products.change_stock(product.id, kind="receipt", quantity="5", reason="Delivery 42")
    with pytest.raises(ValidationError) as no_reason:
        products.change_stock(product.id, kind="adjustment", quantity="-1")
    assert "reason" in no_reason.value.fields
    products.change_stock(product.id, kind="adjustment", quantity="-3", reason="Broken")
    assert _movements(product.id) == [("receipt", 2, 2), ("receipt", 5, 7), ("adjustment", -3, 4)]
    assert products.get_product(product.id).stock_on_hand == 4


def test_a_correction_below_zero_is_refused_and_leaves_nothing_behind(org):
    product = factories.product(stock=3, sku="LAST-3")
    with pytest.raises(stock.OutOfStock) as refused:
        products.change_stock(product.id, kind="adjustment", quantity="-4", reason="Count")
    assert refused.value.fields == {"quantity": "Only 3 of LAST-3 in stock; 4 asked."}
    assert products.get_product(product.id).stock_on_hand == 3
    assert _movements(product.id) == [("receipt", 3, 3)]


def test_the_database_itself_refuses_a_movement_past_the_stock(org):
    """The guard is PostgreSQL's: a raw insert that bypasses the services is refused too."""
    organization, _admin = org
    product = factories.product(stock=1)
    with pytest.raises(IntegrityError, match="Not enough stock"):
        with db.session.begin_nested():
            db.session.add(
                StockMovement(
                    organization_id=organization.id,
                    product_id=product.id,
                    kind="adjustment",
                    quantity=-2,
                    reason="raw",
                )
            )
            db.session.flush()
    with pytest.raises(IntegrityError, match="ck_products_stock_not_negative"):
        with db.session.begin_nested():
            db.session.execute(
                text("UPDATE products SET stock_on_hand = -1 WHERE id = :id"), {"id": product.id}
            )


def test_search_filters_and_keyset_pages(org):
    mugs = products.create_category("Mugs")
    for index in range(5):
        factories.product(
            sku=f"MUG-{index}", name=f"Kupa {index}", category_id=mugs.id, reorder_level="3"
        )
    factories.product(sku="ŞAL-1", name="Şal", stock=1, reorder_level="2")
    factories.product(sku="SRV-1", name="Kurulum", track_stock=False, stock=0)
    found = products.search_products(products.ProductFilters(q="sal"))
    assert [p.sku for p in found.items] == ["ŞAL-1"]
    in_category = products.search_products(products.ProductFilters(category=str(mugs.id)))
    assert len(in_category.items) == 5
    first = products.search_products(products.ProductFilters(), limit=4)
    second = products.search_products(products.ProductFilters(), cursor=first.next_cursor, limit=4)
    assert second.next_cursor is None
    names = [p.name for p in first.items + second.items]
    assert names == sorted(names) and len(set(names)) == 7
    low = products.search_products(products.ProductFilters.from_args({"stock": "low"}))
    assert [p.sku for p in low.items] == ["ŞAL-1"]
    assert products.low_stock_count() == 1


def test_another_organizations_products_are_not_found(org, make_org):
    product = factories.product()
    other, other_admin = make_org("Other")
    set_tenant(other.id, other_admin.id)
    with pytest.raises(Exception, match="No such product"):
        products.get_product(product.id)
    assert products.search_products(products.ProductFilters()).items == []


# Pages


def test_the_list_the_low_stock_view_and_a_product_page(client, org, login_as):
    _organization, admin = org
    product = factories.product(sku="MUG-LOW", stock=1, reorder_level="5")
    factories.product(sku="MUG-OK", stock=50)
    db.session.commit()
    clear_tenant()
    login_as(admin)
    listing = client.get("/products").get_data(as_text=True)
    assert "MUG-LOW" in listing and "MUG-OK" in listing
    low = client.get("/products?stock=low").get_data(as_text=True)
    assert "MUG-LOW" in low and "MUG-OK" not in low
    page = client.get(f"/products/{product.id}").get_data(as_text=True)
    assert "Opening stock" in page and 'id="stock-on-hand"' in page


def test_a_product_form_with_bad_values_is_shown_again_with_field_errors(client, org, login_as):
    _organization, admin = org
    login_as(admin)
    response = client.post("/products/new", data={"sku": "A B", "name": "X", "price": "-3"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "no spaces" in html and "Enter a number from 0" in html
    created = client.post(
        "/products/new",
        data={
            "sku": "NEW-1",
            "name": "New",
            "price": "9.90",
            "stock_on_hand": "4",
            "track_stock": "y",
        },
    )
    assert created.status_code == 303
    set_tenant(org[0].id)
    assert products.products_by_sku(["new-1"])["new-1"].stock_on_hand == 4


def test_stock_is_booked_from_the_product_page_and_a_bad_count_is_refused(client, org, login_as):
    _organization, admin = org
    product = factories.product(stock=2, sku="BOOK-1")
    db.session.commit()
    clear_tenant()
    login_as(admin)
    url = f"/products/{product.id}/stock"
    htmx = {"HX-Request": "true"}
    refused = client.post(
        url, data={"kind": "adjustment", "quantity": "-5", "reason": "Count"}, headers=htmx
    )
    assert refused.status_code == 422
    assert "Only 2 of BOOK-1 in stock" in refused.get_data(as_text=True)
    booked = client.post(url, data={"kind": "receipt", "quantity": "10"}, headers=htmx)
    assert booked.status_code == 200
    assert 'id="stock-on-hand">12<' in booked.get_data(as_text=True)


def test_sales_reads_the_catalog_but_cannot_change_it(client, org, make_user, login_as):
    organization, _admin = org
    product = factories.product()
    db.session.commit()
    seller = make_user(organization, role="sales")
    login_as(seller)
    assert client.get("/products").status_code == 200
    assert client.get("/products/new").status_code == 403
    assert (
        client.post(
            f"/products/{product.id}/stock", data={"kind": "receipt", "quantity": "1"}
        ).status_code
        == 403
    )


def test_categories_are_added_renamed_and_removed(client, org, login_as):
    _organization, admin = org
    login_as(admin)
    client.post("/products/categories", data={"name": "Mugs"})
    duplicate = client.post("/products/categories", data={"name": "mugs"})
    assert duplicate.status_code == 422
    assert "There is a category with this name already." in duplicate.get_data(as_text=True)
    set_tenant(org[0].id)
    [mugs] = products.list_categories()
    clear_tenant()
    client.post(f"/products/categories/{mugs.id}", data={f"c{mugs.id}-name": "Cups"})
    set_tenant(org[0].id)
    db.session.expire_all()  # the request renamed it in a session of its own
    assert [c.name for c in products.list_categories()] == ["Cups"]
    clear_tenant()
    client.post(f"/products/categories/{mugs.id}/delete")
    set_tenant(org[0].id)
    assert products.list_categories() == []


# API


def test_the_products_api(client, org, make_org):
    organization, admin = org
    headers = factories.bearer(admin)
    created = client.post(
        "/api/v1/crm/products/",
        json={
            "sku": "API-1",
            "name": "Kettle",
            "price": 49.9,
            "tax_rate": "20",
            "stock_on_hand": 3,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["price"], body["stock_on_hand"], body["tax_rate"]) == ("49.90", 3, "20.00")
    refused = client.post(
        "/api/v1/crm/products/", json={"sku": "API-2", "name": "X", "price": True}, headers=headers
    )
    assert refused.status_code == 422 and "price" in refused.json["fields"]
    product_id = body["id"]
    changed = client.put(
        f"/api/v1/crm/products/{product_id}/",
        json={"price": "45", "stock_on_hand": 99},
        headers=headers,
    )
    assert (changed.json["price"], changed.json["stock_on_hand"]) == ("45.00", 3)
    moved = client.post(
        f"/api/v1/crm/products/{product_id}/stock/",
        json={"kind": "adjustment", "quantity": -5, "reason": "Count"},
        headers=headers,
    )
    assert moved.status_code == 422
    assert moved.json["fields"] == {"quantity": "Only 3 of API-1 in stock; 5 asked."}
    ledger = client.get(f"/api/v1/crm/products/{product_id}/stock/", headers=headers).json
    assert [(m["kind"], m["quantity"]) for m in ledger["items"]] == [("receipt", 3)]
    listing = client.get("/api/v1/crm/products/?q=kett&limit=1", headers=headers).json
    assert [p["sku"] for p in listing["items"]] == ["API-1"]

    other, other_admin = make_org("Elsewhere")
    other_headers = factories.bearer(other_admin)
    assert (
        client.get(f"/api/v1/crm/products/{product_id}/", headers=other_headers).status_code == 404
    )
    assert (
        client.put(
            f"/api/v1/crm/products/{product_id}/", json={"name": "Hijack"}, headers=other_headers
        ).status_code
        == 404
    )
