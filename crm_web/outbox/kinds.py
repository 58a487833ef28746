"""What each kind of message is: its channel, its template, and how it loads what it renders.

A domain declares its kinds in its `messages.py` with `register(MessageKind(...))`, and that
module is listed in KIND_MODULES. A kind's `load` takes a batch of claimed messages and returns,
per message id, the template's context, or a `Cancel` with the reason it should no longer go
(the ticket was reopened, the activity is done). Its `on_outcome`, if any, runs in the
transaction that records the batch's outcomes (log the email on the ticket, say). `sample`
gives the admin preview page a context to render.
"""

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from crm_web.db import current_organization_id
from crm_web.extensions import db

KIND_MODULES = (
    "crm_web.accounts.messages",
    "crm_web.activities.reminders",
    "crm_web.automations.messages",
    "crm_web.pipeline.messages",
    "crm_web.campaigns.messages",
    "crm_web.campaigns.sms_keywords",
    "crm_web.sla.messages",
    "crm_web.tickets.messages",
    "crm_web.surveys.messages",
)


@dataclass(frozen=True)
class Pending:
    """A claimed message, as a kind's loader sees it."""

    id: int
    organization_id: int
    kind: str
    source_id: int | None
    context: dict
    to_address: str
    to_name: str
    customer_id: int | None
    user_id: int | None
    message_id: str
    attempts: int
    language: str


@dataclass(frozen=True)
class Cancel:
    """The message should no longer go out, and why."""

    reason: str


@dataclass(frozen=True)
class Defer:
    """The message should go later, not now (its campaign is paused): back to the queue."""

    until: datetime
    reason: str


@dataclass
class Outcome:
    """What became of one message in a batch."""

    message: Pending
    status: str  # sent | queued (a retry) | failed | suppressed | cancelled
    provider_id: str = ""
    error: str = ""
    bounce: bool = False
    next_attempt_at: datetime | None = None
    subject: str = ""
    text: str = ""
    segments: int | None = None
    # Put back by its kind (Defer), not a failure: no retry is counted or nudged.
    deferred: bool = False


@dataclass(frozen=True)
class MessageKind:
    name: str
    channel: str  # email | sms
    # templates/emails/<template>.txt (+ .html) or templates/sms/<template>.txt
    template: str
    load: Callable[[list[Pending]], dict[int, "dict | Cancel | Defer"]]
    sample: Callable[[], dict]
    # What a person calls it ("SLA breach by SMS"), and when it is sent.
    title: str = ""
    on_outcome: Callable[[list[Outcome]], None] | None = None
    # An SMS's delivery report (the message, delivered or not, the gateway's error), in the
    # transaction that stores it on the message.
    on_report: Callable[[object, bool, str], None] | None = None
    description: str = ""
    # Extra headers from the context (X-CRM-Ticket, In-Reply-To).
    headers: Callable[[dict], dict[str, str]] = field(default=lambda context: {})
    # Files from the context, as (filename, content type, bytes): a quote's PDF. The loader
    # reads them from where they are kept, so the outbox row itself only names them.
    attachments: Callable[[dict], list[tuple[str, str, bytes]]] = field(default=lambda context: [])
    # For content that is not a file under templates/ (a marketer's template, rendered in a
    # sandbox): the email (an SMS: its text) from the context, and the From (name, address)
    # it goes out with (an SMS: its sender id as the address, "" for the gateway's number).
    render: Callable[[dict], object] | None = None
    sender: Callable[[dict], tuple[str, str]] | None = None


def rows_by_id(model, ids: Iterable[int | None], *options) -> dict:
    """The current organization's rows of `model` with these ids, by id, in one query: what a
    kind's `load` reads for a batch (never a query per message)."""
    wanted = set(ids) - {None}
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(model)
        .where(model.organization_id == current_organization_id(), model.id.in_(wanted))
        .options(*options)
    )
    return {row.id: row for row in rows}


_kinds: dict[str, MessageKind] = {}
_loaded = False


def register(kind: MessageKind) -> MessageKind:
    """Declare a kind of message (called at import by a module in KIND_MODULES)."""
    _kinds[kind.name] = kind
    return kind


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in KIND_MODULES:
            importlib.import_module(module)
        _loaded = True


def get(name: str) -> MessageKind:
    """The kind named `name`; KeyError for one nobody declared."""
    _load_all()
    return _kinds[name]


def all_kinds() -> list[MessageKind]:
    """Every declared kind, by name."""
    _load_all()
    return sorted(_kinds.values(), key=lambda kind: kind.name)
