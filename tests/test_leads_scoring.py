"""Lead scoring: rules compiled to SQL, the stored breakdown, recommended actions, rescoring."""

import inspect
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from dramatiq import Message

from crm_web import jobs
from crm_web.db import current_organization_id, set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.leads import scoring, services
from crm_web.leads.models import Lead, LeadScoringRule


@pytest.fixture
def org(make_org):
    organization, admin = make_org()
    set_tenant(organization.id, admin.id)
    return organization


def _only_rules(*rules):
    """Replace the organization's default rules with these (factor, label, field, op, value, points)."""
    for rule in scoring.list_rules():
        db.session.delete(rule)
    db.session.flush()
    for factor, label, field, operator, value, points in rules:
        db.session.add(
            LeadScoringRule(
                organization_id=current_organization_id(),
                **scoring.check_rule(factor, label, field, operator, value, points),
            )
        )
    db.session.flush()


def lead(**values) -> Lead:
    fields = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **values}
    return services.create_lead(**fields)


def test_new_organizations_start_with_seed_004_rules(org):
    rules = scoring.list_rules()
    assert len(rules) == len(scoring.DEFAULT_RULES)
    assert {rule.factor for rule in rules} == {
        "demographic",
        "firmographic",
        "behavioural",
        "engagement",
    }


def test_score_and_breakdown_follow_the_default_rules(org):
    hot = lead(
        title="VP of Sales",
        authority="decision_maker",
        company_size="1000+",
        budget="250000",
        timeline="1-3 months",
        need="A CRM for 200 reps",
        source="referral",
        phone="+44 20 7946 0958",
    )
    # 15 + 15 | 15 + 8 + 7 + 10 + 5 | 0 | 10 + 5
    assert hot.score_breakdown["demographic"] == 30
    assert hot.score_breakdown["firmographic"] == 45
    assert hot.score_breakdown["behavioural"] == 0
    assert hot.score_breakdown["engagement"] == 15
    assert hot.lead_score == 90 == hot.score_breakdown["total"]
    assert hot.recommended_action == "immediate_sales_contact"
    labels = {entry["label"] for entry in hot.score_breakdown["matched"]}
    assert {"Senior job title", "Decision maker", "Budget of 100,000 or more"} <= labels
    assert "Free email address" not in labels
    assert hot.scored_at is not None

    cold = lead(email="someone@gmail.com", authority="end_user")
    assert cold.lead_score == 0  # -5 is clamped to 0
    assert cold.score_breakdown["engagement"] == -5
    assert cold.recommended_action == "monitor"


def test_score_is_clamped_to_100_and_actions_follow_seed_004_thresholds(org):
    _only_rules(
        ("demographic", "Anyone", "email", "is_set", "", 70),
        ("firmographic", "Has budget", "budget", "at_least", "1", 50),
    )
    assert lead().lead_score == 70
    assert lead().recommended_action == "nurture_campaign"
    rich = lead(budget=Decimal("5"))
    assert rich.lead_score == 100
    assert rich.score_breakdown["total"] == 100
    assert rich.score_breakdown["demographic"] + rich.score_breakdown["firmographic"] == 120


def test_each_operator(org):
    _only_rules(
        ("demographic", "Istanbul", "city", "equals", "istanbul, ankara", 1),
        ("demographic", "Engineer", "title", "contains", "engineer", 2),
        ("firmographic", "No company", "company", "is_empty", "", 4),
        ("firmographic", "Small budget", "budget", "at_most", "1000", 8),
        ("engagement", "50%_literal", "need", "contains", "50%", 16),
        ("behavioural", "Recent", "last_activity_at", "at_most", "7", 32),
    )
    a = lead(city="ISTANBUL", title="Software Engineer", budget="999.99", need="about 50% off")
    assert a.lead_score == 1 + 2 + 4 + 8 + 16
    # LIKE wildcards in a value are literal.
    b = lead(city="Izmir", company="Acme", need="about 50 percent", budget="1000.01")
    assert b.lead_score == 0
    b.last_activity_at = datetime.now(UTC) - timedelta(days=3)
    assert scoring.score_lead(b).lead_score == 32
    b.last_activity_at = datetime.now(UTC) - timedelta(days=8)
    assert scoring.score_lead(b).lead_score == 0


def test_inactive_rules_do_not_count(org):
    _only_rules(("demographic", "Has email", "email", "is_set", "", 40))
    rule = scoring.list_rules()[0]
    rule.is_active = False
    assert lead().lead_score == 0


