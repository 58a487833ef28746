"""Changing deals: create, edit and move them on the board.

A move locks the target column's stage row (FOR NO KEY UPDATE, which leaves foreign key checks
from other inserts alone) before any card, so two concurrent moves into one column are
serialised and each reads its neighbours after the other has committed; the card's place in
the column is crm_web.pipeline.ordering's.
"""

import functools
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import lazyload

from crm_web.accounts.models import Organization, User
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import NotFound, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pipeline.amounts import parse_amount
from crm_web.pipeline.board import LOCK_STAGE_ROW, Column, Filters, column_headers, run_plain
from crm_web.pipeline.models import Opportunity, PipelineStage, StageChange
from crm_web.pipeline.ordering import new_position, top_position
from crm_web.pipeline.stages import lock_stage
from crm_web.privacy.audit import changed_values
from crm_web.privacy.models import AuditEntry
from crm_web.sequences import allocate


def get_opportunity(opportunity_id: int, *, for_update: bool = False) -> Opportunity:
    """An opportunity of the current organization (row-locked when about to change it)."""
    stmt = select(Opportunity).where(
        Opportunity.id == opportunity_id,
        Opportunity.organization_id == current_organization_id(),
    )
    if for_update:
        # Without the joined stage: after waiting for a concurrent move of this row, PostgreSQL
        # rechecks the join against the old stage and would drop the row (a false 404).
        stmt = (
            stmt.options(lazyload(Opportunity.stage))
            .with_for_update(of=Opportunity)
            .execution_options(populate_existing=True)
        )
    opportunity = db.session.scalar(stmt)
    if opportunity is None:
        raise NotFound(_("No such opportunity."))
    return opportunity


def _check_owner(owner_id: int | None) -> None:
    if owner_id is None:
        return
    exists = db.session.scalar(
        select(User.id).where(
            User.id == owner_id,
            User.organization_id == current_organization_id(),
            User.is_active,
        )
    )
    if exists is None:
        raise invalid({"owner_id": _("Choose an active user.")})


def _check_lead(lead_id: int | None) -> None:
    # The foreign key alone would accept another organization's lead: it bypasses row security.
    if lead_id is None:
        return
    exists = db.session.execute(
        text("SELECT 1 FROM leads WHERE id = :id AND organization_id = :org"),
        {"id": lead_id, "org": current_organization_id()},
    ).first()
    if exists is None:
        raise invalid({"lead_id": _("No such lead.")})


def _record_stage_change(opportunity: Opportunity, from_stage_id: int | None) -> None:
    db.session.add(
        StageChange(
            organization_id=opportunity.organization_id,
            opportunity_id=opportunity.id,
            from_stage_id=from_stage_id,
            to_stage_id=opportunity.stage_id,
            amount=opportunity.amount,
            changed_by_id=current_tenant().user_id,
        )
    )


def _deal_values(name, amount, expected_close_date, probability) -> tuple:
    """The checked name, amount and probability (None: the stage's) of a deal."""
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the opportunity a name.")
    elif len(name) > 200:
        errors["name"] = _("Keep the name under 200 characters.")
    if not isinstance(expected_close_date, date):
        errors["expected_close_date"] = _("Enter the expected close date.")
    check_fields(errors)
    amount = parse_amount(amount)
    if probability not in (None, ""):
        probability = parse_amount(probability, "probability")
        if probability > 100:
            raise invalid({"probability": _("Enter a percentage from 0 to 100.")})
    else:
        probability = None
    return name, amount, probability


