"""Turkish and English: formats, typed numbers, Turkish-I search in the database, messages in
the recipient's language, the profile's language, API errors by Accept-Language, the Turkish
demo organization and the catalog."""

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from crm_web import formatting
from crm_web.accounts import services as accounts
from crm_web.accounts.models import Organization, User
from crm_web.activities import reminders
from crm_web.customers import services as customers
from crm_web.customers.models import Customer
from crm_web.customers.seeding import TURKISH_CITIES
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.forms import AmountField
from crm_web.i18n import TRANSLATIONS
from crm_web.leads import services as leads
from crm_web.leads.models import LeadScoringRule, LeadSettings
from crm_web.messaging.mime import EmailSkeleton
from crm_web.outbox import delivery
from crm_web.pipeline.models import Opportunity, PipelineStage
from crm_web.tickets import queue
from crm_web.tickets import services as tickets
from crm_web.timezones import reading_in
from tests import factories
from tests.activity_fixtures import make_team, plan
from tests.pipeline_fixtures import deal

ISTANBUL = "Europe/Istanbul"
NBSP = "\u00a0"


# --- formats ----------------------------------------------------------------------------------


@pytest.fixture
def istanbul_org(app):
    organization, admin = factories.organization(
        "Formats", timezone=ISTANBUL, currency="TRY", locale="tr"
    )
    set_tenant(organization.id, admin.id)
    return organization


def test_money_numbers_and_percentages_in_both_languages(istanbul_org):
    with force_locale("tr"):
        assert formatting.money(Decimal("60000")) == "₺60.000,00"
        assert formatting.money(Decimal("1234.5"), "EUR") == "€1.234,50"
        assert formatting.number(1234567.891) == "1.234.567,891"
        assert formatting.number(Decimal("1234.5"), 2) == "1.234,50"
        assert formatting.percent(25) == "%25"
        assert formatting.percent(Decimal("12.5")) == "%12,5"
    with force_locale("en"):
        # A currency code never touches the digits; a sign does.
        assert formatting.money(Decimal("60000")) == f"TRY{NBSP}60,000.00"
        assert formatting.money(Decimal("1234.5"), "USD") == "$1,234.50"
        assert formatting.number(1234567.891) == "1,234,567.891"
        assert formatting.percent(Decimal("12.5")) == "12.5%"
    assert formatting.money(None) == formatting.number(None) == ""


def test_dates_and_times_in_the_readers_language_and_zone(istanbul_org):
    moment = datetime(2026, 12, 6, 6, 30, tzinfo=UTC)  # 09:30 in Istanbul
    with force_locale("tr"):
        assert formatting.local(moment) == "6 Ara 2026 09:30"
        assert formatting.local(moment, "time") == "09:30"
        assert formatting.local(moment, "date") == "6 Ara 2026"
        assert formatting.local(date(2026, 12, 6)) == "6 Ara 2026"
        assert formatting.relative(moment - timedelta(hours=2), now=moment) == "2 saat önce"
        assert formatting.relative(moment + timedelta(days=3), now=moment) == "3 gün sonra"
    with force_locale("en"):
        assert formatting.local(moment) == "Dec 6, 2026, 09:30"
        assert formatting.relative(moment - timedelta(hours=2), now=moment) == "2 hours ago"
        # A recipient elsewhere reads it in their own zone.
        with reading_in("America/New_York"):
            assert formatting.local(moment, "time") == "01:30"
    assert formatting.local(None) == ""


def test_a_users_own_time_zone_wins_over_the_organizations(istanbul_org):
    user = factories.user(istanbul_org, password=None)
    set_tenant(istanbul_org.id, user.id)
    moment = datetime(2026, 12, 6, 6, 30, tzinfo=UTC)
    with force_locale("en"):
        assert formatting.local(moment, "time") == "09:30"
        user.timezone = "Europe/London"
        assert formatting.local(moment, "time") == "06:30"


