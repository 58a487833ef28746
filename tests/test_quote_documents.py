"""Quotes as documents: numbers people can read, the company and the customer on the page and
in the PDF, the company settings, and "send to customer" through the outbox with the PDF
attached, down to a real SMTP sink."""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from crm_web.accounts import company
from crm_web.communications.models import Communication
from crm_web.customer360.models import CustomerDocument
from crm_web.db import set_tenant
from crm_web.devservices import free_port
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.formatting import (
    format_money,
    format_percent,
    format_quantity,
    plain_number,
)
from crm_web.messaging.devmail import read_attachment, read_mailbox, start_sink
from crm_web.outbox import delivery
from crm_web.outbox.models import OutboxMessage
from crm_web.outbox.services import messages_for
from crm_web.pipeline import quote_sending, quotes
from crm_web.pipeline.models import Quote
from crm_web.storage import get_storage
from tests import factories
from tests.fixtures_customer360 import upload_dir  # noqa: F401
from tests.pipeline_fixtures import deal
from tests.quote_helpers import COMPANY, TURKISH_CUSTOMER

D = Decimal
LINES = [
    {"description": "Kağıt A4 (koli)", "quantity": "200", "unit_price": "12.50"},
    {"description": "Kurulum ve eğitim", "quantity": "2.5", "unit_price": "1000"},
]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def turkish(sales, upload_dir):  # noqa: F811
    """Company details filled in, and a deal for a customer with a Turkish name and address."""
    set_tenant(sales.organization.id, sales.admin.id)
    company.update_company(**COMPANY)
    quotes.update_settings(
        quote_approval_threshold="100000",
        default_tax_rate="20",
        quote_terms="Ödeme: fatura tarihinden itibaren 30 gün.",
    )
    set_tenant(sales.organization.id, sales.seller.id)
    customer = factories.customer(**TURKISH_CUSTOMER)
    opportunity = deal(sales, "Proposal", customer_id=customer.id, currency="TRY")
    return customer, opportunity


def approved_quote(opportunity, **kwargs) -> Quote:
    quote = quotes.create_quote(opportunity.id, title="Ofis kurulumu", lines=LINES, **kwargs)
    assert quotes.submit_quote(quote.id).status == "approved"
    return quote


def test_quantities_and_money_read_as_written():
    assert format_quantity(D("200.00"), "en") == "200"  # not "2E+2"
    assert format_quantity(D("2.50"), "en") == "2.5"
    assert format_quantity(D("1000.00"), "en") == "1,000"
    assert format_quantity(D("1000.25"), "tr") == "1.000,25"
    assert plain_number(D("100.00")) == "100" and plain_number(D("0.50")) == "0.5"
    assert format_money(D("1234.5"), "TRY", "tr") == "₺1.234,50"
    assert format_money(D("1234.5"), "EUR", "en") == "€1,234.50"
    # English has no sign of its own for the lira: the code, spaced from the digits.
    assert format_money(D("1234.5"), "TRY", "en") == "TRY\u00a01,234.50"
    assert format_money(D("0"), "USD", "en") == "$0.00"
    assert format_percent(D("20.00"), "en") == "20%"
    assert format_percent(D("7.50"), "tr") == "%7,5"


def test_the_quote_page_and_printable_quote_show_quantities_and_the_parties(
    client, sales, turkish, login_as
):
    _customer, opportunity = turkish
    quote = quotes.create_quote(
        opportunity.id, title="Ofis kurulumu", lines=LINES, discount_percent="5"
    )
    login_as(sales.seller)
    for url in (f"/quotes/{quote.id}", f"/quotes/{quote.id}/print"):
        page = client.get(url).get_data(as_text=True)
        assert "E+" not in page
        assert '<td class="num">200</td>' in page and '<td class="num">2.5</td>' in page
        # The organization speaks English: TRY has no English sign.
        assert "TRY\u00a02,500.00" in page and "5%" in page
        for text in (
            "Demo Yazılım A.Ş.",
            "Levent, 34394 İstanbul",
            "Tax office: Boğaziçi Kurumlar",
            "Tax number: 1234567890",
            "Çağrı Işık",
            "Atatürk Bulvarı 12/3",
            "Ankara, Türkiye",
            "Ödeme: fatura tarihinden itibaren 30 gün.",
            "DRAFT: not approved, not an offer",
            "Signature",
        ):
            assert text in page, text
    edit = client.get(f"/quotes/{quote.id}/edit").get_data(as_text=True)
    assert 'value="200"' in edit and 'value="2.5"' in edit
    # A new quote's validity starts from the organization's period (30 days).
    assert 'name="valid_until" type="date" value="2' in client.get(
        f"/pipeline/opportunities/{opportunity.id}/quotes/new"
    ).get_data(as_text=True)


