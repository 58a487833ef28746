"""Customer services on the real database: create/edit, codes, duplicates, consent history,
search/filter/sort/keyset pagination through the search function, bulk actions and merge."""

import pytest
from sqlalchemy import func, select, text

from crm_web.communications.services import log_communication
from crm_web.customers import services
from crm_web.customers.models import ConsentEvent, Customer
from crm_web.customers.services import CustomerFilters, DuplicateCustomer
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import NotFound, PermissionDenied, ValidationError
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry


@pytest.fixture
def org(make_org):
    organization, admin = make_org(name="Customer Co", timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    return organization, admin


def person(first="Ayşe", last="Yılmaz", **extra):
    return {"customer_type": "person", "first_name": first, "last_name": last, **extra}


def audit_rows(table: str, row_id, action: str | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(
        AuditEntry.table_name == table, AuditEntry.row_id == str(row_id)
    )
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt.order_by(AuditEntry.id)))


# --- Create, edit, codes -------------------------------------------------------------------


def test_create_normalises_and_numbers_per_organization(org, make_org):
    first = services.create_customer(
        person(primary_email=" Ayse@Example.COM ", primary_phone="0532 123 45 67", tags="VIP")
    )
    second = services.create_customer(person("Mehmet", "Kaya"))
    assert first.customer_code == "CUS-000001" and second.customer_code == "CUS-000002"
    assert first.primary_email == "ayse@example.com"
    # National numbers are read in the organization's country (its time zone is Istanbul).
    assert first.primary_phone == "+905321234567"
    assert first.tags == ["vip"]
    assert first.sort_name == "ayşe yılmaz"
    assert "ayse yilmaz" in first.search_text  # folded for search
    assert [entry.action for entry in audit_rows("customers", first.id)] == ["create"]

    # Another organization starts its own numbering.
    other, other_admin = make_org(name="Other")
    set_tenant(other.id, other_admin.id)
    assert services.create_customer(person()).customer_code == "CUS-000001"


def test_customer_codes_keep_growing_past_six_digits(org):
    assert services.customer_code(42) == "CUS-000042"
    assert services.customer_code(1_234_567) == "CUS-1234567"
    sql = db.session.execute(
        select(services.customer_code_sql(text("42")), services.customer_code_sql(text("1234567")))
    ).one()
    assert tuple(sql) == ("CUS-000042", "CUS-1234567")


def test_create_reports_field_errors(org):
    with pytest.raises(ValidationError) as error:
        services.create_customer(
            person("", "", primary_email="not-an-email", primary_phone="12", owner_id=999999)
        )
    assert set(error.value.fields) == {"first_name", "primary_email", "primary_phone", "owner_id"}
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_owner_must_be_an_active_user_of_the_organization(org, make_org, make_user):
    organization, _admin = org
    seller = make_user(organization, role="sales")
    other, _ = make_org(name="Elsewhere")
    stranger = make_user(other, role="sales")
    set_tenant(organization.id, _admin.id)
    assert services.create_customer(person(owner_id=seller.id)).owner_id == seller.id
    with pytest.raises(ValidationError) as error:
        services.create_customer(person(owner_id=stranger.id))
    assert "owner_id" in error.value.fields


def test_update_validates_the_whole_record_and_audits_changes(org):
    customer = services.create_customer(person(primary_email="a@example.com"))
    updated = services.update_customer(customer.id, {"city": "İzmir", "tags": ["b2b", "VIP"]})
    assert updated.city == "İzmir" and updated.tags == ["b2b", "vip"]
    change = audit_rows("customers", customer.id, "update")[-1]
    assert change.new_values == {"city": "İzmir", "tags": ["b2b", "vip"]}
    with pytest.raises(ValidationError) as error:
        services.update_customer(customer.id, {"customer_type": "company", "company_name": ""})
    assert "company_name" in error.value.fields
    with pytest.raises(ValidationError) as error:
        services.update_customer(customer.id, {"customer_code": "X"})
    assert "customer_code" in error.value.fields


def test_other_tenants_customers_are_not_found(org, make_org):
    customer = services.create_customer(person())
    other, other_admin = make_org(name="Snoop")
    set_tenant(other.id, other_admin.id)
    with pytest.raises(NotFound):
        services.get_customer(customer.id)
    with pytest.raises(NotFound):
        services.update_customer(customer.id, {"city": "X"})
    assert services.search_customers(CustomerFilters(is_active=None)).items == []


