"""SmtpTransport.send_bytes on a server that offers PIPELINING (RFC 2920): a real aiosmtpd
server on a loopback port that announces it, refuses chosen recipients and records the rest."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from smtp_sink import RecordingHandler, Sink

from crm_web.devservices import free_port
from crm_web.messaging.email import Envelope, SmtpTransport, send_pipelined, smtp_session
from crm_web.messaging.mime import EmailSkeleton

SENDER = "no-reply@crm.localhost"


@dataclass
class PipeliningHandler(RecordingHandler):
    refused: set[str] = field(default_factory=set)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return [responses[0], "250-PIPELINING", *responses[1:]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextmanager
def pipelining_sink(refused=()) -> Iterator[Sink]:
    handler = PipeliningHandler(refused=set(refused))
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Sink(url=f"smtp://127.0.0.1:{port}", handler=handler)
    finally:
        controller.stop()


def _message(number: int, text: str = "Hello.\n") -> bytes:
    return EmailSkeleton(sender_address=SENDER).render(
        to_address=f"customer{number}@example.com",
        to_name=f"Customer {number}",
        subject=f"Message {number}",
        text=text,
        message_id=f"<m{number}@crm.localhost>",
    )


def test_messages_go_pipelined_on_one_connection():
    with pipelining_sink() as sink, smtp_session(sink.url) as smtp:
        for number in range(3):
            smtp.send_bytes(SENDER, f"customer{number}@example.com", _message(number))
        assert smtp.connection.has_extn("pipelining")

    assert sink.handler.ehlo_count == 1
    assert [mail.message["Message-ID"] for mail in sink.mails] == [
        "<m0@crm.localhost>",
        "<m1@crm.localhost>",
        "<m2@crm.localhost>",
    ]
    assert [mail.rcpt_tos for mail in sink.mails] == [
        [f"customer{n}@example.com"] for n in range(3)
    ]
    assert {mail.mail_from for mail in sink.mails} == {SENDER}


def test_lines_starting_with_a_dot_arrive_intact():
    text = ".\n.. two dots\nmiddle\n.last\n"
    with pipelining_sink() as sink, smtp_session(sink.url) as smtp:
        smtp.send_bytes(SENDER, "customer1@example.com", _message(1, text))

    assert sink.mails[0].body.replace("\r\n", "\n") == text


def test_a_refused_recipient_raises_and_the_session_goes_on():
    import smtplib

    with pipelining_sink(refused={"customer1@example.com"}) as sink:
        transport = SmtpTransport(sink.url)
        transport.open()
        try:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                transport.send_bytes(SENDER, "customer1@example.com", _message(1))
            transport.send_bytes(SENDER, "customer2@example.com", _message(2))
        finally:
            transport.close()

    assert refused.value.recipients == {"customer1@example.com": (550, b"5.1.1 No such user here")}
    assert [mail.message["Message-ID"] for mail in sink.mails] == ["<m2@crm.localhost>"]
    assert sink.handler.ehlo_count == 1


def test_many_messages_go_over_several_connections_at_once():
    import smtplib

    refused = {"customer5@example.com", "customer17@example.com"}
    envelopes = [
        Envelope(SENDER, f"customer{number}@example.com", _message(number, ".dot\nline\n"))
        for number in range(40)
    ]
    with pipelining_sink(refused=refused) as sink:
        transports = [SmtpTransport(sink.url) for _ in range(3)]
        for transport in transports:
            transport.open()
        try:
            results = send_pipelined(transports, envelopes)
            # Each session is usable after its refusals: one more message on each.
            for number, transport in enumerate(transports, start=40):
                transport.send_bytes(SENDER, f"customer{number}@example.com", _message(number))
        finally:
            for transport in transports:
                transport.close()

    failed = {envelopes[index].recipient for index, error in enumerate(results) if error}
    assert failed == refused
    assert all(
        isinstance(results[index], smtplib.SMTPRecipientsRefused)
        for index, envelope in enumerate(envelopes)
        if envelope.recipient in refused
    )
    received = sorted(int(mail.rcpt_tos[0][8:].split("@")[0]) for mail in sink.mails)
    assert received == [n for n in range(43) if f"customer{n}@example.com" not in refused]
    assert sink.handler.ehlo_count == 3
    first = next(mail for mail in sink.mails if mail.rcpt_tos == ["customer0@example.com"])
    assert first.body.replace("\r\n", "\n") == ".dot\nline\n"