def test_the_pdf_download_is_a_pdf_with_the_quote_and_turkish_letters(
    client, sales, turkish, login_as
):
    _customer, opportunity = turkish
    quote = quotes.create_quote(opportunity.id, title="Şirket geneli teklif", lines=LINES)
    login_as(sales.seller)
    response = client.get(f"/quotes/{quote.id}/pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert f"{quote.quote_number}-v1.pdf" in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in (
        quote.quote_number,
        "Şirket geneli teklif",
        "Çağrı Işık",
        "Demo Yazılım A.Ş.",
        "Boğaziçi Kurumlar",
        "Kağıt A4 (koli)",
        "200",
        "2.5",
        "DRAFT",
        "Ödeme: fatura tarihinden itibaren 30 gün.",
    ):
        assert expected in text, expected
    assert "E+" not in text
    # The support role does not work deals.
    login_as(factories.user(sales.organization, role="support"))
    assert client.get(f"/quotes/{quote.id}/pdf").status_code == 403


def test_a_turkish_organization_gets_a_turkish_formatted_pdf(sales, turkish):
    _customer, opportunity = turkish
    sales.organization.locale = "tr"
    db.session.flush()
    quote = approved_quote(opportunity)
    text = pdf_text(quote_sending.draw_pdf(quote))
    # 200 × 12.50 + 2.5 × 1000 = 5,000; 20% tax: 6,000 in all, with the lira sign.
    assert "₺6.000,00" in text and "2,5" in text and "%20" in text


def test_send_to_customer_queues_the_pdf_and_the_sink_receives_it(
    sales, turkish, smtp_to_sink, stub_broker
):
    customer, opportunity = turkish
    quote = approved_quote(opportunity)
    stub_broker.flush("outbox")
    sent = quote_sending.email_quote(quote.id, acting_user=sales.seller)
    assert (sent.status, sent.sent_at is not None, sent.valid_until is not None) == (
        "sent",
        True,
        True,
    )
    [row] = messages_for(("quote",), [quote.id])
    assert (row.status, row.to_address, row.customer_id) == (
        "queued",
        "cagri@isik.example",
        customer.id,
    )
    # The row names the kept PDF; it does not carry it.
    assert set(row.context) == {"document_id", "sent_by_id"}
    document = db.session.get(CustomerDocument, row.context["document_id"])
    assert (document.category, document.filename, document.customer_id) == (
        "quote",
        f"{quote.quote_number}-v1.pdf",
        customer.id,
    )
    assert sent.document_id == document.id

    # Emailed again (the customer lost it): the same kept file, no second document.
    quote_sending.email_quote(quote.id, acting_user=sales.seller)
    assert len(messages_for(("quote",), [quote.id])) == 2
    assert db.session.scalar(select(func.count()).select_from(CustomerDocument)) == 1

    # The quote is revised before the worker gets to it: the customer still gets v1.
    quotes.update_quote(
        quote.id, title="Revised later", lines=[{"description": "Other", "unit_price": "1"}]
    )
    assert delivery.deliver("email") == {"sent": 2}
    first, second = smtp_to_sink.mails
    assert first.rcpt_tos == ["cagri@isik.example"]
    assert first.message.get_content_type() == "multipart/mixed"
    assert first.message["Subject"] == (
        f"Quote {quote.quote_number} from Demo Yazılım A.Ş.: Ofis kurulumu"
    )
    assert first.message["X-CRM-Quote"] == quote.quote_number
    assert "Dear Çağrı Işık," in first.body and "Sid Seller" in first.body
    [attachment] = first.message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{quote.quote_number}-v1.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Ofis kurulumu" in text and "Revised later" not in text and "DRAFT" not in text
    assert next(second.message.iter_attachments()).get_content() == pdf
    with get_storage().open(document.storage_key) as kept:
        assert kept.read() == pdf

    # Logged with the customer as every email to them is, the PDF named.
    entries = db.session.scalars(
        select(Communication).where(Communication.source_type == "quote")
    ).all()
    assert len(entries) == 2
    entry = entries[0]
    assert (entry.customer_id, entry.source_id, entry.direction, entry.status) == (
        customer.id,
        quote.id,
        "outbound",
        "sent",
    )
    assert entry.attachments == [
        {
            "document_id": document.id,
            "filename": document.filename,
            "content_type": "application/pdf",
            "size_bytes": document.size_bytes,
        }
    ]
    assert {e.provider_message_id for e in entries} == {
        first.message["Message-ID"],
        second.message["Message-ID"],
    }
    # A second run of the delivery loop sends nothing more.
    assert delivery.deliver("email") == {}


