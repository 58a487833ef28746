"""Automations: birthdays once per year with a frozen clock (however often the job runs), waits in
the customer's timezone, branching on opens, goals, consent, and the API's tenancy and errors."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm_web.automations import runner, services
from crm_web.automations.models import Enrollment, StepRun
from crm_web.campaigns import library
from crm_web.db import set_tenant
from crm_web.errors import ServiceError
from crm_web.extensions import db
from crm_web.outbox.models import OutboxMessage
from tests import factories

ISTANBUL = ZoneInfo("Europe/Istanbul")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Journeys", timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    library.add_starter_templates()
    return organization


def _template_id() -> int:
    return library.list_templates()[0].id


def _customer(org, **fields):
    values = {"email_opt_in": True, "sms_opt_in": True, "primary_phone": "+905321234567", **fields}
    customer = factories.customer(org, **values)
    set_tenant(org.id)
    return customer


def _journey(trigger="customer_created", steps=(), activated_at=None, **fields):
    automation = services.create_automation(
        {"name": "Journey", "trigger_kind": trigger, "steps": list(steps), **fields}
    )
    services.activate(automation.id)
    if activated_at is not None:
        automation.activated_at = activated_at
        db.session.flush()
    return automation


def _enrollments(automation) -> list[Enrollment]:
    return list(
        db.session.scalars(
            select(Enrollment)
            .where(Enrollment.automation_id == automation.id)
            .order_by(Enrollment.id)
        )
    )


def _messages(kind_prefix="automation") -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind.startswith(kind_prefix))
    )


def test_a_birthday_enrolls_once_a_year_however_often_the_job_runs(org):
    customer = _customer(org, birth_date=dt.date(1990, 3, 15), timezone="Europe/Istanbul")
    _customer(org, birth_date=dt.date(1990, 3, 16))
    _customer(org)  # no birth date: never enrolled
    automation = _journey("birthday", [{"type": "sms", "template": "birthday"}],
                          activated_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    morning = dt.datetime(2027, 3, 15, 4, 0, tzinfo=dt.UTC)  # 07:00 in Istanbul
    first = runner.run(morning)
    again = runner.run(morning + dt.timedelta(hours=1))
    assert (first["enrolled"], again["enrolled"]) == (1, 0)
    [enrollment] = _enrollments(automation)
    assert enrollment.customer_id == customer.id and enrollment.occurrence == "2027"
    # Due at 09:00 Istanbul time: nothing sent at 07:00, sent by the 09:00 run.
    assert enrollment.next_run_at == dt.datetime(2027, 3, 15, 9, 0, tzinfo=ISTANBUL)
    assert _messages() == 0
    runner.run(dt.datetime(2027, 3, 15, 6, 5, tzinfo=dt.UTC))
    runner.run(dt.datetime(2027, 3, 15, 7, 5, tzinfo=dt.UTC))
    assert _messages() == 1
    db.session.refresh(enrollment)
    assert enrollment.state == "completed"
    # The next year is a new occurrence.
    runner.run(dt.datetime(2028, 3, 15, 7, 0, tzinfo=dt.UTC))
    assert [e.occurrence for e in _enrollments(automation)] == ["2027", "2028"]


def test_a_birthday_is_found_on_its_local_day_a_day_before_or_after_utcs(org):
    kiritimati = _customer(org, birth_date=dt.date(1990, 3, 15), timezone="Pacific/Kiritimati")
    _customer(org, birth_date=dt.date(1990, 3, 15), timezone="Europe/Istanbul")
    pago_pago = _customer(org, birth_date=dt.date(1990, 3, 15), timezone="Pacific/Pago_Pago")
    automation = _journey("birthday", [{"type": "sms", "template": "birthday"}],
                          activated_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    # 14 March 20:00 UTC is 15 March 10:00 at UTC+14, still 14 March in Istanbul.
    runner.run(dt.datetime(2027, 3, 14, 20, 0, tzinfo=dt.UTC))
    assert [e.customer_id for e in _enrollments(automation)] == [kiritimati.id]
    # 16 March 05:00 UTC is 15 March 18:00 at UTC-11, already 16 March in Istanbul.
    runner.run(dt.datetime(2027, 3, 16, 5, 0, tzinfo=dt.UTC))
    assert [e.customer_id for e in _enrollments(automation)] == [kiritimati.id, pago_pago.id]


def test_a_29_february_birthday_is_kept_on_28_february(org):
    _customer(org, birth_date=dt.date(1992, 2, 29))
    automation = _journey("birthday", [{"type": "sms", "template": "birthday"}],
                          activated_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    runner.run(dt.datetime(2027, 2, 28, 10, 0, tzinfo=dt.UTC))
    runner.run(dt.datetime(2028, 2, 28, 10, 0, tzinfo=dt.UTC))  # a leap year: not yet
    runner.run(dt.datetime(2028, 2, 29, 10, 0, tzinfo=dt.UTC))
    assert [e.occurrence for e in _enrollments(automation)] == ["2027", "2028"]


def test_a_29_february_birthday_may_be_kept_on_1_march(org):
    _customer(org, birth_date=dt.date(1992, 2, 29))
    automation = _journey("birthday", [{"type": "sms", "template": "birthday"}],
                          trigger_config={"leap_day": "mar1"},
                          activated_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    assert automation.trigger_config == {"leap_day": "mar1"}
    runner.run(dt.datetime(2027, 2, 28, 10, 0, tzinfo=dt.UTC))  # not on 28 February
    assert _enrollments(automation) == []
    runner.run(dt.datetime(2027, 3, 1, 10, 0, tzinfo=dt.UTC))
    runner.run(dt.datetime(2028, 3, 1, 10, 0, tzinfo=dt.UTC))  # a leap year: not 1 March
    assert [e.occurrence for e in _enrollments(automation)] == ["2027"]
    runner.run(dt.datetime(2028, 2, 29, 10, 0, tzinfo=dt.UTC))
    assert [e.occurrence for e in _enrollments(automation)] == ["2027", "2028"]


def test_the_29_february_choice_is_checked(org):
    with pytest.raises(ServiceError) as caught:
        services.create_automation({"name": "Leap", "trigger_kind": "birthday",
                                    "trigger_config": {"leap_day": "feb30"}})  # fmt: skip
    assert "trigger_config.leap_day" in caught.value.fields


def test_each_customer_gets_the_email_in_their_own_language(org):
    now = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
    english = library.create_template({"name": "Hello", "subject": "Hello", "html": "<p>Hi</p>"})
    turkish = library.create_template(
        {"name": "Merhaba", "subject": "Merhaba", "html": "<p>Selam</p>"}
    )
    turk = _customer(org, language="tr")
    brit = _customer(org, language="en")
    unknown = _customer(org, language="")  # the organization's language
    org.locale = "tr"
    step = {"type": "email", "template_id": english.id,
            "languages": {"tr": turkish.id, "en": english.id}}  # fmt: skip
    automation = _journey(steps=[step], activated_at=now - dt.timedelta(minutes=1))
    assert automation.steps[0]["languages"] == {"tr": turkish.id, "en": english.id}
    for customer in (turk, brit, unknown):
        customer.created_at = now
    db.session.flush()
    runner.run(now)
    sent = db.session.execute(
        select(OutboxMessage.customer_id, OutboxMessage.context).where(
            OutboxMessage.kind == "automation_email"
        )
    ).all()
    version = {row.customer_id: row.context["version_id"] for row in sent}
    turkish_version = library.current_version(turkish).id
    assert version[turk.id] == turkish_version
    assert version[brit.id] == library.current_version(english).id
    assert version[unknown.id] == turkish_version


def test_a_wait_until_a_weekday_and_time_follows_the_customers_timezone(org):
    now = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)  # a Wednesday
    new_yorker = _customer(org, timezone="America/New_York")
    istanbul = _customer(org)  # the organization's timezone
    automation = _journey(
        steps=[
            {"type": "wait", "days": 0, "hours": 0, "weekday": 0, "at": "09:00"},
            {"type": "email", "template_id": _template_id()},
        ],
        activated_at=now - dt.timedelta(minutes=1),
    )
    for customer in (new_yorker, istanbul):
        customer.created_at = now
    db.session.flush()
    runner.run(now)
    due = {e.customer_id: e.next_run_at for e in _enrollments(automation)}
    assert due[new_yorker.id] == dt.datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK)
    assert due[istanbul.id] == dt.datetime(2026, 12, 7, 9, 0, tzinfo=ISTANBUL)
    # Across a DST change the wall clock stays: 09:00 New York on the Monday after 8 March.
    before_dst = dt.datetime(2027, 3, 5, 12, 0, tzinfo=dt.UTC)
    wait = {"days": 0, "hours": 0, "weekday": 0, "at": "09:00"}
    assert runner.wait_until(wait, before_dst, NEW_YORK) == dt.datetime(
        2027, 3, 8, 9, 0, tzinfo=NEW_YORK
    )
    assert runner.wait_until({"days": 2}, now, NEW_YORK) == now + dt.timedelta(days=2)


def _branching_journey(now):
    return _journey(
        steps=[
            {"type": "email", "template_id": _template_id()},
            {"type": "wait", "days": 1},
            {
                "type": "branch",
                "condition": "opened",
                "yes": [{"type": "tag", "action": "add", "tag": "opened"}],
                "no": [{"type": "tag", "action": "add", "tag": "ignored"}],
            },
            {"type": "tag", "action": "add", "tag": "done"},
        ],
        activated_at=now - dt.timedelta(minutes=1),
    )


def test_a_branch_follows_whether_the_previous_email_was_opened(org):
    now = dt.datetime.now(dt.UTC)
    reader, ignorer = _customer(org), _customer(org)
    automation = _branching_journey(now)
    runner.run(now)
    assert _messages() == 2
    runs = {e.customer_id: e.last_message_run_id for e in _enrollments(automation)}
    services.record_hit("open", runs[reader.id])
    runner.run(now + dt.timedelta(days=1, minutes=1))
    db.session.refresh(reader)
    db.session.refresh(ignorer)
    assert "opened" in reader.tags and "ignored" not in reader.tags
    assert "ignored" in ignorer.tags and "opened" not in ignorer.tags
    assert "done" in reader.tags and "done" in ignorer.tags
    assert {e.state for e in _enrollments(automation)} == {"completed"}
    report = {row["step"]["type"]: row for row in services.step_report(automation)}
    assert (report["email"]["sent"], report["email"]["opened"]) == (2, 1)


def test_reaching_the_goal_ends_the_journey_early(org):
    now = dt.datetime.now(dt.UTC)
    customer = _customer(org)
    automation = _journey(
        steps=[{"type": "wait", "days": 2}, {"type": "sms", "template": "welcome"}],
        goal={"kind": "tag", "tag": "buyer"},
        activated_at=now - dt.timedelta(minutes=1),
    )
    runner.run(now)
    customer.tags = ["buyer"]
    db.session.flush()
    runner.run(now + dt.timedelta(days=3))
    [enrollment] = _enrollments(automation)
    assert (enrollment.state, enrollment.exited_reason, enrollment.goal_reached) == (
        "exited",
        "goal",
        True,
    )
    assert _messages() == 0
    assert services.counts([automation.id])[automation.id]["goals"] == 1


def test_messages_go_only_to_customers_who_agree(org):
    now = dt.datetime.now(dt.UTC)
    opted_out = _customer(org, email_opt_in=False)
    _customer(org, do_not_contact=True)
    agrees = _customer(org)
    automation = _journey(
        steps=[
            {"type": "email", "template_id": _template_id()},
            {"type": "sms", "template": "welcome"},
        ],
        activated_at=now - dt.timedelta(minutes=1),
    )
    runner.run(now)
    sent = db.session.execute(select(OutboxMessage.customer_id, OutboxMessage.channel)).all()
    # No email for the one who opted out of email (an SMS still), nothing under do-not-contact.
    assert sorted(sent) == [(opted_out.id, "sms"), (agrees.id, "email"), (agrees.id, "sms")]
    outcomes = db.session.scalars(
        select(StepRun.outcome).where(StepRun.automation_id == automation.id)
    ).all()
    assert sorted(outcomes) == ["sent", "sent", "sent", "skipped", "skipped", "skipped"]


def test_a_step_runs_once_per_enrollment_even_when_asked_twice(org):
    now = dt.datetime.now(dt.UTC)
    _customer(org)
    automation = _journey(
        steps=[{"type": "sms", "template": "welcome"}], activated_at=now - dt.timedelta(minutes=1)
    )
    runner.run(now)
    [enrollment] = _enrollments(automation)
    # As if a crashed twin had left the enrollment on the step it already ran.
    enrollment.state, enrollment.step_id, enrollment.next_run_at = (
        "active",
        (automation.steps[0]["id"]),
        now,
    )
    db.session.flush()
    runner.run(now)
    assert _messages() == 1


def test_one_enrollment_that_fails_is_stopped_and_the_rest_of_its_batch_goes_on(org, monkeypatch):
    from crm_web.automations import steps

    now = dt.datetime.now(dt.UTC)
    broken, fine = _customer(org), _customer(org)
    automation = _journey(
        steps=[
            {"type": "tag", "action": "add", "tag": "seen"},
            {"type": "sms", "template": "welcome"},
        ],
        activated_at=now - dt.timedelta(minutes=1),
    )
    change = steps._change

    def failing(step, customer):
        if customer.id == broken.id:
            raise RuntimeError("a step that cannot run for this customer")
        change(step, customer)

    monkeypatch.setattr(steps, "_change", failing)
    runner.run(now)
    states = {e.customer_id: (e.state, e.exited_reason) for e in _enrollments(automation)}
    assert states == {broken.id: ("exited", "error"), fine.id: ("completed", "")}
    # The failed enrollment's run was rolled back with its step; the other one went on to its SMS.
    ran = db.session.execute(
        select(StepRun.step_type).where(StepRun.automation_id == automation.id)
    ).scalars()
    assert sorted(ran) == ["sms", "tag"]
    assert _messages() == 1
    db.session.refresh(fine)
    assert "seen" in fine.tags


def test_the_holiday_calendar_is_prefilled_from_the_country(org):
    added = services.prefill_holidays("TR", (2026,))
    names = {h.day: h.name for h in services.list_holidays()}
    assert added == len(names) >= 10
    assert dt.date(2026, 10, 29) in names  # Republic Day
    assert services.prefill_holidays("TR", (2026,)) == 0
    with pytest.raises(Exception, match="correct"):
        services.add_holiday(dt.date(2026, 10, 29), "Again")
    _customer(org)
    automation = _journey("holiday", [{"type": "sms", "template": "holiday"}],
                          activated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    runner.run(dt.datetime(2026, 10, 29, 8, 0, tzinfo=dt.UTC))
    assert [e.occurrence for e in _enrollments(automation)] == ["2026-10-29"]


def test_a_tag_added_enrolls_through_the_audit_log(org):
    now = dt.datetime.now(dt.UTC)
    automation = _journey("tag_added", [{"type": "sms", "template": "welcome"}],
                          trigger_config={"tag": "vip"}, activated_at=now - dt.timedelta(minutes=5))  # fmt: skip
    customer = _customer(org)
    from crm_web.customers.services import update_customer

    update_customer(customer.id, {"tags": ["vip"]})
    runner.run(now + dt.timedelta(minutes=1))
    runner.run(now + dt.timedelta(minutes=2))
    assert [e.customer_id for e in _enrollments(automation)] == [customer.id]


# -- the API ----------------------------------------------------------------------------------


def test_the_api_creates_activates_and_lists_in_the_one_envelope(client, make_org, make_user):
    organization, admin = make_org("Api journeys")
    marketer = factories.user(organization, role="marketing", password=None)
    headers = factories.bearer(marketer)
    body = {
        "name": "Welcome",
        "trigger_kind": "customer_created",
        "steps": [{"type": "wait", "days": 1}, {"type": "sms", "template": "welcome"}],
    }
    created = client.post("/api/v1/crm/automations/", json=body, headers=headers)
    assert created.status_code == 201, created.json
    automation_id = created.json["id"]
    assert created.json["status"] == "draft" and created.json["reentry"] == "once"
    activated = client.post(f"/api/v1/crm/automations/{automation_id}/activate/", headers=headers)
    assert activated.json["status"] == "active"
    listed = client.get("/api/v1/crm/automations/", headers=headers).json
    assert [item["id"] for item in listed["items"]] == [automation_id]
    changed = client.put(
        f"/api/v1/crm/automations/{automation_id}/", json={"name": "Hello"}, headers=headers
    )
    assert changed.json["name"] == "Hello"
    paused = client.post(f"/api/v1/crm/automations/{automation_id}/pause/", headers=headers)
    assert paused.json["status"] == "paused"
    enrollments = client.get(
        f"/api/v1/crm/automations/{automation_id}/enrollments/", headers=headers
    ).json
    assert enrollments["items"] == []


def test_the_api_answers_bad_input_with_field_errors(client, make_org):
    organization, admin = make_org("Bad journeys")
    headers = factories.bearer(admin)
    body = {
        "name": "",
        "trigger_kind": "moon_phase",
        "steps": [{"type": "wait", "days": -1}, {"type": "email"}, {"type": "teleport"}],
    }
    response = client.post("/api/v1/crm/automations/", json=body, headers=headers)
    assert response.status_code == 422
    fields = response.json["fields"]
    assert {"name", "trigger_kind", "steps.0.days", "steps.1.template_id", "steps.2.type"} <= set(
        fields
    )
    broken = client.post("/api/v1/crm/automations/", data="[", headers=headers)
    assert broken.status_code in (400, 422) and "error" in broken.json


def test_another_organizations_automation_is_a_404(client, make_org):
    mine, me = make_org("Mine")
    theirs, them = make_org("Theirs")
    set_tenant(theirs.id, them.id)
    automation = services.create_automation({"name": "Theirs", "trigger_kind": "birthday"})
    headers = factories.bearer(me)
    for method, path in (
        ("get", ""),
        ("put", ""),
        ("post", "activate/"),
        ("post", "pause/"),
        ("get", "enrollments/"),
    ):
        response = getattr(client, method)(
            f"/api/v1/crm/automations/{automation.id}/{path}", json={}, headers=headers
        )
        assert response.status_code == 404, (method, path)


def test_sales_may_not_manage_automations(client, make_org):
    organization, _admin = make_org("Roles")
    seller = factories.user(organization, role="sales", password=None)
    response = client.get("/api/v1/crm/automations/", headers=factories.bearer(seller))
    assert response.status_code == 403


def test_the_demo_journeys_are_active_with_history(org):
    from crm_web.automations import seeding

    for index in range(40):
        _customer(org, first_name=f"Demo{index}")
    assert seeding.seed_automations("tr") == 7
    assert seeding.seed_automations("tr") == 0
    page = services.list_automations()
    assert {a.status for a in page.items} == {"active"}
    counts = services.counts([a.id for a in page.items])
    assert sum(c["enrolled"] for c in counts.values()) > 0
    birthday = next(a for a in page.items if a.trigger_kind == "birthday")
    template = library.get_template(birthday.steps[0]["template_id"])
    assert "İyi ki doğdun" in library.current_version(template).subject
    assert services.list_holidays()


def test_every_trigger_reads_its_source(org):
    """Each trigger's statement runs against the real tables (and enrolls nobody twice)."""
    from crm_web.automations.definition import TRIGGERS
    from crm_web.segments.services import create_segment

    segment = create_segment({"segment_name": "Everyone"})
    configs = {
        "anniversary": {"field": "first_order"},
        "fixed_date": {"date": "2026-12-31"},
        "no_contact": {"days": 30},
        "no_purchase": {"days": 30},
        "no_open": {"days": 30},
        "tag_added": {"tag": "vip"},
        "segment_entered": {"segment_id": segment.id},
        "segment_left": {"segment_id": segment.id},
        "campaign_clicked": {"campaign_id": 1},
    }
    now = dt.datetime.now(dt.UTC)
    _customer(org)
    for kind in TRIGGERS:
        _journey(kind, [{"type": "wait", "days": 1}], trigger_config=configs.get(kind, {}),
                 activated_at=now - dt.timedelta(days=1))  # fmt: skip
    first = runner.run(now)
    assert runner.run(now)["enrolled"] == 0
    # At least the customer created just now enrolls.
    assert first["enrolled"] >= 1