# --- typed numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, typed, value",
    [
        ("tr", "1.234,50", Decimal("1234.50")),
        ("tr", "1234,5", Decimal("1234.5")),
        ("tr", "1234.50", Decimal("1234.50")),  # plain, as a machine writes it
        ("tr", " 60.000 ", Decimal("60000")),
        ("en", "1,234.50", Decimal("1234.50")),
        ("en", "1234.50", Decimal("1234.50")),
    ],
)
def test_decimal_input_in_the_persons_format(app, language, typed, value):
    with app.test_request_context(), force_locale(language):
        assert formatting.parse_decimal(typed) == value


def test_an_amount_field_reads_the_locale_and_says_what_it_wants(app):
    from flask_wtf import FlaskForm

    class Form(FlaskForm):
        amount = AmountField("Amount", places=2)

    with app.test_request_context(), force_locale("tr"):
        form = Form(formdata=MultiDict({"amount": "1.234,50"}))
        assert form.validate() and form.amount.data == Decimal("1234.50")
        bad = Form(formdata=MultiDict({"amount": "1,234.50"}))
        assert not bad.validate()
        assert bad.amount.errors == ["1.234,50 gibi bir sayı girin."]
        shown = Form(data={"amount": Decimal("60000")})
        assert shown.amount._value() == "60.000,00"
    with app.test_request_context(), force_locale("en"):
        form = Form(formdata=MultiDict({"amount": "1,234.50"}))
        assert form.validate() and form.amount.data == Decimal("1234.50")


def test_a_deal_amount_typed_with_a_decimal_comma(client, login_as):
    organization, admin = factories.organization("Decimal Comma", currency="TRY", locale="tr")
    login_as(admin)
    customer = factories.customer(organization)
    set_tenant(organization.id, admin.id)
    stage_id = db.session.scalar(
        select(PipelineStage.id)
        .where(PipelineStage.organization_id == organization.id)
        .order_by(PipelineStage.position)
    )
    response = client.post(
        "/pipeline/opportunities/new",
        data={
            "name": "Kumaş siparişi",
            "customer": customer.customer_code,
            "stage_id": str(stage_id),
            "amount": "60.000,50",
            "expected_close_date": "2026-12-31",
            "owner_id": str(admin.id),
        },
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    [deal] = db.session.scalars(
        select(Opportunity).where(Opportunity.organization_id == organization.id)
    ).all()
    assert deal.amount == Decimal("60000.50")


# --- Turkish letters in search and sorting ------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("istanbul", "İSTANBUL"),
        ("İSTANBUL", "istanbul"),
        ("ISTANBUL", "İstanbul"),
        ("ışık", "IŞIK"),
        ("isik", "Işık"),
        ("IŞIK", "ışık"),
        ("sule", "Şule"),
        ("ŞULE", "şule"),
        ("cagri ozgur", "Çağrı Özgür"),
    ],
)
def test_crm_fold_matches_turkish_letters_in_any_case(app, typed, stored):
    assert db.session.scalar(text("SELECT crm_fold(:a) = crm_fold(:b)"), {"a": typed, "b": stored})


def test_crm_fold_keeps_different_words_apart(app):
    assert not db.session.scalar(text("SELECT crm_fold('Işık') = crm_fold('Işıl')"))


@pytest.fixture
def turkish_customers(istanbul_org):
    made = {}
    for first, last, city in (
        ("Işık", "Yılmaz", "İSTANBUL"),
        ("Şule", "Çelik", "Kırşehir"),
        ("Cem", "Demir", "izmir"),
    ):
        made[first] = factories.customer(istanbul_org, first_name=first, last_name=last, city=city)
    return made


def _found(**filters) -> list[str]:
    page = customers.search_customers(customers.CustomerFilters(**filters))
    return sorted(customer.first_name for customer in page.items)


def test_customer_search_and_city_filter_know_the_turkish_i(turkish_customers):
    assert _found(q="isik") == ["Işık"]
    assert _found(q="IŞIK") == ["Işık"]
    assert _found(q="sule celik") == ["Şule"]
    assert _found(q="ŞULE") == ["Şule"]
    assert _found(city="istanbul") == ["Işık"]
    assert _found(city="KIRŞEHİR") == ["Şule"]
    assert _found(city="kirsehir") == ["Şule"]
    assert _found(city="İZMİR") == ["Cem"]