def test_the_send_button_and_the_flash_on_the_quote_page(client, sales, turkish, login_as):
    _customer, opportunity = turkish
    quote = approved_quote(opportunity)
    login_as(sales.seller)
    page = client.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "Send to customer" in page and "Mark as sent (without email)" in page
    response = client.post(f"/quotes/{quote.id}/email")
    assert response.status_code == 303
    page = client.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "is on its way to cagri@isik.example, with the PDF attached." in page
    assert "Email again" in page and 'id="quote-emails"' in page and "queued" in page
    assert "The PDF is the copy the customer was sent." in page
    # The download is now the kept copy.
    kept = client.get(f"/quotes/{quote.id}/pdf").get_data()
    set_tenant(sales.organization.id, sales.seller.id)
    db.session.expire_all()
    document = db.session.get(CustomerDocument, quotes.get_quote(quote.id).document_id)
    assert len(kept) == document.size_bytes


def test_sending_is_refused_with_a_reason_and_sends_nothing(client, sales, turkish, login_as):
    customer, opportunity = turkish
    draft = quotes.create_quote(opportunity.id, title="Draft", lines=LINES)
    with pytest.raises(Conflict, match="Submit the quote for approval"):
        quote_sending.email_quote(draft.id, acting_user=sales.seller)

    big = [{"description": "Fleet", "quantity": "20", "unit_price": "10000"}]
    pending = quotes.create_quote(opportunity.id, title="Big", lines=big)
    assert quotes.submit_quote(pending.id).status == "pending_approval"
    with pytest.raises(Conflict, match="waiting for a manager's approval"):
        quote_sending.email_quote(pending.id, acting_user=sales.seller)

    decided = approved_quote(opportunity)
    quotes.send_quote(decided.id)
    quotes.record_decision(decided.id, accepted=True)
    with pytest.raises(Conflict, match="already decided"):
        quote_sending.email_quote(decided.id, acting_user=sales.seller)

    sent = approved_quote(opportunity)
    quotes.send_quote(sent.id)
    quotes.update_quote(sent.id, title="v2", lines=LINES)
    with pytest.raises(Conflict, match="old version"):
        quote_sending.email_quote(sent.id, acting_user=sales.seller)

    expired = approved_quote(opportunity, valid_until=date(2020, 1, 31))
    with pytest.raises(Conflict, match="was valid until January 31, 2020: edit it"):
        quote_sending.email_quote(expired.id, acting_user=sales.seller)

    # A customer without an email address (the fixture's company customers have none).
    nameless = deal(sales, "Proposal")
    no_email = approved_quote(nameless)
    with pytest.raises(Conflict, match="has no email address"):
        quote_sending.email_quote(no_email.id, acting_user=sales.seller)
    login_as(sales.seller)
    page = client.get(f"/quotes/{no_email.id}").get_data(as_text=True)
    assert 'id="send-refusal"' in page and "Send to customer" not in page
    refused = client.post(f"/quotes/{no_email.id}/email", headers={"HX-Request": "true"})
    assert refused.status_code == 409
    assert "Company 0 has no email address" in refused.get_data(as_text=True)

    set_tenant(sales.organization.id, sales.seller.id)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert db.session.scalar(select(func.count()).select_from(CustomerDocument)) == 0
    assert quotes.get_quote(no_email.id).status == "approved"


