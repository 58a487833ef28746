"""Claim, send, mark: the one delivery loop every email and SMS goes through.

The guarantee, for every message the app sends: **at least once, with a stable Message-ID;
a duplicate only for a message in flight when a worker died.**

1. A message is a row in `outbox_messages`, written in the business transaction that decided
   to send it (with a Message-ID); a nudge to the worker goes after commit (crm_web.jobs).
2. A worker claims a batch (`FOR UPDATE SKIP LOCKED`, status `claimed`, a lease with an owner
   and an expiry) and commits, so two workers never hold the same row.
3. It sends the batch MARK_EVERY messages at a time (a chunk goes over a few SMTP connections
   at once, pipelined: `channels.EmailChannel`), and records each chunk's outcomes in one
   transaction, extending the lease of the rest once a quarter
   of it has passed (RENEW_AFTER). A worker that dies loses at most the messages sent since
   its last mark: their lease runs out, the sweep puts them back in the queue, and they go
   again with the same Message-ID.
4. The scheduler's sweep (`sweep`) re-queues expired leases and nudges organizations whose
   due messages no worker has picked up (a nudge lost with Redis, a retry that came due).

Failures are classified in one place (`failures.classify`): a connection error, a timeout or a 4xx reply
is retried with exponential backoff and jitter, up to MAX_ATTEMPTS; a 5xx is permanent; a 5xx
at RCPT (a hard bounce) also adds the address to the organization's suppression list, which
every later send checks. A message whose reason to exist went away (the kind's loader says so)
is cancelled with that reason.
"""

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, DateTime, SmallInteger, String

from crm_web import jobs
from crm_web.db import atomic, current_organization_id, tenant_scope
from crm_web.extensions import db
from crm_web.outbox import channels, kinds
from crm_web.outbox.audience import audiences
from crm_web.outbox.failures import MAX_ATTEMPTS, Failure, classify, retry_delay
from crm_web.outbox.kinds import Cancel, Defer, Outcome, Pending

log = logging.getLogger("crm.outbox")

CLAIM_BATCH = 200
# Batches one delivery job sends before it hands the rest to a new job (deliver_share).
BATCHES_PER_JOB = 10
# Outcomes are written this often: the most a crash can send twice per connection.
MARK_EVERY = 50
# A mark extends the lease of the batch's unsent messages once this share of the lease has
# passed since the claim or the last extension: a batch that goes out in seconds never needs
# it (each extension rewrites every row still held), and a slow one still keeps 3/4 of a lease
# between two marks.
RENEW_AFTER = 0.25
# A queued message nobody picked up for this long gets a nudge from the sweep.
NUDGE_GRACE = timedelta(seconds=20)


def _now() -> datetime:
    return datetime.now(UTC)


def lease_seconds() -> int:
    return current_app.config["OUTBOX_LEASE_SECONDS"]


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


# -- claiming -----------------------------------------------------------------------------------


class Scoped:
    """A statement in two variants, built once: for the current organization's messages, and
    for the system's own (messages of no organization, such as a sign-up link). Each is an
    equality the indexes serve; `{org}` (or `{o.org}`) in the SQL marks where it goes."""

    def __init__(self, sql: str, *binds):
        self.variants = {
            system: self._build(
                sql, binds, "organization_id IS NULL" if system else "organization_id = :org"
            )
            for system in (False, True)
        }

    @staticmethod
    def _build(sql: str, binds, clause: str):
        sql = sql.replace("{o.org}", "o." + clause).replace("{org}", clause)
        return text(sql).bindparams(*(bind for bind in binds if f":{bind.key}" in sql))


def _run(statement: Scoped, params: dict):
    return db.session.execute(statement.variants[current_organization_id() is None], params)


