"""Every message template rendered with its kind's sample data, for the admin's preview page."""

from dataclasses import dataclass

from flask import current_app

from crm_web.messaging.sms import segments
from crm_web.outbox import rendering
from crm_web.outbox.kinds import MessageKind


@dataclass(frozen=True)
class Sample:
    kind: MessageKind
    subject: str = ""
    text: str = ""
    html: str | None = None
    sms_parts: int = 0
    sms_encoding: str = ""
    error: str = ""


def render_sample(kind: MessageKind, organization_name: str) -> Sample:
    """The kind's template with its sample context; a broken template says why."""
    context = {"organization_name": organization_name, **kind.sample()}
    try:
        if kind.channel == "email":
            if kind.render is not None:
                email = kind.render(context)
            else:
                email = rendering.render_email(kind.template, context)
            return Sample(kind, email.subject, email.text, email.html)
        if kind.render is not None:
            text = kind.render(context)
        else:
            text = rendering.render_sms(kind.template, context)
        counted = segments(text, turkish_shift=current_app.config["SMS_TURKISH_SHIFT"])
        return Sample(kind, text=text, sms_parts=counted.parts, sms_encoding=counted.encoding)
    except Exception as exc:  # noqa: BLE001 (shown to the admin who is editing templates)
        return Sample(kind, error=f"{type(exc).__name__}: {exc}")
