"""SMS through an HTTP gateway, Twilio-style: a form POST of To, From and Body answered with a sid.

SMS_GATEWAY_URL is the gateway's send endpoint with the account's credentials as its user
info, sent as HTTP Basic auth, e.g.
https://ACCOUNT:TOKEN@api.example.com/2010-04-01/Accounts/ACCOUNT/Messages.json; SMS_FROM is the
sender. Each process keeps one HTTP session (connection pool) per gateway, shared by its threads.

Delivery reports come back as form POSTs to the StatusCallback URL given with each message,
signed the Twilio way with SMS_WEBHOOK_SECRET (by default the gateway URL's password):
base64(HMAC-SHA1(secret, url + each POST parameter's name and value, sorted by name)) in the
X-Twilio-Signature header.

Errors tell a sender what happened to the message, so it can decide about a retry:
SmsNotSent (it surely did not go out: no connection, or the gateway refused it) and
SmsUncertain (the request may have reached the gateway, e.g. the answer timed out).

`segments(body)` says how many SMS a text costs: GSM-7 when every character is in the GSM 03.38
alphabet (3GPP TS 23.038, default tables), else UCS-2. Turkish letters outside it (ş ğ ı İ Ş Ğ ç)
force UCS-2 (70 characters a message) unless the gateway sends with the Turkish national
single shift table (`turkish_shift`, the SMS_TURKISH_SHIFT setting): each is then an escape
plus one septet, and the header that names the table takes room (155 septets in one message,
149 in each part). The default is UCS-2: what a Twilio-style gateway does with a Body it is
given, and what every phone shows right; a Turkish operator's gateway that uses the table
says so in its setting, and the count follows.
"""

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

SIGNATURE_HEADER = "X-Twilio-Signature"
# Delivery states a gateway reports (Twilio's names); the last two are final failures.
STATUSES = ("accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed")


class SmsError(Exception):
    """An SMS that could not be sent, with a message fit to show an operator."""


class SmsNotConfigured(SmsError):
    """SMS_GATEWAY_URL or SMS_FROM is not set."""


class SmsNotSent(SmsError):
    """The gateway surely did not take the message; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class SmsUncertain(SmsError):
    """The request may have reached the gateway: the message may or may not go out."""


@dataclass(frozen=True)
class SentSms:
    sid: str
    status: str


@dataclass(frozen=True)
class StatusReport:
    """A delivery report from the gateway's status webhook."""

    sid: str
    status: str
    error_code: str


# 3GPP TS 23.038 default alphabet, in code order (0x1B, the escape to the extension table, left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table: each is sent as the escape plus one septet, so it counts twice.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# The Turkish national language single shift table (3GPP TS 23.038 A.2.1): the extension
# characters and the Turkish letters the default alphabet lacks, each an escape plus a septet.
TURKISH_SHIFT = GSM7_EXTENSION | frozenset("ĞİŞçğış")
# Room in one message, and in each part of a concatenated one (the rest carries the UDH; the
# shift table's own header element takes 3 octets more).
SINGLE_LIMIT = {"GSM-7": 160, "GSM-7 TR": 155, "UCS-2": 70}
PART_LIMIT = {"GSM-7": 153, "GSM-7 TR": 149, "UCS-2": 67}


@dataclass(frozen=True)
class SmsSegments:
    """What a text costs: its encoding, how many SMS it takes, its length in that encoding."""

    encoding: str  # "GSM-7", "GSM-7 TR" (with the Turkish single shift table) or "UCS-2"
    parts: int
    characters: int  # septets (an extension character counts two) or UTF-16 code units


