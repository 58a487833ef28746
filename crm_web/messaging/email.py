"""SMTP sending: one connection carries a whole batch, of `EmailMessage`s (`send`) or of messages
rendered to bytes by `crm_web.messaging.mime.EmailSkeleton` (`send_bytes`).

SMTP_URL forms: smtp://host:port (plain), smtp://user:pass@host:587?starttls=1, smtps://host:465.
"""

import re
import smtplib
import ssl
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from crm_web.messaging.mime import (
    SmtpUtf8Unsupported,
    UndeliverableAddress,
    encode_address,
    needs_smtputf8,
)

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
        if self.pipelining:
            [error] = send_pipelined([self], [Envelope(sender_address, recipient_address, data)])
            if error is not None:
                raise error
            return
        options = self._options(sender_address, recipient_address)
        sender, recipient = encode_address(sender_address), encode_address(recipient_address)
        self.connection.sendmail(sender, [recipient], data, mail_options=options)

    @property
    def pipelining(self) -> bool:
        """Whether the server takes commands in groups (RFC 2920)."""
        self.connection.ehlo_or_helo_if_needed()
        return bool(self.connection.does_esmtp and self.connection.has_extn("pipelining"))

    def _options(self, sender_address: str, recipient_address: str) -> list[str]:
        if needs_smtputf8(sender_address) or needs_smtputf8(recipient_address):
            if not self.server_supports_smtputf8:
                raise SmtpUtf8Unsupported(
                    f"The server {self.host} cannot deliver to or from a non-ASCII address "
                    f"({recipient_address}): it does not offer SMTPUTF8."
                )
            return ["SMTPUTF8"]
        return []

    def _envelope_commands(self, envelope: "Envelope") -> bytes:
        """MAIL, RCPT and DATA of one message, for one write."""
        options = self._options(envelope.sender, envelope.recipient)
        sender, recipient = encode_address(envelope.sender), encode_address(envelope.recipient)
        if self.connection.has_extn("size"):
            options.append(f"SIZE={len(envelope.data)}")
        parameters = "".join(f" {option}" for option in options)
        # Addresses were checked by encode_address: no spaces, brackets or line breaks.
        commands = f"MAIL FROM:<{sender}>{parameters}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
        return commands.encode("utf-8" if options and options[0] == "SMTPUTF8" else "ascii")

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


@dataclass(frozen=True)
class Envelope:
    """A prepared message and whom it goes from and to."""

    sender: str
    recipient: str
    data: bytes


@dataclass
class _Lane:
    """One connection's share of `send_pipelined` and where each of its messages stands."""

    transport: SmtpTransport
    waiting: deque = field(default_factory=deque)  # indexes not started
    commands: int | None = None  # MAIL, RCPT and DATA written, replies to read
    content: int | None = None  # 354 received: its content goes in the next write
    final: int | None = None  # content written, the end-of-data reply to read
    discard: bool = False  # a 354 came for a refused message: end its empty content
    reset: bool = False  # a refused transaction: RSET before the next
    resetting: bool = False
    broken: bool = False

    def has_work(self) -> bool:
        busy = self.commands is not None or self.content is not None
        return busy or bool(self.waiting) or self.discard


def send_pipelined(
    transports: list[SmtpTransport], envelopes: list[Envelope]
) -> list[BaseException | None]:
    """Send `envelopes` over the open `transports` (servers with PIPELINING) at once; returns,
    per envelope, None if the server took it, else what `sendmail` would have raised.

    On one connection a message costs one round trip: the end of a message's content goes in
    the same write as the next message's MAIL, RCPT and DATA (RFC 2920 allows the content
    only after the 354), and their four replies come back together. Over K connections in
    lock step (write to each, then read from each) the waits overlap: about N/K round trips
    for N messages, so a sender is limited by its CPU, not by the server's latency. A lane
    whose connection breaks gives its unfinished messages the error (a retry)."""
    results: list[BaseException | None] = [None] * len(envelopes)
    for transport in transports:
        transport.connection.ehlo_or_helo_if_needed()  # its extensions decide the commands
    lanes = [_Lane(transport) for transport in transports]
    for index in range(len(envelopes)):
        lanes[index % len(lanes)].waiting.append(index)
    while True:
        active = [lane for lane in lanes if not lane.broken and lane.has_work()]
        if not active:
            break
        for lane in active:
            _write(lane, envelopes, results)
        for lane in active:
            if not lane.broken:
                _read(lane, envelopes, results)
    for lane in lanes:
        if lane.reset and not lane.broken:
            lane.transport._reset()  # the session stays usable for the next message
    return results


def _write(lane: _Lane, envelopes: list[Envelope], results: list) -> None:
    pieces = []
    if lane.content is not None:
        content = _DOT_AT_LINE_START.sub(b"..", envelopes[lane.content].data)
        pieces.append(content if content.endswith(b"\r\n") else content + b"\r\n")
        pieces.append(b".\r\n")
        lane.final, lane.content = lane.content, None
    elif lane.discard:
        pieces.append(b".\r\n")
    while lane.waiting:
        index = lane.waiting.popleft()
        try:
            commands = lane.transport._envelope_commands(envelopes[index])
        except UndeliverableAddress as error:
            results[index] = error
            continue
        if lane.reset:
            pieces.append(b"RSET\r\n")
            lane.reset, lane.resetting = False, True
        pieces.append(commands)
        lane.commands = index
        break
    if not pieces:
        return
    try:
        lane.transport.connection.send(b"".join(pieces))
    except (OSError, smtplib.SMTPException) as error:
        _break(lane, results, error)


def _read(lane: _Lane, envelopes: list[Envelope], results: list) -> None:
    connection = lane.transport.connection
    try:
        if lane.final is not None:
            code, reply = connection.getreply()
            if code != 250:
                results[lane.final] = smtplib.SMTPDataError(code, reply)
            lane.final = None
            if code == 421:
                raise smtplib.SMTPServerDisconnected(reply.decode(errors="replace"))
        if lane.discard:
            connection.getreply()
            lane.discard = False
        if lane.resetting:
            connection.getreply()
            lane.resetting = False
        if lane.commands is not None:
            index, lane.commands = lane.commands, None
            mail, rcpt, start = connection.getreply(), connection.getreply(), connection.getreply()
            envelope = envelopes[index]
            if mail[0] != 250:
                results[index] = smtplib.SMTPSenderRefused(*mail, envelope.sender)
            elif rcpt[0] not in (250, 251):
                results[index] = smtplib.SMTPRecipientsRefused({envelope.recipient: rcpt})
            elif start[0] != 354:
                results[index] = smtplib.SMTPDataError(*start)
            if results[index] is None:
                lane.content = index
            elif start[0] == 354:
                lane.discard = True  # the server waits for content: send it none
            else:
                lane.reset = True
            if 421 in (mail[0], rcpt[0], start[0]):
                raise smtplib.SMTPServerDisconnected("The server is closing the connection.")
    except (OSError, smtplib.SMTPException) as error:
        _break(lane, results, error)


def _break(lane: _Lane, results: list, error: BaseException) -> None:
    """The connection is gone: every message of the lane not known to be taken gets `error`."""
    lane.broken = True
    for index in (lane.final, lane.commands, lane.content, *lane.waiting):
        if index is not None and results[index] is None:
            results[index] = error
    lane.final = lane.commands = lane.content = None
    lane.waiting.clear()
    lane.transport.connection.close()


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
