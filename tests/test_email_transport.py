"""crm_web.messaging.email against a real SMTP server (aiosmtpd on a loopback port)."""

import pytest
from smtp_sink import running_sink

from crm_web.devservices import free_port
from crm_web.messaging.email import SmtpTransport, build_email, send_batch, smtp_session

SENDER = "CRM <no-reply@crm.localhost>"


@pytest.fixture
def sink():
    with running_sink() as sink:
        yield sink


def _messages(count: int):
    return [
        build_email(
            sender=SENDER,
            to=(f"Customer {index}", f"customer{index}@example.com"),
            subject=f"Batch message {index}",
            text=f"Hello customer {index}.\n",
        )
        for index in range(count)
    ]


def test_send_batch_uses_one_connection_for_all_messages(sink):
    message_ids = send_batch(sink.url, _messages(5))

    assert len(message_ids) == 5
    assert len(set(message_ids)) == 5
    assert sink.handler.ehlo_count == 1
    assert sink.handler.connections == 1
    assert len(sink.mails) == 5
    for index, mail in enumerate(sink.mails):
        assert mail.rcpt_tos == [f"customer{index}@example.com"]
        assert mail.mail_from == "no-reply@crm.localhost"
        assert mail.message["Subject"] == f"Batch message {index}"
        assert mail.message["To"] == f"Customer {index} <customer{index}@example.com>"
        assert mail.message["Message-ID"] == message_ids[index]
        assert mail.body.strip() == f"Hello customer {index}."


def test_each_batch_opens_its_own_connection(sink):
    """The counterpart of the test above: the sink does tell connections apart."""
    for message in _messages(3):
        send_batch(sink.url, [message])

    assert len(sink.mails) == 3
    assert sink.handler.ehlo_count == 3
    assert sink.handler.connections == 3


def test_smtp_session_sends_several_messages_on_one_connection(sink):
    with smtp_session(sink.url) as smtp:
        first = smtp.send(_messages(1)[0])
        html = build_email(
            sender=SENDER,
            to="plain@example.com",
            subject="With HTML",
            text="Plain part",
            html="<p>HTML part</p>",
            headers={"List-Unsubscribe": "<mailto:unsubscribe@crm.localhost>"},
        )
        second = smtp.send(html)
        assert smtp.connection is not None

    assert smtp.connection is None  # closed when the block ends
    assert sink.handler.ehlo_count == 1
    assert [mail.message["Message-ID"] for mail in sink.mails] == [first, second]
    received = sink.mails[1]
    assert received.rcpt_tos == ["plain@example.com"]
    assert received.message["List-Unsubscribe"] == "<mailto:unsubscribe@crm.localhost>"
    assert received.message.get_body(("html",)).get_content().strip() == "<p>HTML part</p>"
    assert received.body.strip() == "Plain part"


def test_send_keeps_a_message_id_the_caller_set(sink):
    message = _messages(1)[0]
    message["Message-ID"] = "<fixed-id@crm.localhost>"

    assert send_batch(sink.url, [message]) == ["<fixed-id@crm.localhost>"]
    assert sink.mails[0].message["Message-ID"] == "<fixed-id@crm.localhost>"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:25", "mailto:someone@example.com", "127.0.0.1:25", ""]
)
def test_a_bad_smtp_url_scheme_is_a_clear_value_error(url):
    with pytest.raises(ValueError, match=r"SMTP_URL must start with smtp:// or smtps://"):
        send_batch(url, _messages(1))


def test_url_parts_are_read():
    transport = SmtpTransport("smtp://us%40er:p%3Ass@mail.example.com:587?starttls=1")
    assert (transport.host, transport.port) == ("mail.example.com", 587)
    assert (transport.username, transport.password) == ("us@er", "p:ss")
    assert transport.starttls and not transport.implicit_tls
    implicit = SmtpTransport("smtps://mail.example.com")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)


def test_an_unreachable_server_raises():
    url = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there any more

    with pytest.raises(OSError):
        send_batch(url, _messages(1))
    with pytest.raises(OSError), smtp_session(url):
        pass


def test_sending_without_an_open_session_raises():
    with pytest.raises(RuntimeError, match="not open"):
        SmtpTransport("smtp://127.0.0.1:25").send(_messages(1)[0])