# ARRAY(...) runs the locking subquery once: as `IN (subquery)` the planner may make it a
# semi join that runs it again per row, each run skipping the rows just locked, past the LIMIT.
_CLAIM = Scoped(
    """
    UPDATE outbox_messages o
       SET status = 'claimed', lease_owner = :owner, attempts = o.attempts + 1,
           lease_expires_at = :now + make_interval(secs => :lease), updated_at = :now
     WHERE o.id = ANY(ARRAY(SELECT id FROM outbox_messages
                            WHERE {org} AND channel = :channel AND status = 'queued'
                              AND next_attempt_at <= :now
                            ORDER BY next_attempt_at, id
                            LIMIT :batch
                              FOR UPDATE SKIP LOCKED))
    RETURNING o.id, o.organization_id, o.kind, o.source_id, o.context, o.to_address, o.to_name,
              o.customer_id, o.user_id, o.message_id, o.attempts, o.language
    """
)


def claim(channel: str, *, owner: str, now: datetime | None = None, limit: int | None = None):
    """Take up to `limit` due messages of the current organization under a lease (committed)."""
    rows = _run(
        _CLAIM,
        {
            "org": current_organization_id(),
            "channel": channel,
            "owner": owner,
            "now": now or _now(),
            "lease": lease_seconds(),
            "batch": limit or CLAIM_BATCH,
        },
    ).all()
    db.session.commit()
    return sorted((Pending(**row._mapping) for row in rows), key=lambda message: message.id)


# -- marking ------------------------------------------------------------------------------------

_MARK = Scoped(
    """
    UPDATE outbox_messages o
       SET status = v.status, provider_id = v.provider_id, last_error = v.error,
           next_attempt_at = coalesce(v.next_attempt_at, o.next_attempt_at),
           segments = coalesce(v.segments, o.segments),
           sent_at = CASE WHEN v.status = 'sent' THEN :now ELSE o.sent_at END,
           lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
      FROM unnest(:ids, :statuses, :provider_ids, :errors, :next_attempts, :segments)
           AS v(id, status, provider_id, error, next_attempt_at, segments)
     WHERE o.id = v.id AND {o.org} AND o.status IN ('claimed', 'queued')
    """,
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("statuses", type_=ARRAY(String)),
    bindparam("provider_ids", type_=ARRAY(String)),
    bindparam("errors", type_=ARRAY(String)),
    bindparam("next_attempts", type_=ARRAY(DateTime(timezone=True))),
    bindparam("segments", type_=ARRAY(SmallInteger)),
)
_SUPPRESS = text(
    """
    INSERT INTO suppressions (organization_id, channel, address, reason, outbox_message_id)
    SELECT :org, :channel, v.address, v.reason, v.id
      FROM unnest(:addresses, :reasons, :ids) AS v(address, reason, id)
    ON CONFLICT (organization_id, channel, lower(address)) DO NOTHING
    """
).bindparams(
    bindparam("addresses", type_=ARRAY(String)),
    bindparam("reasons", type_=ARRAY(String)),
    bindparam("ids", type_=ARRAY(BigInteger)),
)
_EXTEND = Scoped(
    """
    UPDATE outbox_messages SET lease_expires_at = :now + make_interval(secs => :lease)
     WHERE {org} AND id = ANY(:ids) AND status = 'claimed' AND lease_owner = :owner
    """,
    bindparam("ids", type_=ARRAY(BigInteger)),
)


@atomic
def record_outcomes(
    channel: str, outcomes: list[Outcome], *, owner: str, still_held: list[int] = ()
) -> None:
    """Write a batch's outcomes, its bounces and its kinds' follow-ups in one transaction, and
    extend the lease of the messages still to send."""
    if not outcomes:
        return
    organization_id = current_organization_id()
    now = _now()
    _run(
        _MARK,
        {
            "org": organization_id,
            "now": now,
            "ids": [outcome.message.id for outcome in outcomes],
            "statuses": [outcome.status for outcome in outcomes],
            "provider_ids": [outcome.provider_id[:200] for outcome in outcomes],
            "errors": [outcome.error[:1000] for outcome in outcomes],
            "next_attempts": [outcome.next_attempt_at for outcome in outcomes],
            "segments": [outcome.segments for outcome in outcomes],
        },
    )
    # A bounce rules an address out for its organization; the system's own mail keeps no list.
    bounces = [outcome for outcome in outcomes if outcome.bounce and organization_id is not None]
    if bounces:
        db.session.execute(
            _SUPPRESS,
            {
                "org": organization_id,
                "channel": channel,
                "addresses": [outcome.message.to_address for outcome in bounces],
                "reasons": [outcome.error[:1000] for outcome in bounces],
                "ids": [outcome.message.id for outcome in bounces],
            },
        )
    by_kind = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.message.kind].append(outcome)
    for kind_name, kind_outcomes in by_kind.items():
        kind = _kind_or_none(kind_name)
        if kind is not None and kind.on_outcome is not None:
            _follow_up(kind, kind_outcomes)
    if still_held:
        _run(
            _EXTEND,
            {
                "org": organization_id,
                "ids": list(still_held),
                "now": now,
                "lease": lease_seconds(),
                "owner": owner,
            },
        )
    retries = [o for o in outcomes if o.status == "queued" and not o.deferred]
    if retries:
        # On time without waiting for the sweep: a nudge when the first retry comes due.
        first = min(outcome.next_attempt_at for outcome in retries)
        delay = max(0, int((first - now).total_seconds() * 1000))
        jobs.enqueue_after_commit(jobs.DELIVER_OUTBOX, organization_id, channel, delay_ms=delay)
    for outcome in outcomes:
        _log_outcome(outcome)


