"""Opportunities on the board: creation, moves within and between columns, stage history."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_web.errors import NotFound, ValidationError
from crm_web.extensions import db
from crm_web.pipeline import board as pipeline_board
from crm_web.pipeline import opportunities, ordering
from crm_web.pipeline import stages as pipeline_stages
from crm_web.pipeline.models import Opportunity, StageChange
from crm_web.privacy.models import AuditEntry
from tests.pipeline_fixtures import deal


def column_ids(stage) -> list[int]:
    return list(
        db.session.scalars(
            select(Opportunity.id)
            .where(Opportunity.stage_id == stage.id)
            .order_by(Opportunity.position, Opportunity.id)
        )
    )


def test_new_organizations_get_the_default_stages(sales):
    stages = pipeline_stages.list_stages()
    assert [(s.name, s.probability, s.outcome) for s in stages] == [
        ("Prospecting", Decimal("10.00"), "open"),
        ("Qualification", Decimal("25.00"), "open"),
        ("Proposal", Decimal("50.00"), "open"),
        ("Negotiation", Decimal("75.00"), "open"),
        ("Closed Won", Decimal("100.00"), "won"),
        ("Closed Lost", Decimal("0.00"), "lost"),
    ]


def test_create_numbers_deals_and_puts_them_on_top(sales):
    first = deal(sales)
    second = deal(sales)
    assert (first.opportunity_number, second.opportunity_number) == ("OPP-000001", "OPP-000002")
    assert first.owner_id == sales.seller.id
    assert first.probability == Decimal("10.00")
    assert first.currency == sales.organization.currency
    assert column_ids(sales.stages["Prospecting"]) == [second.id, first.id]
    history = db.session.scalars(
        select(StageChange).where(StageChange.opportunity_id == first.id)
    ).all()
    assert [(h.from_stage_id, h.to_stage_id) for h in history] == [
        (None, sales.stages["Prospecting"].id)
    ]


def test_move_between_columns_keeps_order_and_records_history(sales):
    a, b, c = (deal(sales, "Qualification") for _ in range(3))  # column order: c, b, a
    target = sales.stages["Proposal"]
    x = deal(sales, "Proposal")
    opportunities.move_opportunity(b.id, stage_id=target.id, after_id=x.id)
    assert column_ids(target) == [x.id, b.id]
    opportunities.move_opportunity(c.id, stage_id=target.id, after_id=x.id)
    assert column_ids(target) == [x.id, c.id, b.id]
    opportunities.move_opportunity(a.id, stage_id=target.id)  # no anchor: the top
    assert column_ids(target) == [a.id, x.id, c.id, b.id]
    assert column_ids(sales.stages["Qualification"]) == []
    db.session.refresh(b)
    assert (b.status, b.probability) == ("open", Decimal("50.00"))
    history = db.session.scalars(
        select(StageChange).where(StageChange.opportunity_id == b.id).order_by(StageChange.id)
    ).all()
    assert [(h.from_stage_id, h.to_stage_id) for h in history] == [
        (None, sales.stages["Qualification"].id),
        (sales.stages["Qualification"].id, target.id),
    ]


def test_move_within_a_column_and_before_an_anchor(sales):
    cards = [deal(sales) for _ in range(4)]
    stage = sales.stages["Prospecting"]
    d, c, b, a = cards[3], cards[2], cards[1], cards[0]
    assert column_ids(stage) == [d.id, c.id, b.id, a.id]
    opportunities.move_opportunity(d.id, stage_id=stage.id, after_id=b.id)
    assert column_ids(stage) == [c.id, b.id, d.id, a.id]
    opportunities.move_opportunity(a.id, stage_id=stage.id, before_id=c.id)
    assert column_ids(stage) == [a.id, c.id, b.id, d.id]
    # A within-column move is not a stage change.
    assert db.session.scalar(select(db.func.count()).where(StageChange.opportunity_id == d.id)) == 1


def test_a_full_gap_respaces_only_the_cards_around_it(sales):
    stage = sales.stages["Prospecting"]
    far = [deal(sales) for _ in range(4)]  # the bottom of the column, well away from the slot
    far_positions = {o.id: o.position for o in far}
    low, high = deal(sales), deal(sales)  # high is on top
    # Squeeze repeatedly into the same slot until the gap is exhausted.
    movers = [deal(sales, "Qualification") for _ in range(25)]
    for mover in movers:
        opportunities.move_opportunity(mover.id, stage_id=stage.id, after_id=high.id)
    db.session.expire_all()
    assert column_ids(stage) == [high.id, *[m.id for m in reversed(movers)], low.id] + [
        o.id for o in reversed(far)
    ]
    positions = list(
        db.session.scalars(
            select(Opportunity.position)
            .where(Opportunity.stage_id == stage.id)
            .order_by(Opportunity.position)
        )
    )
    assert len(set(positions)) == len(positions)
    assert {o.id: o.position for o in far} == far_positions


def audit_entries(opportunity_id: int) -> list:
    return db.session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.table_name == "opportunities",
            AuditEntry.row_id == str(opportunity_id),
            AuditEntry.action == "update",
        )
        .order_by(AuditEntry.id)
    ).all()


def test_moves_are_audited_with_the_columns_they_change(sales):
    opportunity = deal(sales, "Negotiation")
    above = deal(sales, "Negotiation")  # on top; the deal is below it
    start = opportunity.position
    opportunities.move_opportunity(opportunity.id, stage_id=sales.stages["Negotiation"].id)
    opportunities.move_opportunity(
        opportunity.id, stage_id=sales.stages["Closed Won"].id, reason="Signed"
    )
    db.session.refresh(opportunity)
    within, closing = audit_entries(opportunity.id)
    assert (within.user_id, within.old_values, within.new_values) == (
        sales.seller.id,
        {"position": start},
        {"position": above.position - ordering.POSITION_GAP},
    )
    assert closing.old_values == {
        "position": above.position - ordering.POSITION_GAP,
        "stage_id": sales.stages["Negotiation"].id,
        "status": "open",
        "probability": "75.00",
        "stage_entered_at": closing.old_values["stage_entered_at"],
        "closed_at": None,
        "win_reason": "",
    }
    assert closing.new_values == {
        "position": opportunity.position,
        "stage_id": sales.stages["Closed Won"].id,
        "status": "won",
        "probability": "100.00",
        "stage_entered_at": opportunity.stage_entered_at.isoformat(),
        "closed_at": opportunity.closed_at.isoformat(),
        "win_reason": "Signed",
    }
    history = db.session.scalars(
        select(StageChange).where(StageChange.opportunity_id == opportunity.id)
    ).all()
    assert [(h.from_stage_id, h.to_stage_id, h.changed_by_id) for h in history][1:] == [
        (sales.stages["Negotiation"].id, sales.stages["Closed Won"].id, sales.seller.id)
    ]


@pytest.mark.parametrize(
    ("stage", "field"), [("Closed Won", "win_reason"), ("Closed Lost", "loss_reason")]
)
def test_closing_needs_a_reason(sales, stage, field):
    opportunity = deal(sales, "Negotiation")
    with pytest.raises(ValidationError) as caught:
        opportunities.move_opportunity(opportunity.id, stage_id=sales.stages[stage].id, reason="  ")
    assert field in caught.value.fields
    opportunities.move_opportunity(
        opportunity.id, stage_id=sales.stages[stage].id, reason="Budget approved"
    )
    db.session.refresh(opportunity)
    assert getattr(opportunity, field) == "Budget approved"
    assert opportunity.closed_at is not None
    assert opportunity.status == ("won" if stage == "Closed Won" else "lost")
    # Reopening clears the close.
    opportunities.move_opportunity(opportunity.id, stage_id=sales.stages["Proposal"].id)
    db.session.refresh(opportunity)
    assert (opportunity.status, opportunity.closed_at, getattr(opportunity, field)) == (
        "open",
        None,
        "",
    )


def test_validation_and_other_tenants(sales, make_org):
    organization_id, seller_id = sales.organization.id, sales.seller.id
    with pytest.raises(ValidationError) as caught:
        opportunities.create_opportunity(
            name="",
            customer_id=sales.customers[0].id,
            amount="-5",
            expected_close_date=None,
        )
    assert set(caught.value.fields) == {"name", "expected_close_date"}
    with pytest.raises(ValidationError) as caught:
        deal(sales, amount="-1")
    assert "amount" in caught.value.fields
    with pytest.raises(ValidationError) as caught:
        deal(sales, "Closed Won")
    assert "stage_id" in caught.value.fields

    other_org, other_admin = make_org(name="Other")
    from crm_web.db import set_tenant

    other_admin_id = other_admin.id
    set_tenant(other_org.id, other_admin_id)
    other_stage = pipeline_stages.list_stages()[0]
    set_tenant(organization_id, seller_id)
    mine = deal(sales)
    with pytest.raises(NotFound):
        opportunities.move_opportunity(mine.id, stage_id=other_stage.id)
    with pytest.raises(ValidationError):
        opportunities.create_opportunity(
            name="x",
            customer_id=sales.customers[0].id,
            amount="1",
            expected_close_date=mine.expected_close_date,
            owner_id=other_admin_id,
        )


def test_totals_follow_moves(sales):
    a = deal(sales, "Qualification", amount="1000")
    deal(sales, "Qualification", amount="500")
    totals = pipeline_board.column_totals(pipeline_board.Filters())
    q, p = sales.stages["Qualification"].id, sales.stages["Proposal"].id
    assert totals[q][:2] == (2, Decimal("1500.00"))
    assert Decimal(totals[q][2]) == Decimal("375")
    opportunities.move_opportunity(a.id, stage_id=p)
    totals = pipeline_board.column_totals(pipeline_board.Filters())
    assert totals[q][:2] == (1, Decimal("500.00"))
    assert totals[p][:2] == (1, Decimal("1000.00"))
    assert Decimal(totals[p][2]) == Decimal("500")
    # The same figures from a filtered aggregate (a filter that matches everything).
    everything = pipeline_board.Filters(amount_min=Decimal("0"))
    filtered = pipeline_board.column_totals(everything)
    assert filtered[q][:2] == (1, Decimal("500.00"))
    assert filtered[p][:2] == (1, Decimal("1000.00"))
