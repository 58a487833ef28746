"""Quotes: totals, versions, the approval flow and who may approve."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_web.db import set_tenant
from crm_web.errors import Conflict, PermissionDenied, ValidationError
from crm_web.extensions import db
from crm_web.pipeline import quotes
from crm_web.pipeline.models import Quote
from tests.pipeline_fixtures import deal

D = Decimal
LINES = [
    {"description": "Licences", "quantity": "3", "unit_price": "1000", "discount_percent": "10"},
    {"description": "Onboarding", "quantity": "1", "unit_price": "499.99"},
    {"description": "", "quantity": "", "unit_price": ""},  # a blank form row
]


def test_totals_by_hand():
    lines = quotes.parse_lines(LINES)
    assert [line.total for line in lines] == [D("2700.00"), D("499.99")]
    # 3199.99, less 5% = 160.00 (159.9995 rounded), tax 20% of 3039.99 = 608.00 (607.998).
    totals = quotes.compute_totals(lines, D("5"), D("20"))
    assert totals == quotes.Totals(D("3199.99"), D("160.00"), D("608.00"), D("3647.99"))


def test_line_errors_name_the_line():
    with pytest.raises(ValidationError) as caught:
        quotes.parse_lines(
            [
                {"description": "", "unit_price": "5"},
                {"description": "x", "quantity": "0", "unit_price": "-1"},
            ]
        )
    assert set(caught.value.fields) == {
        "items-0-description",
        "items-1-quantity",
        "items-1-unit_price",
    }
    with pytest.raises(ValidationError) as caught:
        quotes.parse_lines([{"description": ""}])
    assert "items" in caught.value.fields


def _quote(sales, total_lines=LINES, **kwargs):
    opportunity = deal(sales, "Proposal")
    return quotes.create_quote(opportunity.id, title="Proposal", lines=total_lines, **kwargs)


def test_small_quotes_are_approved_on_submit(sales):
    quote = _quote(sales, tax_rate="0")
    assert (quote.quote_number, quote.version, quote.status) == ("Q-000001", 1, "draft")
    assert quote.total == D("3199.99")  # below the default 10,000 threshold
    assert quotes.submit_quote(quote.id).status == "approved"
    assert quotes.send_quote(quote.id).status == "sent"
    assert quotes.record_decision(quote.id, accepted=True).status == "accepted"
    with pytest.raises(Conflict):
        quotes.update_quote(quote.id, title="Later", lines=LINES)


def test_large_quotes_wait_for_a_manager(sales):
    big = [{"description": "Fleet", "quantity": "20", "unit_price": "1000"}]
    quote = _quote(sales, big, tax_rate="0")
    assert quotes.submit_quote(quote.id).status == "pending_approval"
    with pytest.raises(Conflict):
        quotes.send_quote(quote.id)
    with pytest.raises(PermissionDenied):
        quotes.review_quote(quote.id, acting_user=sales.seller, approve=True)
    with pytest.raises(ValidationError):
        quotes.review_quote(quote.id, acting_user=sales.manager, approve=False, note="")
    sent_back = quotes.review_quote(
        quote.id, acting_user=sales.manager, approve=False, note="Discount too deep"
    )
    assert (sent_back.status, sent_back.approval_note) == ("draft", "Discount too deep")
    quotes.submit_quote(quote.id)
    approved = quotes.review_quote(quote.id, acting_user=sales.manager, approve=True)
    assert (approved.status, approved.approved_by_id) == ("approved", sales.manager.id)
    # Editing an approved quote voids the approval.
    edited = quotes.update_quote(quote.id, title="Fleet v1b", lines=big, tax_rate="0")
    assert (edited.id, edited.version, edited.status, edited.approved_by_id) == (
        quote.id,
        1,
        "draft",
        None,
    )


def test_threshold_is_the_organizations(sales):
    set_tenant(sales.organization.id, sales.admin.id)
    quotes.update_settings(quote_approval_threshold="1000", default_tax_rate="18")
    set_tenant(sales.organization.id, sales.seller.id)
    quote = _quote(sales)
    assert quote.tax_rate == D("18.00")  # the default applies when none is given
    assert quotes.submit_quote(quote.id).status == "pending_approval"


def test_editing_a_sent_quote_makes_a_new_version(sales):
    quote = _quote(sales, tax_rate="0")
    quotes.submit_quote(quote.id)
    quotes.send_quote(quote.id)
    revised = quotes.update_quote(
        quote.id,
        title="Proposal, revised",
        lines=[{"description": "Licences", "quantity": "2", "unit_price": "1000"}],
        tax_rate="0",
    )
    assert (revised.quote_number, revised.version, revised.status) == (
        quote.quote_number,
        2,
        "draft",
    )
    assert revised.id != quote.id and revised.total == D("2000.00")
    db.session.expire_all()
    old = db.session.get(Quote, quote.id)
    assert (old.is_current, old.status, old.total, len(old.items)) == (
        False,
        "sent",
        D("3199.99"),
        2,
    )
    assert [v.version for v in quotes.versions(revised)] == [2, 1]
    with pytest.raises(Conflict):
        quotes.update_quote(quote.id, title="x", lines=LINES)
    # A rejected quote can be revised again: v3.
    quotes.submit_quote(revised.id)
    quotes.send_quote(revised.id)
    quotes.record_decision(revised.id, accepted=False)
    third = quotes.update_quote(revised.id, title="Third time", lines=LINES, tax_rate="0")
    assert third.version == 3
    current = db.session.scalars(
        select(Quote.version).where(Quote.quote_number == quote.quote_number, Quote.is_current)
    ).all()
    assert current == [3]


def test_quote_pages_and_roles(client, sales, login_as):
    opportunity = deal(sales, "Proposal")
    login_as(sales.seller)
    data = {
        "title": "Fleet",
        "discount_percent": "0",
        "tax_rate": "0",
        "items-0-description": "Vans",
        "items-0-quantity": "20",
        "items-0-unit_price": "1000",
        "items-1-description": "",
        "items-1-unit_price": "-3",
    }
    bad = client.post(f"/pipeline/opportunities/{opportunity.id}/quotes/new", data=data)
    assert bad.status_code == 422
    assert "Describe the product or service." in bad.get_data(as_text=True)
    del data["items-1-unit_price"]
    response = client.post(f"/pipeline/opportunities/{opportunity.id}/quotes/new", data=data)
    assert response.status_code == 303
    url = response.headers["Location"]
    quote_id = int(url.rstrip("/").split("/")[-1])
    assert client.post(f"/quotes/{quote_id}/submit").status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert "pending approval" in page and "Approve" not in page
    # The seller cannot approve, even by posting directly.
    assert client.post(f"/quotes/{quote_id}/approve").status_code == 403
    printable = client.get(f"/quotes/{quote_id}/print").get_data(as_text=True)
    assert "Vans" in printable and "20,000.00" in printable and "topbar" not in printable
    login_as(sales.manager)
    assert "Approve" in client.get(url).get_data(as_text=True)
    assert client.post(f"/quotes/{quote_id}/approve", data={"note": "ok"}).status_code == 303
    assert client.post(f"/quotes/{quote_id}/send").status_code == 303
    # Wrong state: a sent quote cannot be submitted.
    assert client.post(f"/quotes/{quote_id}/submit").status_code == 409
    set_tenant(sales.organization.id, sales.manager.id)
    assert quotes.get_quote(quote_id).status == "sent"
