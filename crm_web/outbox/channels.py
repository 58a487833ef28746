"""How a claimed message leaves: rendered from its template, then over SMTP or to the SMS gateway.

One `EmailChannel` per batch keeps one SMTP connection (opened at the first message and again
after a break) and one prepared template and MIME skeleton per kind.
"""

import smtplib
from email.utils import parseaddr

from flask import current_app

from crm_web.i18n import speaking
from crm_web.messaging import sms
from crm_web.messaging.email import SmtpTransport
from crm_web.messaging.mime import EmailSkeleton, UndeliverableAddress
from crm_web.outbox import kinds, rendering
from crm_web.outbox.failures import Unbuildable
from crm_web.outbox.kinds import Outcome, Pending


class EmailChannel:
    """One SMTP connection for a batch, opened at the first message and again after a break."""

    def __init__(self):
        config = current_app.config
        self.url = config["SMTP_URL"]
        self.sender_name, self.sender_address = parseaddr(config["MAIL_FROM"])
        self.transport: SmtpTransport | None = None
        # Per template, prepared once for the batch: its Jinja templates and its MIME skeleton.
        self.templates: dict[str, tuple[rendering.EmailTemplate, EmailSkeleton]] = {}

    def send(self, message: Pending, kind: kinds.MessageKind, context: dict) -> Outcome:
        try:
            prepared = self.templates.get(kind.template)
            if prepared is None:
                prepared = self.templates[kind.template] = (
                    rendering.EmailTemplate(kind.template),
                    EmailSkeleton(
                        sender_address=self.sender_address, sender_name=self.sender_name or None
                    ),
                )
            template, skeleton = prepared
            with speaking(context["language"], context["timezone"]):
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
        if self.transport is None:
            self._open()
        self.transport.send_bytes(self.sender_address, message.to_address, data)
        return Outcome(
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
        transport, self.transport = self.transport, None
        if transport is not None:
            try:
                transport.close()
            except (OSError, smtplib.SMTPException):
                pass  # a dead socket is closed enough; the next message opens a new one


class SmsChannel:
    """The process's pooled HTTP session to the SMS gateway."""

    def __init__(self):
        self.config = current_app.config

    def send(self, message: Pending, kind: kinds.MessageKind, context: dict) -> Outcome:
        try:
            with speaking(context["language"], context["timezone"]):
                body = rendering.render_sms(kind.template, context)
        except Exception as exc:
            raise Unbuildable(f"The message cannot be built: {type(exc).__name__}: {exc}") from exc
        gateway = sms.gateway(self.config)
        sent = gateway.send(
            message.to_address,
            body,
            status_callback=sms_status_url(message.organization_id, message.id),
        )
        return Outcome(
            message, "sent", provider_id=sent.sid, text=body, segments=sms.segments(body).parts
        )

    def reopen(self) -> None:
        pass  # the HTTP pool reconnects by itself

    def close(self) -> None:
        pass


def sms_status_url(organization_id: int, outbox_id: int) -> str:
    """Where the gateway reports this SMS's delivery (signed, so the ids can be trusted)."""
    return f"{current_app.config['BASE_URL']}/outbox/sms-status/{organization_id}/{outbox_id}"