# --- Duplicates ----------------------------------------------------------------------------


def test_same_email_or_phone_is_a_duplicate_unless_allowed(org):
    original = services.create_customer(
        person(primary_email="dup@example.com", primary_phone="+905321112233")
    )
    with pytest.raises(DuplicateCustomer) as error:
        services.create_customer(person("Other", "Person", primary_email="DUP@example.com"))
    assert error.value.status == 409
    assert [c.id for c in error.value.duplicates] == [original.id]
    assert "CUS-000001" in error.value.fields["primary_email"]
    with pytest.raises(DuplicateCustomer) as error:
        services.create_customer(
            person(
                "Other", "Person", secondary_phone="0532 111 22 33", primary_phone="0532 999 88 77"
            )
        )
    assert "secondary_phone" in error.value.fields
    twin = services.create_customer(person(primary_email="dup@example.com"), allow_duplicate=True)
    assert twin.id != original.id
    # Editing a customer without touching its email is not a duplicate of itself.
    services.update_customer(original.id, {"city": "Ankara"})
    other = services.create_customer(person("Can", "Demir", primary_email="can@example.com"))
    with pytest.raises(DuplicateCustomer):
        services.update_customer(other.id, {"primary_email": "dup@example.com"})


# --- Consent -------------------------------------------------------------------------------


def test_consent_changes_are_recorded_with_who_when_and_source(org):
    _organization, admin = org
    customer = services.create_customer(person(email_opt_in=True), source="form")
    services.update_customer(customer.id, {"sms_opt_in": True}, source="api")
    services.set_consent(
        customer.id, source="unsubscribe", note="Link in newsletter", email_opt_in=False
    )
    services.set_consent(customer.id, source="form", email_opt_in=False)  # no change, no event
    events = services.consent_history(customer.id).items
    assert [(e.channel, e.old_value, e.new_value, e.source) for e in events] == [
        ("email", True, False, "unsubscribe"),
        ("sms", False, True, "api"),
        ("email", None, True, "form"),
    ]
    assert all(event.user_id == admin.id for event in events)
    assert events[0].note == "Link in newsletter"
    with pytest.raises(ValidationError):
        services.set_consent(customer.id, source="rumour", email_opt_in=True)


# --- Search, filters, sort, keyset pagination ---------------------------------------------


@pytest.fixture
def crowd(org, make_user):
    organization, admin = org
    seller = make_user(organization, role="sales", name="Seller")
    set_tenant(organization.id, admin.id)
    people = [
        person(
            "Şahin",
            "Öztürk",
            primary_email="sahin@ornek.com.tr",
            city="İstanbul",
            primary_phone="0532 111 22 33",
            tags="vip",
            owner_id=seller.id,
        ),
        person(
            "Ada",
            "Lovelace",
            primary_email="ada@example.com",
            city="London",
            lifecycle_stage="customer",
            tags="b2b, vip",
        ),
        {
            "customer_type": "company",
            "company_name": "Zeta Makina A.Ş.",
            "city": "Bursa",
            "primary_email": "info@zeta.example",
        },
        person("Bob", "Jones", primary_email="bob_100%@example.com", is_active=False),
    ]
    customers = [services.create_customer(data) for data in people]
    return {"seller": seller, "customers": customers}


def names(page) -> list[str]:
    return [customer.display_name for customer in page.items]


def test_search_matches_name_company_email_and_phone_folded(crowd):
    search = lambda q: names(services.search_customers(CustomerFilters(q=q)))  # noqa: E731
    assert search("sahin") == ["Şahin Öztürk"]
    assert search("ÖZTÜ") == ["Şahin Öztürk"]
    assert search("zeta mak") == ["Zeta Makina A.Ş."]
    assert search("ada@exa") == ["Ada Lovelace"]
    assert search("0532 111 22") == ["Şahin Öztürk"]  # national format finds the E.164 number
    assert search("+90532111") == ["Şahin Öztürk"]
    assert search("CUS-000002") == ["Ada Lovelace"]
    # Two letters match the start of a word (a trigram the index has), not the middle of one.
    assert search("öz") == ["Şahin Öztürk"]
    assert search("hi") == []
    # LIKE wildcards typed by the user are plain characters.
    assert search("100%") == []
    assert names(services.search_customers(CustomerFilters(q="100%", is_active=None))) == [
        "Bob Jones"
    ]
    assert search("%") == search("")  # a one-character term does not filter