def segments(body: str, *, turkish_shift: bool = False) -> SmsSegments:
    """The encoding and number of SMS `body` is sent as (see the module docstring for
    `turkish_shift`)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body):
        encoding = "GSM-7"
        units = [2 if char in GSM7_EXTENSION else 1 for char in body]
    elif turkish_shift and all(char in GSM7_BASIC or char in TURKISH_SHIFT for char in body):
        encoding = "GSM-7 TR"
        units = [2 if char in TURKISH_SHIFT else 1 for char in body]
    else:
        # An emoji outside the Basic Multilingual Plane is a surrogate pair: two code units.
        encoding = "UCS-2"
        units = [2 if ord(char) > 0xFFFF else 1 for char in body]
    characters = sum(units)
    if characters <= SINGLE_LIMIT[encoding]:
        return SmsSegments(encoding, 1 if characters else 0, characters)
    # Phones cannot join an escape and its character, or a surrogate pair, across two parts:
    # such a pair that does not fit moves whole to the next part.
    parts, used = 1, 0
    for size in units:
        if used + size > PART_LIMIT[encoding]:
            parts, used = parts + 1, 0
        used += size
    return SmsSegments(encoding, parts, characters)


class SmsGateway:
    """One gateway endpoint with its own pooled HTTP session."""

    def __init__(self, url: str, sender: str, *, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SmsNotConfigured("SMS_GATEWAY_URL must be an http:// or https:// URL.")
        if not sender:
            raise SmsNotConfigured("SMS_FROM must name the sender number.")
        auth = None
        if parts.username:
            auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.endpoint = urlunsplit(parts._replace(netloc=netloc))
        self.sender = sender
        self.client = httpx.Client(
            auth=auth, timeout=timeout, headers={"Accept": "application/json"}
        )

    def send(
        self, to: str, body: str, *, status_callback: str | None = None, sender: str = ""
    ) -> SentSms:
        """Send one SMS (from `sender`, else the configured number) and return its sid."""
        form = {"To": to, "From": sender or self.sender, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = self.client.post(self.endpoint, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SmsNotSent(f"The SMS gateway cannot be reached: {exc}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise SmsUncertain(f"The SMS gateway did not answer: {exc!r}") from exc
        if response.status_code >= 400:
            detail = _error_detail(response)
            message = f"The SMS gateway refused the message ({response.status_code}): {detail}"
            if response.status_code == 504:
                raise SmsUncertain(message)
            retryable = response.status_code == 429 or response.status_code >= 500
            raise SmsNotSent(message, retryable=retryable)
        try:
            answer = response.json()
            sid = str(answer["sid"])
        except (ValueError, KeyError, TypeError):
            # It said yes without naming the message: it may well be on its way.
            raise SmsUncertain(
                f"The SMS gateway answered {response.status_code} without a message sid."
            ) from None
        return SentSms(sid=sid, status=str(answer.get("status") or "queued"))

    def close(self) -> None:
        self.client.close()


def _error_detail(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(answer, dict) and answer.get("message"):
        code = f" (code {answer['code']})" if answer.get("code") else ""
        return f"{answer['message']}{code}"
    return response.text[:200]


_gateways: dict[tuple[str, str], SmsGateway] = {}
_gateways_lock = threading.Lock()


def gateway(config) -> SmsGateway:
    """The process's session to the gateway configured in `config` (an app's config)."""
    url, sender = config.get("SMS_GATEWAY_URL", ""), config.get("SMS_FROM", "")
    if not url:
        raise SmsNotConfigured("No SMS gateway is configured (SMS_GATEWAY_URL).")
    with _gateways_lock:
        if (url, sender) not in _gateways:
            _gateways[(url, sender)] = SmsGateway(url, sender)
        return _gateways[(url, sender)]


def is_configured(config) -> bool:
    return bool(config.get("SMS_GATEWAY_URL") and config.get("SMS_FROM"))


def webhook_secret(config) -> str:
    """The shared secret status webhooks are signed with ("" if there is none)."""
    if secret := config.get("SMS_WEBHOOK_SECRET", ""):
        return secret
    password = urlsplit(config.get("SMS_GATEWAY_URL", "")).password
    return unquote(password) if password else ""


def signature(secret: str, url: str, params: dict[str, str]) -> str:
    """The X-Twilio-Signature of a POST of `params` to `url`."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_signature(secret: str, url: str, params: dict[str, str], given_signature: str) -> None:
    """SmsError unless a webhook request (a delivery report, an inbound SMS) is signed with
    `secret`."""
    if not secret:
        raise SmsError("SMS webhooks are off: no SMS_WEBHOOK_SECRET.")
    if not hmac.compare_digest(signature(secret, url, params), given_signature or ""):
        raise SmsError("The webhook's signature does not match.")


@dataclass(frozen=True)
class InboundSms:
    """A text a customer sent to our number, from the gateway's inbound webhook."""

    sender: str
    body: str


def parse_inbound(
    secret: str, url: str, params: dict[str, str], given_signature: str
) -> InboundSms:
    """The SMS in an inbound webhook request (Twilio's From and Body); SmsError unless signed."""
    check_signature(secret, url, params, given_signature)
    sender = params.get("From", "").strip()
    if not sender:
        raise SmsError("The inbound webhook names no sender.")
    return InboundSms(sender=sender, body=params.get("Body", ""))


def parse_status_callback(
    secret: str, url: str, params: dict[str, str], given_signature: str
) -> StatusReport:
    """The delivery report in a status webhook request; SmsError unless it is signed with `secret`."""
    check_signature(secret, url, params, given_signature)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or status not in STATUSES:
        raise SmsError("The status webhook names no message or an unknown status.")
    return StatusReport(sid=sid, status=status, error_code=params.get("ErrorCode", ""))