@atomic
def create_opportunity(
    *,
    name: str,
    customer_id: int,
    amount,
    expected_close_date: date,
    stage_id: int | None = None,
    owner_id: int | None = None,
    lead_id: int | None = None,
    probability=None,
    currency: str | None = None,
    source: str = "",
    competitor: str = "",
    next_step: str = "",
    description: str = "",
) -> Opportunity:
    """A new deal at the top of its stage's column (the first stage unless one is given).

    The owner defaults to the acting user, the probability to the stage's, the currency to the
    organization's. Lead conversion passes `lead_id`; the deal keeps that link.
    """
    organization_id = current_organization_id()
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise invalid({"currency": _("Use a three-letter currency code such as EUR.")})
    name, amount, probability = _deal_values(name, amount, expected_close_date, probability)
    customer = db.session.scalar(
        select(Customer.id).where(
            Customer.id == customer_id, Customer.organization_id == organization_id
        )
    )
    if customer is None:
        raise invalid({"customer_id": _("No such customer.")})
    if owner_id is None:
        owner_id = current_tenant().user_id
    _check_owner(owner_id)
    _check_lead(lead_id)
    if stage_id is None:
        stage_id = db.session.scalar(
            select(PipelineStage.id)
            .where(
                PipelineStage.organization_id == organization_id, PipelineStage.outcome == "open"
            )
            .order_by(PipelineStage.position, PipelineStage.id)
            .limit(1)
        )
        if stage_id is None:
            raise ValidationError(_("The pipeline has no open stage; add one first."))
    stage = lock_stage(stage_id)
    if stage.outcome != "open":
        raise invalid(
            {"stage_id": _("Create the deal in an open stage, then move it to won or lost.")}
        )
    if currency is None:
        currency = db.session.scalar(
            select(Organization.currency).where(Organization.id == organization_id)
        )
    number = allocate(organization_id, "opportunity")
    opportunity = Opportunity(
        organization_id=organization_id,
        opportunity_number=f"OPP-{number:06d}",
        name=name,
        customer_id=customer_id,
        lead_id=lead_id,
        stage_id=stage.id,
        status="open",
        probability=stage.probability if probability is None else probability,
        amount=amount,
        currency=currency.upper(),
        expected_close_date=expected_close_date,
        owner_id=owner_id,
        position=top_position(stage.id),
        source=source.strip()[:50],
        competitor=competitor.strip()[:100],
        next_step=next_step.strip(),
        description=description.strip(),
        win_reason="",
        loss_reason="",
        created_by_id=current_tenant().user_id,
    )
    db.session.add(opportunity)
    db.session.flush()
    _record_stage_change(opportunity, None)
    db.session.flush()
    return opportunity


@atomic
def update_opportunity(
    opportunity_id: int,
    *,
    name: str,
    amount,
    expected_close_date: date,
    owner_id: int | None,
    probability=None,
    source: str = "",
    competitor: str = "",
    next_step: str = "",
    description: str = "",
) -> Opportunity:
    """Edit a deal's terms; its stage changes only by a move. An open deal may override its
    stage's probability (None keeps the current one); a closed deal keeps 100% or 0%."""
    opportunity = get_opportunity(opportunity_id, for_update=True)
    name, amount, probability = _deal_values(name, amount, expected_close_date, probability)
    _check_owner(owner_id)
    opportunity.name = name
    opportunity.amount = amount
    opportunity.expected_close_date = expected_close_date
    opportunity.owner_id = owner_id
    if probability is not None and opportunity.status == "open":
        opportunity.probability = probability
    opportunity.source = source.strip()[:50]
    opportunity.competitor = competitor.strip()[:100]
    opportunity.next_step = next_step.strip()
    opportunity.description = description.strip()
    db.session.flush()
    return opportunity


# What a move reads of its card (under the card's lock) and may write back.
_MOVED = (
    "stage_id",
    "status",
    "probability",
    "position",
    "stage_entered_at",
    "closed_at",
    "win_reason",
    "loss_reason",
)
_opportunities = Opportunity.__table__
_THE_CARD = (
    _opportunities.c.organization_id == bindparam("org"),
    _opportunities.c.id == bindparam("card_id"),
)
_LOCK_CARD = (
    select(_opportunities.c.amount, *(_opportunities.c[name] for name in _MOVED))
    .where(*_THE_CARD)
    .with_for_update()
)


@functools.cache
def _move_statement(changing: bool, audited: bool):
    """The card's new values with its audit entry and, entering another stage, its history row,
    in one statement: the stage totals its trigger locks are held only until the commit."""
    stmt = (
        update(_opportunities)
        .where(*_THE_CARD)
        .values({name: bindparam(f"new_{name}") for name in _MOVED})
    )
    if audited:
        stmt = stmt.add_cte(
            insert(AuditEntry.__table__)
            .values(
                organization_id=bindparam("org"),
                user_id=bindparam("user"),
                action="update",
                table_name=_opportunities.name,
                row_id=bindparam("row"),
                old_values=bindparam("old", type_=JSONB),
                new_values=bindparam("new", type_=JSONB),
            )
            .cte("audit")
        )
    if changing:
        stmt = stmt.add_cte(
            insert(StageChange.__table__)
            .values(
                organization_id=bindparam("org"),
                opportunity_id=bindparam("card_id"),
                from_stage_id=bindparam("old_stage_id"),
                to_stage_id=bindparam("new_stage_id"),
                amount=bindparam("card_amount"),
                changed_by_id=bindparam("user"),
            )
            .cte("history")
        )
    return stmt


