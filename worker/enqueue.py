"""Send messages only once the current transaction has committed: a rollback sends nothing."""

import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_web.extensions import db

_PENDING = "crm_pending_messages"


def enqueue_after_commit(actor, *args, delay_ms: int | None = None, **kwargs) -> None:
    """Queue `actor.send(*args)` for after the session's transaction commits; a delay counts
    from this call, not from the commit."""
    session = db.session()
    if not session.in_transaction():
        # Begin now: a rollback of a transaction that never began fires no event, and the
        # message would wait for (and go out with) the next commit.
        session.begin()
    session.info.setdefault(_PENDING, []).append((actor, args, kwargs, delay_ms, time.monotonic()))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    for actor, args, kwargs, delay_ms, asked_at in session.info.pop(_PENDING, []):
        if delay_ms is not None:
            # A long transaction (a sweep enqueuing thousands) must not make the last ones late.
            delay_ms = max(0, delay_ms - int((time.monotonic() - asked_at) * 1000))
        actor.send_with_options(args=args, kwargs=kwargs, delay=delay_ms)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    # Only the outermost rollback discards: a savepoint rolling back leaves the rest of the work.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
