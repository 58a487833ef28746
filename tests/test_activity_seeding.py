"""Demo activities: `crm seed` and the demo organization get deterministic, well-formed ones."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from crm_web.accounts.models import User
from crm_web.activities.models import OPEN_STATUSES, Activity
from crm_web.activities.seeding import seed_activities
from crm_web.customers.seeding import seed_customers
from crm_web.db import atomic, clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads.models import Lead
from crm_web.permissions import roles_with
from crm_web.privacy.models import AuditEntry
from tests.activity_fixtures import make_team


def _shape(activity: Activity, now: datetime) -> tuple:
    return (
        activity.activity_type,
        activity.subject,
        activity.status,
        activity.priority,
        round((activity.due_at - now).total_seconds() / 3600),
        activity.reminder_minutes_before,
    )


def _seeded(organization_id: int) -> list[Activity]:
    set_tenant(organization_id)
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.organization_id == organization_id)
            .order_by(Activity.id)
        )
    )


def test_seeded_activities_are_linked_spread_and_deterministic(make_org, make_user):
    teams = [make_team(make_org, make_user, name=f"Seed {n}") for n in range(2)]
    now = datetime.now(UTC)
    for team in teams:
        set_tenant(team.organization.id, team.admin.id)
        atomic(seed_customers)(40, seed=3)
        assert atomic(seed_activities)(30, seed=3) == 30
    clear_tenant()

    first, second = (_seeded(team.organization.id) for team in teams)
    assert [_shape(a, now) for a in first] == [_shape(a, now) for a in second]

    team = teams[0]
    set_tenant(team.organization.id)
    staff = set(
        db.session.scalars(
            select(User.id).where(User.role.in_(roles_with("plan activities")), User.is_active)
        )
    )
    # The open deal and lead first, then customers.
    assert first[0].opportunity_id == team.opportunity.id
    assert first[0].customer_id == team.opportunity.customer_id
    assert first[1].lead_id == team.lead.id
    assert all(a.customer_id or a.lead_id or a.opportunity_id for a in first)
    assert {a.assigned_to_id for a in first} <= staff
    for activity in first:
        assert abs(activity.due_at - now) < timedelta(days=32)
        if activity.status == "completed":
            assert activity.due_at < now and activity.outcome and activity.completed_at
        else:
            assert activity.status in OPEN_STATUSES and activity.outcome == ""
        if activity.reminder_armed:
            assert activity.reminder_at > now
    assert {a.status for a in first} >= {"completed", "planned"}

    # The seeded lead's figures were counted for its score.
    lead = db.session.get(Lead, team.lead.id, populate_existing=True)
    assert lead.activity_count == 1
    [entry] = db.session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "activities")
    ).all()
    assert entry.new_values == {"seeded": 30, "seed": 3}


def test_crm_seed_adds_activities(app, make_org):
    organization, _admin = make_org(name="Cli Seed")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["crm", "seed", "--org", organization.slug, "--customers", "50", "--activities", "12"]
    )
    assert result.exit_code == 0, result.output
    assert f"Seeded 12 activities into {organization.slug}" in result.output
    set_tenant(organization.id)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 12

    # One per ten customers unless told.
    result = runner.invoke(args=["crm", "seed", "--org", organization.slug, "--customers", "30"])
    assert "Seeded 3 activities" in result.output
    set_tenant(organization.id)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 15
    clear_tenant()
