"""The SLA dashboard (its numbers against a hand-computed fixture), the settings pages, the
escalation log, GET /api/v1/crm/sla/ and the role checks on all of them."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_web.accounts.services import create_user
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.sla import charts, configuration, dashboard, escalations, policies
from crm_web.sla.models import SlaEscalation, SlaHoliday, SlaPolicy
from crm_web.tickets.models import Ticket
from tests import factories

HTMX = {"HX-Request": "true"}
ISTANBUL = ZoneInfo("Europe/Istanbul")


def istanbul(*args) -> datetime:
    return datetime(*args, tzinfo=ISTANBUL)


@pytest.fixture
def org(make_org, make_user):
    organization, admin = make_org("Metrics", timezone="Europe/Istanbul")
    manager = make_user(organization, role="manager", name="Mina Manager")
    set_tenant(organization.id, admin.id)
    ayla = create_user(email=f"ayla-{organization.id}@example.com", name="Ayla", role="support")
    berk = create_user(email=f"berk-{organization.id}@example.com", name="Berk", role="support")
    return organization, admin, manager, ayla, berk


def ticket_with(org, **columns) -> Ticket:
    """A ticket whose SLA figures are set by hand, as the clock would have left them."""
    organization, admin, *_ = org
    ticket = factories.ticket(organization, user=admin, subject="Case")
    defaults = {
        "assignee_id": None,
        "status": "resolved",
        "sla_due_at": None,
        "first_response_due_at": None,
        "resolution_due_at": None,
        "sla_clock_started_at": None,
    }
    for name, value in {**defaults, **columns}.items():
        setattr(ticket, name, value)
    db.session.flush()
    return ticket


@pytest.fixture
def figures(org):
    """Seven tickets over two weeks (weeks start on Monday, Istanbul time); the sums are in
    test_dashboard_numbers_match_a_hand_computed_fixture."""
    _organization, _admin, _manager, ayla, berk = org
    rows = [
        dict(
            assignee=ayla,
            created=istanbul(2025, 6, 9, 10),
            fr=600,
            resolved=istanbul(2025, 6, 10, 12),
            res=7200,
        ),
        dict(
            assignee=ayla,
            created=istanbul(2025, 6, 11, 9),
            fr=1800,
            resolved=istanbul(2025, 6, 13, 9),
            res=36000,
            res_late=True,
        ),
        dict(
            assignee=berk,
            created=istanbul(2025, 6, 12, 9),
            fr=3600,
            fr_late=True,
            status="open",
            priority="high",
        ),
        # Sunday 22:30 UTC is Monday already in Istanbul: the second week. Its deadline has passed.
        dict(
            assignee=berk,
            created=datetime(2025, 6, 15, 22, 30, tzinfo=UTC),
            status="new",
            priority="urgent",
            due=datetime(2025, 6, 1, tzinfo=UTC),
        ),
        dict(
            assignee=ayla,
            created=istanbul(2025, 6, 17, 9),
            fr=300,
            resolved=istanbul(2025, 6, 18, 9),
            res=900,
        ),
        dict(
            assignee=None, created=istanbul(2025, 6, 17, 10), fr=1200, status="waiting_on_customer"
        ),
        # Created before the period, resolved in its first week.
        dict(
            assignee=ayla,
            created=istanbul(2025, 6, 1, 9),
            fr=100,
            resolved=istanbul(2025, 6, 10, 9),
            res=50000,
        ),
    ]
    return [
        ticket_with(
            org,
            assignee_id=row["assignee"].id if row["assignee"] else None,
            created_at=row["created"],
            first_response_seconds=row.get("fr"),
            resolved_at=row.get("resolved"),
            resolution_seconds=row.get("res"),
            first_response_breached=row.get("fr_late", False),
            resolution_breached=row.get("res_late", False),
            status=row.get("status", "resolved"),
            priority=row.get("priority", "normal"),
            sla_due_at=row.get("due"),
        )
        for row in rows
    ]


def test_dashboard_numbers_match_a_hand_computed_fixture(org, figures):
    board = dashboard.build(2, today=date(2025, 6, 18))
    _organization, _admin, _manager, ayla, berk = org

    first, second = board.weeks
    assert (first.start, first.tickets, first.breached) == (date(2025, 6, 9), 3, 2)
    assert first.breach_rate == pytest.approx(2 / 3)
    # First response [600, 1800, 3600]: median 1800, p90 at 1.8 of the way = 3240.
    assert first.first_response == dashboard.Times(3, 1800, pytest.approx(3240))
    # Resolved that week [7200, 36000, 50000]: median 36000, p90 = 36000 + 0.8 * 14000.
    assert first.resolution == dashboard.Times(3, 36000, pytest.approx(47200))
    assert (second.start, second.tickets, second.breached) == (date(2025, 6, 16), 3, 1)
    assert second.first_response == dashboard.Times(2, 750, pytest.approx(1110))
    assert second.resolution == dashboard.Times(1, 900, 900)
    assert (board.tickets, board.breached, board.breach_rate) == (6, 3, 0.5)

    by_name = {row.name: row for row in board.agents}
    assert [row.name for row in board.agents] == ["Ayla", "Berk", "Unassigned"]
    a = by_name["Ayla"]
    assert (a.tickets, a.breached) == (3, 1)
    assert a.first_response == dashboard.Times(3, 600, pytest.approx(1560))
    # [900, 7200, 36000, 50000]: median 21600, p90 at 2.7 = 36000 + 0.7 * 14000.
    assert a.resolution == dashboard.Times(4, 21600, pytest.approx(45800))
    b = by_name["Berk"]
    assert (b.tickets, b.breached, b.first_response) == (2, 2, dashboard.Times(1, 3600, 3600))
    assert b.resolution == dashboard.Times(0, None, None)
    assert (by_name["Unassigned"].tickets, by_name["Unassigned"].breached) == (1, 0)

    assert board.open_tickets == {
        "new": {"urgent": 1, "high": 0, "normal": 0, "low": 0},
        "open": {"urgent": 0, "high": 1, "normal": 0, "low": 0},
        "in_progress": {"urgent": 0, "high": 0, "normal": 0, "low": 0},
        "waiting_on_customer": {"urgent": 0, "high": 0, "normal": 1, "low": 0},
    }
    assert board.open_total == 3


def test_the_dashboard_page_and_its_fragment(client, login_as, org, figures):
    _organization, _admin, manager, ayla, _berk = org
    now = datetime.now(UTC)
    ticket_with(
        org,
        assignee_id=ayla.id,
        created_at=now,
        first_response_seconds=600,
        resolved_at=now,
        resolution_seconds=1200,
    )
    clear_tenant()
    login_as(manager)

    page = client.get("/sla?weeks=26")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<nav class="nav">' in html and 'href="/sla"' in html
    assert re.search(r'id="sla-open-total">3<', html)  # open tickets of any age
    # This week's ticket: 10 minutes to the first response, 20 to resolution, in the charts too.
    assert "<td>Ayla</td><td>1</td><td>0</td><td>0.2 h</td><td>0.2 h</td><td>0.3 h</td>" in html
    assert "<svg" in html and "Breach rate by week created" in html
    assert "Median: 0.2 h" in html
    assert "style=" not in html  # the CSP allows no inline styles

    fragment = client.get("/sla?weeks=4", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and body.lstrip().startswith('<div id="sla-board">')
    assert "<html" not in body


def test_chart_geometry():
    chart = charts.bar_chart(
        "Rate",
        ["a", "b"],
        [charts.Series("x", "series-a", [0.5, None]), charts.Series("y", "series-b", [1.0, 0.25])],
        label=lambda v: f"{v:.0%}",
        ceiling=1.0,
        width=200,
        height=100,
    )
    assert not chart.empty
    assert [bar.css for bar in chart.bars] == ["series-a", "series-b", "series-b"]
    full = chart.bars[1]
    assert full.y == chart.top and full.height == chart.bottom - chart.top
    assert chart.bars[0].height == pytest.approx((chart.bottom - chart.top) / 2, abs=0.1)
    assert [tick.label for tick in chart.y_ticks] == ["0%", "50%", "100%"]
    assert (
        charts.nice_step(7.3) == 2 and charts.nice_step(0.9) == 0.5 and charts.nice_step(40) == 10
    )
    assert charts.bar_chart("Empty", ["a"], [charts.Series("x", "s", [None])], label=str).empty


@pytest.mark.parametrize("role", ["support", "sales", "marketing"])
def test_only_managers_and_admins_see_the_sla_pages(client, login_as, make_user, org, role):
    user = make_user(org[0], role=role)
    login_as(user)
    for path in ("/sla", "/sla/settings", "/sla/escalations"):
        assert client.get(path).status_code == 403, path
    assert client.post("/sla/policies", data={}).status_code == 403
    assert 'href="/sla"' not in client.get("/").get_data(as_text=True)


def test_settings_page_saves_hours_and_shows_field_errors(client, login_as, org):
    organization, _admin, manager, *_ = org
    clear_tenant()
    login_as(manager)
    page = client.get("/sla/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="Europe/Istanbul"' in html and 'value="09:00-17:00"' in html
    assert html.count("default</span>") == 4  # every priority on its built-in targets

    form = {
        "timezone": "Europe/Istanbul",
        "hours_monday": "9-17",
        "warning_percents": "50, 80",
        "breach_reassign_to_id": "0",
        "sms_numbers": "",
    }
    bad = client.post("/sla/settings", data=form, headers=HTMX)
    assert bad.status_code == 422
    assert "is not a window like 09:00-17:00" in bad.get_data(as_text=True)

    form |= {"hours_monday": "08:30-12:00, 13:00-18:00", "hours_saturday": "10:00-14:00"}
    form |= {"breach_raise_priority": "y", "sms_numbers": "+90 532 111 22 33"}
    saved = client.post("/sla/settings", data=form)
    assert saved.status_code == 303
    set_tenant(organization.id)
    settings = policies.get_settings()
    assert settings.weekly_hours[0] == "08:30-12:00, 13:00-18:00"
    assert settings.weekly_hours[1] == "" and settings.weekly_hours[5] == "10:00-14:00"
    assert settings.breach_raise_priority is True
    assert settings.sms_numbers == ["+905321112233"]


def test_policies_and_holidays_are_edited_in_place(client, login_as, org):
    organization, _admin, manager, *_ = org
    clear_tenant()
    login_as(manager)
    policy = {
        "priority": "urgent",
        "customer_tag": "VIP",
        "first_response_minutes": "10",
        "resolution_minutes": "90",
    }
    response = client.post("/sla/policies", data=policy, headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="sla-policies">')
    assert "tagged vip" in body and "around the clock" in body

    invalid = client.post("/sla/policies", data={**policy, "resolution_minutes": "0"}, headers=HTMX)
    assert invalid.status_code == 422

    set_tenant(organization.id)
    saved = db.session.scalar(select(SlaPolicy).where(SlaPolicy.organization_id == organization.id))
    assert (saved.customer_tag, saved.first_response_minutes, saved.business_hours) == (
        "vip",
        10,
        False,
    )
    clear_tenant()
    removed = client.post(f"/sla/policies/{saved.id}/delete", headers=HTMX)
    assert removed.status_code == 200 and "tagged vip" not in removed.get_data(as_text=True)

    added = client.post(
        "/sla/holidays", data={"day": "2025-10-29", "name": "Republic Day"}, headers=HTMX
    )
    assert added.status_code == 200 and "Republic Day" in added.get_data(as_text=True)
    again = client.post("/sla/holidays", data={"day": "2025-10-29"}, headers=HTMX)
    assert again.status_code == 422 and "already a holiday" in again.get_data(as_text=True).lower()
    set_tenant(organization.id)
    holiday = db.session.scalar(
        select(SlaHoliday).where(SlaHoliday.organization_id == organization.id)
    )
    clear_tenant()
    gone = client.post(f"/sla/holidays/{holiday.id}/delete", headers=HTMX)
    assert gone.status_code == 200 and "Republic Day" not in gone.get_data(as_text=True)


def test_another_organizations_policy_cannot_be_deleted(client, login_as, make_org, org):
    other, other_admin = make_org("Elsewhere")
    set_tenant(other.id, other_admin.id)
    foreign = configuration.save_policy(
        priority="low", first_response_minutes=5, resolution_minutes=10, business_hours=True
    )
    clear_tenant()
    login_as(org[2])
    assert client.post(f"/sla/policies/{foreign.id}/delete", headers=HTMX).status_code == 404


def test_the_escalation_log_lists_what_fired(client, login_as, org):
    organization, admin, manager, *_ = org
    configuration.save_policy(
        priority="normal", first_response_minutes=1, resolution_minutes=600, business_hours=False
    )
    ticket = factories.ticket(organization, user=admin, subject="Slow")
    breach = db.session.scalar(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == ticket.id, SlaEscalation.level == 100
        )
    )
    # Its moment has come (the clock started a minute ago); no mail server: the notice waits.
    breach.fire_at = breach.due_at = ticket.first_response_due_at = datetime.now(UTC) - timedelta(
        seconds=5
    )
    assert escalations.fire_escalation(breach.id) == "fired"
    clear_tenant()
    login_as(manager)

    html = client.get("/sla/escalations").get_data(as_text=True)
    assert ticket.reference in html and "first response breached" in html
    # Its notification waits in the outbox.
    assert f'email {manager.email}: <span class="badge warn">queued</span>' in html


# -- the API ----------------------------------------------------------------------------------


def test_the_api_lists_policies_and_current_breaches_of_its_own_organization(
    client, make_org, org, figures
):
    organization, admin, *_ = org
    configuration.save_policy(
        priority="high", first_response_minutes=30, resolution_minutes=120, business_hours=True
    )
    other, other_admin = make_org("Rival")
    set_tenant(other.id, other_admin.id)
    rival = factories.ticket(other, user=other_admin, subject="Theirs")
    rival.sla_due_at = datetime(2025, 1, 1, tzinfo=UTC)
    db.session.flush()
    headers = factories.bearer(admin)

    body = client.get("/api/v1/crm/sla/", headers=headers).get_json()
    assert [(p["priority"], p["default"]) for p in body["policies"]] == [
        ("urgent", True),
        ("high", False),
        ("normal", True),
        ("low", True),
    ]
    assert body["business_hours"]["timezone"] == "Europe/Istanbul"
    assert body["business_hours"]["weekly"]["mon"] == "09:00-17:00"
    assert body["warning_percents"] == [50, 80]
    # Only the open ticket whose live deadline has passed; not the rival organization's.
    [breach] = body["items"]
    assert breach["ticket_id"] == figures[3].id and breach["priority"] == "urgent"
    assert breach["due_at"].startswith("2025-06-01")
    assert rival.id not in [b["ticket_id"] for b in body["items"]]
    assert body["next_cursor"] is None

    rival_headers = factories.bearer(other_admin)
    theirs = client.get("/api/v1/crm/sla/", headers=rival_headers).get_json()
    assert [b["ticket_id"] for b in theirs["items"]] == [rival.id]


def test_the_api_pages_breaches_and_checks_roles(client, make_user, org):
    organization, admin, *_ = org
    for n in range(3):
        ticket_with(
            org,
            status="open",
            sla_due_at=datetime(2025, 6, 1 + n, tzinfo=UTC),
        )
    headers = factories.bearer(admin)
    first = client.get("/api/v1/crm/sla/?limit=2", headers=headers).get_json()
    assert [b["due_at"][:10] for b in first["items"]] == ["2025-06-01", "2025-06-02"]
    rest = client.get(f"/api/v1/crm/sla/?limit=2&cursor={first['next_cursor']}", headers=headers)
    assert [b["due_at"][:10] for b in rest.get_json()["items"]] == ["2025-06-03"]
    assert client.get("/api/v1/crm/sla/?cursor=garbage", headers=headers).status_code == 422

    marketing = make_user(organization, role="marketing")
    assert client.get("/api/v1/crm/sla/", headers=factories.bearer(marketing)).status_code == 403
    assert client.get("/api/v1/crm/sla/").status_code == 401


def test_the_sms_webhook_needs_no_csrf_token_but_the_pages_do(app, client, login_as, org):
    organization, _admin, manager, *_ = org
    clear_tenant()
    login_as(manager)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post("/sla/policies", data={"priority": "low"})
        assert refused.status_code == 400
        # The webhook is exempt; it is refused for its missing signature instead.
        webhook = client.post(f"/outbox/sms-status/{organization.id}/1", data={"MessageSid": "SM1"})
        assert webhook.status_code == 403
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