def test_filters_combine(crowd):
    seller = crowd["seller"]
    run = lambda **kw: set(names(services.search_customers(CustomerFilters(**kw))))  # noqa: E731
    assert run(customer_type="company") == {"Zeta Makina A.Ş."}
    assert run(lifecycle_stage="customer") == {"Ada Lovelace"}
    assert run(owner_id=seller.id) == {"Şahin Öztürk"}
    assert run(unassigned=True) == {"Ada Lovelace", "Zeta Makina A.Ş."}
    assert run(tag="vip") == {"Şahin Öztürk", "Ada Lovelace"}
    assert run(tag="vip", q="ada") == {"Ada Lovelace"}
    assert run(city="İSTANBUL") == {"Şahin Öztürk"}
    assert run(city="london") == {"Ada Lovelace"}
    assert run(is_active=False) == {"Bob Jones"}
    assert len(run(is_active=None)) == 4
    assert services.count_customers(CustomerFilters(is_active=None)) == 4
    assert services.count_customers(CustomerFilters(is_active=None), cap=2) == 3


def test_sorts_and_keyset_pages_cover_everything_once(crowd):
    all_active = CustomerFilters(is_active=None, sort="name")
    # (Where Ş sorts depends on the database's collation; A and B come first in any.)
    assert names(services.search_customers(all_active))[:2] == ["Ada Lovelace", "Bob Jones"]
    for sort in services.SORTS:
        filters = CustomerFilters(is_active=None, sort=sort)
        everything = [c.id for c in services.search_customers(filters, limit=200).items]
        seen, cursor = [], None
        while True:
            page = services.search_customers(filters, cursor=cursor, limit=3)
            seen.extend(c.id for c in page.items)
            cursor = page.next_cursor
            if not cursor:
                break
        assert seen == everything and len(seen) == 4, sort
    newest = [c.id for c in services.search_customers(CustomerFilters(is_active=None)).items]
    assert newest == sorted(newest, reverse=True)
    descending = names(services.search_customers(CustomerFilters(is_active=None, sort="-name")))
    assert descending == list(reversed(names(services.search_customers(all_active))))


def test_the_list_shows_the_same_customers_as_plain_rows(crowd):
    for sort in services.SORTS:
        filters = CustomerFilters(is_active=None, sort=sort)
        customers = services.search_customers(filters, limit=3)
        listed = services.list_customers(filters, limit=3)
        assert listed.next_cursor == customers.next_cursor
        assert [
            (c.id, c.display_name, c.customer_code, c.tags, c.owner.name if c.owner else None)
            for c in customers.items
        ] == [(c.id, c.display_name, c.customer_code, c.tags, c.owner_name) for c in listed.items]
    assert any(c.owner_name for c in services.list_customers(CustomerFilters(is_active=None)).items)


def test_filters_from_query_args(org):
    filters = CustomerFilters.from_args(
        {
            "q": "  ada   love ",
            "type": "person",
            "lifecycle": "lead",
            "owner": "none",
            "tag": "VIP",
            "city": "London",
            "active": "all",
            "sort": "name",
        }
    )
    assert filters == CustomerFilters(
        q="ada love",
        customer_type="person",
        lifecycle_stage="lead",
        unassigned=True,
        tag="vip",
        city="London",
        is_active=None,
        sort="name",
    )
    assert CustomerFilters.from_args(filters.to_args()) == filters
    assert CustomerFilters.from_args({}).to_args() == {}
    assert CustomerFilters.from_args({"owner": "7"}).owner_id == 7
    with pytest.raises(ValidationError) as error:
        CustomerFilters.from_args(
            {"type": "x", "lifecycle": "y", "owner": "me", "active": "z", "sort": "salary"}
        )
    assert set(error.value.fields) == {"type", "lifecycle", "owner", "active", "sort"}
    with pytest.raises(ValidationError):
        services.search_customers(CustomerFilters(), cursor="garbage!")
    with pytest.raises(ValidationError):
        services.search_customers(CustomerFilters(), limit=500)


