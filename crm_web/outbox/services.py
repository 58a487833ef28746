"""Writing messages to the outbox, and reading it: what a service calls to send something.

`queue_email` and `queue_sms` write rows in the caller's transaction and nudge the worker after
it commits; a rolled-back change sends nothing. Callers pass a kind (declared in their domain's
`messages.py`), a recipient and the ids the message renders from; never the text.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, text
from werkzeug.exceptions import Conflict, NotFound

from crm_web import jobs
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.messaging.email import smtputf8_offered
from crm_web.messaging.mime import needs_smtputf8
from crm_web.outbox import kinds
from crm_web.outbox.delivery import CLAIM_BATCH
from crm_web.outbox.models import OutboxMessage
from crm_web.privacy.audit import record

# At most this many delivery loops are nudged for one organization and channel at once.
PARALLEL_NUDGES = 4


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""
    customer_id: int | None = None
    user_id: int | None = None
    language: str = ""


def mail_domain() -> str:
    """The domain of our Message-IDs: the sender's."""
    return parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "crm.localhost"


@dataclass(frozen=True)
class Item:
    """One message to write: its kind, recipient, record and render context."""

    kind_name: str
    recipient: Recipient
    source_id: int | None = None
    context: dict = field(default_factory=dict)
    # Writing the same key twice (per organization) writes one message.
    dedupe_key: str | None = None
    send_at: datetime | None = None


def queue(
    kind_name: str,
    recipients: list[Recipient],
    *,
    context: dict | None = None,
    source_id: int | None = None,
    dedupe_key: str | None = None,
    send_at: datetime | None = None,
) -> list[int]:
    """Write one message of `kind_name` per recipient in the current transaction; returns the
    ids written (a dedupe key already used, with the recipient's address, writes nothing)."""
    return queue_many(
        [
            Item(kind_name, recipient, source_id, context or {}, dedupe_key, send_at)
            for recipient in recipients
        ]
    )


# A new message's Message-ID, made by the database (the statements below write thousands).
_MESSAGE_ID = "'<' || replace(gen_random_uuid()::text, '-', '') || '@' || :domain || '>'"

_QUEUE_MANY = f"""
INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context, dedupe_key,
                             customer_id, user_id, to_address, to_name, language, message_id,
                             next_attempt_at)
SELECT CAST(:org AS bigint), q.channel, q.kind, q.source_id, CAST(q.context AS jsonb),
       q.dedupe_key, q.customer_id, q.user_id, q.to_address, q.to_name, q.language,
       {_MESSAGE_ID}, q.next_attempt_at
  FROM unnest(CAST(:channel AS text[]), CAST(:kind AS text[]), CAST(:source_id AS bigint[]),
              CAST(:context AS text[]), CAST(:dedupe_key AS text[]),
              CAST(:customer_id AS bigint[]), CAST(:user_id AS bigint[]),
              CAST(:to_address AS text[]), CAST(:to_name AS text[]), CAST(:language AS text[]),
              CAST(:next_attempt_at AS timestamptz[]))
       AS q (channel, kind, source_id, context, dedupe_key, customer_id, user_id, to_address,
             to_name, language, next_attempt_at)
ON CONFLICT (organization_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
RETURNING id
"""


_QUEUE_COLUMNS = ("channel", "kind", "source_id", "context", "dedupe_key", "customer_id", "user_id",
                  "to_address", "to_name", "language", "next_attempt_at")  # fmt: skip


def queue_many(items: list[Item]) -> list[int]:
    """Write these messages in the current transaction, one statement (a column of values each,
    however many messages); nudge after commit."""
    organization_id = current_organization_id()
    now = datetime.now(UTC)
    rows, channels = [], {}
    for item in items:
        recipient = item.recipient
        if not recipient.address:
            continue
        kind = kinds.get(item.kind_name)
        due = item.send_at or now
        dedupe_key = (
            f"{item.dedupe_key}:{recipient.address.lower()}"[:200] if item.dedupe_key else None
        )
        rows.append(
            (kind.channel, kind.name, item.source_id, json.dumps(item.context), dedupe_key,
             recipient.customer_id, recipient.user_id, recipient.address, recipient.name[:200],
             recipient.language, due)
        )  # fmt: skip
        channels[kind.channel] = min(channels.get(kind.channel, due), due)
    if not rows:
        return []
    values = zip(*rows, strict=True)
    columns = {name: list(column) for name, column in zip(_QUEUE_COLUMNS, values, strict=True)}
    ids = sorted(
        db.session.scalars(
            text(_QUEUE_MANY), {**columns, "org": organization_id, "domain": mail_domain()}
        )
    )
    if ids and organization_id is not None:
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name="outbox_messages",
            row_id=ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}",
            new={"kinds": sorted(set(columns["kind"])), "count": len(ids)},
        )
    if ids:
        for channel, first_due in channels.items():
            delay = int((first_due - now).total_seconds() * 1000)
            nudge(channel, len(ids), delay_ms=delay if delay > 0 else None)
    return ids


_QUEUE_SELECT = f"""
WITH written AS (
    INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context, dedupe_key,
                                 customer_id, to_address, to_name, language, message_id,
                                 next_attempt_at)
    SELECT :org, :channel, :kind, q.source_id, q.context, left(q.dedupe_key, 200), q.customer_id,
           q.to_address, left(q.to_name, 200), q.language,
           {_MESSAGE_ID}, q.next_attempt_at
      FROM ({{select}}) AS q
     WHERE q.to_address <> ''
    ON CONFLICT (organization_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING next_attempt_at
)
SELECT count(*) AS written, min(next_attempt_at) AS first_due FROM written
"""


