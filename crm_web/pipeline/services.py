"""The sales pipeline: stages, opportunities and moves on the board.

Card order: each card has a `position` within its stage, spaced POSITION_GAP apart, so a move
normally writes only the moved row (the midpoint of its new neighbours). Every change to a
column's order first locks that column's stage row (FOR NO KEY UPDATE, which leaves foreign key
checks from other inserts alone), before any card, so two concurrent moves into one column are
serialised and each reads its neighbours after the other has committed. When two neighbours have no room left
between them, the cards around them are respaced under the same lock: the narrowest window of
positions around the slot that is sparse enough, widened fourfold at a time, so a column of
thousands of cards that keeps taking drops in one place rewrites a handful of rows, not all.
"""

import dataclasses
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Row, bindparam, case, func, insert, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased, lazyload

from crm_web.accounts.models import Organization, User
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pagination import decode_cursor, encode_cursor
from crm_web.pipeline.models import (
    DEFAULT_STAGES,
    OUTCOMES,
    Opportunity,
    PipelineStage,
    SalesSettings,
    StageChange,
    StageTotal,
)
from crm_web.privacy.audit import changed_values, record
from crm_web.privacy.models import AuditEntry
from crm_web.sequences import allocate

POSITION_GAP = 1 << 20
DEFAULT_QUOTE_APPROVAL_THRESHOLD = Decimal("10000")
MAX_AMOUNT = Decimal("9999999999999.99")


def set_up_organization(organization_id: int) -> None:
    """Give a new organization seed 003's stages and default sales settings."""
    db.session.add_all(
        PipelineStage(
            organization_id=organization_id,
            name=name,
            position=index,
            probability=probability,
            outcome=outcome,
        )
        for index, (name, probability, outcome) in enumerate(DEFAULT_STAGES, start=1)
    )
    db.session.add(
        SalesSettings(
            organization_id=organization_id,
            quote_approval_threshold=DEFAULT_QUOTE_APPROVAL_THRESHOLD,
            default_tax_rate=Decimal("0"),
        )
    )
    db.session.flush()