def _follow_up(kind: kinds.MessageKind, outcomes: list[Outcome]) -> None:
    """The kind's follow-up in a savepoint: a failing one is logged, and never keeps the marks
    from committing (a message that went out must not go again because its log entry failed)."""
    try:
        with db.session.begin_nested():
            kind.on_outcome(outcomes)
    except Exception:
        log.exception(
            "send follow-up failed org=%s kind=%s outbox=%s",
            current_organization_id(), kind.name, [outcome.message.id for outcome in outcomes],
        )  # fmt: skip


def _log_outcome(outcome: Outcome) -> None:
    message = outcome.message
    if outcome.deferred:
        log.info(
            "send deferred org=%s outbox=%s kind=%s: %s",
            message.organization_id, message.id, message.kind, outcome.error,
        )  # fmt: skip
    elif outcome.status == "queued":
        log.warning(
            "send retry org=%s outbox=%s kind=%s to=%s attempt=%s next=%s: %s",
            message.organization_id, message.id, message.kind, message.to_address,
            message.attempts, outcome.next_attempt_at.isoformat(timespec="seconds"), outcome.error,
        )  # fmt: skip
    elif outcome.status in ("failed", "suppressed"):
        log.error(
            "send %s org=%s outbox=%s kind=%s to=%s attempts=%s: %s",
            outcome.status, message.organization_id, message.id, message.kind,
            message.to_address, message.attempts, outcome.error,
        )  # fmt: skip
    elif outcome.status == "cancelled":
        log.info(
            "send cancelled org=%s outbox=%s kind=%s: %s",
            message.organization_id, message.id, message.kind, outcome.error,
        )  # fmt: skip


def _kind_or_none(name: str) -> kinds.MessageKind | None:
    try:
        return kinds.get(name)
    except KeyError:
        return None


def _failed(message: Pending, failure: Failure, now: datetime) -> Outcome:
    if failure.retry and message.attempts < MAX_ATTEMPTS:
        return Outcome(
            message,
            "queued",
            error=failure.reason,
            next_attempt_at=now + retry_delay(message.attempts),
        )
    reason = failure.reason
    if failure.retry:
        reason = _(
            "Gave up after %(attempts)s attempts. %(reason)s",
            attempts=message.attempts,
            reason=reason,
        )
    return Outcome(message, "failed", error=reason, bounce=failure.bounce)


# -- preparing a batch --------------------------------------------------------------------------


def _suppressed(channel: str, messages: list[Pending]) -> set[str]:
    if current_organization_id() is None:
        return set()
    addresses = sorted({message.to_address.lower() for message in messages})
    return set(
        db.session.scalars(
            text(
                "SELECT lower(address) FROM suppressions WHERE organization_id = :org "
                "AND channel = :channel AND lower(address) = ANY(:addresses)"
            ).bindparams(bindparam("addresses", type_=ARRAY(String))),
            {"org": current_organization_id(), "channel": channel, "addresses": addresses},
        )
    )


