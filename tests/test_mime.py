"""crm_web.messaging.mime: rendered messages read back as the slow path's do, and go through a
real SMTP server (aiosmtpd on a loopback port), SMTPUTF8 included."""

import base64
import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header

import pytest
from smtp_sink import running_sink

from crm_web.messaging.email import build_email, smtp_session
from crm_web.messaging.mime import (
    EmailSkeleton,
    SmtpUtf8Unsupported,
    UndeliverableAddress,
    encode_address,
    needs_smtputf8,
)

SENDER_NAME = "Çağrı Merkezi"
SENDER_ADDRESS = "no-reply@crm.localhost"
MESSAGE_ID = "<delivery-42.campaign-7@crm.localhost>"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
LONG_LINE = "Çok uzun bir satır, kırılmadan gelen; " * 60

CASES = {
    "plain ascii": dict(
        to_address="ada@example.com",
        to_name="Ada Lovelace",
        subject="Your order has shipped",
        text="Hello Ada,\n\nYour order is on its way.\n",
    ),
    "turkish": dict(
        to_address="sukru.caglar@example.com.tr",
        to_name="Şükrü Çağlar",
        subject="Sipariş onayı — İstanbul",
        text="Merhaba Şükrü Bey,\n\nSiparişiniz İstanbul deposundan çıktı. Teşekkürler!\n",
    ),
    "long turkish subject": dict(
        to_address="ilkay@example.com.tr",
        to_name="Dr. İlkay Öztürk-Ağaoğlu (Genel Müdür Yardımcısı, Satış ve Pazarlama)",
        subject="Sipariş onayı — İstanbul, Kadıköy şubesinden çıkan ıslak imzalı sözleşmeniz "
        "ve eşlik eden ürün güvenlik bilgileri",
        text="Merhaba,\n",
    ),
    "emoji": dict(
        to_address="ayse@example.com",
        to_name="Ayşe 😀 Yıldız",
        subject="Doğum gününüz kutlu olsun 🎂🎉🎁",
        text="🎂🎉🎁🎈✨ " * 40 + "\nİyi ki doğdunuz!\n",
    ),
    "long lines, From and dots": dict(
        to_address="bob@example.com",
        to_name='Bob "The Builder" O\'Neil',
        subject="x" * 200,
        text=f"{'a' * 5000}\nFrom the start of a line\n.\n.hidden\n..\ntrailing spaces   \n"
        f"tab\tand =3D signs\n{LONG_LINE}\r\nold mac\rline\nFrom ",
    ),
    "html and text": dict(
        to_address="zeynep@example.com",
        to_name="Zeynep Kılıç",
        subject="Kampanya: %20 indirim",
        text="Merhaba Zeynep,\nKampanyamız başladı.\n",
        html=f"<html><body><p>Merhaba <b>Zeynep</b>,</p><p>{LONG_LINE}</p></body></html>",
    ),
    "attachment": dict(
        to_address="teklif@example.com",
        to_name="Müşteri",
        subject="Teklifiniz ektedir",
        text="Teklifimiz ektedir.\n",
        html="<p>Teklifimiz ektedir.</p>",
        attachments=[
            ("Teklif-Şubat 2026.pdf", "application/pdf", PDF),
            ("notes.txt", "text/plain", "Not: ödeme 30 gün.\n".encode()),
        ],
    ),
    "attachment without html": dict(
        to_address="teklif@example.com",
        to_name=None,
        subject="Quote",
        text="Attached.\n",
        attachments=[("quote.pdf", "application/pdf", PDF)],
    ),
    "custom headers": dict(
        to_address="musteri@example.com",
        to_name="Müşteri Hizmetleri",
        subject="Re: Destek talebi #1042",
        text="Yanıtınız için teşekkürler.\n",
        headers={
            "List-Unsubscribe": "<https://crm.example/u/"
            + "a1b2c3d4" * 12
            + ">, <mailto:unsubscribe@crm.example?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "In-Reply-To": "<ticket-1042.1@crm.localhost>",
            "References": " ".join(f"<ticket-1042.{n}@crm.localhost>" for n in range(1, 8)),
            "X-CRM-Ticket": "1042",
            "X-CRM-Note": "Şikâyet kaydı — öncelikli",
        },
    ),
}


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def render(case: dict, skeleton: EmailSkeleton | None = None, **changes) -> bytes:
    skeleton = skeleton or EmailSkeleton(sender_address=SENDER_ADDRESS, sender_name=SENDER_NAME)
    return skeleton.render(**{"message_id": MESSAGE_ID, **case, **changes})


