"""The dev SMS gateway: a real HTTP server on loopback speaking the Twilio-style API of
crm_web.messaging.sms, so the run command and the tests send SMS the way production does.

It checks HTTP Basic auth, validates the form (To, From, Body, E.164 numbers), answers 201 with a
sid, and stores each accepted message as a JSON file in one folder, which the web app lists at
/dev/sms. Shortly after accepting a message it reports `sent` and then `delivered` (or
`undelivered` for a number scripted so) to the message's StatusCallback, signed with the webhook
secret as the provider would. Tests script answers (`script`, `fail_numbers`,
`undeliverable_numbers`) and read what came in (`messages`, `reports`, `requests`, `connections`).
"""

import base64
import hmac
import json
import logging
import os
import queue
import re
import secrets
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs

import httpx

from crm_web.messaging.sms import SIGNATURE_HEADER, SmsSegments, segments, signature

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[1-9]\d{6,14}")
MAX_BODY = 1600  # Twilio's limit for one (concatenated) message
T = TypeVar("T")


@dataclass
class ReceivedSms:
    """One message the gateway accepted, with its delivery status as far as it got."""

    sid: str
    received_at: datetime
    to: str
    sender: str
    body: str
    status_callback: str
    status: str
    segments: SmsSegments
    error_code: str = ""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "received_at": self.received_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> "ReceivedSms":
        data = json.loads(text)
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        data["segments"] = SmsSegments(**data["segments"])
        return cls(**data)


@dataclass(frozen=True)
class Scripted:
    """An answer given instead of the usual one: a status and JSON body, after a pause.

    With a 2xx status and no body only the pause applies and the request is handled as usual.
    """

    status: int = 201
    body: dict | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class DeliveryReport:
    """A status webhook the gateway posted: to where, and what the receiver answered."""

    sid: str
    status: str
    url: str
    answer: int | None  # the receiver's HTTP status; None when it could not be reached


@dataclass
class _Rules:
    """What tests scripted, read and changed under the gateway's lock."""

    scripted: list[Scripted] = field(default_factory=list)
    refused: list[tuple[re.Pattern, Scripted]] = field(default_factory=list)
    undeliverable: list[tuple[re.Pattern, str]] = field(default_factory=list)


def _error(status: int, code: int, message: str) -> Scripted:
    return Scripted(status, {"code": code, "message": message, "status": status})