def test_the_search_indexes_fold_with_the_same_function(app):
    definitions = dict(
        db.session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ("
                "'ix_customers_org_city', 'ix_tickets_active_subject_trgm')"
            )
        ).all()
    )
    assert "crm_fold" in definitions["ix_customers_org_city"]
    assert "crm_fold" in definitions["ix_tickets_active_subject_trgm"]
    for table in ("customers", "leads"):
        expression = db.session.scalar(
            text(
                "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE d.adrelid = CAST(:table AS regclass) AND a.attname = 'search_text'"
            ),
            {"table": table},
        )
        assert expression.startswith("crm_fold(")


def test_ticket_and_lead_search_know_turkish_letters(istanbul_org):
    admin = db.session.scalar(select(User).where(User.organization_id == istanbul_org.id))
    customer = factories.customer(istanbul_org)
    set_tenant(istanbul_org.id, admin.id)
    ticket = tickets.create_ticket(subject="IŞIK ARIZASI İSTANBUL", customer_id=customer.id)
    for typed in ("ışık", "isik arizasi", "istanbul"):
        filters = queue.QueueFilters(view="all", q=typed)
        assert [row.id for row in queue.queue_page(admin, filters).items] == [ticket.id], typed

    leads.create_lead(first_name="Şule", last_name="Öztürk", company="Çağ Ltd", email="s@x.example")
    for typed in ("sule", "ŞULE ÖZTÜRK", "cag ltd"):
        assert [lead.first_name for lead in leads.search_leads(q=typed).items] == ["Şule"], typed


def _turkish_collation(app) -> bool:
    return db.session.scalar(text("""SELECT to_regcollation('"tr-x-icu"') IS NOT NULL"""))


def test_a_turkish_organization_sorts_names_in_turkish_order(istanbul_org, app):
    for first in ("Çağlar", "Deniz", "Ceylan", "Ilgaz", "İpek", "Cem"):
        factories.customer(istanbul_org, first_name=first, last_name="")
    names = [
        customer.first_name
        for customer in customers.search_customers(customers.CustomerFilters(sort="name")).items
    ]
    if _turkish_collation(app):
        # ç after c, ı (dotless) before i (dotted).
        assert names == ["Cem", "Ceylan", "Çağlar", "Deniz", "Ilgaz", "İpek"]
    else:  # no ICU (the embedded PostgreSQL): the database's own order, as in English
        plain = db.session.scalars(
            select(Customer.first_name)
            .where(Customer.organization_id == istanbul_org.id)
            .order_by(Customer.sort_name, Customer.id)
        ).all()
        assert names == plain
    descending = customers.search_customers(customers.CustomerFilters(sort="-name")).items
    assert [customer.first_name for customer in descending] == names[::-1]


def test_merge_fields_keep_turkish_letters(istanbul_org):
    customer = factories.customer(istanbul_org, first_name="Şükrü", last_name="Çağlar")
    assert customer.display_name == "Şükrü Çağlar"


# --- messages in the recipient's language -----------------------------------------------------