def slow_path(case: dict) -> email.message.EmailMessage:
    """The same message through build_email (the standard library), as sent and read back."""
    to = (case["to_name"], case["to_address"]) if case["to_name"] else case["to_address"]
    message = build_email(
        sender=f"{SENDER_NAME} <{SENDER_ADDRESS}>",
        to=to,
        subject=case["subject"],
        text=case["text"],
        html=case.get("html"),
        headers={"Message-ID": MESSAGE_ID, **case.get("headers", {})},
    )
    for filename, content_type, content in case.get("attachments", []):
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return parse(message.as_bytes(policy=email.policy.SMTP))


def rfc2047_header(message: email.message.EmailMessage, name: str) -> str:
    """A header as RFC 2047 reads it: whitespace between two encoded-words is dropped (Python's
    own parser keeps it inside a display name, so its `.addresses` would show a space that is
    not there)."""
    raw = email.message_from_bytes(message.as_bytes())[name]  # compat32: the raw value
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", raw))))


def summary(message: email.message.EmailMessage, header_names) -> dict:
    """What a reader sees: addresses, headers, the tree of parts and each part's content."""

    def content(part):
        value = part.get_content()
        return value.replace("\r\n", "\n") if isinstance(value, str) else value

    return {
        "addresses": {name: rfc2047_header(message, name) for name in ("From", "To")},
        "headers": {name: str(message[name]) for name in header_names},
        "tree": [part.get_content_type() for part in message.walk()],
        "parts": [
            (part.get_content_type(), part.get_filename(), content(part))
            for part in message.walk()
            if not part.is_multipart()
        ],
    }


def assert_wire_format(raw: bytes, *, header_limit: int = 78) -> None:
    """CRLF only, lines within 998 octets, headers within `header_limit`, 7-bit outside SMTPUTF8."""
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines:
        assert b"\r" not in line and b"\n" not in line
        assert len(line) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert len(line) <= header_limit, line
        assert line.strip(), "a header line of whitespace only"


@pytest.mark.parametrize("name", CASES)
def test_a_rendered_message_reads_back_as_the_slow_paths_does(name):
    case = CASES[name]
    raw = render(case)

    header_names = ["Subject", "Message-ID", *case.get("headers", {})]
    assert summary(parse(raw), header_names) == summary(slow_path(case), header_names)
    assert raw.isascii()
    # A word longer than a line (the 200-character subject, the unsubscribe URL) is not
    # broken; everything else keeps to 78 columns.
    unbreakable = name in ("long lines, From and dots", "custom headers")
    assert_wire_format(raw, header_limit=998 if unbreakable else 78)