def test_company_settings_name_each_wrong_field(client, sales, login_as):
    login_as(sales.admin)
    assert "Company" in client.get("/admin/company").get_data(as_text=True)
    bad = client.post(
        "/admin/company",
        data={
            "name": "Demo",
            "address": "1\n2\n3\n4\n5",
            "phone": "12",
            "email": "not-an-address",
            "tax_office": "Kadıköy",
            "tax_number": "",
        },
    )
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    for message in (
        "Keep the address to 4 lines.",
        "This is not a phone number.",
        "Give the tax number that goes with the tax office.",
    ):
        assert message in page, message
    assert 'id="email-error"' in page
    assert client.post("/admin/company", data={"name": ""}).status_code == 422
    wrong_number = client.post("/admin/company", data={"name": "Demo", "tax_number": "12#4"})
    assert "Use 3 to 20 letters and digits" in wrong_number.get_data(as_text=True)

    saved = client.post(
        "/admin/company",
        data={
            "name": "Demo Yazılım A.Ş.",
            "address": " Büyükdere Cad. 185 \n\n İstanbul ",
            "phone": "+902125550100",
            "email": "Satis@Demo.Example",
            "tax_office": "Boğaziçi",
            "tax_number": "1234567890",
        },
    )
    assert saved.status_code == 303
    set_tenant(sales.organization.id, sales.admin.id)
    db.session.expire_all()
    organization = company.get_company()
    assert (organization.name, organization.address, organization.phone, organization.email) == (
        "Demo Yazılım A.Ş.",
        "Büyükdere Cad. 185\nİstanbul",
        "+90 212 555 01 00",
        "satis@demo.example",
    )
    # Only an admin edits them.
    login_as(sales.manager)
    assert client.get("/admin/company").status_code == 403


def test_quote_terms_and_validity_are_checked(sales):
    set_tenant(sales.organization.id, sales.admin.id)
    with pytest.raises(ValidationError) as caught:
        quotes.update_settings(
            quote_approval_threshold="1000",
            default_tax_rate="18",
            quote_validity_days="0",
            quote_terms="x" * 5001,
        )
    assert set(caught.value.fields) == {"quote_validity_days", "quote_terms"}
    saved = quotes.update_settings(
        quote_approval_threshold="1000", default_tax_rate="18", quote_validity_days="14"
    )
    assert saved.quote_validity_days == 14


def test_the_dev_mailbox_shows_the_pdf_a_customer_was_sent(
    app, sales, turkish, tmp_path, monkeypatch
):
    """`make run`'s local sink keeps what the worker sent; Dev mail lists and serves the PDF."""
    _customer, opportunity = turkish
    quote = approved_quote(opportunity)
    quote_sending.email_quote(quote.id, acting_user=sales.seller)
    folder = tmp_path / "mail"
    sink = start_sink(folder, port=free_port())
    try:
        monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{sink.port}")
        assert delivery.deliver("email") == {"sent": 1}
    finally:
        sink.stop()
    [mail] = read_mailbox(folder)
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type) == (
        f"{quote.quote_number}-v1.pdf",
        "application/pdf",
    )
    described, content = read_attachment(folder, mail.name, 0)
    assert content.startswith(b"%PDF-") and described.size == len(content)
    assert read_attachment(folder, mail.name, 1) is None
    assert read_attachment(folder, "../secret", 0) is None
