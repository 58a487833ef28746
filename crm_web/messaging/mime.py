"""A fast MIME builder for bulk email: one `EmailSkeleton` per (template, sender) renders each
personalised message straight to the bytes `smtplib.SMTP.sendmail` takes.

The standard library's `EmailMessage` builds a tree of header objects and runs its policy's
folder over every header of every message; here everything that does not change between the
messages of a batch is computed once and a message is a `join` of ready pieces, its bodies
encoded by `binascii` (C). What the output follows:

- RFC 5322: CRLF line endings; headers folded at whitespace below 78 columns where they can
  be, never past 998; CR, LF or another control character in any header value is refused
  (ValueError), so no value can start a header of its own.
- RFC 2047: non-ASCII subjects, display names and other unstructured values are "B"
  encoded-words of whole characters (a character's UTF-8 bytes never split across words),
  each at most 75 columns. Base64 rather than "Q" because "Q" has different rules in a
  display name than in a subject; one encoding is correct in both.
- Bodies: quoted-printable while the text is mostly ASCII (Turkish prose, HTML markup: it
  stays readable and is smaller), base64 otherwise (Cyrillic, CJK, emoji-heavy text). Both
  are 7-bit with lines of at most 76 columns, so long lines and any line ending are safe; a
  line starting with "From " is quoted (=46) so mbox storage cannot mangle it, and a line of
  one "." is encoded by binascii (SMTP's dot-stuffing in smtplib covers the rest).
- Boundaries start with "=_": quoted-printable writes "=" only before two hex digits or a
  line break and base64 has no "_", so no encoded body can contain a boundary line. Each
  message gets its own (a per-skeleton random token and a counter).
- RFC 6531/6532: a recipient whose local part is not ASCII needs SMTPUTF8; then the address
  goes into the To header as raw UTF-8 (its domain in IDNA A-labels, as on the envelope).
"""

import binascii
import itertools
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime, formatdate
from functools import lru_cache

import idna

__all__ = [
    "EmailSkeleton",
    "SmtpUtf8Unsupported",
    "UndeliverableAddress",
    "encode_address",
    "needs_smtputf8",
]

Attachment = tuple[str, str, bytes]  # (filename, content type, content)


class UndeliverableAddress(ValueError):
    """An address no message can be sent to (malformed, or an IDNA domain that cannot be encoded)."""


class SmtpUtf8Unsupported(UndeliverableAddress):
    """The address needs SMTPUTF8 (a non-ASCII local part) and the server does not offer it."""


# Line limits of RFC 5322: 78 columns is what a header should keep to, 998 what it must.
_SOFT_LIMIT = 78
_HARD_LIMIT = 998
# An encoded-word is at most 75 columns: "=?utf-8?b?" + base64 + "?=" leaves 63 columns of
# base64, i.e. 15 groups of 4 characters, each carrying 3 bytes.
_WORD_PREFIX = "=?utf-8?b?"
_WORD_OVERHEAD = len(_WORD_PREFIX) + 2
_WORD_MAX = 75

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What may not appear in an address we put between angle brackets: whitespace, controls and
# the specials of RFC 5322 outside a dot-atom (quoted local parts are not supported).
_ADDRESS_FORBIDDEN = re.compile(r'[\x00-\x20\x7f<>()\[\],;:\\"]')
_MESSAGE_ID = re.compile(r'<[^\x00-\x20\x7f<>()\[\],;:\\"]+>')
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# A display name made of these needs no quoting (RFC 5322 atext and spaces).
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+")
# RFC 2231 attr-char: what a filename*= value may carry unescaped.
_ATTR_CHARS = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~"
)
# Headers the skeleton writes itself; a caller's copy would make the message ambiguous.
_RESERVED = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
    )
)

_QP = "quoted-printable"
_BASE64 = "base64"


def _part_head(content_type: str, encoding: str) -> bytes:
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii")


_TEXT_HEAD = {encoding: _part_head("text/plain", encoding) for encoding in (_QP, _BASE64)}
_HTML_HEAD = {encoding: _part_head("text/html", encoding) for encoding in (_QP, _BASE64)}


def needs_smtputf8(address: str) -> bool:
    """Whether mail to `address` needs SMTPUTF8: its local part is not ASCII."""
    return not address.isascii() and not address.rpartition("@")[0].isascii()