def test_headers_of_a_rendered_message():
    raw = render(CASES["turkish"], date=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    message = parse(raw)

    assert str(message["From"]) == f"{SENDER_NAME} <{SENDER_ADDRESS}>"
    assert str(message["To"]) == "Şükrü Çağlar <sukru.caglar@example.com.tr>"
    assert message["Subject"] == "Sipariş onayı — İstanbul"
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Date"].datetime == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_charset() == "utf-8"
    # Without a date, now.
    assert abs(parse(render(CASES["turkish"]))["Date"].datetime - datetime.now(UTC)).seconds < 5
    with pytest.raises(ValueError, match="timezone-aware"):
        render(CASES["turkish"], date=datetime(2026, 3, 1, 9, 30))


def test_encoded_words_carry_whole_characters_within_75_columns():
    raw = render(CASES["long turkish subject"])
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    words = re.findall(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=", head)

    assert len(words) > 4  # the subject and the display name each span several words
    for word in words:
        assert len(word) + 12 <= 75
        base64.b64decode(word).decode("utf-8")  # no character split between two words


def test_bodies_are_quoted_printable_when_mostly_ascii_and_base64_otherwise():
    def encodings(**case):
        message = parse(render({**CASES["turkish"], **case}))
        return [
            part["Content-Transfer-Encoding"] for part in message.walk() if not part.is_multipart()
        ]

    # Everyday Turkish: about one letter in twelve is not ASCII.
    turkish = (
        "Merhaba Şükrü Bey, siparişiniz bugün kargoya verildi. Takip numaranız 123456789. "
        "Teslimat genellikle iki ile üç iş günü sürmektedir. Sorularınız için bize her zaman "
        "ulaşabilirsiniz.\n"
    ) * 10
    dense_turkish = "Sipariş onayı: ığdır, çığ, şöför, üşüdük.\n" * 10
    russian = "Ваш заказ отправлен, спасибо за покупку.\n" * 20
    assert encodings(text="Plain ASCII only.\n") == ["quoted-printable"]
    assert encodings(text=turkish, html=f"<p>{turkish}</p>") == ["quoted-printable"] * 2
    assert encodings(text=russian) == ["base64"]
    assert encodings(text=dense_turkish) == ["base64"]
    assert encodings(text="🎂🎉🎁 " * 50) == ["base64"]


def test_a_line_starting_with_from_is_quoted():
    raw = render(CASES["plain ascii"], text="From the start\nand\nFrom here on\n")

    assert b"\r\nFrom " not in raw.split(b"\r\n\r\n", 1)[1]
    assert parse(raw).get_content() == "From the start\r\nand\r\nFrom here on\r\n"


def test_each_message_has_distinct_boundaries_and_its_own_message_id():
    skeleton = EmailSkeleton(sender_address=SENDER_ADDRESS, sender_name=SENDER_NAME)
    case = CASES["attachment"]
    messages = [parse(render(case, skeleton, message_id=f"<m{n}@crm.localhost>")) for n in range(3)]

    boundaries = [part.get_boundary() for m in messages for part in m.walk() if part.is_multipart()]
    assert len(boundaries) == 6 and len(set(boundaries)) == 6
    assert all(b.startswith("=_") for b in boundaries)
    assert [m["Message-ID"] for m in messages] == [f"<m{n}@crm.localhost>" for n in range(3)]


def test_content_cannot_contain_a_boundary():
    skeleton = EmailSkeleton(sender_address=SENDER_ADDRESS)
    first = parse(render(CASES["html and text"], skeleton)).get_boundary()
    prefix = first.rsplit(".", 2)[0]
    # Every boundary the next messages could use, as lines of their own content.
    hostile = "".join(f"--{prefix}.{n}.{kind}\n" for n in range(10) for kind in "am") + "=_\n"

    raw = render(CASES["html and text"], skeleton, text=hostile, html=hostile)

    delimiter_lines = [line for line in raw.split(b"\r\n") if line.startswith(b"--=_")]
    assert len(delimiter_lines) == 3  # two part delimiters and the close delimiter
    text, html = (part.get_content() for part in parse(raw).walk() if not part.is_multipart())
    assert text.replace("\r\n", "\n") == html.replace("\r\n", "\n") == hostile


def test_fixed_headers_of_the_skeleton_go_into_every_message():
    skeleton = EmailSkeleton(
        sender_address=SENDER_ADDRESS, headers={"List-Id": "Kampanya <kampanya-7.crm.localhost>"}
    )
    message = parse(render(CASES["plain ascii"], skeleton))

    assert message["List-Id"] == "Kampanya <kampanya-7.crm.localhost>"
    assert str(message["From"]) == SENDER_ADDRESS


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nBcc: victim@example.com"},
        {"subject": "Merhaba\rBcc: victim@example.com"},
        {"to_name": "Ada\r\nBcc: victim@example.com"},
        {"to_address": "ada@example.com\r\nBcc: victim@example.com"},
        {"to_address": "ada@example.com>, <victim@example.com"},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
        {"headers": {"X-CRM-Ticket": "1\r\nBcc: victim@example.com"}},
        {"headers": {"X-CRM-Ticket": "1\nBcc: victim@example.com"}},
        {"headers": {"X-CRM-Note": "Şikâyet\r\nBcc: victim@example.com"}},
        {"headers": {"X-CRM-Ticket\r\nBcc": "victim@example.com"}},
        {"headers": {"Bad Name": "1"}},
        {"headers": {"Content-Type": "text/html"}},
        {"headers": {"bcc": "victim@example.com"}},
        {"attachments": [("a\r\nb.pdf", "application/pdf", b"x")]},
        {"attachments": [("a.pdf", "application/pdf\r\nX-Evil: 1", b"x")]},
    ],
)
def test_line_breaks_in_header_values_are_refused(changes):
    with pytest.raises(ValueError):
        render(CASES["turkish"], **changes)


def test_a_sender_with_a_line_break_is_refused():
    with pytest.raises(ValueError):
        EmailSkeleton(sender_address=SENDER_ADDRESS, sender_name="CRM\r\nBcc: victim@example.com")
    with pytest.raises(ValueError):
        EmailSkeleton(sender_address=SENDER_ADDRESS, headers={"List-Id": "a\nb"})


@pytest.mark.parametrize(
    ("address", "needs"),
    [
        ("ada@example.com", False),
        ("ali@örnek.com.tr", False),  # the domain goes in IDNA, the local part is ASCII
        ("mulâyim.arslan4@example.com.tr", True),
        ("şükrü@örnek.com.tr", True),
    ],
)
def test_needs_smtputf8(address, needs):
    assert needs_smtputf8(address) is needs


def test_addresses_are_encoded_for_the_wire():
    assert encode_address("ali@örnek.com.tr") == "ali@xn--rnek-4qa.com.tr"
    assert encode_address("şükrü@Örnek.com.tr") == "şükrü@xn--rnek-4qa.com.tr"
    assert encode_address("ada@example.com") == "ada@example.com"
    for bad in ("no-at-sign", "@example.com", "ada@", "a b@example.com", "ada@exa_mple..com\u200b"):
        with pytest.raises(UndeliverableAddress):
            encode_address(bad)
    assert issubclass(SmtpUtf8Unsupported, UndeliverableAddress)
    assert issubclass(UndeliverableAddress, ValueError)


