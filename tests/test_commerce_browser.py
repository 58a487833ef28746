"""Products and orders in headless Chromium, under the CSP: a manager keeps the catalog and its
stock, a seller places an order (an over-stock line and a negative quantity refused in place),
marks it paid and takes goods back."""

import pytest

from crm_web.db import clear_tenant, set_tenant
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in
PASSWORD = test_browser.PASSWORD


@pytest.fixture
def shop(live_app, organization):
    """A manager, a seller, a customer and a mug with three left, committed."""
    from crm_web.accounts.services import create_user
    from crm_web.catalog.products import create_product
    from crm_web.customers.services import create_customer
    from crm_web.extensions import db

    slug = organization["slug"]
    with live_app.app_context():
        set_tenant(organization["id"])
        users = {
            role: create_user(
                email=f"{role}@{slug}.example", name=role.title(), role=role, password=PASSWORD
            ).email
            for role in ("manager", "sales")
        }
        customer = create_customer(
            {"first_name": "Ayşe", "last_name": "Yılmaz", "primary_email": f"ayse@{slug}.example"}
        )
        create_product({"sku": "MUG-1", "name": "Blue mug", "price": "100", "stock_on_hand": 3})
        db.session.commit()
        clear_tenant()
    return {**users, "customer": customer.customer_code}


def test_a_manager_keeps_the_catalog_and_its_stock(page, live_server, shop, tmp_path):
    from playwright.sync_api import expect

    _sign_in(page, live_server, shop["manager"])
    page.get_by_role("navigation").get_by_role("link", name="Products").click()
    page.wait_for_url(f"{live_server}/products")
    expect(page.locator("#product-results")).to_contain_text("MUG-1")
    page.get_by_role("link", name="New product").click()
    page.get_by_label("SKU").fill("KETTLE-1")
    page.get_by_label("Name").fill("Kettle")
    page.get_by_label("Price").fill("-5")
    page.get_by_label("Opening stock").fill("4")
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#price-error")).to_contain_text("Enter a number from 0")
    assert page.evaluate("window.__sameDocument") == "yes"
    page.screenshot(path=tmp_path / "product-form-error.png", full_page=True)
    page.get_by_label("Price").fill("249.90")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Kettle")).to_be_visible()
    expect(page.locator("#stock-on-hand")).to_have_text("4")

    stock = page.locator("#stock")
    stock.get_by_label("What happened").select_option("adjustment")
    stock.get_by_label("Quantity").fill("-9")
    stock.get_by_label("Reason").fill("Stocktake")
    stock.get_by_role("button", name="Book it").click()
    expect(page.locator("#stock")).to_contain_text("Only 4 of KETTLE-1 in stock; 9 asked.")
    page.locator("#stock").get_by_label("What happened").select_option("receipt")
    page.locator("#stock").get_by_label("Quantity").fill("6")
    page.locator("#stock").get_by_role("button", name="Book it").click()
    expect(page.locator("#stock-on-hand")).to_have_text("10")
    expect(page.locator("#movements")).to_contain_text("Received")
    page.screenshot(path=tmp_path / "product-page.png", full_page=True)
    page.watch.assert_clean()


def test_a_seller_places_an_order_marks_it_paid_and_takes_goods_back(
    page, live_server, shop, tmp_path
):
    from playwright.sync_api import expect

    _sign_in(page, live_server, shop["sales"])
    page.get_by_role("navigation").get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="New order").click()
    page.get_by_label("Customer (code or email)").fill(shop["customer"])
    page.get_by_label("Line 1 product").fill("MUG")
    expect(page.locator("#product-options option")).to_have_count(1)  # suggested as typed
    page.get_by_label("Line 1 product").fill("MUG-1")
    page.get_by_label("Line 1 quantity").fill("5")
    page.get_by_label("Line 2 product").fill("MUG-1")
    page.get_by_label("Line 2 quantity").fill("-1")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#lines-1-quantity-error")).to_contain_text("Enter a whole number from 1")
    page.get_by_label("Line 2 product").fill("")
    page.get_by_label("Line 2 quantity").fill("")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#lines-0-quantity-error")).to_have_text(
        "Only 3 of MUG-1 in stock; 5 asked."
    )
    page.screenshot(path=tmp_path / "order-over-stock.png", full_page=True)
    page.get_by_label("Line 1 quantity").fill("2")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#messages")).to_contain_text("is placed")
    expect(page.locator("#order-total")).to_contain_text("200.00")

    page.locator("#order-actions").get_by_label("Paid by").select_option("card")
    page.get_by_role("button", name="Mark paid").click()
    expect(page.locator("h1 .badge")).to_have_text("Paid")
    page.get_by_label("How many of MUG-1 come back").fill("1")
    page.locator("#return-form").get_by_label("Reason").fill("Chipped")
    page.get_by_role("button", name="Book the return").click()
    expect(page.locator("#messages")).to_contain_text("100.00")
    expect(page.locator("#returns")).to_contain_text("Chipped")
    page.screenshot(path=tmp_path / "order-page.png", full_page=True)
    page.watch.assert_clean()


def test_a_seller_enrols_a_customer_and_spends_points_on_the_customer_page(
    page, live_server, live_app, organization, shop, tmp_path
):
    from playwright.sync_api import expect

    from crm_web.loyalty import programs

    with live_app.app_context():
        set_tenant(organization["id"])
        program = programs.create_program({"name": "Stars", "code": "STARS"})
        programs.add_tier(program.id, name="Bronze", threshold="0")
        clear_tenant()
    _sign_in(page, live_server, shop["sales"])
    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Ayşe Yılmaz").click()
    card = page.locator("#loyalty-card")
    card.get_by_role("button", name="Enrol in Stars").click()
    expect(page.locator("#loyalty-tier")).to_have_text("Bronze")
    page.locator("#loyalty-card summary").click()
    page.locator("#points-form").get_by_label("Points").fill("-3")
    page.locator("#points-form").get_by_role("button", name="Spend points").click()
    expect(page.locator("#points-form")).to_contain_text("Enter a whole number from 1")
    page.locator("#points-form").get_by_label("Points").fill("30")
    page.locator("#points-form").get_by_role("button", name="Spend points").click()
    expect(page.locator("#points-form")).to_contain_text(
        "Not enough points: 0 available, 30 asked."
    )
    page.screenshot(path=tmp_path / "customer-loyalty.png", full_page=True)
    page.watch.assert_clean()