def test_loyalty_events_enroll_and_a_purchase_ends_the_journey(make_org):
    """Issue 18's customer messages: joining the program and a tier upgrade start journeys; a
    purchase (the goal) ends the welcome journey before its message."""
    from crm_web.catalog import orders
    from crm_web.loyalty import earning, members
    from tests.loyalty_fixtures import make_shop

    shop = make_shop(make_org)
    shop.customer.sms_opt_in, shop.customer.primary_phone = True, "+905321234567"
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)  # the order comes later
    welcome = _journey(
        "loyalty_joined",
        [{"type": "wait", "days": 1}, {"type": "sms", "template": "loyalty_welcome"}],
        goal={"kind": "purchase"},
        activated_at=now - dt.timedelta(minutes=1),
    )
    upgraded = _journey("tier_upgraded", [{"type": "sms", "template": "tier_upgraded"}],
                        activated_at=now - dt.timedelta(minutes=1))  # fmt: skip
    members.enrol(shop.customer.id, now=now)
    runner.run(now + dt.timedelta(minutes=1))
    assert len(_enrollments(welcome)) == 1 and _enrollments(upgraded) == []

    order = orders.place_order(
        customer_id=shop.customer.id,
        lines=[{"sku": shop.product.sku, "quantity": 6}],
        status="paid",
    )
    earning.settle_order(order.id)  # 600 points: Silver
    runner.run(now + dt.timedelta(days=1, minutes=5))
    [enrollment] = _enrollments(welcome)
    assert (enrollment.state, enrollment.exited_reason) == ("exited", "goal")
    [upgrade] = _enrollments(upgraded)
    assert upgrade.state == "completed"
    sent = db.session.scalars(select(OutboxMessage.kind)).all()
    assert sent == ["automation_sms_tier_upgraded"]