def test_a_non_ascii_local_part_goes_into_the_header_as_utf8():
    raw = render(CASES["turkish"], to_address="mulâyim.arslan4@örnek.com.tr")

    assert (
        "\r\nTo: =?utf-8?b?xZ7DvGtyw7wgw4dhxJ9sYXI=?=\r\n <mulâyim.arslan4@xn--rnek-4qa.com.tr>\r\n"
        in raw.decode("utf-8")
    )
    assert str(parse(raw)["To"]) == "Şükrü Çağlar <mulâyim.arslan4@xn--rnek-4qa.com.tr>"
    assert_wire_format(raw)


def test_rendered_messages_go_through_an_smtp_server():
    skeleton = EmailSkeleton(sender_address=SENDER_ADDRESS, sender_name=SENDER_NAME)
    with running_sink() as sink, smtp_session(sink.url) as smtp:
        assert smtp.server_supports_smtputf8 is False
        for name in ("turkish", "html and text", "attachment"):
            smtp.send_bytes(
                SENDER_ADDRESS, CASES[name]["to_address"], render(CASES[name], skeleton)
            )
        smtp.send_bytes(
            SENDER_ADDRESS,
            "ali@örnek.com.tr",
            render(CASES["turkish"], skeleton, to_address="ali@örnek.com.tr"),
        )

    assert sink.handler.connections == 1
    assert [mail.rcpt_tos for mail in sink.mails] == [
        ["sukru.caglar@example.com.tr"],
        ["zeynep@example.com"],
        ["teklif@example.com"],
        ["ali@xn--rnek-4qa.com.tr"],
    ]
    assert {mail.mail_from for mail in sink.mails} == {SENDER_ADDRESS}
    turkish, html, attachment, _ = (mail.message for mail in sink.mails)
    assert turkish["Subject"] == "Sipariş onayı — İstanbul"
    assert turkish.get_content().startswith("Merhaba Şükrü Bey,")
    assert "<b>Zeynep</b>" in html.get_body(("html",)).get_content()
    assert [part.get_filename() for part in attachment.iter_attachments()] == [
        "Teklif-Şubat 2026.pdf",
        "notes.txt",
    ]
    assert next(attachment.iter_attachments()).get_content() == PDF


def test_a_non_ascii_local_part_is_sent_over_smtputf8():
    address = "mulâyim.arslan4@example.com.tr"
    raw = render(CASES["turkish"], to_address=address)
    with running_sink(smtputf8=True) as sink, smtp_session(sink.url) as smtp:
        assert smtp.server_supports_smtputf8 is True
        smtp.send_bytes(SENDER_ADDRESS, address, raw)

    (mail,) = sink.mails
    assert mail.rcpt_tos == [address]
    assert str(mail.message["To"]) == f"Şükrü Çağlar <{address}>"
    assert mail.message["Subject"] == "Sipariş onayı — İstanbul"


def test_a_server_without_smtputf8_refuses_a_non_ascii_local_part_clearly():
    address = "mulâyim.arslan4@example.com.tr"
    with running_sink() as sink, smtp_session(sink.url) as smtp:
        with pytest.raises(SmtpUtf8Unsupported, match="does not offer SMTPUTF8"):
            smtp.send_bytes(SENDER_ADDRESS, address, render(CASES["turkish"], to_address=address))
        # The session is still good for the next message of the batch.
        smtp.send_bytes(SENDER_ADDRESS, "ada@example.com", render(CASES["plain ascii"]))

    assert [mail.rcpt_tos for mail in sink.mails] == [["ada@example.com"]]


def test_send_bytes_needs_an_open_session():
    from crm_web.messaging.email import SmtpTransport

    transport = SmtpTransport("smtp://127.0.0.1:25")
    with pytest.raises(RuntimeError, match="not open"):
        transport.send_bytes(SENDER_ADDRESS, "ada@example.com", b"")
    with pytest.raises(RuntimeError, match="not open"):
        transport.server_supports_smtputf8  # noqa: B018


def test_ascii_that_looks_like_an_encoded_word_reads_back_as_written():
    subject = "Code: =?utf-8?b?xZ7DvA==?= as written"
    message = parse(render(CASES["plain ascii"], subject=subject, to_name="=?utf-8?q?x?="))

    assert message["Subject"] == subject
    assert rfc2047_header(message, "To") == "=?utf-8?q?x?= <ada@example.com>"


def test_an_attachment_needs_a_filename_that_fits_on_a_line():
    for filename in ("", "😀" * 100 + ".pdf"):  # the second is 1,200 columns percent-encoded
        with pytest.raises(ValueError, match="filename"):
            render(CASES["turkish"], attachments=[(filename, "application/pdf", PDF)])