class DevSmsGateway:
    """A Twilio-style SMS gateway on loopback, in background threads, storing messages in `folder`."""

    def __init__(
        self,
        folder: Path,
        *,
        account: str = "ACdev",
        token: str | None = None,
        webhook_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        report_delay: float | None = 0.5,
    ):
        self.folder = Path(folder)
        self.account = account
        self.token = token or secrets.token_urlsafe(18)
        # A provider signs webhooks with the account's token unless told otherwise, as
        # crm_web.messaging.sms.webhook_secret assumes.
        self.webhook_secret = webhook_secret or self.token
        self.path = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        self.report_delay = report_delay  # None: no delivery reports at all
        self.messages: list[ReceivedSms] = []
        self.reports: list[DeliveryReport] = []
        self.requests = 0
        self._client_ports: set[int] = set()
        self._rules = _Rules()
        self._lock = threading.Lock()
        self._files: dict[str, Path] = {}
        self._pending: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        handler = type("DevSmsHandler", (_Handler,), {"gateway": self})
        self._server = _Server((host, port), handler)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The send endpoint with the credentials as user info, as SMS_GATEWAY_URL takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{self.account}:{self.token}@{host}:{port}{self.path}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def connections(self) -> int:
        """How many TCP connections the accepted messages came in on."""
        return len(self._client_ports)

    def start(self) -> "DevSmsGateway":
        """Serve and report in background threads until `stop`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="dev-sms", daemon=True
            ),
            threading.Thread(target=self._report_loop, name="dev-sms-reports", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; reports not yet sent are dropped."""
        self._stopping.set()
        self._pending.put(None)
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> "DevSmsGateway":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def script(
        self, status: int = 201, body: dict | None = None, *, times: int = 1, delay: float = 0.0
    ) -> None:
        """Answer the next `times` send requests with `status` and `body` after `delay` seconds
        (a 2xx status without a body: handle them as usual after the delay)."""
        with self._lock:
            self._rules.scripted.extend([Scripted(status, body, delay)] * times)

    def fail_numbers(self, pattern: str, status: int = 400, body: dict | None = None) -> None:
        """Refuse messages to numbers matching the regular expression `pattern`."""
        answer = (
            Scripted(status, body)
            if body is not None
            else _error(status, 21612, "The 'To' phone number is not currently reachable via SMS.")
        )
        with self._lock:
            self._rules.refused.append((re.compile(pattern), answer))

    def undeliverable_numbers(self, pattern: str, error_code: str = "30003") -> None:
        """Accept messages to numbers matching `pattern`, then report them `undelivered`."""
        with self._lock:
            self._rules.undeliverable.append((re.compile(pattern), error_code))

    def _answer_for(
        self, form: dict[str, str], authorization: str, path: str, client_port: int
    ) -> Scripted:
        """The answer to one send request; stores the message when it is accepted."""
        with self._lock:
            self.requests += 1
        expected = "Basic " + base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        if not hmac.compare_digest(authorization.encode(), expected.encode()):
            return _error(401, 20003, "Authenticate")
        if path != self.path:
            return _error(404, 20404, "The requested resource was not found")
        with self._lock:
            scripted = self._rules.scripted.pop(0) if self._rules.scripted else None
        if scripted is not None:
            time.sleep(scripted.delay)
            if scripted.status >= 300 or scripted.body is not None:
                return scripted
        if refusal := _invalid(form):
            return refusal
        with self._lock:
            refused = _first_match(self._rules.refused, form["To"])
        return refused or _accepted(self._accept(form, client_port))

    def _accept(self, form: dict[str, str], client_port: int) -> ReceivedSms:
        message = ReceivedSms(
            sid="SM" + secrets.token_hex(16),
            received_at=datetime.now(UTC),
            to=form["To"],
            sender=form["From"],
            body=form["Body"],
            status_callback=form.get("StatusCallback", ""),
            status="queued",
            segments=segments(form["Body"]),
        )
        with self._lock:
            self.messages.append(message)
            self._client_ports.add(client_port)
            self._files[message.sid] = self.folder / f"{time.time_ns()}-{message.sid}.json"
            self._store(message)
        if self.report_delay is not None:
            self._pending.put((time.monotonic() + self.report_delay, message))
        return message

    def _store(self, message: ReceivedSms) -> None:
        # Written whole and renamed, so the web app never reads half a file.
        path = self._files[message.sid]
        partial = path.with_suffix(".tmp")
        partial.write_text(message.to_json())
        os.replace(partial, path)

    def _report_loop(self) -> None:
        # Every message waits the same delay, so the queue's order is the order they fall due.
        with httpx.Client(timeout=5) as client:
            while (item := self._pending.get()) is not None:
                due, message = item
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    return
                with self._lock:
                    error_code = _first_match(self._rules.undeliverable, message.to) or ""
                final = "undelivered" if error_code else "delivered"
                for status in ("sent", final):
                    self._report(client, message, status, error_code if status == final else "")

    def _report(self, client: httpx.Client, message: ReceivedSms, status: str, error_code: str):
        with self._lock:
            message.status, message.error_code = status, error_code
            self._store(message)
        if not message.status_callback:
            return
        params = {
            "AccountSid": self.account,
            "ApiVersion": API_VERSION,
            "From": message.sender,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code:
            params["ErrorCode"] = error_code
        sign = signature(self.webhook_secret, message.status_callback, params)
        try:
            response = client.post(
                message.status_callback, data=params, headers={SIGNATURE_HEADER: sign}
            )
            answer = response.status_code
        except httpx.HTTPError as exc:
            log.warning("Dev SMS gateway: status callback %s failed: %s", message.sid, exc)
            answer = None
        with self._lock:
            self.reports.append(
                DeliveryReport(message.sid, status, message.status_callback, answer)
            )


def _first_match(rules: list[tuple[re.Pattern, T]], number: str) -> T | None:
    """What the first rule whose pattern matches `number` says, if one does."""
    return next((value for pattern, value in rules if pattern.search(number)), None)


def _invalid(form: dict[str, str]) -> Scripted | None:
    """The provider's refusal of a malformed send request (Twilio's error codes), if it is one."""
    if not form.get("To"):
        return _error(400, 21604, "A 'To' phone number is required.")
    if not form.get("From"):
        return _error(400, 21603, "A 'From' phone number is required.")
    if not form.get("Body"):
        return _error(400, 21602, "Message body is required.")
    if not E164.fullmatch(form["To"]):
        return _error(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
    if len(form["Body"]) > MAX_BODY:
        return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    return None


def _accepted(message: ReceivedSms) -> Scripted:
    body = {
        "sid": message.sid,
        "status": "queued",
        "to": message.to,
        "from": message.sender,
        "body": message.body,
        "num_segments": str(message.segments.parts),
    }
    return Scripted(201, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway: the client reuses connections
    gateway: DevSmsGateway

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        fields = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        form = {name: values[0] for name, values in fields.items()}
        answer = self.gateway._answer_for(
            form,
            self.headers.get("Authorization", ""),
            self.path.split("?")[0],
            self.client_address[1],
        )
        payload = json.dumps(answer.body or {}).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up waiting (a timeout) leaves a broken pipe: expected.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def read_messages(folder: Path, limit: int = 100) -> list[ReceivedSms]:
    """The newest messages the dev gateway stored in `folder`."""
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.json"), reverse=True)[:limit]
    return [ReceivedSms.from_json(path.read_text()) for path in paths]