def queue_select(kind_name: str, select: str, params: dict) -> int:
    """`queue_many` for a recipient list that lives in the database (a campaign's ledger of
    100,000 customers): one INSERT ... SELECT in the current transaction, nothing read into
    Python. `select` gives the columns source_id, context (jsonb), dedupe_key (per message,
    unique per organization), customer_id, to_address, to_name, language and next_attempt_at.
    Returns how many were written; nudges after commit as queue_many does."""
    kind = kinds.get(kind_name)
    organization_id = current_organization_id()
    row = db.session.execute(
        text(_QUEUE_SELECT.format(select=select)),
        {
            **params,
            "org": organization_id,
            "channel": kind.channel,
            "kind": kind.name,
            "domain": mail_domain(),
        },
    ).one()
    if row.written:
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name="outbox_messages",
            row_id=f"{kind.name}:bulk",
            new={"kinds": [kind.name], "count": row.written},
        )
        delay = int((row.first_due - datetime.now(UTC)).total_seconds() * 1000)
        nudge(kind.channel, row.written, delay_ms=delay if delay > 0 else None)
    return row.written


def nudge(channel: str, count: int = 1, *, delay_ms: int | None = None) -> None:
    """Wake delivery loops for the current organization's `channel` after the commit."""
    loops = min(PARALLEL_NUDGES, max(1, math.ceil(count / CLAIM_BATCH)))
    for _loop in range(loops):
        jobs.enqueue_after_commit(
            jobs.DELIVER_OUTBOX, current_organization_id(), channel, delay_ms=delay_ms
        )


def undeliverable_reason(address: str) -> str:
    """Why the configured mail server cannot take `address` ("" when it can, or cannot tell):
    said up front, where a person writes to it, rather than only after a failed send."""
    if address and needs_smtputf8(address):
        if smtputf8_offered(current_app.config["SMTP_URL"]) is False:
            return _(
                "%(address)s has letters outside ASCII before the @, and the mail server does "
                "not offer SMTPUTF8: email to it cannot be delivered.",
                address=address,
            )
    return ""


def messages_for(kind_names: tuple[str, ...], source_ids) -> list[OutboxMessage]:
    """What these records sent (or are sending), oldest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.organization_id == current_organization_id(),
                OutboxMessage.kind.in_(kind_names),
                OutboxMessage.source_id.in_(list(source_ids)),
            )
            .order_by(OutboxMessage.id)
        )
    )


# -- SMS delivery reports -----------------------------------------------------------------------


@atomic
def record_sms_status(outbox_id: int, report: sms.StatusReport) -> OutboxMessage:
    """Store the gateway's delivery report on the message it names."""
    message = db.session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.organization_id == current_organization_id(),
            OutboxMessage.channel == "sms",
        )
        .with_for_update()
    )
    if message is None:
        raise NotFound("No such SMS.")
    if message.provider_id and message.provider_id != report.sid:
        raise Conflict("The report names another message.")
    if message.status in ("claimed", "queued") and report.status not in ("failed", "undelivered"):
        # The gateway has it: the answer to our request was lost, not the message.
        message.status = "sent"
        message.provider_id = report.sid
        message.sent_at = message.sent_at or datetime.now(UTC)
        message.lease_owner = message.lease_expires_at = None
    message.delivery_status = report.status
    if report.error_code:
        message.last_error = _("Gateway error code %(code)s", code=report.error_code)
    message.updated_at = datetime.now(UTC)
    kind = kinds.get(message.kind)
    if kind.on_report is not None and report.status in ("delivered", "failed", "undelivered"):
        kind.on_report(message, report.status == "delivered", message.last_error or "")
    return message


# -- the System page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxReport:
    queued: int
    claimed: int
    oldest_queued_seconds: int | None
    last_day: dict[str, int]
    sent_per_minute: float
    recent_failures: list[OutboxMessage]


RATE_WINDOW = timedelta(minutes=5)


def report() -> OutboxReport:
    """The current organization's outbox: what waits, what went out lately, what failed."""
    organization_id = current_organization_id()
    now = datetime.now(UTC)
    waiting = db.session.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                   count(*) FILTER (WHERE status = 'claimed') AS claimed,
                   min(created_at) FILTER (WHERE status = 'queued' AND next_attempt_at <= :now)
                       AS oldest
              FROM outbox_messages
             WHERE organization_id = :org AND status IN ('queued', 'claimed')
            """
        ),
        {"org": organization_id, "now": now},
    ).one()
    last_day = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.organization_id == organization_id,
                OutboxMessage.updated_at >= now - timedelta(days=1),
            )
            .group_by(OutboxMessage.status)
        ).all()
    )
    sent_lately = db.session.scalar(
        select(func.count()).where(
            OutboxMessage.organization_id == organization_id,
            OutboxMessage.updated_at >= now - RATE_WINDOW,
            OutboxMessage.status == "sent",
        )
    )
    failures = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.organization_id == organization_id,
                OutboxMessage.updated_at >= now - timedelta(days=7),
                OutboxMessage.status.in_(("failed", "suppressed")),
            )
            .order_by(OutboxMessage.updated_at.desc())
            .limit(20)
        )
    )
    return OutboxReport(
        queued=waiting.queued,
        claimed=waiting.claimed,
        oldest_queued_seconds=int((now - waiting.oldest).total_seconds())
        if waiting.oldest
        else None,
        last_day=last_day,
        sent_per_minute=round(sent_lately / (RATE_WINDOW.total_seconds() / 60), 1),
        recent_failures=failures,
    )