@atomic(retry=True)
def move_opportunity(
    opportunity_id: int,
    *,
    stage_id: int,
    after_id: int | None = None,
    before_id: int | None = None,
    reason: str = "",
) -> int | None:
    """Put a card into `stage_id` right below `after_id` (or above `before_id`, or at the top).

    Entering a won or lost stage needs a reason and closes the deal; a stage change takes the
    stage's probability and is written to the stage history. Returns the stage the card left
    (None for a move within its column). A drop is the board's busiest write, so it reads and
    writes plain rows, and records its audit entry itself.
    """
    organization_id = current_organization_id()
    # The column first, then the card: whoever holds a card's lock already holds its target
    # column, so renumbering a column (which locks its cards) cannot wait on a move that holds
    # one of them while it waits for that same column.
    target = run_plain(
        LOCK_STAGE_ROW, {"organization_id": organization_id, "stage_id": stage_id}
    ).first()
    if target is None:
        raise NotFound(_("No such pipeline stage."))
    card = run_plain(_LOCK_CARD, {"org": organization_id, "card_id": opportunity_id}).first()
    if card is None:
        raise NotFound(_("No such opportunity."))
    reason = (reason or "").strip()
    changing = target.id != card.stage_id
    if changing and target.outcome in ("won", "lost") and not reason:
        field = "win_reason" if target.outcome == "won" else "loss_reason"
        raise ValidationError(
            _("Say why the deal was won.")
            if target.outcome == "won"
            else _("Say why the deal was lost."),
            {field: _("Give a reason."), "reason": _("Give a reason.")},
        )
    old = card._asdict()
    new = {**old, "position": new_position(target.id, opportunity_id, after_id, before_id)}
    if changing:
        now = datetime.now(UTC)
        new.update(
            stage_id=target.id,
            status=target.outcome,
            probability=target.probability,
            stage_entered_at=now,
            closed_at=None if target.outcome == "open" else now,
            win_reason=reason if target.outcome == "won" else "",
            loss_reason=reason if target.outcome == "lost" else "",
        )
    changes = changed_values(old, new)
    run_plain(
        _move_statement(changing, changes is not None),
        {
            "org": organization_id,
            "card_id": opportunity_id,
            "user": current_tenant().user_id,
            "row": str(opportunity_id),
            "old": changes and changes[0],
            "new": changes and changes[1],
            "card_amount": card.amount,
            "old_stage_id": card.stage_id,
            **{f"new_{name}": new[name] for name in _MOVED},
        },
    )
    # A deal loaded earlier in this transaction would still show its old place.
    if (
        loaded := db.session.identity_map.get(db.session.identity_key(Opportunity, opportunity_id))
    ) is not None:
        db.session.expire(loaded)
    return card.stage_id if changing else None


@atomic(retry=True)
def drop_card(opportunity_id: int, filters: Filters, *, stage_id: int, **place) -> list[Column]:
    """A drop on the board (see move_opportunity) and the new totals of the one or two columns
    it changed, read in the move's own transaction."""
    left = move_opportunity(opportunity_id, stage_id=stage_id, **place)
    return column_headers(filters, [stage_id] if left is None else [left, stage_id])


def find_customer_id(reference: str) -> int:
    """The id of the customer with this code (CUS-000042) or id, in the current organization."""
    reference = (reference or "").strip()
    number = whole_number(reference)
    condition = (
        Customer.id == number
        if number is not None
        else Customer.customer_code.in_({reference, reference.upper()})
    )
    found = db.session.scalar(
        select(Customer.id).where(Customer.organization_id == current_organization_id(), condition)
    )
    if found is None:
        raise invalid({"customer": _("No customer with this code.")})
    return found
