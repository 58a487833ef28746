"""Segments: criteria compiled to SQL agree with a Python reading of the same rules (property
test), membership keeps a movement log, refresh on demand and on schedule, and bad criteria
are refused naming the rule."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from crm_web import jobs
from crm_web.catalog import products
from crm_web.catalog.orders import PURCHASED
from crm_web.customers.models import Customer
from crm_web.db import set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.segments import criteria, services
from crm_web.segments.criteria import Group
from crm_web.segments.models import SegmentMember, SegmentRefresh
from tests import factories
from tests.worker_fixtures import queued

TIMEZONE = "Europe/Istanbul"
# What the database's crm_fold() (migration 0026) does, for the Python evaluation.
FOLD = str.maketrans("çğıöşüâîûÇĞİÖŞÜÂÎÛ", "cgiosuaiuCGIOSUAIU")
CITIES = ["Ankara", "ankara", "ANKARA", "İstanbul", "istanbul", "Izmir", "Çorum", "corum", ""]
TAGS = ["vip", "new", "b2b"]


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Segmentler", timezone=TIMEZONE)
    set_tenant(organization.id, admin.id)
    return organization, admin


@pytest.fixture
def catalog(org):
    """Two categories and three products (the third has none), not stock-tracked: the orders
    the property test makes need no stock. Returns [(product id, category id or None)]."""
    kupa, cay = products.create_category("Kupa"), products.create_category("Çay")
    made = [
        factories.product(stock=0, track_stock=False, category_id=category)
        for category in (kupa.id, cay.id, None)
    ]
    return [(product.id, product.category_id) for product in made]


# -- the Python reading of the rules ----------------------------------------------------------


def _fold(value: str) -> str:
    return value.translate(FOLD).lower()


def _age(birth: dt.date | None, today: dt.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


class Reference:
    """Evaluates checked criteria on a customer as the spec says (every rule two-valued)."""

    def __init__(self, now: dt.datetime, today: dt.date, session_zone: ZoneInfo):
        self.now, self.today, self.session_zone = now, today, session_zone

    # Per customer id: the purchase fields, as the test worked them out from the orders it made.
    purchases: dict[int, dict] = {}

    def value(self, customer: Customer, name: str):
        return (
            {
                "age": _age(customer.birth_date, self.today),
                "city": customer.city,
                "country": customer.country,
                "industry": customer.industry,
                "company_size": customer.company_size,
                "customer_type": customer.customer_type,
                "lifecycle_stage": customer.lifecycle_stage,
                "tags": customer.tags,
                "owner": customer.owner_id,
                "created": customer.created_at,
                "customer_since": customer.customer_since,
                "annual_revenue": customer.annual_revenue,
                "email_opt_in": customer.email_opt_in,
                "sms_opt_in": customer.sms_opt_in,
                "do_not_contact": customer.do_not_contact,
            }
            | self.purchases.get(customer.id, {})
        )[name]

    def matches(self, node, customer: Customer) -> bool:
        if isinstance(node, Group):
            results = [self.matches(rule, customer) for rule in node.rules]
            return all(results) if node.match == "all" else any(results)
        return self.rule(node, self.value(customer, node.field.name))

    def rule(self, rule, value) -> bool:
        field, op, wanted = rule.field, rule.op, rule.value
        if op in ("is_set", "is_not_set"):
            present = bool(value) if field.type in ("tags", "text", "choice") else value is not None
            return present if op == "is_set" else not present
        if field.type == "tags":
            return (wanted in value) == (op == "contains")
        if field.type == "set":
            return (int(wanted) in value) == (op == "contains")
        if field.type == "text":
            folded = _fold(value)
            if op in ("contains", "not_contains"):
                return (_fold(wanted) in folded) == (op == "contains")
            if op == "in":
                return folded in {_fold(item) for item in wanted}
            return (folded == _fold(wanted)) == (op == "eq")
        if field.type == "date" and value is None:
            return op == "neq"
        if field.type == "date":
            if op == "within_last_days":
                moment = value
                if not isinstance(value, dt.datetime):
                    moment = dt.datetime.combine(value, dt.time(), self.session_zone)
                return moment >= self.now - dt.timedelta(days=wanted)
            if field.timestamp:
                value = value.astimezone(ZoneInfo(TIMEZONE)).date()
        if field.type == "choice" and field.numeric_choice:
            wanted = (
                tuple(int(item) for item in wanted) if isinstance(wanted, tuple) else int(wanted)
            )
        if op == "neq":
            return value != wanted
        if value is None:
            return False
        if op == "in":
            return value in wanted
        if op == "between":
            return wanted[0] <= value <= wanted[1]
        return {
            "eq": value == wanted,
            "gt": value > wanted,
            "gte": value >= wanted,
            "lt": value < wanted,
            "lte": value <= wanted,
            "before": value < wanted,
            "after": value > wanted,
        }[op]


# -- random customers and criteria ------------------------------------------------------------

# Few distinct values, so that rules and customers meet often: folding (İ, Ç, case) and
# containment are what the text operators have to get right.
TEXT = st.sampled_from([*CITIES[:-1], "an", "ANK", "stan", "ÇOR"]) | st.text(
    alphabet="aAçÇıIiİ", min_size=1, max_size=2
)
# Small ranges, so that values meet bounds exactly (between is inclusive, gt is not).
NUMBERS = st.sampled_from([Decimal(n) for n in ("-1", "0", "1", "2", "10.5")])
DAYS_AGO = st.integers(0, 6)


def _dates(today: dt.date):
    return st.integers(-1, 6).map(lambda days: today - dt.timedelta(days=days))


def _field_values(admin_id: int, today: dt.date, catalog=()):
    """Per field: a strategy for its values in rules."""
    purchases = {
        "orders_count": st.integers(0, 3).map(Decimal),
        "total_spent": st.sampled_from([Decimal(n) for n in ("0", "10", "25.50", "60")]),
        "last_purchase": _dates(today),
        "bought_product": st.sampled_from([str(product) for product, _category in catalog]),
        "bought_category": st.sampled_from(
            sorted({str(category) for _product, category in catalog if category})
        ),
        "rfm_group": st.sampled_from(["champions", "loyal", "at_risk"]),
    }
    return (purchases if catalog else {}) | {
        "age": st.integers(0, 4).map(Decimal),
        "city": TEXT,
        "country": st.sampled_from(["TR", "tr", "DE"]),
        "industry": TEXT,
        "company_size": st.sampled_from(["1-10", "11-50", "1000+"]),
        "customer_type": st.sampled_from(["person", "company"]),
        "lifecycle_stage": st.sampled_from(["lead", "customer", "churned"]),
        "tags": st.sampled_from(TAGS),
        "owner": st.just(str(admin_id)),
        "created": _dates(today),
        "customer_since": _dates(today),
        "annual_revenue": NUMBERS,
        "email_opt_in": st.booleans(),
        "sms_opt_in": st.booleans(),
        "do_not_contact": st.booleans(),
    }


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@st.composite
def rules(draw, values, depth=0):
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        return draw(groups(values, depth + 1))
    # Fields with many operators are drawn more often.
    name = draw(
        st.sampled_from(
            [*sorted(values), "city", "industry", "age", "annual_revenue", "created"] * 2
            + ["customer_since", "tags"]
        )
    )
    field = criteria.registry.get(name)
    op = draw(st.sampled_from(field.operators))
    rule = {"field": name, "op": op}
    if op == "within_last_days":
        rule["value"] = draw(st.integers(1, 500))
    elif op == "between":
        low, high = sorted([draw(values[name]), draw(values[name])])
        rule["value"] = [_json_value(low), _json_value(high)]
    elif op == "in":
        rule["value"] = [
            _json_value(v) for v in draw(st.lists(values[name], min_size=1, max_size=3))
        ]
    elif op not in ("is_set", "is_not_set"):
        rule["value"] = _json_value(draw(values[name]))
    return rule


@st.composite
def groups(draw, values, depth=0):
    return {
        "match": draw(st.sampled_from(["all", "any"])),
        "rules": draw(st.lists(rules(values, depth), min_size=0 if depth else 1, max_size=4)),
    }


@st.composite
def customers(draw, admin_id: int, today: dt.date):
    return {
        "city": draw(st.sampled_from(CITIES) | TEXT),
        "country": draw(st.sampled_from(["TR", "DE", ""])),
        "industry": draw(st.sampled_from(["", "Ankara", "stan", "ANK"]) | TEXT),
        "company_size": draw(st.sampled_from(["", "1-10", "1000+"])),
        "customer_type": draw(st.sampled_from(["person", "company"])),
        "lifecycle_stage": draw(st.sampled_from(["lead", "customer", "churned"])),
        "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=2)),
        "owner_id": draw(st.sampled_from([None, admin_id])),
        "birth_date": draw(
            st.none() | st.integers(0, 5 * 366).map(lambda days: today - dt.timedelta(days=days))
        ),
        "days_ago": draw(DAYS_AGO),
        "customer_since": draw(_dates(today)),
        "annual_revenue": draw(st.none() | NUMBERS),
        "email_opt_in": draw(st.booleans()),
        "sms_opt_in": draw(st.booleans()),
        "do_not_contact": draw(st.booleans()),
        "is_active": draw(st.booleans() | st.just(True)),
        "rfm_group": draw(st.none() | st.sampled_from(["champions", "loyal"])),
        # (status, days ago, total, refunded, lines as (product index, kept: not all returned))
        "orders": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["paid", "delivered", "pending", "cancelled", "returned"]),
                    DAYS_AGO,
                    st.sampled_from([Decimal("10"), Decimal("25.50")]),
                    st.sampled_from([Decimal("0"), Decimal("10")]),
                    st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=2),
                ),
                max_size=3,
            )
        ),
    }


def _purchases(organization_id: int, customer: Customer, drawn: list, catalog, now, rfm):
    """Write the drawn orders of a customer (and their RFM group); returns the purchase
    fields as the spec reads them."""
    counted = [order for order in drawn if order[0] in PURCHASED]
    for number, (status, days_ago, total, refunded, lines) in enumerate(drawn):
        refunded = min(refunded, total)
        order_id = db.session.execute(
            text(
                "INSERT INTO orders (organization_id, order_number, customer_id, status, channel, "
                "payment_method, currency, subtotal, tax_total, discount_total, total, "
                "refunded_total, coupon_code, notes, ordered_at) VALUES (:org, :number, :customer, "
                ":status, 'store', '', 'TRY', :total, 0, 0, :total, :refunded, '', '', :at) "
                "RETURNING id"
            ),
            {
                "org": organization_id,
                "number": f"T-{customer.id}-{number}",
                "customer": customer.id,
                "status": status,
                "total": total,
                "refunded": refunded,
                "at": now - dt.timedelta(days=days_ago, hours=1),
            },
        ).scalar_one()
        for position, (index, kept) in enumerate(lines, start=1):
            product_id, category_id = catalog[index]
            db.session.execute(
                text(
                    "INSERT INTO order_lines (organization_id, order_id, position, product_id, "
                    "category_id, sku, name, quantity, unit_price, discount_percent, tax_rate, "
                    "net_amount, tax_amount, line_total, returned_quantity) VALUES (:org, :order, "
                    ":position, :product, :category, 'X', 'X', 2, 5, 0, 0, 10, 0, 10, :returned)"
                ),
                {
                    "org": organization_id,
                    "order": order_id,
                    "position": position,
                    "product": product_id,
                    "category": category_id,
                    "returned": 1 if kept else 2,
                },
            )
    if rfm:
        db.session.execute(
            text(
                "INSERT INTO customer_values (organization_id, customer_id, order_count, "
                "monetary, first_order_at, last_order_at, r_score, f_score, m_score, segment, "
                "computed_at) VALUES (:org, :customer, 1, 1, now(), now(), 3, 3, 3, :rfm, now())"
            ),
            {"org": organization_id, "customer": customer.id, "rfm": rfm},
        )
    kept = [catalog[index] for order in counted for index, keep in order[4] if keep]
    return {
        "orders_count": len(counted),
        "total_spent": sum((order[2] - min(order[3], order[2]) for order in counted), Decimal(0)),
        "last_purchase": max(
            (now - dt.timedelta(days=order[1], hours=1) for order in counted), default=None
        ),
        "bought_product": {product for product, _category in kept},
        "bought_category": {category for _product, category in kept if category},
        "rfm_group": rfm,
    }


def test_compiled_sql_selects_what_the_rules_say(org, catalog):
    organization, admin = org
    now, today, zone = db.session.execute(
        text("SELECT now(), current_date, current_setting('TimeZone')")
    ).one()
    reference = Reference(now, today, ZoneInfo(zone))
    values = _field_values(admin.id, today, catalog)

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(customers(admin.id, today), min_size=1, max_size=8), groups(values))
    def check(people, raw):
        savepoint = db.session.begin_nested()
        try:
            rows, drawn = [], []
            for index, person in enumerate(people):
                drawn.append((person.pop("orders"), person.pop("rfm_group")))
                days_ago = person.pop("days_ago")
                rows.append(
                    Customer(
                        organization_id=organization.id,
                        customer_code=f"P-{index}",
                        created_at=now - dt.timedelta(days=days_ago, hours=3 * index),
                        **person,
                    )
                )
            db.session.add_all(rows)
            db.session.flush()
            for row in rows:
                db.session.refresh(row)
            reference.purchases = {
                row.id: _purchases(organization.id, row, orders, catalog, now, rfm)
                for row, (orders, rfm) in zip(rows, drawn, strict=True)
            }
            group = criteria.parse(raw)
            where = services.compiled(group)
            found = set(
                db.session.scalars(
                    text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params
                )
            )
            expected = {row.id for row in rows if row.is_active and reference.matches(group, row)}
            assert found == expected, (raw, where.where)
        finally:
            savepoint.rollback()

    check()


def test_values_are_bound_never_written_into_the_sql(org):
    group = criteria.parse(
        {
            "match": "all",
            "rules": [{"field": "city", "op": "eq", "value": "x'; DROP TABLE customers; --"}],
        }
    )
    where = services.compiled(group)
    assert "DROP" not in where.where
    assert "x'; DROP TABLE customers; --" in where.params.values()
    assert (
        db.session.scalar(
            text(f"SELECT count(*) FROM customers c WHERE {where.where}"), where.params
        )
        == 0
    )


@pytest.mark.parametrize(
    "raw, path",
    [
        ({"match": "some", "rules": []}, "match"),
        ({"rules": [{"field": "shoe_size", "op": "eq", "value": "42"}]}, "rules[0].field"),
        ({"rules": [{"field": "city", "op": "gt", "value": "A"}]}, "rules[0].op"),
        ({"rules": [{"field": "age", "op": "gt", "value": "old"}]}, "rules[0].value"),
        ({"rules": [{"field": "age", "op": "between", "value": [40, 30]}]}, "rules[0].value"),
        (
            {"rules": [{"field": "created", "op": "before", "value": "31/03/2026"}]},
            "rules[0].value",
        ),
        ({"rules": [{"field": "created", "op": "within_last_days", "value": 0}]}, "rules[0].value"),
        ({"rules": [{"field": "lifecycle_stage", "op": "eq", "value": "royal"}]}, "rules[0].value"),
        (
            {"rules": [{"match": "any", "rules": [{"field": "city", "op": "eq", "value": ""}]}]},
            "rules[0].rules[0].value",
        ),
        ([1, 2], "criteria"),
    ],
)
def test_bad_criteria_are_refused_naming_the_rule(org, raw, path):
    with pytest.raises(ValidationError) as caught:
        criteria.parse(raw)
    assert path in caught.value.fields


def _customer(organization, **fields):
    return factories.customer(organization, **fields)


def test_refresh_keeps_a_movement_log_and_counts_over_time(org):
    organization, _admin = org
    ankara = [_customer(organization, city="Ankara", tags=["vip"]) for _ in range(3)]
    _customer(organization, city="İzmir", tags=["vip"])
    segment = services.create_segment(
        {
            "segment_name": "Ankara VIPs",
            "criteria": {
                "match": "all",
                "rules": [
                    {"field": "city", "op": "eq", "value": "ankara"},
                    {"field": "tags", "op": "contains", "value": "vip"},
                ],
            },
        }
    )
    assert segment.customer_count == 3
    assert segment.segment_code.startswith("SEG-")

    from crm_web.customers.services import update_customer

    update_customer(ankara[0].id, {"city": "Van"})
    result = services.refresh_segment(segment.id)
    assert (result.customer_count, result.entered, result.left) == (2, 0, 1)
    update_customer(ankara[0].id, {"city": "Ankara"})
    result = services.refresh_segment(segment.id)
    assert (result.customer_count, result.entered, result.left) == (3, 1, 0)

    stays = db.session.scalars(
        select(SegmentMember)
        .where(SegmentMember.segment_id == segment.id, SegmentMember.customer_id == ankara[0].id)
        .order_by(SegmentMember.id)
    ).all()
    assert len(stays) == 2
    assert stays[0].left_at is not None and stays[1].left_at is None
    assert stays[1].entered_at >= stays[0].left_at
    moves = services.movements(segment.id)
    assert [(m.entered, m.customer_id) for m in moves[:2]] == [
        (True, ankara[0].id),
        (False, ankara[0].id),
    ]
    counts = [r.customer_count for r in services.history(segment.id)]
    assert counts == [3, 2, 3]
    assert (
        db.session.scalar(
            select(SegmentRefresh.left)
            .where(SegmentRefresh.segment_id == segment.id)
            .order_by(SegmentRefresh.id.desc())
            .limit(1)
        )
        == 0
    )


def test_a_static_segment_keeps_its_members(org, stub_broker):
    organization, _admin = org
    customer = _customer(organization, city="Bursa")
    segment = services.create_segment(
        {
            "segment_name": "Bursa at launch",
            "is_dynamic": False,
            "criteria": {"rules": [{"field": "city", "op": "eq", "value": "Bursa"}]},
        }
    )
    _customer(organization, city="Bursa")
    with pytest.raises(Conflict):
        services.request_refresh(segment.id)
    with pytest.raises(Conflict):
        services.refresh_segment_now(segment.id)
    page = services.members_page(segment.id)
    assert [c.id for c in page.items] == [customer.id]


def test_refresh_on_demand_is_a_job_and_the_sweep_finds_due_segments(org, stub_broker):
    organization, _admin = org
    stub_broker.flush_all()
    segment = services.create_segment({"segment_name": "Everyone", "refresh_minutes": 15})
    assert not segment.refreshing
    services.request_refresh(segment.id)
    assert services.get_segment(segment.id).refreshing
    messages = queued(stub_broker, jobs.REFRESH_SEGMENT.queue_name)
    assert [(m.actor_name, m.args) for m in messages] == [
        ("refresh_segment", (organization.id, segment.id))
    ]
    stub_broker.flush_all()
    # Not due yet: refreshed at creation; the request is fresh, so its job is trusted.
    assert services.sweep() == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    set_tenant(organization.id)
    assert services.sweep(now=later) >= 1
    assert (organization.id, segment.id) in [
        m.args for m in queued(stub_broker, jobs.REFRESH_SEGMENT.queue_name)
    ]
    services.refresh_segment(segment.id)
    assert not services.get_segment(segment.id).refreshing


def test_engagement_and_health_fields_agree_with_the_360_scores(org):
    from crm_web.communications.services import log_communication
    from crm_web.customer360 import scores

    organization, _admin = org
    quiet = _customer(organization, lifecycle_stage="churned", do_not_contact=True)
    busy = _customer(organization, lifecycle_stage="champion")
    now = db.session.scalar(text("SELECT now()"))
    for days in (1, 3, 20, 40, 100):
        entry = log_communication(
            busy.id, communication_type="call", direction="inbound", content="Hi", status="logged"
        )
        entry.created_at = now - dt.timedelta(days=days)
    email = log_communication(
        busy.id, communication_type="email", direction="outbound", content="Offer", status="sent"
    )
    email.opened_date = now - dt.timedelta(days=2)
    email.clicked_date = now - dt.timedelta(days=2)
    db.session.flush()
    for customer in (quiet, busy):
        overview = scores.customer_overview(customer)
        engagement, health = overview.engagement, overview.health
        for name, expected in (
            ("engagement_score", engagement.value),
            ("health_score", health.value),
        ):
            group = criteria.parse({"rules": [{"field": name, "op": "eq", "value": expected}]})
            where = services.compiled(group)
            ids = set(
                db.session.scalars(
                    text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params
                )
            )
            assert customer.id in ids, (name, expected)
    assert engagement.value > 50


def test_support_and_deal_fields(org):
    organization, admin = org
    with_ticket = factories.ticket(organization, user=admin)
    buyer = _customer(organization)
    set_tenant(organization.id, admin.id)
    factories.deal(buyer.id, amount="2500")
    where = services.compiled(
        criteria.parse({"rules": [{"field": "open_tickets", "op": "gte", "value": 1}]})
    )
    assert set(
        db.session.scalars(text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params)
    ) == {with_ticket.customer_id}
    where = services.compiled(
        criteria.parse(
            {"rules": [{"field": "open_deal_amount", "op": "between", "value": [2000, 3000]}]}
        )
    )
    assert set(
        db.session.scalars(text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params)
    ) == {buyer.id}
