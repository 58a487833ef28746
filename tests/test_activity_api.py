"""The activities JSON API: list, create, complete and the calendar, with its errors."""

from datetime import UTC, datetime, timedelta

from crm_web.activities import services
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories
from tests.activity_fixtures import make_team, plan, team_fixture  # noqa: F401


def test_creating_an_activity(team, client):
    headers = factories.bearer(team.seller)
    response = client.post(
        "/api/v1/crm/activities/",
        json={
            "activity_type": "demo",
            "subject": "Product demo",
            "opportunity_id": team.opportunity.id,
            "due_at": "2030-02-03T10:00:00+00:00",
            "duration_minutes": 45,
            "attendee_user_ids": [team.manager.id],
            "attendee_customer_codes": [team.customers[1].customer_code],
            "reminder_minutes_before": 30,
            "location": "Online",
        },
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/activities/{body['id']}"
    assert body["activity_type"] == "demo" and body["status"] == "planned"
    assert body["due_at"] == "2030-02-03T10:00:00+00:00"
    assert body["ends_at"] == "2030-02-03T10:45:00+00:00"
    assert (body["opportunity_id"], body["customer_id"]) == (
        team.opportunity.id,
        team.opportunity.customer_id,
    )
    assert body["related"] == "Big deal"
    assert body["assigned_to_id"] == team.seller.id == body["created_by_id"]
    assert {(a["user_id"], a["customer_id"]) for a in body["attendees"]} == {
        (team.manager.id, None),
        (None, team.customers[1].id),
    }
    assert body["reminder"] == {
        "minutes_before": 30,
        "remind_at": "2030-02-03T09:30:00+00:00",
        "status": "pending",
        "sent_at": None,
        "attempts": 0,
        "error": "",
    }


def test_create_errors_are_json_with_fields(team, make_org, make_user, client):
    other = make_team(make_org, make_user, name="Elsewhere")
    other_customer = other.customers[0].id
    headers = factories.bearer(team.seller)

    response = client.post(
        "/api/v1/crm/activities/",
        json={"activity_type": "nap", "subject": "", "customer_id": other_customer},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json["error"] == "Please correct the highlighted fields."
    assert response.json["fields"] == {
        "activity_type": "Choose one of: call, meeting, email, demo, follow_up, proposal.",
        "subject": "This field is required.",
        "due_at": "When is it due?",
        "customer_id": "No such customer in your organization.",
    }

    unknown = client.post(
        "/api/v1/crm/activities/", json={"subject": "x", "colour": "red"}, headers=headers
    )
    assert unknown.status_code == 422
    assert unknown.json["fields"] == {"colour": "Not a field of this request."}

    not_json = client.post("/api/v1/crm/activities/", data="subject=x", headers=headers)
    assert not_json.status_code == 422
    assert not_json.json == {"error": "Send a JSON object.", "fields": {}}

    assert client.post("/api/v1/crm/activities/", json={}).status_code == 401
    set_tenant(team.organization.id)
    assert services.list_activities().items == []


def test_listing_filters_and_pages_by_cursor(team, client):
    ids = [
        plan(team, subject=f"Call {index}", due_at=datetime(2030, 1, 1 + index, tzinfo=UTC)).id
        for index in range(5)
    ]
    plan(team, subject="Lead call", customer_id=None, lead_id=team.lead.id)
    headers = factories.bearer(team.manager)

    first = client.get(
        f"/api/v1/crm/activities/?customer_id={team.customers[0].id}&limit=2", headers=headers
    )
    assert first.status_code == 200
    assert [item["id"] for item in first.json["items"]] == ids[:2]
    rest = client.get(
        f"/api/v1/crm/activities/?customer_id={team.customers[0].id}&limit=10"
        f"&cursor={first.json['next_cursor']}",
        headers=headers,
    )
    assert [item["id"] for item in rest.json["items"]] == ids[2:]
    assert rest.json["next_cursor"] is None

    leads = client.get(f"/api/v1/crm/activities/?lead_id={team.lead.id}", headers=headers).json
    assert [item["subject"] for item in leads["items"]] == ["Lead call"]
    window = client.get(
        "/api/v1/crm/activities/?due_from=2030-01-02&due_to=2030-01-04", headers=headers
    ).json
    assert [item["id"] for item in window["items"]] == ids[1:3]

    for query, field in (
        ("status=later", "status"),
        ("customer_id=abc", "customer_id"),
        ("due_from=soon", "due_from"),
        ("limit=0", "limit"),
        ("cursor=garbage", "cursor"),
    ):
        response = client.get(f"/api/v1/crm/activities/?{query}", headers=headers)
        assert response.status_code == 422, query
        assert field in response.json["fields"], query


def test_completing_with_a_follow_up(team, client):
    activity = plan(team, subject="Discovery call", opportunity_id=team.opportunity.id)
    headers = factories.bearer(team.seller)

    response = client.put(
        f"/api/v1/crm/activities/{activity.id}/complete/",
        json={
            "outcome": "Budget confirmed",
            "next_action": "Send the proposal",
            "follow_up": {"activity_type": "proposal", "due_at": "2030-03-01T09:00:00Z"},
        },
        headers=headers,
    )
    assert response.status_code == 200
    done, follow_up = response.json["activity"], response.json["follow_up"]
    assert (done["status"], done["outcome"], done["next_action"]) == (
        "completed",
        "Budget confirmed",
        "Send the proposal",
    )
    assert done["completed_by_id"] == team.seller.id and done["completed_at"]
    assert follow_up["follow_up_of_id"] == activity.id
    assert follow_up["activity_type"] == "proposal"
    assert follow_up["subject"] == "Follow up: Discovery call"
    assert follow_up["opportunity_id"] == team.opportunity.id
    assert follow_up["due_at"] == "2030-03-01T09:00:00+00:00"

    again = client.put(
        f"/api/v1/crm/activities/{activity.id}/complete/", json={"outcome": "x"}, headers=headers
    )
    assert again.status_code == 409
    assert again.json["error"] == "This activity is already completed."


def test_completion_errors(team, make_org, make_user, client):
    activity = plan(team)
    other = make_team(make_org, make_user, name="Elsewhere")
    theirs = plan(other).id
    clear_tenant()
    headers = factories.bearer(team.seller)
    url = f"/api/v1/crm/activities/{activity.id}/complete/"

    missing = client.put(url, json={"next_action": "x"}, headers=headers)
    assert missing.status_code == 422
    assert missing.json["fields"] == {"outcome": "This field is required."}

    bad_follow_up = client.put(
        url, json={"outcome": "ok", "follow_up": {"due_at": "whenever"}}, headers=headers
    )
    assert bad_follow_up.status_code == 422
    assert bad_follow_up.json["fields"] == {
        "follow_up_due_at": "Use a date and time such as 2026-11-21T14:30."
    }
    assert (
        client.put(url, json={"outcome": "ok", "follow_up": 3}, headers=headers).status_code == 422
    )
    wrong_field = client.put(
        url, json={"outcome": "ok", "follow_up": {"mood": "happy"}}, headers=headers
    )
    assert wrong_field.json["fields"] == {"follow_up_mood": "Not a field."}

    # Nothing of the above completed it.
    set_tenant(team.organization.id)
    db.session.expire_all()
    assert services.get_activity(activity.id).status == "planned"
    clear_tenant()

    cross = client.put(
        f"/api/v1/crm/activities/{theirs}/complete/", json={"outcome": "mine"}, headers=headers
    )
    assert cross.status_code == 404
    assert cross.json == {"error": "No such activity.", "fields": {}}
    assert (
        client.put(
            "/api/v1/crm/activities/999999999/complete/", json={"outcome": "x"}, headers=headers
        ).status_code
        == 404
    )

    colleague = factories.bearer(team.other_seller)
    forbidden = client.put(url, json={"outcome": "mine"}, headers=colleague)
    assert forbidden.status_code == 403


def test_the_calendar(team, make_org, make_user, client):
    start = datetime(2030, 5, 1, tzinfo=UTC)
    own = plan(team, subject="Own", due_at=start + timedelta(days=2), duration_minutes=30)
    attending = plan(
        team,
        user=team.other_seller,
        subject="Attending",
        due_at=start + timedelta(days=3),
        attendee_user_ids=[team.seller.id],
    )
    colleague = plan(
        team, user=team.other_seller, subject="Theirs", due_at=start + timedelta(days=4)
    )
    plan(team, subject="Later", due_at=start + timedelta(days=40))
    other = make_team(make_org, make_user, name="Elsewhere")
    plan(other, subject="Other org", due_at=start + timedelta(days=2))
    clear_tenant()
    headers = factories.bearer(team.seller)

    mine = client.get("/api/v1/crm/calendar/?start=2030-05-01&end=2030-06-01", headers=headers)
    assert mine.status_code == 200
    assert mine.json["timezone"] == "UTC"
    assert [item["id"] for item in mine.json["items"]] == [own.id, attending.id]
    assert mine.json["items"][0]["ends_at"] == "2030-05-03T00:30:00+00:00"

    everyone = client.get(
        "/api/v1/crm/calendar/?start=2030-05-01&end=2030-06-01&user=all", headers=headers
    ).json
    assert [item["id"] for item in everyone["items"]] == [own.id, attending.id, colleague.id]
    theirs = client.get(
        f"/api/v1/crm/calendar/?start=2030-05-01&end=2030-06-01&user={other.seller.id}",
        headers=headers,
    ).json
    assert theirs["items"] == []

    for query, field in (
        ("start=2030-05-01", "end"),
        ("start=2030-06-01&end=2030-05-01", "end"),
        ("start=2030-01-01&end=2030-12-31", "end"),
        ("start=may&end=2030-06-01", "start"),
        ("start=2030-05-01&end=2030-06-01&user=boss", "user"),
    ):
        response = client.get(f"/api/v1/crm/calendar/?{query}", headers=headers)
        assert response.status_code == 422, query
        assert field in response.json["fields"], query


def test_the_api_checks_roles(team, client):
    activity = plan(team)
    for user in (team.marketer, team.support):
        headers = factories.bearer(user)
        assert client.get("/api/v1/crm/activities/", headers=headers).status_code == 403
        assert client.post("/api/v1/crm/activities/", json={}, headers=headers).status_code == 403
        assert (
            client.put(
                f"/api/v1/crm/activities/{activity.id}/complete/",
                json={"outcome": "x"},
                headers=headers,
            ).status_code
            == 403
        )
        calendar = client.get(
            "/api/v1/crm/calendar/?start=2030-01-01&end=2030-01-02", headers=headers
        )
        assert calendar.status_code == 403
        assert calendar.json["error"]