def test_export_ids_come_in_list_order_in_batches(crowd):
    filters = CustomerFilters(is_active=None, sort="name")
    batches = list(services.matching_customer_ids(filters, 3))
    assert [len(batch) for batch in batches] == [3, 1]
    streamed = [id_ for batch in batches for id_ in batch]
    assert streamed == [c.id for c in services.search_customers(filters).items]


def test_the_search_is_tenant_scoped(crowd, make_org):
    def matches() -> int:
        return services.count_customers(CustomerFilters(is_active=None))

    assert matches() == 4
    other, other_admin = make_org(name="Peeker")
    set_tenant(other.id, other_admin.id)
    assert matches() == 0
    clear_tenant()
    set_tenant(None)
    assert matches() == 0


# --- Bulk actions --------------------------------------------------------------------------


def test_bulk_actions_are_set_based_audited_and_role_checked(crowd, org, make_user):
    organization, admin = org
    seller, customers = crowd["seller"], crowd["customers"]
    ids = [c.id for c in customers[:3]]
    changed = services.bulk_update("assign_owner", acting_user=admin, ids=ids, value=seller.id)
    assert changed == 2  # the first one already belonged to the seller
    db.session.expire_all()
    assert {db.session.get(Customer, i).owner_id for i in ids} == {seller.id}
    entry = audit_rows("customers", ids[1], "update")[-1]
    assert entry.old_values == {"owner_id": None} and entry.new_values == {"owner_id": seller.id}
    assert entry.user_id == admin.id

    changed = services.bulk_update(
        "add_tag", acting_user=admin, filters=CustomerFilters(q="ada"), value=" Key Account "
    )
    assert changed == 1
    db.session.expire_all()
    assert db.session.get(Customer, customers[1].id).tags == ["b2b", "vip", "key account"]
    # Adding it again changes nothing.
    assert (
        services.bulk_update(
            "add_tag", acting_user=admin, ids=[customers[1].id], value="key account"
        )
        == 0
    )

    marketer = make_user(organization, role="marketing")
    set_tenant(organization.id, admin.id)
    with pytest.raises(PermissionDenied):
        services.bulk_update("deactivate", acting_user=marketer, ids=ids)
    assert services.bulk_update("add_tag", acting_user=marketer, ids=ids, value="fair") == 3
    assert services.bulk_update("deactivate", acting_user=admin, filters=CustomerFilters()) == 3
    assert services.count_customers(CustomerFilters()) == 0
    with pytest.raises(ValidationError):
        services.bulk_update("deactivate", acting_user=admin, ids=[])
    with pytest.raises(ValidationError):
        services.bulk_update("add_tag", acting_user=admin, ids=ids, value="  ")
    with pytest.raises(ValidationError):
        services.bulk_update("explode", acting_user=admin, ids=ids)


def test_bulk_actions_never_touch_other_tenants(crowd, org, make_org):
    victim_ids = [c.id for c in crowd["customers"]]
    other, other_admin = make_org(name="Intruder")
    set_tenant(other.id, other_admin.id)
    # Foreign ids are not customers here: nothing changes.
    assert services.bulk_update("deactivate", acting_user=other_admin, ids=victim_ids) == 0
    organization, admin = org
    set_tenant(organization.id, admin.id)
    assert services.count_customers(CustomerFilters(is_active=None)) == 4
    assert services.count_customers(CustomerFilters(is_active=True)) == 3


# --- Merge ---------------------------------------------------------------------------------


def test_every_foreign_key_to_customers_is_declared_for_merge():
    assert services.undeclared_customer_references() == []