def test_subscribers_who_opened_nothing_for_n_days_enroll(org):
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    quiet = _customer(org)
    opener = _customer(org)
    unsubscribed = _customer(org, email_opt_in=False)
    for customer in (quiet, opener, unsubscribed):
        customer.created_at = now - dt.timedelta(days=400)
    db.session.flush()
    earlier = _journey("tag_added", [{"type": "email", "template_id": _template_id()}],
                       trigger_config={"tag": "x"})  # fmt: skip
    enrollment = Enrollment(organization_id=org.id, automation_id=earlier.id,
                            customer_id=opener.id, occurrence="x", state="completed",
                            enrolled_at=now)  # fmt: skip
    db.session.add(enrollment)
    db.session.flush()
    db.session.add(StepRun(organization_id=org.id, automation_id=earlier.id,
                           enrollment_id=enrollment.id, step_id="s", step_type="email",
                           outcome="sent", ran_at=now - dt.timedelta(days=30),
                           opened_at=now - dt.timedelta(days=29)))  # fmt: skip
    db.session.flush()
    automation = _journey("no_open", [{"type": "wait", "days": 1}],
                          trigger_config={"days": 180})  # fmt: skip
    runner.run(now)
    assert [e.customer_id for e in _enrollments(automation)] == [quiet.id]


def test_every_ready_made_journey_is_complete_and_speaks_both_languages(org):
    from crm_web.automations import ready_made

    for key in ready_made.READY_MADE:
        automation = ready_made.create_from(key)
        services.activate(automation.id)  # complete: activation checks every step
        emails = [step for step in automation.steps if step["type"] == "email"]
        assert emails and all(set(step["languages"]) == {"tr", "en"} for step in emails)
    welcome = ready_made.create_from("welcome_series", "Hello")
    assert welcome.name == "Hello"
    assert [s["type"] for s in welcome.steps] == ["email", "wait", "email", "wait", "email"]
    turkish = library.get_template(welcome.steps[0]["languages"]["tr"])
    assert "hoş geldin" in library.current_version(turkish).subject
    # The library templates are made once per language, not once per journey.
    again = ready_made.create_from("welcome_series")
    assert again.steps[0]["languages"] == welcome.steps[0]["languages"]
