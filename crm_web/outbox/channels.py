"""How a claimed message leaves: rendered from its template, then over SMTP or to the SMS gateway.

A channel sends a chunk of messages at a time (`send_many`) and says, per message, its outcome
or the exception that kept it from going. One `EmailChannel` per delivery loop keeps its SMTP
connections (opened when needed and again after a break) and one prepared template and MIME
skeleton per kind. A chunk of PIPELINE_FROM messages or more goes over up to
OUTBOX_SMTP_CONNECTIONS connections at once (`send_pipelined`: the server's latency overlaps,
so the loop is limited by its CPU); a smaller one goes one message after another on one.
"""

import smtplib
from contextlib import ExitStack
from email.utils import parseaddr

from flask import current_app

from crm_web.i18n import speaking
from crm_web.messaging import sms
from crm_web.messaging.email import Envelope, SmtpTransport, send_pipelined
from crm_web.messaging.mime import EmailSkeleton, UndeliverableAddress
from crm_web.outbox import kinds, rendering
from crm_web.outbox.failures import Unbuildable, classify
from crm_web.outbox.kinds import Outcome, Pending

# A chunk this big goes over several connections at once; a smaller one over one.
PIPELINE_FROM = 16
# Messages per connection a pipelined chunk aims at (fewer connections for a small chunk).
PER_CONNECTION = 8

Entry = tuple[Pending, kinds.MessageKind, dict]