def list_stages() -> list[PipelineStage]:
    """The organization's stages in board order."""
    return list(
        db.session.scalars(
            select(PipelineStage)
            .where(PipelineStage.organization_id == current_organization_id())
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )


def get_stage(stage_id: int) -> PipelineStage:
    """A stage of the current organization, or NotFound."""
    stage = db.session.scalar(
        select(PipelineStage).where(
            PipelineStage.id == stage_id,
            PipelineStage.organization_id == current_organization_id(),
        )
    )
    if stage is None:
        raise NotFound("No such pipeline stage.")
    return stage


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
        raise NotFound("No such opportunity.")
    return opportunity


def _lock_stage(stage_id: int) -> PipelineStage:
    stage = db.session.scalar(
        select(PipelineStage)
        .where(
            PipelineStage.id == stage_id,
            PipelineStage.organization_id == current_organization_id(),
        )
        .with_for_update(key_share=True, of=PipelineStage)
        .execution_options(populate_existing=True)
    )
    if stage is None:
        raise NotFound("No such pipeline stage.")
    return stage


def _core(statement, params: dict):
    """Run a statement of plain columns on the session's connection (its transaction, so its
    tenant) without the ORM's result handling, which cost more than the board's queries."""
    return db.session.connection().execute(statement, params)


# A column's stage as a plain row (what the board and the API show of it), not an ORM object:
# loading entities cost more than the query.
_STAGE_COLUMNS = (
    PipelineStage.id,
    PipelineStage.name,
    PipelineStage.position,
    PipelineStage.probability,
    PipelineStage.outcome,
)


_STAGE_ROW = select(*_STAGE_COLUMNS).where(
    PipelineStage.organization_id == bindparam("organization_id"),
    PipelineStage.id == bindparam("stage_id"),
)


_LOCK_STAGE_ROW = _STAGE_ROW.with_for_update(key_share=True)


def parse_amount(value, field: str = "amount") -> Decimal:
    """A non-negative money amount with at most two decimals, or a ValidationError on `field`."""
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if value not in (None, "") else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise invalid({field: "Enter an amount."})
    if amount < 0 or amount > MAX_AMOUNT:
        raise invalid({field: "Enter an amount between 0 and 9,999,999,999,999.99."})
    if amount != amount.quantize(Decimal("0.01")):
        raise invalid({field: "Use at most two decimals."})
    return amount


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
        raise invalid({"owner_id": "Choose an active user."})


def _check_lead(lead_id: int | None) -> None:
    # The foreign key alone would accept another organization's lead: it bypasses row security.
    if lead_id is None:
        return
    exists = db.session.execute(
        text("SELECT 1 FROM leads WHERE id = :id AND organization_id = :org"),
        {"id": lead_id, "org": current_organization_id()},
    ).first()
    if exists is None:
        raise invalid({"lead_id": "No such lead."})


def _forget_history() -> None:
    # The forecast caches win rates of closed deals; imported here, forecast imports this module.
    from crm_web.pipeline.forecast import forget_history

    forget_history(current_organization_id())


def _top_position(stage_id: int) -> int:
    """A position above every card of the (locked) stage."""
    first = db.session.scalar(
        select(func.min(Opportunity.position)).where(
            Opportunity.organization_id == current_organization_id(),
            Opportunity.stage_id == stage_id,
        )
    )
    return 0 if first is None else first - POSITION_GAP


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
        errors["name"] = "Give the opportunity a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if not isinstance(expected_close_date, date):
        errors["expected_close_date"] = "Enter the expected close date."
    check_fields(errors)
    amount = parse_amount(amount)
    if probability not in (None, ""):
        probability = parse_amount(probability, "probability")
        if probability > 100:
            raise invalid({"probability": "Enter a percentage from 0 to 100."})
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
        raise invalid({"currency": "Use a three-letter currency code such as EUR."})
    name, amount, probability = _deal_values(name, amount, expected_close_date, probability)
    customer = db.session.scalar(
        select(Customer.id).where(
            Customer.id == customer_id, Customer.organization_id == organization_id
        )
    )
    if customer is None:
        raise invalid({"customer_id": "No such customer."})
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
            raise ValidationError("The pipeline has no open stage; add one first.")
    stage = _lock_stage(stage_id)
    if stage.outcome != "open":
        raise invalid(
            {"stage_id": "Create the deal in an open stage, then move it to won or lost."}
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
        position=_top_position(stage.id),
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


# The anchor card and the one next to it on the drop side, in one read of the board index; the
# mover is left out (it may be the anchor's old neighbour). Under the column's lock, so no move
# into the column can slip in between.
_NEIGHBOURS_SQL = """
    SELECT id, position FROM opportunities
    WHERE organization_id = :org AND stage_id = :stage AND id <> :moving
      AND (position, id) {compare} (
          SELECT position, id FROM opportunities
          WHERE organization_id = :org AND stage_id = :stage AND id = :anchor
      )
    ORDER BY position {order}, id {order}
    LIMIT 2
"""
_NEIGHBOURS = {
    True: text(_NEIGHBOURS_SQL.format(compare=">=", order="ASC")),
    False: text(_NEIGHBOURS_SQL.format(compare="<=", order="DESC")),
}


def _neighbours(
    stage_id: int, moving_id: int, anchor_id: int, *, after: bool
) -> tuple[int, int | None] | None:
    """(the anchor's position, the next card's after or before it), or None when the anchor is
    not in the column (or is the card being moved)."""
    rows = db.session.execute(
        _NEIGHBOURS[after],
        {
            "org": current_organization_id(),
            "stage": stage_id,
            "moving": moving_id,
            "anchor": anchor_id,
        },
    ).all()
    if not rows or rows[0].id != anchor_id:
        return None
    return rows[0].position, rows[1].position if len(rows) > 1 else None


def _slot(stage_id: int, moving_id: int, after_id: int | None, before_id: int | None):
    """(previous, next) positions around the drop point, from whichever anchor is still there."""
    if after_id is not None and (found := _neighbours(stage_id, moving_id, after_id, after=True)):
        return found
    if before_id is not None and (
        found := _neighbours(stage_id, moving_id, before_id, after=False)
    ):
        return found[1], found[0]
    # No anchor (or it left the column meanwhile): the top of the column.
    first = db.session.scalar(
        select(func.min(Opportunity.position)).where(
            Opportunity.organization_id == current_organization_id(),
            Opportunity.stage_id == stage_id,
            Opportunity.id != moving_id,
        )
    )
    return None, first


# After respacing, each gap in the window is at least this wide: room for a few more halvings.
RESPACED_MIN_GAP = 1 << 6


def _respace(stage_id: int, around: int) -> None:
    """Spread the (locked) column's cards near position `around` evenly, keeping their order.

    The window [around - width, around + width] grows fourfold until its cards fit with
    RESPACED_MIN_GAP between them; cards outside it keep their positions.
    """
    params = {"org": current_organization_id(), "stage": stage_id}
    width = POSITION_GAP
    while True:
        low, high = around - width, around + width
        inside = db.session.scalar(
            text(
                "SELECT count(*) FROM opportunities WHERE organization_id = :org "
                "AND stage_id = :stage AND position BETWEEN :low AND :high"
            ),
            {**params, "low": low, "high": high},
        )
        if (high - low) // (inside + 1) >= RESPACED_MIN_GAP:
            break
        width *= 4
    db.session.execute(
        text(
            """
            UPDATE opportunities o SET position = :low + r.rank * :step
            FROM (
                SELECT id, row_number() OVER (ORDER BY position, id) AS rank
                FROM opportunities
                WHERE organization_id = :org AND stage_id = :stage
                  AND position BETWEEN :low AND :high
            ) r
            WHERE o.id = r.id AND o.organization_id = :org
              AND o.position <> :low + r.rank * :step
            """
        ),
        {**params, "low": low, "high": high, "step": (high - low) // (inside + 1)},
    )


def _new_position(stage_id, moving_id, after_id, before_id) -> int:
    previous, following = _slot(stage_id, moving_id, after_id, before_id)
    if previous is None and following is None:
        return 0
    if previous is None:
        return following - POSITION_GAP
    if following is None:
        return previous + POSITION_GAP
    if following - previous > 1:
        return (previous + following) // 2
    _respace(stage_id, previous)
    db.session.expire_all()
    previous, following = _slot(stage_id, moving_id, after_id, before_id)
    return previous + POSITION_GAP if following is None else (previous + following) // 2


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
    target = _core(
        _LOCK_STAGE_ROW, {"organization_id": organization_id, "stage_id": stage_id}
    ).first()
    if target is None:
        raise NotFound("No such pipeline stage.")
    card = _core(_LOCK_CARD, {"org": organization_id, "card_id": opportunity_id}).first()
    if card is None:
        raise NotFound("No such opportunity.")
    reason = (reason or "").strip()
    changing = target.id != card.stage_id
    if changing and target.outcome in ("won", "lost") and not reason:
        field = "win_reason" if target.outcome == "won" else "loss_reason"
        raise ValidationError(
            f"Say why the deal was {target.outcome}.",
            {field: "Give a reason.", "reason": "Give a reason."},
        )
    old = card._asdict()
    new = {**old, "position": _new_position(target.id, opportunity_id, after_id, before_id)}
    if changing:
        if card.status != target.outcome:  # closing or reopening
            _forget_history()
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
    _core(
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


# ---- The board and the list -------------------------------------------------------------------

# A column shows about ten cards without scrolling: the first paint sends a dozen per column,
# each "load more" twenty.
BOARD_FIRST_CARDS = 12
BOARD_COLUMN_SIZE = 20
LIST_PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    """What the board and the list are narrowed to; empty means everything."""

    owner_id: int | None = None
    close_month: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.owner_id, self.close_month, self.amount_min, self.amount_max)
        )

    def query(self) -> dict[str, str]:
        """The filters as query-string values (for links and the next page)."""
        values = {
            "owner_id": self.owner_id,
            "close_month": self.close_month.strftime("%Y-%m") if self.close_month else None,
            "amount_min": self.amount_min,
            "amount_max": self.amount_max,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


def parse_filters(args) -> Filters:
    """Filters from query-string values (a dict-like); a ValidationError names a bad one."""
    errors = {}
    owner_id = close_month = amount_min = amount_max = None
    if raw := (args.get("owner_id") or "").strip():
        owner_id = whole_number(raw)
        if owner_id is None:
            errors["owner_id"] = "Choose an owner."
    if raw := (args.get("close_month") or "").strip():
        try:
            close_month = datetime.strptime(raw, "%Y-%m").date()
        except ValueError:
            errors["close_month"] = "Use a month like 2026-03."
    for name in ("amount_min", "amount_max"):
        if raw := (args.get(name) or "").strip():
            try:
                value = parse_amount(raw, name)
            except ValidationError as exc:
                errors.update(exc.fields)
            else:
                if name == "amount_min":
                    amount_min = value
                else:
                    amount_max = value
    if errors:
        raise ValidationError("Please correct the filters.", errors)
    return Filters(owner_id, close_month, amount_min, amount_max)


def _filter_clauses(filters: Filters) -> list:
    """The organization and the filters that are set, as clauses with bound parameters (their
    values come from _filter_params): a statement built from them serves every request whose
    filters are of the same kind, so it can be built once (see _board_cards, _column_cards)."""
    clauses = [Opportunity.organization_id == bindparam("organization_id")]
    if filters.owner_id is not None:
        clauses.append(Opportunity.owner_id == bindparam("owner_id"))
    if filters.close_month is not None:
        clauses += [
            Opportunity.expected_close_date >= bindparam("close_from"),
            Opportunity.expected_close_date < bindparam("close_until"),
        ]
    if filters.amount_min is not None:
        clauses.append(Opportunity.amount >= bindparam("amount_min"))
    if filters.amount_max is not None:
        clauses.append(Opportunity.amount <= bindparam("amount_max"))
    return clauses


def _filter_params(filters: Filters) -> dict:
    """The values of _filter_clauses' parameters."""
    params = {
        "organization_id": current_organization_id(),
        "owner_id": filters.owner_id,
        "amount_min": filters.amount_min,
        "amount_max": filters.amount_max,
    }
    if (start := filters.close_month) is not None:
        params["close_from"] = start
        params["close_until"] = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return {name: value for name, value in params.items() if value is not None}


def _kind(filters: Filters) -> Filters:
    """Which filters are set (any value stands for all): the key of the statements built once."""
    return Filters(*(None if value is None else True for value in dataclasses.astuple(filters)))


def _customer_name():
    return case(
        (
            (Customer.customer_type == "company") & (Customer.company_name != ""),
            Customer.company_name,
        ),
        else_=func.concat_ws(" ", Customer.first_name, Customer.last_name),
    )


def _card_columns():
    return (
        Opportunity.id,
        Opportunity.opportunity_number,
        Opportunity.name,
        Opportunity.stage_id,
        Opportunity.status,
        Opportunity.position,
        Opportunity.amount,
        Opportunity.currency,
        Opportunity.probability,
        Opportunity.expected_close_date,
        Opportunity.customer_id,
        _customer_name().label("customer_name"),
        User.name.label("owner_name"),
    )


def _display_columns():
    """What a board card shows, formatted by the database as the `money` filter and the card's
    date would format them: the board renders these strings without a filter call per card."""
    return (
        Opportunity.id,
        Opportunity.name,
        Opportunity.stage_id,
        Opportunity.position,
        _customer_name().label("customer_name"),
        func.concat_ws(
            " ",
            func.to_char(Opportunity.amount, "FM9,999,999,999,990.00"),
            func.nullif(Opportunity.currency, ""),
        ).label("amount_text"),
        func.to_char(Opportunity.expected_close_date, "DD Mon YYYY").label("close_text"),
        User.name.label("owner_name"),
    )


def _cards(where: list, display: bool = False):
    """The card fields (deal, customer name, owner name) of the deals matching `where`; with
    `display`, only what the board shows, ready to print."""
    return (
        select(*(_display_columns() if display else _card_columns()))
        .join(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .where(*where)
    )


@dataclass
class Column:
    stage: Row  # at least the fields of _STAGE_COLUMNS
    count: int
    amount: Decimal
    weighted: Decimal
    cards: list
    next_cursor: str | None = None
    # What the column's cards show is at this version (see 0017_pipeline_versions).
    version: int | None = None
    # The cards already rendered (see views.board), else the template renders `cards`.
    cards_html: str | None = None


def column_totals(filters: Filters, stage_ids: list[int] | None = None) -> dict[int, tuple]:
    """(count, amount, weighted amount) per stage: kept sums unfiltered, else one aggregate."""
    if not filters.active:
        stmt = select(
            StageTotal.stage_id,
            StageTotal.opportunity_count,
            StageTotal.amount,
            StageTotal.weighted_amount,
        ).where(StageTotal.organization_id == current_organization_id())
        if stage_ids is not None:
            stmt = stmt.where(StageTotal.stage_id.in_(stage_ids))
    else:
        stmt = select(
            Opportunity.stage_id,
            func.count(),
            func.coalesce(func.sum(Opportunity.amount), 0),
            func.coalesce(func.sum(Opportunity.amount * Opportunity.probability / 100), 0),
        ).where(*_filter_clauses(filters))
        if stage_ids is not None:
            stmt = stmt.where(Opportunity.stage_id.in_(stage_ids))
        stmt = stmt.group_by(Opportunity.stage_id)
        return {row[0]: tuple(row[1:]) for row in db.session.execute(stmt, _filter_params(filters))}
    return {row[0]: tuple(row[1:]) for row in db.session.execute(stmt)}


def _column(stage: Row, totals: dict, cards: list, limit: int) -> Column:
    count, amount, weighted = totals.get(stage.id, (0, Decimal("0"), Decimal("0")))
    column = Column(
        stage,
        count,
        amount,
        Decimal(weighted).quantize(Decimal("0.01")),
        [],
        version=getattr(stage, "version", None),
    )
    _set_cards(column, cards, limit)
    return column


def _set_cards(column: Column, cards: list, limit: int) -> None:
    """The column's first `limit` of `cards` and, if there are more, the cursor after them."""
    column.cards = cards[:limit]
    if len(cards) > limit:
        last = cards[limit - 1]
        column.next_cursor = encode_cursor([last.position, last.id])


@functools.cache
def _board_cards(kind: Filters, display: bool):
    """One query for the columns of `stage_ids`: each stage's first `limit` cards through a
    LATERAL subquery. Built once per kind of filters: building it cost more than running it."""
    first = (
        _cards([*_filter_clauses(kind), Opportunity.stage_id == PipelineStage.id], display)
        .order_by(Opportunity.position, Opportunity.id)
        .limit(bindparam("limit"))
        .lateral("first_cards")
    )
    return (
        select(first)
        .select_from(PipelineStage)
        .join(first, true())
        .where(
            PipelineStage.organization_id == bindparam("organization_id"),
            PipelineStage.id.in_(bindparam("stage_ids", expanding=True)),
        )
        .order_by(first.c.stage_id, first.c.position, first.c.id)
    )


@functools.cache
def _stages_with_kept_totals(some: bool):
    """The stages in board order with the sums the trigger keeps, all of them or `stage_ids`."""
    stmt = (
        select(
            *_STAGE_COLUMNS,
            StageTotal.opportunity_count,
            StageTotal.amount,
            StageTotal.weighted_amount,
            StageTotal.version,
        )
        .outerjoin(StageTotal, StageTotal.stage_id == PipelineStage.id)
        .where(PipelineStage.organization_id == bindparam("organization_id"))
        .order_by(PipelineStage.position, PipelineStage.id)
    )
    if some:
        stmt = stmt.where(PipelineStage.id.in_(bindparam("stage_ids", expanding=True)))
    return stmt


def _stages_with_totals(filters: Filters, stage_ids: list[int] | None = None) -> tuple[list, dict]:
    """The stages in board order and their (count, amount, weighted) totals: unfiltered, the
    kept sums come with the stages in the same query; filtered, they are summed afresh."""
    params = {"organization_id": current_organization_id()}
    if stage_ids is not None:
        params["stage_ids"] = stage_ids
    rows = _core(_stages_with_kept_totals(stage_ids is not None), params).all()
    totals = (
        column_totals(filters, stage_ids)
        if filters.active
        else {
            row.id: (row.opportunity_count, row.amount, row.weighted_amount)
            for row in rows
            if row.opportunity_count is not None
        }
    )
    return rows, totals


def board(
    filters: Filters, limit: int = BOARD_FIRST_CARDS, *, display: bool = False
) -> list[Column]:
    """Every stage with its totals and its first `limit` cards, in two queries (unfiltered);
    `display` cards carry only what the board shows (see _display_columns)."""
    columns = board_columns(filters)
    add_first_cards(columns, filters, limit, display=display)
    return columns


def board_columns(filters: Filters) -> list[Column]:
    """Every stage with its totals and its version, without cards, in one query (unfiltered)."""
    stages, totals = _stages_with_totals(filters)
    return [_column(stage, totals, [], 0) for stage in stages]


def add_first_cards(
    columns: list[Column],
    filters: Filters,
    limit: int = BOARD_FIRST_CARDS,
    *,
    display: bool = False,
) -> None:
    """Give these columns their first `limit` cards, in one query."""
    params = {
        **_filter_params(filters),
        "limit": limit + 1,
        "stage_ids": [column.stage.id for column in columns],
    }
    rows = _core(_board_cards(_kind(filters), display), params).all()
    by_stage: dict[int, list] = {column.stage.id: [] for column in columns}
    for row in rows:
        by_stage[row.stage_id].append(row)
    for column in columns:
        _set_cards(column, by_stage[column.stage.id], limit)


def column_page(
    stage_id: int,
    filters: Filters,
    cursor: str | None,
    limit: int = BOARD_COLUMN_SIZE,
) -> Column:
    """The next cards of one column after `cursor` (keyset on position, id), as the board shows
    them (see _display_columns)."""
    stage = _core(
        _STAGE_ROW, {"organization_id": current_organization_id(), "stage_id": stage_id}
    ).first()
    if stage is None:
        raise NotFound("No such pipeline stage.")
    params = {**_filter_params(filters), "stage_id": stage.id, "limit": limit + 1}
    if cursor:
        params["position"], params["id"] = decode_cursor(
            cursor, (Opportunity.position, Opportunity.id)
        )
    rows = _core(_column_cards(_kind(filters), bool(cursor)), params).all()
    return _column(stage, {}, rows, limit)


@functools.cache
def _column_cards(kind: Filters, after_cursor: bool):
    """A column's cards in board order, from the top or after a (position, id) key, built once
    per kind of filters; the row comparison matches ix_opportunities_board's column order."""
    where = [*_filter_clauses(kind), Opportunity.stage_id == bindparam("stage_id")]
    if after_cursor:
        where.append(
            tuple_(Opportunity.position, Opportunity.id)
            > tuple_(bindparam("position"), bindparam("id"))
        )
    return (
        _cards(where, display=True)
        .order_by(Opportunity.position, Opportunity.id)
        .limit(bindparam("limit"))
    )


def column_headers(filters: Filters, stage_ids: list[int]) -> list[Column]:
    """Just the totals of some columns (after a move), without cards."""
    stages, totals = _stages_with_totals(filters, stage_ids)
    return [_column(stage, totals, [], 0) for stage in stages]


@atomic(retry=True)
def drop_card(opportunity_id: int, filters: Filters, *, stage_id: int, **place) -> list[Column]:
    """A drop on the board (see move_opportunity) and the new totals of the one or two columns
    it changed, read in the move's own transaction."""
    left = move_opportunity(opportunity_id, stage_id=stage_id, **place)
    return column_headers(filters, [stage_id] if left is None else [left, stage_id])


def card(opportunity_id: int):
    """One card's fields."""
    row = db.session.execute(
        _cards(
            [
                Opportunity.organization_id == current_organization_id(),
                Opportunity.id == opportunity_id,
            ]
        )
    ).first()
    if row is None:
        raise NotFound("No such opportunity.")
    return row


@dataclass
class ListPage:
    rows: list
    next_cursor: str | None


def opportunity_list(
    filters: Filters,
    *,
    status: str | None = None,
    stage_id: int | None = None,
    cursor: str | None = None,
    limit: int = LIST_PAGE_SIZE,
) -> ListPage:
    """The list view: deals by expected close date (then id), keyset-paged."""
    where = _filter_clauses(filters)
    if status is not None:
        if status not in OUTCOMES:
            raise ValidationError("Unknown status.", {"status": "Choose open, won or lost."})
        where.append(Opportunity.status == status)
    if stage_id is not None:
        where.append(Opportunity.stage_id == stage_id)
    if cursor:
        key = decode_cursor(cursor, (Opportunity.expected_close_date, Opportunity.id))
        where.append(tuple_(Opportunity.expected_close_date, Opportunity.id) > tuple_(*key))
    columns = (*_card_columns(), PipelineStage.name.label("stage_name"))
    rows = db.session.execute(
        select(*columns)
        .join(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .join(PipelineStage, PipelineStage.id == Opportunity.stage_id)
        .where(*where)
        .order_by(Opportunity.expected_close_date, Opportunity.id)
        .limit(limit + 1),
        _filter_params(filters),
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].expected_close_date, rows[-1].id])
    return ListPage(rows, next_cursor)


def owners() -> list[tuple[int, str]]:
    """Active users who can own deals, for the owner filter and forms."""
    return list(
        db.session.execute(
            select(User.id, User.name)
            .where(
                User.organization_id == current_organization_id(),
                User.is_active,
                User.role.in_(("admin", "manager", "sales")),
            )
            .order_by(func.lower(User.name))
        ).all()
    )


# ---- Stage configuration -----------------------------------------------------------------------


def _stage_values(name: str, probability) -> tuple[str, Decimal]:
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the stage a name."
    elif len(name) > 60:
        errors["name"] = "Keep the name under 60 characters."
    try:
        probability = parse_amount(probability, "probability")
    except ValidationError as exc:
        errors.update(exc.fields)
    else:
        if probability > 100:
            errors["probability"] = "Enter a percentage from 0 to 100."
    check_fields(errors)
    return name, probability


def _check_name_free(name: str, stage_id: int | None = None) -> None:
    taken = db.session.scalar(
        select(PipelineStage.id).where(
            PipelineStage.organization_id == current_organization_id(),
            func.lower(PipelineStage.name) == name.lower(),
            PipelineStage.id != (stage_id or 0),
        )
    )
    if taken is not None:
        raise invalid({"name": "Another stage has this name."})


def _reorder_stages(moved: PipelineStage, position: int | None) -> None:
    stages = [stage for stage in list_stages() if stage.id != moved.id]
    index = len(stages) if position is None else max(0, min(position - 1, len(stages)))
    stages.insert(index, moved)
    for number, stage in enumerate(stages, start=1):
        stage.position = number


@atomic
def add_stage(*, name: str, probability, position: int | None = None) -> PipelineStage:
    """A new open stage, at `position` (1 = first) or before the closing stages."""
    name, probability = _stage_values(name, probability)
    _check_name_free(name)
    stage = PipelineStage(
        organization_id=current_organization_id(),
        name=name,
        probability=probability,
        outcome="open",
        position=0,
    )
    db.session.add(stage)
    if position is None:
        open_stages = [s for s in list_stages() if s.outcome == "open"]
        position = len(open_stages) + 1
    _reorder_stages(stage, position)
    _forget_history()
    db.session.flush()
    return stage


@atomic
def update_stage(stage_id: int, *, name: str, probability, position: int | None = None):
    """Rename, reweight or move a stage; its open deals take the new probability."""
    stage = _lock_stage(stage_id)
    name, probability = _stage_values(name, probability)
    _check_name_free(name, stage.id)
    if (stage.outcome == "won" and probability != 100) or (stage.outcome == "lost" and probability):
        raise invalid({"probability": "A won stage is 100% and a lost stage 0%."})
    changed = probability != stage.probability
    stage.name = name
    stage.probability = probability
    if position is not None:
        _reorder_stages(stage, position)
    _forget_history()
    db.session.flush()
    if changed:
        result = db.session.execute(
            text(
                "UPDATE opportunities SET probability = :p, updated_at = now() "
                "WHERE organization_id = :org AND stage_id = :stage"
            ),
            {"p": probability, "org": current_organization_id(), "stage": stage.id},
        )
        record(
            db.session,
            organization_id=stage.organization_id,
            action="update",
            table_name="opportunities",
            row_id=f"stage {stage.id}",
            new={"probability": probability, "rows": result.rowcount},
        )
    return stage


@atomic
def delete_stage(stage_id: int) -> None:
    """Remove an open stage that no deal is in and none has passed through."""
    stage = _lock_stage(stage_id)
    if stage.outcome != "open":
        raise Conflict("The won and lost stages cannot be removed.")
    used = db.session.scalar(
        select(func.count()).where(
            Opportunity.organization_id == stage.organization_id, Opportunity.stage_id == stage.id
        )
    ) or db.session.scalar(
        select(func.count()).where(
            StageChange.organization_id == stage.organization_id,
            StageChange.to_stage_id == stage.id,
        )
    )
    if used:
        raise Conflict("Deals are in this stage or have passed through it; rename it instead.")
    if sum(1 for s in list_stages() if s.outcome == "open") <= 1:
        raise Conflict("The pipeline needs at least one open stage.")
    db.session.delete(stage)
    _forget_history()
    db.session.flush()
    for number, remaining in enumerate(list_stages(), start=1):
        remaining.position = number
    db.session.flush()


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
        raise invalid({"customer": "No customer with this code."})
    return found


def stage_history(opportunity_id: int) -> list:
    """A deal's moves, oldest first, with stage and user names."""
    from_stage = aliased(PipelineStage)
    to_stage = aliased(PipelineStage)
    return db.session.execute(
        select(
            StageChange.changed_at,
            StageChange.amount,
            from_stage.name.label("from_name"),
            to_stage.name.label("to_name"),
            User.name.label("user_name"),
        )
        .join(to_stage, to_stage.id == StageChange.to_stage_id)
        .outerjoin(from_stage, from_stage.id == StageChange.from_stage_id)
        .outerjoin(User, User.id == StageChange.changed_by_id)
        .where(
            StageChange.organization_id == current_organization_id(),
            StageChange.opportunity_id == opportunity_id,
        )
        .order_by(StageChange.changed_at, StageChange.id)
    ).all()
