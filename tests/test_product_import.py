"""CSV import of products on the shared machinery: the catalog's checks, SKUs matched whatever
their case, categories by name, opening stock booked as receipts, updates that leave stock alone."""

from decimal import Decimal

import import_helpers
import pytest
from import_helpers import check, run, upload_dir  # noqa: F401
from sqlalchemy import select

from crm_web.catalog import products, stock
from crm_web.catalog.models import Product
from crm_web.extensions import db

HEADER = ["Stok kodu", "Ürün adı", "Kategori", "Fiyat", "KDV", "Stok", "Minimum stok"]


def csv_bytes(rows, header=HEADER) -> bytes:
    return import_helpers.csv_bytes(rows, header)


@pytest.fixture
def org(make_org):
    organization, admin = import_helpers.importer(make_org, "Product Importer")
    products.create_category("Kupa")
    return organization, admin


upload = import_helpers.uploader("products", "urunler.csv")


def _catalog(organization_id: int) -> dict[str, Product]:
    found = db.session.scalars(
        select(Product)
        .where(Product.organization_id == organization_id)
        .execution_options(populate_existing=True)
    )
    return {p.sku: p for p in found}


def test_turkish_headers_new_products_and_their_opening_stock(org):
    organization, _admin = org
    data = csv_bytes(
        [
            ["MUG-1", "Mavi kupa", "kupa", "120,50", "20", "7", "2"],
            ["TEA-1", "Çay", "", "80", "1", "", ""],
            ["BAD 1", "", "Yok", "-4", "200", "x", ""],
        ]
    )
    job = check(upload(data))
    assert job.report["create"] == 2 and job.report["reject"] == 1
    reason = import_helpers.rejects(job)[4][1]
    assert "SKU: Use letters, digits" in reason and "Category: No category" in reason
    assert "Price: Enter a number from 0" in reason and "Name: This field is required." in reason
    job = run(job)
    assert job.status == "imported", job.message
    catalog = _catalog(organization.id)
    assert catalog["MUG-1"].category.name == "Kupa" and catalog["MUG-1"].stock_on_hand == 7
    assert catalog["TEA-1"].price == Decimal("80.00") and catalog["TEA-1"].stock_on_hand == 0
    [receipt] = stock.movements(catalog["MUG-1"].id).items
    assert (receipt.kind, receipt.quantity, receipt.stock_after) == ("receipt", 7, 7)


def test_skus_match_whatever_their_case_and_an_update_leaves_the_stock(org):
    organization, _admin = org
    products.create_product({"sku": "MUG-1", "name": "Old name", "price": "10", "stock_on_hand": 3})
    data = csv_bytes(
        [
            ["mug-1", "New name", "", "12", "", "99", ""],
            ["Mug-1", "Again", "", "13", "", "", ""],
            ["NEW-1", "Fresh", "", "5", "", "", ""],
        ]
    )
    skipped = check(upload(data), mode="skip")
    assert {k: skipped.report[k] for k in ("skip", "duplicate", "create")} == {
        "skip": 1,
        "duplicate": 1,
        "create": 1,
    }
    job = run(check(upload(data), mode="update"))
    assert (job.report["updated"], job.report["created"]) == (1, 1), job.message
    mug = _catalog(organization.id)["MUG-1"]
    assert (mug.name, mug.price, mug.stock_on_hand) == ("New name", Decimal("12.00"), 3)


def test_a_mapping_without_sku_or_price_is_refused(org):
    job = upload(csv_bytes([["Kupa", "10"]], header=["Ürün adı", "Fiyat"]))
    with pytest.raises(Exception, match="correct|SKU"):
        check(job, mapping=["name", "price"])