def encode_address(address: str) -> str:
    """`address` as it goes on the envelope and in headers: the domain in IDNA A-labels."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _ADDRESS_FORBIDDEN.search(address):
        raise UndeliverableAddress(f"Not a deliverable email address: {address!r}")
    if domain.isascii():
        return address
    return f"{local}@{_idna_domain(domain)}"


@lru_cache(maxsize=1024)
def _idna_domain(domain: str) -> str:
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise UndeliverableAddress(f"The domain {domain!r} cannot be encoded: {error}") from None


def _check_value(what: str, value: str) -> None:
    if _CONTROL.search(value):
        raise ValueError(f"{what} may not contain a line break or a control character.")


def _encoded_words(text: str, room: int) -> list[str]:
    """`text` as RFC 2047 encoded-words, the first fitting in `room` columns, the rest in 75."""
    data = text.encode("utf-8")
    words = []
    start = 0
    # At least one four-byte character must fit, whatever a long header name leaves.
    limit = max((min(room, _WORD_MAX) - _WORD_OVERHEAD) // 4 * 3, 6)
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            # Split after a space where there is one: a reader that keeps the whitespace
            # between encoded-words in a display name (against RFC 2047, as Python's email
            # parser does) then shows a doubled space rather than a word cut in two.
            space = data.rfind(b" ", start + limit // 2, end)
            end = space + 1 if space >= 0 else end
            while data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
                end -= 1
        encoded = binascii.b2a_base64(data[start:end], newline=False).decode("ascii")
        words.append(f"{_WORD_PREFIX}{encoded}?=")
        start = end
        limit = (_WORD_MAX - _WORD_OVERHEAD) // 4 * 3
    return words


def _fold_ascii(name: str, value: str) -> str:
    """`name: value` folded at spaces below 78 columns where the words allow, with CRLF."""
    lines = []
    line = f"{name}:"
    for word in value.split(" "):
        # An empty word (a run of spaces) never starts a line: it would be whitespace only.
        if word and len(line) + 1 + len(word) > _SOFT_LIMIT and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    if max(map(len, lines)) > _HARD_LIMIT:
        raise ValueError(f"The {name} header has a word longer than {_HARD_LIMIT} characters.")
    return "\r\n".join(lines) + "\r\n"


@lru_cache(maxsize=4096)
def _text_header(name: str, value: str) -> str:
    """An unstructured header (Subject, or a caller's header) with its CRLF."""
    _check_value(f"The {name} header", value)
    # ASCII that looks like an encoded-word would be decoded by the reader: encode it.
    if value.isascii() and "=?" not in value:
        if len(name) + 2 + len(value) <= _SOFT_LIMIT:
            return f"{name}: {value}\r\n"
        return _fold_ascii(name, value)
    return f"{name}: " + "\r\n ".join(_encoded_words(value, _SOFT_LIMIT - len(name) - 2)) + "\r\n"


def _structured_header(name: str, value: str) -> str:
    """A caller's header kept as written when ASCII (List-Unsubscribe, References...)."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"Not a header name: {name!r}")
    if name.lower() in _RESERVED:
        raise ValueError(f"The {name} header is written by the message builder itself.")
    if value.isascii():
        _check_value(f"The {name} header", value)
        if len(name) + 2 + len(value) <= _SOFT_LIMIT:
            return f"{name}: {value}\r\n"
        return _fold_ascii(name, value)
    return _text_header(name, value)


def _address_header(name: str, display_name: str | None, address: str) -> str:
    """`name: display name <address>` with its CRLF; a non-ASCII local part stays raw UTF-8."""
    encoded = encode_address(address)
    if not display_name:
        return f"{name}: {encoded}\r\n"
    _check_value(f"The {name} header", display_name)
    # "<address>" in octets: the line limits count octets, and a UTF-8 address has more.
    bracketed = 2 + (len(encoded) if encoded.isascii() else len(encoded.encode("utf-8")))
    if display_name.isascii() and "=?" not in display_name:
        phrase = display_name
        if not _PHRASE.fullmatch(display_name):
            phrase = '"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(name) + 3 + len(phrase) + bracketed <= _SOFT_LIMIT:
            return f"{name}: {phrase} <{encoded}>\r\n"
        if len(name) + 2 + len(phrase) <= _SOFT_LIMIT:
            return f"{name}: {phrase}\r\n <{encoded}>\r\n"
    words = _encoded_words(display_name, _SOFT_LIMIT - len(name) - 2)
    last = len(words[-1]) + (len(name) + 2 if len(words) == 1 else 1)
    separator = "\r\n " if last + 1 + bracketed > _SOFT_LIMIT else " "
    return f"{name}: " + "\r\n ".join(words) + f"{separator}<{encoded}>\r\n"


def _canonical_lines(text: str) -> tuple[str, bytes]:
    """`text` with CRLF line endings, ending with one (as text/* is sent), and its UTF-8."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    text = text.replace("\n", "\r\n")
    return text, text.encode("utf-8")


def _base64_lines(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + b"\r\n"


def _encode_body(text: str) -> tuple[str, bytes]:
    """(transfer encoding, encoded body ending with CRLF) for a text part."""
    text, data = _canonical_lines(text)
    # Quoted-printable spends 3 columns on each non-ASCII byte, base64 4 on every 3 bytes.
    # len(data) - len(text) is about half the non-ASCII bytes (exactly so for Turkish's
    # two-byte letters), so below 1/12 quoted-printable is the smaller of the two.
    if (len(data) - len(text)) * 12 > len(data):
        return _BASE64, _base64_lines(data)
    encoded = binascii.b2a_qp(data, istext=True)
    if b"From " in encoded:
        if encoded.startswith(b"From "):
            encoded = b"=46" + encoded[1:]
        encoded = encoded.replace(b"\nFrom ", b"\n=46rom ")
    return _QP, encoded


def _attachment_part(filename: str, content_type: str, content: bytes) -> list[bytes]:
    """The headers and base64 body of one attachment."""
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise ValueError(f"Not a content type: {content_type!r}")
    _check_value("An attachment's filename", filename)
    if not filename:
        raise ValueError("An attachment needs a filename.")
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        parameter = f'filename="{filename}"'
    else:  # RFC 2231: charset, empty language, percent-encoded UTF-8
        parameter = "filename*=utf-8''" + "".join(
            chr(byte) if byte in _ATTR_CHARS else f"%{byte:02X}" for byte in filename.encode()
        )
    if len(parameter) >= _HARD_LIMIT:
        raise ValueError(f"The attachment's filename is too long: {filename!r}")
    head = (
        f"Content-Type: {content_type}\r\n"
        f"Content-Disposition: attachment;\r\n {parameter}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return [head.encode("ascii"), _base64_lines(content)]


def _multipart(boundary: bytes, parts: Sequence[Sequence[bytes]]) -> list[bytes]:
    """The body of a multipart entity: each part's pieces between delimiter lines."""
    pieces: list[bytes] = []
    opening = b"--" + boundary + b"\r\n"
    for part in parts:
        pieces.append(opening)
        pieces.extend(part)
        # The CRLF before a delimiter belongs to it, so each body keeps its own final CRLF.
        opening = b"\r\n--" + boundary + b"\r\n"
    pieces.append(b"\r\n--" + boundary + b"--\r\n")
    return pieces


_now_date: tuple[int, str] = (0, "")


def _date_header(date: datetime | None) -> str:
    """The Date header's value: `date`, or now (formatted once per second)."""
    global _now_date
    if date is not None:
        if date.tzinfo is None:
            raise ValueError("The date of a message must be timezone-aware.")
        return format_datetime(date)
    now = int(time.time())
    if _now_date[0] != now:
        _now_date = (now, formatdate(now, usegmt=True))
    return _now_date[1]


class EmailSkeleton:
    """What the messages of one template from one sender share, prepared once for thousands."""

    def __init__(
        self,
        *,
        sender_address: str,
        sender_name: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        self.sender_address = encode_address(sender_address)
        self._from = _address_header("From", sender_name, sender_address)
        self._fixed_headers = "".join(
            _structured_header(name, value) for name, value in (headers or {}).items()
        )
        self._boundary_prefix = f"=_{secrets.token_hex(8)}."
        self._counter = itertools.count(1)

    def render(
        self,
        *,
        to_address: str,
        to_name: str | None,
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str,
        date: datetime | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[Attachment] | None = None,
    ) -> bytes:
        """The complete message, CRLF line endings, ready for `smtplib.SMTP.sendmail`."""
        if not _MESSAGE_ID.fullmatch(message_id):
            raise ValueError(f"A Message-ID looks like <id@domain>, not {message_id!r}")
        head = [
            self._from,
            _address_header("To", to_name, to_address),
            _text_header("Subject", subject),
            "Date: ",
            _date_header(date),
            "\r\nMessage-ID: ",
            message_id,
            "\r\n",
            self._fixed_headers,
        ]
        if headers:
            head.extend(_structured_header(name, value) for name, value in headers.items())
        head.append("MIME-Version: 1.0\r\n")

        text_encoding, text_body = _encode_body(text)
        body_head, body = _TEXT_HEAD[text_encoding], [text_body]
        if html is not None:
            html_encoding, html_body = _encode_body(html)
            alternative = f"{self._boundary_prefix}{next(self._counter)}.a".encode("ascii")
            body_head = (
                b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n' % alternative
            )
            body = _multipart(
                alternative,
                [[_TEXT_HEAD[text_encoding], text_body], [_HTML_HEAD[html_encoding], html_body]],
            )
        if attachments:
            mixed = f"{self._boundary_prefix}{next(self._counter)}.m".encode("ascii")
            parts = [[body_head, *body]]
            parts.extend(_attachment_part(*attachment) for attachment in attachments)
            body_head = b'Content-Type: multipart/mixed;\r\n boundary="%s"\r\n\r\n' % mixed
            body = _multipart(mixed, parts)
        return b"".join(["".join(head).encode("utf-8"), body_head, *body])
