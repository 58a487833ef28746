"""Card order within a column: positions and respacing.

Each card has a `position` within its stage, spaced POSITION_GAP apart, so a move normally
writes only the moved row (the midpoint of its new neighbours). Every change to a column's order
first locks that column's stage row (see crm_web.pipeline.opportunities.move_opportunity), so
these functions run under that lock. When two neighbours have no room left between them, the
cards around them are respaced under the same lock: the narrowest window of positions around
the slot that is sparse enough, widened fourfold at a time, so a column of thousands of cards
that keeps taking drops in one place rewrites a handful of rows, not all.
"""

from sqlalchemy import func, select, text

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pipeline.models import Opportunity

POSITION_GAP = 1 << 20


def top_position(stage_id: int) -> int:
    """A position above every card of the (locked) stage."""
    first = db.session.scalar(
        select(func.min(Opportunity.position)).where(
            Opportunity.organization_id == current_organization_id(),
            Opportunity.stage_id == stage_id,
        )
    )
    return 0 if first is None else first - POSITION_GAP


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


def new_position(stage_id, moving_id, after_id, before_id) -> int:
    """The position for a card dropped below `after_id` or above `before_id` in the (locked)
    column, respacing its neighbours when they have no room left between them."""
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