def test_a_turkish_customer_gets_turkish_email_and_an_english_one_english(
    make_org, stub_broker, smtp_to_sink
):
    organization, admin = make_org("Mail Desk", locale="en")
    set_tenant(organization.id, admin.id)
    stub_broker.flush("outbox")
    turkish = factories.customer(
        organization,
        first_name="Şükrü",
        last_name="Çağlar",
        primary_email="sukru@example.com.tr",
        language="tr",
    )
    english = factories.customer(organization, first_name="Mia", primary_email="mia@example.com")
    for customer, subject in ((turkish, "Kargo gecikti"), (english, "Late parcel")):
        ticket = tickets.create_ticket(subject=subject, customer_id=customer.id)
        tickets.change_status(ticket.id, "resolved")

    assert delivery.deliver("email") == {"sent": 2}
    mails = {mail.rcpt_tos[0]: mail for mail in smtp_to_sink.mails}
    tr_mail, en_mail = mails["sukru@example.com.tr"], mails["mia@example.com"]
    assert tr_mail.message["Subject"].endswith("Çözüldü: Kargo gecikti")
    assert "Merhaba Şükrü Çağlar," in tr_mail.body
    assert "Nasıldık? Tek tıkla puan verin" in tr_mail.body
    assert "Hello" not in tr_mail.body
    html = tr_mail.message.get_body(preferencelist=("html",)).get_content()
    assert 'lang="tr"' in html and "Desteğimizi puanlayın" in html
    assert en_mail.message["Subject"].endswith("Resolved: Late parcel")
    assert "Hello Mia" in en_mail.body

    # The Turkish name travels as RFC 2047 encoded-words and reads back with its letters.
    raw_to = dict(tr_mail.message.raw_items())["To"]
    assert raw_to.isascii() and "=?utf-8?" in raw_to.lower()
    assert str(tr_mail.message["To"]) == "Şükrü Çağlar <sukru@example.com.tr>"


def test_the_mime_builder_encodes_turkish_sender_and_recipient_names():
    skeleton = EmailSkeleton(sender_address="destek@example.com.tr", sender_name="Çağrı Merkezi")
    raw = skeleton.render(
        to_address="ipek@example.com.tr",
        to_name="İpek Işıkoğlu",
        subject="Şikâyetiniz çözüldü",
        text="Merhaba",
        message_id="<1@example.com.tr>",
    )
    assert raw.isascii()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    headers = email.message_from_string(head + "\r\n\r\n", policy=email.policy.compat32)
    for name, expected in (
        ("From", "Çağrı Merkezi <destek@example.com.tr>"),
        ("To", "İpek Işıkoğlu <ipek@example.com.tr>"),
        ("Subject", "Şikâyetiniz çözüldü"),
    ):
        assert "=?utf-8?b?" in headers[name].lower(), name
        assert str(make_header(decode_header(headers[name]))) == expected


