"""A real HTTP server on loopback standing in for a Twilio-style SMS gateway.

Not a test module; test files import `running_gateway` from it. It checks HTTP Basic auth,
records every message it accepts (with the client's port, so tests can count connections)
and answers 201 with a sid, unless a test scripted a different answer first.
"""

import base64
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT = "AC-test"
TOKEN = "gateway-token"


@dataclass
class ReceivedSms:
    to: str
    sender: str
    body: str
    status_callback: str
    client_port: int
    sid: str


@dataclass
class Scripted:
    """One answer to give instead of accepting: a status and JSON body, after a pause."""

    status: int = 201
    body: dict | None = None
    delay: float = 0.0


@dataclass
class GatewayState:
    messages: list[ReceivedSms] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connections(self) -> int:
        return len({message.client_port for message in self.messages})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway: the client reuses connections
    state: GatewayState

    def log_message(self, format, *args):
        pass

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = {
            key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()
        }
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        with self.state.lock:
            self.state.requests += 1
            scripted = self.state.scripted.pop(0) if self.state.scripted else None
        if self.headers.get("Authorization") != expected:
            self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if scripted is not None:
            time.sleep(scripted.delay)
            if scripted.status >= 300 or scripted.body is not None:
                self._answer(scripted.status, scripted.body or {})
                return
        missing = [name for name in ("To", "From", "Body") if not form.get(name)]
        if missing:
            self._answer(400, {"code": 21604, "message": f"Missing {missing[0]}", "status": 400})
            return
        with self.state.lock:
            sid = f"SM{len(self.state.messages) + 1:032x}"
            self.state.messages.append(
                ReceivedSms(
                    to=form["To"],
                    sender=form["From"],
                    body=form["Body"],
                    status_callback=form.get("StatusCallback", ""),
                    client_port=self.client_address[1],
                    sid=sid,
                )
            )
        self._answer(201, {"sid": sid, "status": "queued", "to": form["To"]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up waiting (the timeout tests) leaves a broken pipe: expected.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Gateway:
    url: str  # the send endpoint with credentials, as SMS_GATEWAY_URL takes it
    state: GatewayState

    @property
    def messages(self) -> list[ReceivedSms]:
        return self.state.messages


@contextmanager
def running_gateway() -> Iterator[Gateway]:
    """An SMS gateway on 127.0.0.1 for the duration of the block."""
    state = GatewayState()
    handler = type("GatewayHandler", (_Handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="sms-gateway", daemon=True
    )
    thread.start()
    try:
        port = server.server_address[1]
        url = (
            f"http://{ACCOUNT}:{TOKEN}@127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        )
        yield Gateway(url=url, state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
