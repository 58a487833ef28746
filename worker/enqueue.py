"""Send messages only once the current transaction has committed: a rollback sends nothing.

A message is only a nudge: the committed rows are the truth, and the sweeps find the work a lost
nudge leaves behind. So a broker that cannot be reached after the commit is logged, never raised
into the request (whose change is already committed).
"""

import logging
import time

import redis
from dramatiq.errors import BrokerError
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_web.extensions import db
from crm_web.redis_client import redis_failed, redis_known_down

log = logging.getLogger(__name__)

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
    pending = session.info.pop(_PENDING, [])
    # Known to be down: nothing waits on a broker timeout. After one failure, the rest of this
    # commit's messages are not tried either. (No probe here: a commit must not wait on one.)
    reachable = bool(pending) and not redis_known_down()
    for actor, args, kwargs, delay_ms, asked_at in pending:
        if reachable:
            if delay_ms is not None:
                # A long transaction (a sweep enqueuing thousands) must not make the last ones late.
                delay_ms = max(0, delay_ms - int((time.monotonic() - asked_at) * 1000))
            try:
                actor.send_with_options(args=args, kwargs=kwargs, delay=delay_ms)
                continue
            except (redis.RedisError, BrokerError) as error:
                reachable = False
                redis_failed("enqueueing after commit", error)
        log.warning(
            "Lost nudge: %s%r not enqueued (broker unreachable); the committed rows stand",
            actor.actor_name,
            args,
        )


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    # Only the outermost rollback discards: a savepoint rolling back leaves the rest of the work.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