def _contexts(messages: list[Pending]) -> dict[int, dict | Cancel | Failure]:
    """Each message's template context (or why it no longer goes), loaded kind by kind."""
    by_kind = defaultdict(list)
    for message in messages:
        by_kind[message.kind].append(message)
    organization_name = (
        db.session.scalar(
            text("SELECT name FROM organizations WHERE id = :org"),
            {"org": current_organization_id()},
        )
        or current_app.config["PRODUCT_NAME"]
    )
    contexts: dict[int, dict | Cancel | Failure] = {}
    readers = audiences(messages)
    for kind_name, kind_messages in by_kind.items():
        kind = _kind_or_none(kind_name)
        if kind is None:
            for message in kind_messages:
                contexts[message.id] = Failure(False, f"Unknown kind of message: {kind_name}.")
            continue
        loaded = kind.load(kind_messages)
        for message in kind_messages:
            context = loaded.get(message.id, Cancel(_("Its record no longer exists.")))
            if isinstance(context, dict):
                context = {
                    "organization_name": organization_name,
                    # What the channel renders it in (crm_web.outbox.audience).
                    "language": readers[message.id].language,
                    "timezone": readers[message.id].timezone,
                    **context,
                }
            contexts[message.id] = context
    return contexts


# -- sending ------------------------------------------------------------------------------------


def send_batch(channel: str, messages: list[Pending], *, owner: str, sender=None) -> dict[str, int]:
    """Send claimed messages and record what became of each, MARK_EVERY at a time; returns
    counts by outcome. `sender` is the loop's channel (kept over its batches) or a new one."""
    suppressed = _suppressed(channel, messages)
    contexts = _contexts(messages)
    db.session.commit()  # nothing is held while the messages go out
    own = sender is None
    if own:
        sender = new_sender(channel)
    counts: dict[str, int] = defaultdict(int)
    renew_at = time.monotonic() + lease_seconds() * RENEW_AFTER
    try:
        for start in range(0, len(messages), MARK_EVERY):
            chunk = messages[start : start + MARK_EVERY]
            outcomes = _send_chunk(sender, chunk, contexts, suppressed)
            for outcome in outcomes:
                counts[outcome.status] += 1
            held = []
            if time.monotonic() >= renew_at and start + MARK_EVERY < len(messages):
                held = [later.id for later in messages[start + MARK_EVERY :]]
                renew_at = time.monotonic() + lease_seconds() * RENEW_AFTER
            record_outcomes(channel, outcomes, owner=owner, still_held=held)
    finally:
        if own:
            sender.close()
    return dict(counts)


def new_sender(channel: str):
    return channels.EmailChannel() if channel == "email" else channels.SmsChannel()


def _send_chunk(
    sender, chunk: list[Pending], contexts: dict, suppressed: set[str]
) -> list[Outcome]:
    """The outcomes of a chunk, in its order: what need not go is decided here, the rest goes
    out together (`send_many`)."""
    now = _now()
    outcomes: dict[int, Outcome] = {}
    entries = []
    for message in chunk:
        context = contexts[message.id]
        if message.to_address.lower() in suppressed:
            outcomes[message.id] = Outcome(
                message, "suppressed", error=_("The address bounced before: it is suppressed.")
            )
        elif isinstance(context, Cancel):
            outcomes[message.id] = Outcome(message, "cancelled", error=context.reason)
        elif isinstance(context, Defer):
            outcomes[message.id] = Outcome(
                message,
                "queued",
                error=context.reason,
                next_attempt_at=context.until,
                deferred=True,
            )
        elif isinstance(context, Failure):
            outcomes[message.id] = _failed(message, context, now)
        else:
            entries.append((message, kinds.get(message.kind), context))
    if entries:
        for (message, _kind, _context), result in zip(
            entries, sender.send_many(entries), strict=True
        ):
            if isinstance(result, Outcome):
                outcomes[message.id] = result
            else:
                outcomes[message.id] = _failed(message, classify(result), now)
    return [outcomes[message.id] for message in chunk]


def deliver(channel: str) -> dict[str, int]:
    """Claim and send the current organization's due messages, batch after batch, until none
    is due; returns counts by outcome."""
    return _deliver(channel, max_batches=None)[0]