def test_editing_a_lead_rescores_it(org):
    created = lead()
    before = created.lead_score
    updated = services.update_lead(created.id, authority="decision_maker")
    assert updated.lead_score == before + 15


def test_rule_validation(org):
    with pytest.raises(ValidationError) as error:
        scoring.create_rule(
            factor="social", label="", field="budget", operator="contains", value="x", points=500
        )
    assert set(error.value.fields) == {"factor", "label", "operator", "points"}
    with pytest.raises(ValidationError) as error:
        scoring.create_rule(
            factor="firmographic",
            label="Budget",
            field="budget",
            operator="at_least",
            value="lots",
            points=5,
        )
    assert set(error.value.fields) == {"value"}


def test_changing_rules_queues_a_rescore_and_the_batch_rescoring_is_set_based(org, app):
    broker = jobs.broker
    created = [lead(email=f"p{i}@example.com") for i in range(5)]
    broker.flush_all()
    scoring.create_rule(
        factor="engagement", label="Everyone", field="email", operator="is_set", value="", points=3
    )
    queued = [Message.decode(data) for data in broker.queues[jobs.RESCORE_LEADS.queue_name].queue]
    assert [(m.actor_name, m.args) for m in queued] == [("rescore_leads", (org.id,))]
    broker.flush_all()

    before = {lead.id: lead.lead_score for lead in created}
    batches = 0
    after_id = 0
    while (after_id := scoring.rescore_batch(after_id, limit=2)) is not None:
        batches += 1
    assert batches == 3
    db.session.expire_all()
    for lead_row in db.session.query(Lead).filter(Lead.id.in_(before)):
        assert lead_row.lead_score == before[lead_row.id] + 3
        assert any(m["label"] == "Everyone" for m in lead_row.score_breakdown["matched"])


def test_analysis_groups_by_band_with_conversion_rates(org):
    _only_rules(("demographic", "Budget", "budget", "at_least", "0", 0))
    for score, status, count in ((10, "new", 3), (10, "disqualified", 1), (85, "converted", 2)):
        for _ in range(count):
            row = lead()
            row.lead_score = score
            row.status = status
            if status == "converted":
                row.converted_at = datetime.now(UTC)
    db.session.flush()
    result = scoring.analysis()
    bands = {band.name: band for band in result.bands}
    assert result.total == 6
    assert result.histogram[1] == 4 and result.histogram[8] == 2
    assert bands["0-29"].leads == 4 and bands["0-29"].conversion_rate == 0
    assert bands["0-29"].disqualified == 1 and bands["0-29"].decided_rate == 0
    assert bands["80-100"].converted == 2 and bands["80-100"].conversion_rate == 1
    assert bands["80-100"].average_score == 85
    assert bands["30-59"].conversion_rate is None and bands["30-59"].decided_rate is None


def test_nightly_job_queues_open_lead_rescoring_for_every_organization(org, make_org, app):
    from worker.actors.leads import rescore_leads
    from worker.scheduler import JOBS

    broker = jobs.broker
    assert "lead-rescore" in {job.name for job in JOBS}
    other, _admin = make_org(name="Second")
    broker.flush_all()
    assert scoring.schedule_nightly_rescoring() >= 2
    queued = [Message.decode(data) for data in broker.queues[jobs.RESCORE_LEADS.queue_name].queue]
    sent = {m.args[0]: m for m in queued if m.actor_name == "rescore_leads"}
    # The actor gets open_only=True (its one argument after the organization).
    for organization_id in (org.id, other.id):
        message = sent[organization_id]
        assert message.args == (organization_id, True) and message.kwargs == {}
        bound = inspect.signature(rescore_leads.fn).bind(*message.args[1:], **message.kwargs)
        assert bound.arguments == {"open_only": True}
    broker.flush_all()


def test_open_only_rescoring_leaves_closed_leads_alone(org):
    _only_rules(("engagement", "Email", "email", "is_set", "", 10))
    open_lead, closed = lead(), lead(email="closed@example.com")
    services.change_status(closed.id, "disqualified", reason="Spam")
    _only_rules(("engagement", "Email", "email", "is_set", "", 30))
    assert scoring.rescore_all(open_only=True) == 1
    db.session.expire_all()
    assert services.get_lead(open_lead.id).lead_score == 30
    assert services.get_lead(closed.id).lead_score == 10
