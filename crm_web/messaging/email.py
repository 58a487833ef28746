"""SMTP sending: one connection carries a whole batch, of `EmailMessage`s (`send`) or of messages
rendered to bytes by `crm_web.messaging.mime.EmailSkeleton` (`send_bytes`).

SMTP_URL forms: smtp://host:port (plain), smtp://user:pass@host:587?starttls=1, smtps://host:465.
"""

import re
import smtplib
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from crm_web.messaging.mime import SmtpUtf8Unsupported, encode_address, needs_smtputf8

# Dot-stuffing (RFC 5321 4.5.2): a line of the content that starts with "." gets another.
_DOT_AT_LINE_START = re.compile(rb"^\.", re.MULTILINE)


class SmtpTransport:
    """An open SMTP session; use `smtp_session(url)` so it is always closed."""

    def __init__(self, url: str, timeout: float = 30):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme or 'nothing'}"
            )
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.implicit_tls = parts.scheme == "smtps"
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.timeout = timeout
        self.connection: smtplib.SMTP | None = None

    def open(self) -> None:
        # Only TLS needs a context: building one loads the CA store, slow enough to matter
        # for a worker that opens a session per escalation.
        if self.implicit_tls:
            self.connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            self.connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                self.connection.starttls(context=ssl.create_default_context())
        if self.username:
            self.connection.login(self.username, self.password or "")

    def send(self, message: EmailMessage) -> str:
        """Send one message on the open connection and return its Message-ID."""
        if self.connection is None:
            raise RuntimeError("The SMTP session is not open.")
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain=self.host if "." in self.host else None)
        self.connection.send_message(message)
        return message["Message-ID"]

    @property
    def server_supports_smtputf8(self) -> bool:
        """Whether the server offers SMTPUTF8 (RFC 6531) in its EHLO answer."""
        if self.connection is None:
            raise RuntimeError("The SMTP session is not open.")
        # A plain session has not greeted the server yet: smtplib says EHLO on the first MAIL.
        self.connection.ehlo_or_helo_if_needed()
        return self.connection.has_extn("smtputf8")

    def send_bytes(self, sender_address: str, recipient_address: str, data: bytes) -> None:
        """Send one prepared message (`EmailSkeleton.render`) on the open connection."""
        if self.connection is None:
            raise RuntimeError("The SMTP session is not open.")
        options = []
        if needs_smtputf8(sender_address) or needs_smtputf8(recipient_address):
            if not self.server_supports_smtputf8:
                raise SmtpUtf8Unsupported(
                    f"The server {self.host} cannot deliver to or from a non-ASCII address "
                    f"({recipient_address}): it does not offer SMTPUTF8."
                )
            options.append("SMTPUTF8")
        sender, recipient = encode_address(sender_address), encode_address(recipient_address)
        self.connection.ehlo_or_helo_if_needed()
        if self.connection.does_esmtp and self.connection.has_extn("pipelining"):
            self._send_pipelined(sender, recipient, data, options)
        else:
            self.connection.sendmail(sender, [recipient], data, mail_options=options)

    def _send_pipelined(self, sender: str, recipient: str, data: bytes, options: list[str]):
        """MAIL, RCPT and DATA in one write, then the content: two round trips a message
        where `sendmail` waits for four (RFC 2920). Refusals raise what `sendmail` raises."""
        connection = self.connection
        if connection.has_extn("size"):
            options = [*options, f"SIZE={len(data)}"]
        parameters = "".join(f" {option}" for option in options)
        # Addresses were checked by encode_address: no spaces, brackets or line breaks.
        commands = f"MAIL FROM:<{sender}>{parameters}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
        connection.send(commands.encode("utf-8" if options else "ascii"))
        mail, rcpt, start = connection.getreply(), connection.getreply(), connection.getreply()
        if 421 in (mail[0], rcpt[0], start[0]):
            connection.close()  # the server is closing the session
        if mail[0] != 250:
            self._reset()
            raise smtplib.SMTPSenderRefused(*mail, sender)
        if rcpt[0] not in (250, 251):
            self._reset()
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        if start[0] != 354:
            self._reset()
            raise smtplib.SMTPDataError(*start)
        content = _DOT_AT_LINE_START.sub(b"..", data)
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        connection.send(content + b".\r\n")
        code, reply = connection.getreply()
        if code != 250:
            if code == 421:
                connection.close()
            else:
                self._reset()
            raise smtplib.SMTPDataError(code, reply)

    def _reset(self) -> None:
        # A refused transaction leaves the session usable for the next message.
        if self.connection.sock is not None:
            try:
                self.connection.rset()
            except smtplib.SMTPServerDisconnected:
                pass  # the next message finds the connection broken and opens another

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except smtplib.SMTPException:
                self.connection.close()
            self.connection = None


# What each SMTP server said of SMTPUTF8 lately, per process: (asked at, offered or None).
_SMTPUTF8_SEEN: dict[str, tuple[float, bool | None]] = {}
SMTPUTF8_PROBE_SECONDS = 600


def smtputf8_offered(url: str) -> bool | None:
    """Whether the server at `url` offers SMTPUTF8 (None: it could not be asked); asked at most
    every ten minutes per process, with a short timeout."""
    asked_at, offered = _SMTPUTF8_SEEN.get(url, (float("-inf"), None))
    if time.monotonic() - asked_at < SMTPUTF8_PROBE_SECONDS:
        return offered
    transport = SmtpTransport(url, timeout=2)
    try:
        transport.open()
        offered = transport.server_supports_smtputf8
    except (OSError, smtplib.SMTPException):
        offered = None
    finally:
        try:
            transport.close()
        except (OSError, smtplib.SMTPException):
            pass
    _SMTPUTF8_SEEN[url] = (time.monotonic(), offered)
    return offered


@contextmanager
def smtp_session(url: str) -> Iterator[SmtpTransport]:
    """One SMTP connection for a batch of messages."""
    transport = SmtpTransport(url)
    transport.open()
    try:
        yield transport
    finally:
        transport.close()


def build_email(
    *,
    sender: str,
    to: str | tuple[str, str],
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A plain-text email with an optional HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr(to) if isinstance(to, tuple) else to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send_batch(url: str, messages: Iterable[EmailMessage]) -> list[str]:
    """Send all messages over one connection; returns their Message-IDs in order."""
    with smtp_session(url) as transport:
        return [transport.send(message) for message in messages]