def _deliver(channel: str, *, max_batches: int | None) -> tuple[dict[str, int], int]:
    owner = _owner()
    totals: dict[str, int] = defaultdict(int)
    batches = 0
    sender = new_sender(channel)  # its connections serve every batch of the loop
    try:
        while max_batches is None or batches < max_batches:
            messages = claim(channel, owner=owner)
            if not messages:
                break
            batches += 1
            for status, count in send_batch(channel, messages, owner=owner, sender=sender).items():
                totals[status] += count
            if totals.get("queued") and totals.get("sent", 0) == 0:
                break  # the server is refusing everything: leave the rest for their retry time
            if len(messages) < CLAIM_BATCH:
                break  # that was the last of what is due
    finally:
        sender.close()
    if batches:
        log.info(
            "outbox delivered org=%s channel=%s batches=%s %s",
            current_organization_id(), channel, batches,
            " ".join(f"{status}={count}" for status, count in sorted(totals.items())),
        )  # fmt: skip
    return dict(totals), batches


# A loop that found nothing more due wakes again when the next message comes due, if that is
# this soon (a throttled campaign's messages come due one after another); later ones wait for
# the sweep. Each loop that stops leaves at most one such nudge, so loops never multiply.
NEXT_DUE_HORIZON = timedelta(minutes=10)
_NEXT_DUE = Scoped(
    """
    SELECT min(next_attempt_at) FROM outbox_messages
     WHERE {org} AND channel = :channel AND status = 'queued'
    """
)


def _nudge_when_next_due(channel: str) -> None:
    now = _now()
    first = _run(_NEXT_DUE, {"org": current_organization_id(), "channel": channel}).scalar()
    db.session.commit()
    if first is not None and first <= now + NEXT_DUE_HORIZON:
        # Due already (it came due while this loop sent): at once.
        delay = int((first - now).total_seconds() * 1000) + 1 if first > now else None
        jobs.enqueue(jobs.DELIVER_OUTBOX, current_organization_id(), channel, delay_ms=delay)


def deliver_share(channel: str) -> dict[str, int]:
    """What one delivery job does: a few batches, then, if more is due, a job for the rest at
    the back of the queue. Work spreads over every worker process (a loop that ran until the
    queue was empty would keep a campaign on the process that took the first nudge), and no
    job comes near its time limit."""
    totals, batches = _deliver(channel, max_batches=BATCHES_PER_JOB)
    if batches < BATCHES_PER_JOB:
        _nudge_when_next_due(channel)
    if batches == BATCHES_PER_JOB:
        jobs.enqueue(jobs.DELIVER_OUTBOX, current_organization_id(), channel)
    return totals


# -- the sweep ----------------------------------------------------------------------------------

_REQUEUE_EXPIRED = Scoped(
    """
    UPDATE outbox_messages SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
           updated_at = :now
     WHERE {org} AND channel = :channel AND status = 'claimed'
       AND lease_expires_at < :now
    RETURNING id
    """
)


def sweep(*, now: datetime | None = None) -> int:
    """Re-queue messages whose worker's lease ran out and nudge every organization and channel
    with due messages nobody picked up; returns how many nudges it sent. Safe to run twice at
    once: the re-queue is a conditional update, and a claim is SKIP LOCKED."""
    now = now or _now()
    work = db.session.execute(
        text("SELECT organization_id, channel FROM outbox_work(:now, :idle)"),
        {"now": now, "idle": now - NUDGE_GRACE},
    ).all()
    db.session.commit()
    for organization_id, channel in work:
        with tenant_scope(organization_id):
            requeued = (
                _run(_REQUEUE_EXPIRED, {"org": organization_id, "channel": channel, "now": now})
                .scalars()
                .all()
            )
            db.session.commit()
        if requeued:
            log.warning(
                "outbox sweep org=%s channel=%s requeued %s messages whose lease expired",
                organization_id, channel, len(requeued),
            )  # fmt: skip
        jobs.enqueue(jobs.DELIVER_OUTBOX, organization_id, channel)
    if work:
        log.info("outbox sweep nudged %s organization channels", len(work))
    return len(work)