class EmailChannel:
    """SMTP connections for a delivery loop, opened when needed and again after a break."""

    def __init__(self):
        config = current_app.config
        self.url = config["SMTP_URL"]
        self.connections = max(1, config["OUTBOX_SMTP_CONNECTIONS"])
        self.sender_name, self.sender_address = parseaddr(config["MAIL_FROM"])
        self.transport: SmtpTransport | None = None
        # The connections of pipelined chunks (the first is `transport` when it is open).
        self.pool: list[SmtpTransport] = []
        # Per template, prepared once for the batch: its Jinja templates and its MIME skeleton.
        self.templates: dict[str, tuple[rendering.EmailTemplate, EmailSkeleton]] = {}
        # Per From of a kind that renders itself (a campaign's sender).
        self.skeletons: dict[tuple[str, str], EmailSkeleton] = {}

    def _skeleton(self, name: str, address: str) -> EmailSkeleton:
        skeleton = self.skeletons.get((name, address))
        if skeleton is None:
            skeleton = self.skeletons[(name, address)] = EmailSkeleton(
                sender_address=address, sender_name=name or None
            )
        return skeleton

    def send(self, message: Pending, kind: kinds.MessageKind, context: dict) -> Outcome:
        """Build and send one message on the first connection."""
        data, outcome = self.build(message, kind, context)
        if self.transport is None:
            self._open()
        self.transport.send_bytes(self.sender_address, message.to_address, data)
        return outcome

    def send_many(self, entries: list[Entry]) -> list[Outcome | BaseException]:
        """Each entry's outcome, or the exception that kept it from going."""
        if len(entries) < PIPELINE_FROM:
            return _one_by_one(self, entries)
        results: list[Outcome | BaseException] = []
        built: list[tuple[int, bytes]] = []
        voice = None
        # One switch of language and time zone per run of messages that share them.
        with ExitStack() as speaker:
            for index, (message, kind, context) in enumerate(entries):
                if (context["language"], context["timezone"]) != voice:
                    voice = (context["language"], context["timezone"])
                    speaker.close()
                    speaker.enter_context(speaking(*voice))
                try:
                    data, outcome = self._compose(message, kind, context)
                except Exception as exc:  # noqa: BLE001 (classified by the caller)
                    results.append(exc)
                    continue
                results.append(outcome)
                built.append((index, data))
        if not built:
            return results
        try:
            transports = self._pool(min(self.connections, -(-len(built) // PER_CONNECTION)))
        except Exception as exc:  # noqa: BLE001 (the server is unreachable: each is retried)
            for index, _data in built:
                results[index] = exc
            return results
        if not all(transport.pipelining for transport in transports):
            transports = transports[:1]
            sent = []
            for index, data in built:
                try:
                    transports[0].send_bytes(
                        self.sender_address, entries[index][0].to_address, data
                    )
                    sent.append(None)
                except Exception as exc:  # noqa: BLE001
                    sent.append(exc)
        else:
            sent = send_pipelined(
                transports,
                [
                    Envelope(self.sender_address, entries[index][0].to_address, data)
                    for index, data in built
                ],
            )
        for (index, _data), error in zip(built, sent, strict=True):
            if error is not None:
                results[index] = error
        # A connection that broke is dropped; the next chunk opens another.
        self.pool = [t for t in self.pool if t.connection is not None and t.connection.sock]
        self.transport = self.pool[0] if self.pool else None
        return results

    def _pool(self, size: int) -> list[SmtpTransport]:
        if self.transport is not None and self.transport not in self.pool:
            self.pool.insert(0, self.transport)
        while len(self.pool) < size:
            transport = SmtpTransport(self.url)
            transport.open()
            self.pool.append(transport)
        self.transport = self.pool[0]
        return self.pool[:size]

    def build(self, message: Pending, kind: kinds.MessageKind, context: dict):
        """The message's bytes and its outcome once the server took it."""
        with speaking(context["language"], context["timezone"]):
            return self._compose(message, kind, context)

    def _compose(self, message: Pending, kind: kinds.MessageKind, context: dict):
        """`build` in the language and time zone already set."""
        try:
            if kind.render is not None:
                email = kind.render(context)
                name, address = (
                    kind.sender(context) if kind.sender else (self.sender_name, self.sender_address)
                )
                skeleton = self._skeleton(name, address or self.sender_address)
            else:
                prepared = self.templates.get(kind.template)
                if prepared is None:
                    prepared = self.templates[kind.template] = (
                        rendering.EmailTemplate(kind.template),
                        self._skeleton(self.sender_name, self.sender_address),
                    )
                template, skeleton = prepared
                email = template.render(context)
            data = skeleton.render(
                to_address=message.to_address,
                to_name=message.to_name,
                subject=email.subject,
                text=email.text,
                html=email.html,
                message_id=message.message_id,
                headers=kind.headers(context),
                attachments=kind.attachments(context),
            )
        except UndeliverableAddress:
            raise
        except Exception as exc:  # a template error, a header with a line break
            raise Unbuildable(f"The message cannot be built: {type(exc).__name__}: {exc}") from exc
        return data, Outcome(
            message, "sent", provider_id=message.message_id, subject=email.subject, text=email.text
        )

    def reopen(self) -> None:
        self.close()
        self._open()

    def _open(self) -> None:
        transport = SmtpTransport(self.url)
        transport.open()
        self.transport = transport

    def close(self) -> None:
        transports = {id(t): t for t in [*self.pool, self.transport] if t is not None}
        self.transport, self.pool = None, []
        for transport in transports.values():
            try:
                transport.close()
            except (OSError, smtplib.SMTPException):
                pass  # a dead socket is closed enough; the next message opens a new one


def _one_by_one(channel, entries: list[Entry]) -> list[Outcome | BaseException]:
    """Send entries in turn. After a broken connection it tries a new one at once; if that
    fails too, the rest get the error (each is retried later) instead of knocking once each."""
    results: list[Outcome | BaseException] = []
    down: BaseException | None = None
    for entry in entries:
        if down is not None:
            results.append(down)
            continue
        try:
            results.append(channel.send(*entry))
        except Exception as exc:  # noqa: BLE001 (classified by the caller)
            results.append(exc)
            if classify(exc).broken_connection:
                try:
                    channel.reopen()
                except Exception as again:  # noqa: BLE001
                    down = again
    return results


class SmsChannel:
    """The process's pooled HTTP session to the SMS gateway."""

    def __init__(self):
        self.config = current_app.config

    def send(self, message: Pending, kind: kinds.MessageKind, context: dict) -> Outcome:
        try:
            with speaking(context["language"], context["timezone"]):
                if kind.render is not None:
                    body = kind.render(context)
                else:
                    body = rendering.render_sms(kind.template, context)
        except Exception as exc:
            raise Unbuildable(f"The message cannot be built: {type(exc).__name__}: {exc}") from exc
        gateway = sms.gateway(self.config)
        sent = gateway.send(
            message.to_address,
            body,
            status_callback=sms_status_url(message.organization_id, message.id),
            sender=kind.sender(context)[1] if kind.sender else "",
        )
        return Outcome(
            message, "sent", provider_id=sent.sid, text=body, segments=sms.segments(body).parts
        )

    def send_many(self, entries: list[Entry]) -> list[Outcome | BaseException]:
        return _one_by_one(self, entries)

    def reopen(self) -> None:
        pass  # the HTTP pool reconnects by itself

    def close(self) -> None:
        pass


def sms_status_url(organization_id: int, outbox_id: int) -> str:
    """Where the gateway reports this SMS's delivery (signed, so the ids can be trusted)."""
    return f"{current_app.config['BASE_URL']}/outbox/sms-status/{organization_id}/{outbox_id}"
