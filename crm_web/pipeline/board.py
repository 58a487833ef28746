"""What the board, the list and a deal's page read: columns with their totals and cards.

The board's reads are its busiest: they run cached Core statements of plain columns (built once
per kind of filters) rather than ORM queries, whose building and result handling cost more than
the queries themselves.
"""

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import Row, bindparam, case, func, select, true, tuple_
from sqlalchemy.orm import aliased

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.errors import NotFound, ValidationError
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pagination import decode_cursor, encode_cursor
from crm_web.permissions import roles_with
from crm_web.pipeline.amounts import parse_amount
from crm_web.pipeline.models import OUTCOMES, Opportunity, PipelineStage, StageChange, StageTotal

# A column shows about ten cards without scrolling: the first paint sends a dozen per column,
# each "load more" twenty.
BOARD_FIRST_CARDS = 12
BOARD_COLUMN_SIZE = 20
LIST_PAGE_SIZE = 50


def run_plain(statement, params: dict):
    """Run a statement of plain columns on the session's connection (its transaction, so its
    tenant) without the ORM's result handling, which cost more than the board's queries."""
    return db.session.connection().execute(statement, params)


# A column's stage as a plain row (what the board and the API show of it), not an ORM object:
# loading entities cost more than the query.
STAGE_COLUMNS = (
    PipelineStage.id,
    PipelineStage.name,
    PipelineStage.position,
    PipelineStage.probability,
    PipelineStage.outcome,
)


STAGE_ROW = select(*STAGE_COLUMNS).where(
    PipelineStage.organization_id == bindparam("organization_id"),
    PipelineStage.id == bindparam("stage_id"),
)

# How a move locks its target column (crm_web.pipeline.opportunities.move_opportunity).
LOCK_STAGE_ROW = STAGE_ROW.with_for_update(key_share=True)


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
            errors["owner_id"] = _("Choose an owner.")
    if raw := (args.get("close_month") or "").strip():
        try:
            close_month = datetime.strptime(raw, "%Y-%m").date()
        except ValueError:
            errors["close_month"] = _("Use a month like 2026-03.")
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
        raise ValidationError(_("Please correct the filters."), errors)
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
    """What a board card shows (its amount and date are formatted in the reader's language by
    the template's filters, once per kept rendering of a column)."""
    return (
        Opportunity.id,
        Opportunity.name,
        Opportunity.stage_id,
        Opportunity.position,
        _customer_name().label("customer_name"),
        Opportunity.amount,
        Opportunity.currency,
        Opportunity.expected_close_date,
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
    stage: Row  # at least the fields of STAGE_COLUMNS
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
            *STAGE_COLUMNS,
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
    rows = run_plain(_stages_with_kept_totals(stage_ids is not None), params).all()
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
    rows = run_plain(_board_cards(_kind(filters), display), params).all()
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
    stage = run_plain(
        STAGE_ROW, {"organization_id": current_organization_id(), "stage_id": stage_id}
    ).first()
    if stage is None:
        raise NotFound(_("No such pipeline stage."))
    params = {**_filter_params(filters), "stage_id": stage.id, "limit": limit + 1}
    if cursor:
        params["position"], params["id"] = decode_cursor(
            cursor, (Opportunity.position, Opportunity.id)
        )
    rows = run_plain(_column_cards(_kind(filters), bool(cursor)), params).all()
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
        raise NotFound(_("No such opportunity."))
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
            raise ValidationError(_("Unknown status."), {"status": _("Choose open, won or lost.")})
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
                User.role.in_(roles_with("work deals")),
            )
            .order_by(func.lower(User.name))
        ).all()
    )


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
