"""A real SMTP server for tests: aiosmtpd on a free loopback port, recording what it receives.

Not a test module; test files import `running_sink` from it.
"""

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from crm_web.devservices import free_port


@dataclass
class ReceivedMail:
    peer: tuple
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part else ""


@dataclass
class RecordingHandler:
    """Keeps every message and counts SMTP sessions (one EHLO per connection smtplib opens)."""

    ehlo_count: int = 0
    mails: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Scripted answers to RCPT TO per address, used up in order ("451 4.3.0 Try again later").
    rcpt_answers: dict[str, list[str]] = field(default_factory=dict)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # the 5-argument hook must do what the default EHLO does
        with self.lock:
            self.ehlo_count += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            answers = self.rcpt_answers.get(address.lower())
            answer = answers.pop(0) if answers else None
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        with self.lock:
            self.mails.append(
                ReceivedMail(
                    peer=tuple(session.peer),
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                )
            )
        return "250 Message accepted for delivery"

    @property
    def connections(self) -> int:
        """Distinct client connections that delivered mail (by client address and port)."""
        return len({mail.peer for mail in self.mails})


@dataclass
class Sink:
    url: str
    handler: RecordingHandler

    @property
    def mails(self) -> list[ReceivedMail]:
        return self.handler.mails


@contextmanager
def running_sink(*, smtputf8: bool = False) -> Iterator[Sink]:
    """An SMTP sink on 127.0.0.1 for the duration of the block; `smtputf8` offers RFC 6531."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield Sink(url=f"smtp://127.0.0.1:{port}", handler=handler)
    finally:
        controller.stop()
