"""Activity pages: who may use them, my tasks and the calendar as pages and HTMX fragments,
completing and cancelling from the panel, and the create and edit forms."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from crm_web.activities import services
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.timezones import user_timezone
from tests.activity_fixtures import make_team, plan

HTMX = {"HX-Request": "true"}


@pytest.fixture
def team(make_org, make_user):
    yield make_team(make_org, make_user, logins=True, timezone="Europe/Istanbul")
    clear_tenant()


PAGES = ("/tasks", "/calendar", "/activities", "/activities/new")


def test_marketing_and_support_may_not_use_activities(team, client, login_as):
    activity = plan(team)
    for user in (team.marketer, team.support):
        login_as(user)
        for url in (*PAGES, f"/activities/{activity.id}", f"/activities/{activity.id}/edit"):
            assert client.get(url).status_code == 403, url
        response = client.post(f"/activities/{activity.id}/complete", data={"outcome": "x"})
        assert response.status_code == 403
        assert ">Tasks</a>" not in client.get("/").get_data(as_text=True)
        client.post("/logout")
    set_tenant(team.organization.id)
    assert services.get_activity(activity.id).status == "planned"


def test_sales_managers_and_admins_see_the_pages_and_the_nav(team, client, login_as):
    for user in (team.seller, team.manager, team.admin):
        login_as(user)
        for url in PAGES:
            assert client.get(url).status_code == 200, url
        home = client.get("/").get_data(as_text=True)
        assert 'href="/tasks"' in home and 'href="/calendar"' in home
        client.post("/logout")


def test_my_tasks_page_and_its_fragments(team, client, login_as):
    now = datetime.now(UTC)
    overdue = plan(team, subject="Overdue call", due_at=now - timedelta(days=2))
    for index in range(22):
        plan(team, subject=f"Upcoming {index:02d}", due_at=now + timedelta(days=3, minutes=index))
    plan(team, user=team.other_seller, subject="Not mine", due_at=now - timedelta(days=1))
    login_as(team.seller)

    page = client.get("/tasks").get_data(as_text=True)
    assert "<html" in page and "Overdue call" in page and "Not mine" not in page
    assert re.search(r'id="count-overdue">1<', page)
    assert re.search(r'id="count-upcoming">22<', page)
    assert "Upcoming 19" in page and "Upcoming 20" not in page

    fragment = client.get("/tasks", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="my-tasks"')
    assert 'hx-trigger="activity-changed from:body"' in body
    # Vary names Cookie too: Flask adds it for the signed session cookie.
    assert "HX-Request" in fragment.headers["Vary"]

    more = re.search(r'hx-get="(/tasks\?bucket=upcoming&amp;cursor=[^"]+)"', body).group(1)
    rows = client.get(more.replace("&amp;", "&"), headers=HTMX).get_data(as_text=True)
    assert "Upcoming 20" in rows and "Upcoming 21" in rows and "Upcoming 19" not in rows
    assert "<section" not in rows and 'class="load-more"' not in rows
    assert f'id="task-{overdue.id}"' not in rows


def test_the_calendar_shows_the_month_and_navigates_by_htmx(team, client, login_as):
    # 22:30 UTC on 30 November is 01:30 on 1 December in Istanbul.
    late = plan(team, subject="Late night call", due_at=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    plan(
        team,
        user=team.other_seller,
        subject="Colleague's demo",
        due_at=datetime(2026, 11, 10, 9, tzinfo=UTC),
    )
    login_as(team.seller)

    page = client.get("/calendar?date=2026-12-05").get_data(as_text=True)
    assert "December 2026" in page and "<html" in page
    cell = re.search(r'data-date="2026-12-01">(.*?)</td>', page, re.S).group(1)
    assert f'id="event-{late.id}"' in cell and "01:30" in cell
    assert "Late night call" not in re.search(
        r'data-date="2026-11-30">(.*?)</td>', page, re.S
    ).group(1)

    previous = client.get("/calendar?view=month&date=2026-11-01&user=me", headers=HTMX).get_data(
        as_text=True
    )
    assert previous.lstrip().startswith('<section id="calendar"')
    assert "November 2026" in previous and "<html" not in previous
    assert "Colleague&#39;s demo" not in previous
    everyone = client.get("/calendar?date=2026-11-01&user=all", headers=HTMX).get_data(as_text=True)
    assert "Colleague&#39;s demo" in everyone
    assert 'hx-get="/calendar?view=month&amp;date=2026-10-01&amp;user=all"' in everyone

    week = client.get("/calendar?view=week&date=2026-12-02", headers=HTMX).get_data(as_text=True)
    assert "Week of November 30, 2026" in week and "Late night call" in week
    assert len(re.findall(r'<td class="day', week)) == 7

    bad = client.get("/calendar?date=2026-13-01")
    assert bad.status_code == 422
    assert client.get("/calendar?view=year").status_code == 422
    assert client.get("/calendar?user=someone").status_code == 422


def test_completing_from_the_panel_swaps_it_and_tells_the_lists(team, client, login_as):
    activity = plan(team, subject="Demo call", reminder_minutes_before=15)
    login_as(team.seller)

    panel = client.get(f"/activities/{activity.id}", headers=HTMX).get_data(as_text=True)
    assert panel.lstrip().startswith(
        f'<article class="activity status-planned" id="activity-{activity.id}"'
    )
    assert f'hx-post="/activities/{activity.id}/complete"' in panel
    assert "reminder-pending" in panel

    missing = client.post(f"/activities/{activity.id}/complete", data={"outcome": ""}, headers=HTMX)
    assert missing.status_code == 422
    assert 'id="outcome-error"' in missing.get_data(as_text=True)
    assert "HX-Trigger" not in missing.headers

    due = (datetime.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    done = client.post(
        f"/activities/{activity.id}/complete",
        data={
            "outcome": "They liked it",
            "next_action": "Send pricing",
            "follow_up": "y",
            "follow_up_activity_type": "email",
            "follow_up_subject": "Send the pricing",
            "follow_up_due_at": due,
        },
        headers=HTMX,
    )
    body = done.get_data(as_text=True)
    assert done.status_code == 200
    assert done.headers["HX-Trigger"] == "activity-changed"
    assert 'class="activity status-completed"' in body and "They liked it" in body
    assert "Follow-up planned for" in body and "Send the pricing" in body
    assert "complete-form" not in body

    set_tenant(team.organization.id, team.seller.id)
    detail = services.activity_detail(activity.id)
    [follow_up] = detail.follow_ups
    assert (follow_up.activity_type, follow_up.subject) == ("email", "Send the pricing")
    # The form's time is the organization's (Istanbul, UTC+3).
    assert follow_up.due_at.astimezone(user_timezone()).strftime("%Y-%m-%dT%H:%M") == due

    again = client.post(f"/activities/{activity.id}/complete", data={"outcome": "x"}, headers=HTMX)
    assert again.status_code == 409
    assert again.headers["HX-Retarget"] == "#messages"


def test_a_follow_up_without_a_time_shows_the_error_and_changes_nothing(team, client, login_as):
    activity = plan(team)
    login_as(team.seller)
    response = client.post(
        f"/activities/{activity.id}/complete",
        data={"outcome": "Fine", "follow_up": "y"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert 'id="follow_up_due_at-error"' in response.get_data(as_text=True)
    set_tenant(team.organization.id)
    assert services.get_activity(activity.id).status == "planned"


def test_a_plain_form_post_completes_and_redirects(team, client, login_as):
    activity = plan(team)
    login_as(team.seller)
    response = client.post(f"/activities/{activity.id}/complete", data={"outcome": "Done"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/activities/{activity.id}")
    page = client.get(f"/activities/{activity.id}").get_data(as_text=True)
    assert "Completed." in page


def test_a_seller_may_not_complete_a_colleagues_activity_but_a_manager_may(team, client, login_as):
    activity = plan(team, user=team.other_seller)
    login_as(team.seller)
    panel = client.get(f"/activities/{activity.id}").get_data(as_text=True)
    assert "complete-form" not in panel
    assert (
        client.post(f"/activities/{activity.id}/complete", data={"outcome": "x"}).status_code == 403
    )
    assert client.get(f"/activities/{activity.id}/edit").status_code == 403
    assert client.post(f"/activities/{activity.id}/cancel").status_code == 403
    client.post("/logout")

    login_as(team.manager)
    response = client.post(f"/activities/{activity.id}/cancel", headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "activity-changed"
    assert "status-cancelled" in response.get_data(as_text=True)


def test_another_organizations_activity_is_not_found(team, make_org, make_user, client, login_as):
    other = make_team(make_org, make_user, name="Elsewhere")
    theirs = plan(other).id
    clear_tenant()
    login_as(team.seller)
    for method, url in (
        ("GET", f"/activities/{theirs}"),
        ("GET", f"/activities/{theirs}/edit"),
        ("POST", f"/activities/{theirs}/complete"),
        ("POST", f"/activities/{theirs}/cancel"),
    ):
        assert client.open(url, method=method, data={"outcome": "x"}).status_code == 404, url


def test_creating_an_activity_from_the_form(team, client, login_as):
    login_as(team.seller)
    form = client.get(
        f"/activities/new?opportunity_number={team.opportunity.opportunity_number}&date=2026-12-01"
    ).get_data(as_text=True)
    assert f'value="{team.opportunity.opportunity_number}"' in form
    assert 'value="2026-12-01T09:00"' in form

    response = client.post(
        "/activities/new",
        data={
            "activity_type": "meeting",
            "subject": "Contract walk-through",
            "opportunity_number": team.opportunity.opportunity_number,
            "due_at": "2030-12-01T09:00",
            "duration_minutes": "60",
            "priority": "high",
            "status": "planned",
            "assigned_to_id": str(team.seller.id),
            "attendee_user_ids": [str(team.manager.id)],
            "attendee_customer_codes": team.customers[1].customer_code,
            "reminder_minutes_before": "60",
            "location": "HQ",
        },
    )
    assert response.status_code == 303
    activity_id = int(response.headers["Location"].rsplit("/", 1)[1])
    set_tenant(team.organization.id, team.seller.id)
    activity = services.activity_detail(activity_id).activity
    assert activity.due_at == datetime(2030, 12, 1, 6, 0, tzinfo=UTC)  # 09:00 in Istanbul
    assert (activity.opportunity_id, activity.customer_id) == (
        team.opportunity.id,
        team.opportunity.customer_id,
    )
    assert activity.reminder_at == datetime(2030, 12, 1, 5, 0, tzinfo=UTC)
    assert {a.name for a in activity.attendees} == {"Meg Manager", "Customer 1 Ltd"}


def test_the_form_shows_service_errors_on_its_fields(team, client, login_as):
    login_as(team.seller)
    response = client.post(
        "/activities/new",
        data={
            "activity_type": "call",
            "subject": "Nowhere",
            "due_at": "2030-12-01T09:00",
            "priority": "normal",
            "status": "planned",
            "assigned_to_id": str(team.seller.id),
            "customer_code": "CUS-NOPE",
        },
        headers=HTMX,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.lstrip().startswith("<form")
    assert 'id="customer_code-error">No customer numbered CUS-NOPE.<' in body

    response = client.post(
        "/activities/new",
        data={
            "activity_type": "call",
            "subject": "Unlinked",
            "due_at": "2030-12-01T09:00",
            "priority": "normal",
            "status": "planned",
            "assigned_to_id": str(team.seller.id),
        },
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "Link the activity to a customer, lead or opportunity." in response.get_data(
        as_text=True
    )


def test_editing_moves_the_activity_and_rearms_its_reminder(team, client, login_as):
    activity = plan(
        team, subject="Call", due_at=datetime(2030, 1, 1, 9, tzinfo=UTC), reminder_minutes_before=15
    )
    activity.reminder_armed = False  # as if its reminder was written already
    db.session.commit()
    login_as(team.seller)
    form = client.get(f"/activities/{activity.id}/edit").get_data(as_text=True)
    assert 'value="2030-01-01T12:00"' in form  # shown in Istanbul time
    assert f'value="{team.customers[0].customer_code}"' in form

    response = client.post(
        f"/activities/{activity.id}/edit",
        data={
            "activity_type": "call",
            "subject": "Call, moved",
            "customer_code": team.customers[0].customer_code,
            "due_at": "2030-01-02T12:00",
            "priority": "normal",
            "status": "in_progress",
            "assigned_to_id": str(team.seller.id),
            "reminder_minutes_before": "15",
        },
    )
    assert response.status_code == 303
    set_tenant(team.organization.id)
    db.session.expire_all()
    edited = services.get_activity(activity.id)
    assert (edited.subject, edited.status) == ("Call, moved", "in_progress")
    assert edited.due_at == datetime(2030, 1, 2, 9, tzinfo=UTC)
    assert edited.reminder_armed is True


def test_the_list_filters_and_pages(team, client, login_as):
    for index in range(3):
        plan(
            team,
            subject=f"Lead call {index}",
            customer_id=None,
            lead_id=team.lead.id,
            due_at=datetime(2030, 1, 1 + index, tzinfo=UTC),
        )
    plan(team, subject="Customer call", due_at=datetime(2030, 1, 1, tzinfo=UTC))
    login_as(team.seller)

    page = client.get(f"/activities?lead_id={team.lead.id}").get_data(as_text=True)
    assert page.count('id="activity-row-') == 3 and "Customer call" not in page
    fragment = client.get(
        f"/activities?lead_id={team.lead.id}&activity_type=call", headers=HTMX
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<table class="table" id="activity-results"')
    assert client.get("/activities?status=someday").status_code == 422
    one_day = client.get("/activities?due_from=2030-01-02&due_to=2030-01-03").get_data(as_text=True)
    assert "Lead call 1" in one_day and "Lead call 0" not in one_day


def test_a_busy_day_of_the_month_shows_four_and_links_to_its_week(team, client, login_as):
    for minute in range(7):
        plan(team, subject=f"Busy {minute}", due_at=datetime(2030, 3, 5, 9, minute, tzinfo=UTC))
    login_as(team.seller)
    page = client.get("/calendar?date=2030-03-01").get_data(as_text=True)
    cell = re.search(r'data-date="2030-03-05">(.*?)</td>', page, re.S).group(1)
    assert cell.count('class="event ') == 4
    assert "+3 more" in cell
    assert 'href="/calendar?view=week&amp;date=2030-03-05&amp;user=me"' in cell