def test_a_public_satisfaction_page_speaks_the_customers_language(
    make_org, client, stub_broker, smtp_to_sink
):
    organization, admin = make_org("Anket", locale="en")
    set_tenant(organization.id, admin.id)
    customer = factories.customer(organization, language="tr")
    ticket = tickets.create_ticket(subject="Kargo", customer_id=customer.id)
    token = tickets.csat_token(tickets.change_status(ticket.id, "resolved"))
    clear_tenant()
    page = client.get(f"/support/csat/{token}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert '<html lang="tr">' in page.get_data(as_text=True)


# --- the user's language, the API's ------------------------------------------------------------


def test_a_user_switches_their_language_on_the_profile_page(client, login_as):
    organization, admin = factories.organization("Profil", locale="en")
    login_as(admin)
    page = client.get("/profile").get_data(as_text=True)
    assert '<html lang="en">' in page and "Language" in page

    saved = client.post(
        "/profile", data={"locale": "tr", "timezone": "Europe/Istanbul"}, follow_redirects=True
    )
    body = saved.get_data(as_text=True)
    assert saved.status_code == 200
    assert '<html lang="tr">' in body
    assert "Tercihleriniz kaydedildi." in body and "Kaydet" in body
    set_tenant(organization.id, admin.id)
    db.session.expire_all()
    user = db.session.get(User, admin.id)
    assert (user.locale, user.timezone) == ("tr", "Europe/Istanbul")

    refused = client.post("/profile", data={"locale": "xx", "timezone": "Mars/Olympus"})
    assert refused.status_code == 422

    # Empty follows the organization again.
    client.post("/profile", data={"locale": "", "timezone": ""})
    assert '<html lang="en">' in client.get("/profile").get_data(as_text=True)


def test_an_admin_sets_the_organizations_language_and_currency(client, login_as):
    organization, admin = factories.organization("Ayarlar", locale="en", currency="USD")
    login_as(admin)
    saved = client.post(
        "/admin/settings",
        data={"name": "Ayarlar A.Ş.", "locale": "tr", "timezone": ISTANBUL, "currency": "try"},
        follow_redirects=True,
    )
    assert "Kuruluşun ayarları kaydedildi." in saved.get_data(as_text=True)
    set_tenant(organization.id, admin.id)
    db.session.expire_all()
    organization = db.session.get(Organization, organization.id)
    assert (organization.locale, organization.currency, organization.timezone) == (
        "tr",
        "TRY",
        ISTANBUL,
    )
    refused = client.post(
        "/admin/settings",
        data={"name": "X", "locale": "tr", "timezone": ISTANBUL, "currency": "ABC"},
    )
    assert refused.status_code == 422


def test_api_errors_follow_accept_language(client):
    organization, admin = factories.organization("Api Dil", locale="en")
    unauthenticated = client.get("/api/v1/me", headers={"Accept-Language": "tr-TR,tr;q=0.9"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.get_json()["error"].startswith("Geçerli bir API anahtarını")

    set_tenant(organization.id, admin.id)
    _token, raw = accounts.create_api_token(admin, "Dil")
    clear_tenant()
    headers = {"Authorization": f"Bearer {raw}", "Accept-Language": "tr"}
    refused = client.post("/api/v1/crm/customers/", json=[], headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "Bir JSON nesnesi gönderin."
    missing = client.get("/api/v1/crm/customers/999999999/", headers=headers)
    assert missing.status_code == 404
    english = client.post(
        "/api/v1/crm/customers/", json=[], headers={**headers, "Accept-Language": "en"}
    )
    assert english.get_json()["error"] == "Send a JSON object."


# --- the Turkish demo organization, the catalog -------------------------------------------------


def test_seed_with_the_turkish_locale_makes_the_demo_organization_turkish(app):
    result = app.test_cli_runner().invoke(
        args=["crm", "seed", "--locale", "tr", "--customers", "40", "--leads", "0",
              "--opportunities", "0", "--activities", "0"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    organization_id = accounts.organization_id_for_slug("demo")
    set_tenant(organization_id)
    organization = db.session.get(Organization, organization_id)
    assert (organization.locale, organization.currency, organization.timezone) == (
        "tr",
        "TRY",
        ISTANBUL,
    )
    names = set(
        db.session.scalars(select(User.name).where(User.organization_id == organization_id))
    )
    assert "Şule Çelik" in names
    seeded = db.session.scalars(
        select(Customer).where(Customer.organization_id == organization_id)
    ).all()
    assert len(seeded) == 40
    assert all(customer.primary_phone.startswith("+905") for customer in seeded)
    assert {customer.country for customer in seeded} == {"TR"}
    assert {customer.language for customer in seeded} == {"tr"}
    assert {customer.timezone for customer in seeded} == {ISTANBUL}
    assert {customer.city for customer in seeded} <= set(TURKISH_CITIES)
    # Faker's tr_TR names: Turkish letters appear.
    assert any(set("çğıöşüİ") & set(customer.display_name) for customer in seeded)


def test_the_turkish_catalog_has_no_untranslated_or_fuzzy_entry():
    with (TRANSLATIONS / "tr" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    problems = [
        message.id for message in catalog if message.id and (not message.string or message.fuzzy)
    ]
    assert problems == []
    assert len(catalog) > 50


def test_every_turkish_message_keeps_the_placeholders_of_its_source():
    """What `pybabel compile` checks: a translation that drops or changes a %(name)s
    placeholder would raise when the message is formatted."""
    with (TRANSLATIONS / "tr" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    problems = [
        (message.id, [str(error) for error in errors]) for message, errors in catalog.check()
    ]
    assert problems == []


def test_local_times_do_not_depend_on_the_servers_zone(istanbul_org):
    moment = datetime(2026, 6, 1, 21, 0, tzinfo=ZoneInfo("UTC"))
    with force_locale("tr"):
        assert formatting.local(moment) == "2 Haz 2026 00:00"


def test_kept_board_columns_are_kept_per_language(client, sales, login_as):
    deal(sales, "Proposal", amount="60000")
    set_tenant(sales.organization.id, sales.seller.id)
    db.session.get(User, sales.seller.id).locale = "tr"
    db.session.commit()
    login_as(sales.seller)
    turkish = client.get("/pipeline").get_data(as_text=True)
    login_as(sales.manager)  # the organization's language: English
    english = client.get("/pipeline").get_data(as_text=True)
    currency = sales.organization.currency
    assert "60.000,00" in turkish and "60,000.00" not in turkish
    assert "60,000.00" in english and "60.000,00" not in english, currency


def test_a_user_is_reminded_in_their_own_language_and_time_zone(make_org, make_user, smtp_to_sink):
    team = make_team(make_org, make_user, timezone=ISTANBUL)
    set_tenant(team.organization.id)
    seller = db.session.get(User, team.seller.id)
    seller.locale, seller.timezone = "tr", "America/New_York"
    db.session.commit()
    activity = plan(
        team,
        subject="Teklif",
        due_at=datetime.now(UTC) + timedelta(minutes=10),
        reminder_minutes_before=15,
    )
    set_tenant(team.organization.id)
    reminders.write_due_reminders()
    assert delivery.deliver("email") == {"sent": 1}

    [mail] = smtp_to_sink.mails
    with force_locale("tr"), reading_in("America/New_York"):
        due = formatting.local(activity.due_at, "weekday")
        clock = formatting.local(activity.due_at, "time")
    assert f"{due} (America/New_York)" in mail.body
    assert mail.message["Subject"] == f"Hatırlatma: {clock}, Teklif"
    assert "Son tarih:" in mail.body


def test_a_new_organization_starts_with_its_stages_rules_and_texts_in_its_language(
    istanbul_org, app
):
    def starting_rows(organization_id):
        stages = db.session.scalars(
            select(PipelineStage.name)
            .where(PipelineStage.organization_id == organization_id)
            .order_by(PipelineStage.position)
        ).all()
        rules = db.session.scalars(
            select(LeadScoringRule.label)
            .where(LeadScoringRule.organization_id == organization_id)
            .order_by(LeadScoringRule.position)
        ).all()
        settings = db.session.get(LeadSettings, organization_id)
        return stages, rules, settings.web_form_thank_you

    stages, rules, thank_you = starting_rows(istanbul_org.id)
    assert stages == ["Aday Belirleme", "Niteleme", "Teklif", "Pazarlık", "Kazanıldı", "Kaybedildi"]
    assert rules[:2] == ["Üst düzey unvan", "Karar verici"]
    assert thank_you.startswith("Teşekkürler!")

    english, _admin = factories.organization("Plain", locale="en")
    set_tenant(english.id)
    stages, rules, thank_you = starting_rows(english.id)
    assert stages[0] == "Prospecting" and stages[-2:] == ["Closed Won", "Closed Lost"]
    assert rules[0] == "Senior job title"
    assert thank_you == "Thank you! We will be in touch shortly."


def test_a_turkish_organizations_demo_tickets_are_written_in_turkish(istanbul_org, make_user):
    from crm_web.customers.seeding import seed_customers
    from crm_web.tickets.models import Ticket, TicketMessage
    from crm_web.tickets.seeding import TURKISH_SUBJECTS, seed_tickets

    make_user(istanbul_org, role="support", department="Destek")
    set_tenant(istanbul_org.id)
    seed_customers(10, seed=3, language="tr")
    assert seed_tickets(20, seed=3) == 20
    subjects = set(db.session.scalars(select(Ticket.subject)))
    assert subjects <= set(TURKISH_SUBJECTS)
    opened = db.session.scalars(
        select(TicketMessage.body).where(TicketMessage.kind == "event")
    ).all()
    assert opened and all(body.endswith("üzerinden açıldı.") for body in opened)