def test_merge_moves_related_rows_combines_fields_and_audits(org, make_user):
    organization, admin = org
    seller = make_user(organization, role="sales")
    set_tenant(organization.id, admin.id)
    winner = services.create_customer(
        person(
            "Ayşe",
            "Yılmaz",
            primary_email="ayse@example.com",
            tags="vip",
            lifecycle_stage="lead",
            email_opt_in=True,
        )
    )
    loser = services.create_customer(
        person(
            "Ayse",
            "Yilmaz",
            primary_email="ayse.y@work.example",
            primary_phone="+905320000001",
            city="Ankara",
            tags="b2b, vip",
            lifecycle_stage="customer",
            owner_id=seller.id,
            email_opt_in=True,
            sms_opt_in=True,
            do_not_contact=True,
        ),
    )
    services.set_consent(loser.id, source="unsubscribe", email_opt_in=False)  # the latest decision
    call = log_communication(loser.id, communication_type="call", direction="inbound", subject="Hi")
    log_communication(winner.id, communication_type="email", direction="outbound", subject="Offer")

    merged = services.merge_customers(winner.id, loser.id)

    assert merged.id == winner.id
    assert db.session.get(Customer, loser.id) is None
    assert merged.primary_email == "ayse@example.com"
    assert merged.secondary_email == "ayse.y@work.example"
    assert merged.primary_phone == "+905320000001"
    assert merged.city == "Ankara" and merged.owner_id == seller.id
    assert merged.tags == ["vip", "b2b"]
    assert merged.lifecycle_stage == "customer"
    assert merged.email_opt_in is False  # the loser's later unsubscribe wins
    assert merged.sms_opt_in is True and merged.do_not_contact is True
    moved = db.session.execute(
        text("SELECT customer_id FROM communications WHERE id = :id"), {"id": call.id}
    ).scalar_one()
    assert moved == winner.id
    consent_customers = set(
        db.session.scalars(
            select(ConsentEvent.customer_id).where(ConsentEvent.organization_id == organization.id)
        )
    )
    assert consent_customers == {winner.id}
    merge_sources = {e.source for e in services.consent_history(winner.id, limit=50).items}
    assert "merge" in merge_sources and "unsubscribe" in merge_sources
    entry = audit_rows("customers", winner.id, "merge")[-1]
    assert entry.old_values["merged_customer"]["id"] == loser.id
    assert entry.new_values["moved_rows"]["communications.customer_id"] == 1
    assert (
        audit_rows("customers", loser.id, "delete")[-1].old_values["primary_email"]
        == "ayse.y@work.example"
    )


def test_merge_is_atomic(org, monkeypatch):
    winner = services.create_customer(person("One", "A"))
    loser = services.create_customer(person("Two", "B"))
    log_communication(loser.id, communication_type="call", direction="inbound", subject="Hi")
    services.register_customer_reference("no_such_table")
    try:
        with pytest.raises(Exception):  # noqa: B017 (the database's own error)
            services.merge_customers(winner.id, loser.id)
    finally:
        services._references.pop(("no_such_table", "customer_id"))
    # The communication moved before the failure, and the rollback put it back.
    assert db.session.get(Customer, loser.id) is not None
    count = db.session.execute(
        text("SELECT count(*) FROM communications WHERE customer_id = :id"), {"id": loser.id}
    ).scalar_one()
    assert count == 1


def test_merge_refuses_bad_pairs(org, make_org):
    one = services.create_customer(person("One", "A"))
    with pytest.raises(ValidationError):
        services.merge_customers(one.id, one.id)
    other, other_admin = make_org(name="Far")
    set_tenant(other.id, other_admin.id)
    foreign = services.create_customer(person("Far", "Away"))
    with pytest.raises(NotFound):
        services.merge_customers(foreign.id, one.id)


def test_merge_drops_the_losers_rows_that_would_break_a_unique_key(org):
    organization, _admin = org
    db.session.execute(
        text(
            "CREATE TEMP TABLE merge_probe (organization_id bigint, customer_id bigint, "
            "kind text, UNIQUE (customer_id, kind))"
        )
    )
    winner = services.create_customer(person("One", "A"))
    loser = services.create_customer(person("Two", "B"))
    db.session.execute(
        text("INSERT INTO merge_probe VALUES (:o, :w, 'news'), (:o, :l, 'news'), (:o, :l, 'sale')"),
        {"o": organization.id, "w": winner.id, "l": loser.id},
    )
    services.register_customer_reference("merge_probe", unique_with=("kind",))
    try:
        services.merge_customers(winner.id, loser.id)
    finally:
        services._references.pop(("merge_probe", "customer_id"))
    rows = db.session.execute(text("SELECT customer_id, kind FROM merge_probe ORDER BY kind")).all()
    assert [tuple(row) for row in rows] == [(winner.id, "news"), (winner.id, "sale")]
