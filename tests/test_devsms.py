"""The dev SMS gateway as a real server: the adapter sends to it, it stores and lists messages,
posts signed delivery reports to a loopback receiver, answers as scripted, and /dev/sms shows
what it received."""

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import psycopg
import pytest
from smtp_sink import running_sink

from crm_web import devserver
from crm_web.messaging import sms
from crm_web.messaging.devsms import DevSmsGateway, read_messages
from tests.conftest import login, make_config

SENDER = "+12025550100"
TURKISH = "Sayın müşterimiz, siparişiniz yola çıktı. Teşekkürler!"


@pytest.fixture
def gateway(tmp_path):
    with DevSmsGateway(tmp_path / "sms", report_delay=0.05) as running:
        yield running


@pytest.fixture
def adapter(gateway):
    client = sms.SmsGateway(gateway.url, SENDER, timeout=2)
    try:
        yield client
    finally:
        client.close()


class Receiver:
    """A loopback HTTP server that records the form posts it gets (our app's webhook, stand-in)."""

    def __init__(self, server: ThreadingHTTPServer):
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.posts: list[tuple[str, dict[str, str], str]] = []  # (url, form, signature)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, str], str]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.posts


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            receiver.posts.append(
                (receiver.base + self.path, form, self.headers.get(sms.SIGNATURE_HEADER, ""))
            )
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_message_is_accepted_stored_and_listed(gateway, adapter):
    sent = adapter.send("+905321112233", TURKISH)
    other = adapter.send("+905321112244", "Your code is 1234")

    assert sent.status == "queued" and sent.sid.startswith("SM")
    first, second = gateway.messages
    assert (first.sid, first.to, first.sender, first.body) == (
        sent.sid,
        "+905321112233",
        SENDER,
        TURKISH,
    )
    assert first.segments == sms.segments(TURKISH) == sms.SmsSegments("UCS-2", 1, len(TURKISH))
    assert second.segments == sms.SmsSegments("GSM-7", 1, 17)
    # Another process reads them from the folder, newest first.
    listed = read_messages(gateway.folder)
    assert [m.sid for m in listed] == [other.sid, sent.sid]
    assert listed[1].body == TURKISH and listed[1].segments.encoding == "UCS-2"
    assert gateway.connections == 1  # keep-alive


def test_delivery_reports_are_signed_and_verify(gateway, adapter):
    with running_receiver() as receiver:
        callback = receiver.base + "/outbox/sms-status/1/7"
        sent = adapter.send("+905321112233", "Ticket T-7 breached", status_callback=callback)
        posts = receiver.wait_for(2)

    reports = [
        sms.parse_status_callback(gateway.webhook_secret, url, form, signed)
        for url, form, signed in posts
    ]
    assert reports == [
        sms.StatusReport(sid=sent.sid, status="sent", error_code=""),
        sms.StatusReport(sid=sent.sid, status="delivered", error_code=""),
    ]
    assert [url for url, _form, _signed in posts] == [callback, callback]
    assert [(r.status, r.answer) for r in gateway.reports] == [("sent", 204), ("delivered", 204)]
    [stored] = read_messages(gateway.folder)
    assert stored.status == "delivered"
    # A report signed with another secret does not verify.
    url, form, signed = posts[0]
    with pytest.raises(sms.SmsError, match="signature"):
        sms.parse_status_callback("another-secret", url, form, signed)


def test_an_undeliverable_number_is_reported_undelivered(gateway, adapter):
    gateway.undeliverable_numbers(r"^\+90555")
    with running_receiver() as receiver:
        sent = adapter.send("+905551112233", "hello", status_callback=receiver.base + "/cb")
        posts = receiver.wait_for(2)

    url, form, signed = posts[-1]
    assert sms.parse_status_callback(gateway.webhook_secret, url, form, signed) == (
        sms.StatusReport(sid=sent.sid, status="undelivered", error_code="30003")
    )
    assert read_messages(gateway.folder)[0].status == "undelivered"


def test_a_message_without_a_callback_is_still_delivered(gateway, adapter):
    adapter.send("+905321112233", "hello")
    deadline = time.monotonic() + 5
    while read_messages(gateway.folder)[0].status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read_messages(gateway.folder)[0].status == "delivered"
    assert gateway.reports == []


@pytest.mark.parametrize(
    ("to", "body", "refusal"),
    [
        ("", "hello", "A 'To' phone number is required. (code 21604)"),
        ("+905321112233", "", "Message body is required. (code 21602)"),
        ("0532 111 22 33", "hello", "is not a valid phone number. (code 21211)"),
        ("+90532", "hello", "is not a valid phone number. (code 21211)"),
        ("+905321112233", "x" * 1601, "exceeds the 1600 character limit. (code 21617)"),
    ],
)
def test_a_bad_request_is_refused_for_good(gateway, adapter, to, body, refusal):
    with pytest.raises(sms.SmsNotSent, match=r"\(400\): ") as error:
        adapter.send(to, body)
    assert str(error.value).endswith(refusal)
    assert not error.value.retryable
    assert gateway.messages == [] and read_messages(gateway.folder) == []


def test_wrong_credentials_and_a_wrong_path_are_refused(gateway):
    for url, expected in (
        (gateway.url.replace(gateway.token, "wrong"), r"\(401\): Authenticate"),
        (gateway.url.replace("Messages.json", "Calls.json"), r"\(404\)"),
    ):
        client = sms.SmsGateway(url, SENDER, timeout=2)
        try:
            with pytest.raises(sms.SmsNotSent, match=expected) as error:
                client.send("+905321112233", "hello")
            assert not error.value.retryable
        finally:
            client.close()
    assert gateway.messages == [] and gateway.requests == 2


def test_scripted_answers_for_the_next_requests(gateway, adapter):
    gateway.script(503, {"code": 20503, "message": "Service unavailable"}, times=2)
    for _ in range(2):
        with pytest.raises(sms.SmsNotSent, match=r"\(503\): Service unavailable") as error:
            adapter.send("+905321112233", "hello")
        assert error.value.retryable
    assert adapter.send("+905321112233", "hello").sid == gateway.messages[0].sid

    gateway.script(504, {"message": "Gateway timeout"})
    with pytest.raises(sms.SmsUncertain, match=r"\(504\)"):
        adapter.send("+905321112233", "hello")
    gateway.script(200, {"status": "queued"})
    with pytest.raises(sms.SmsUncertain, match="without a message sid"):
        adapter.send("+905321112233", "hello")
    assert len(gateway.messages) == 1 and gateway.requests == 5


def test_a_scripted_delay_leaves_the_outcome_uncertain(gateway):
    gateway.script(delay=1.0)  # then handled as usual: the message is taken, the answer is late
    client = sms.SmsGateway(gateway.url, SENDER, timeout=0.3)
    try:
        with pytest.raises(sms.SmsUncertain, match="did not answer"):
            client.send("+905321112233", "hello")
    finally:
        client.close()
    deadline = time.monotonic() + 5
    while not gateway.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m.to for m in gateway.messages] == ["+905321112233"]


def test_numbers_matching_a_pattern_fail(gateway, adapter):
    gateway.fail_numbers(r"^\+90532")
    with pytest.raises(sms.SmsNotSent, match="not currently reachable") as error:
        adapter.send("+905321112233", "hello")
    assert not error.value.retryable
    gateway.fail_numbers(r"^\+4915", status=429, body={"message": "Too many requests"})
    with pytest.raises(sms.SmsNotSent, match=r"\(429\): Too many requests") as error:
        adapter.send("+4915112345678", "hello")
    assert error.value.retryable
    adapter.send("+441632960123", "hello")
    assert [m.to for m in gateway.messages] == ["+441632960123"]


def test_the_run_command_starts_the_gateway_and_sets_the_environment(
    monkeypatch, tmp_path, database_url, redis_url
):
    monkeypatch.setattr(devserver, "INSTANCE_DIR", tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    for name in ("SMS_GATEWAY_URL", "SMS_FROM", "SMS_WEBHOOK_SECRET", "DEV_SMS_DIR", "BASE_URL"):
        monkeypatch.setenv(name, "")  # so that what the run command sets is undone afterwards
        monkeypatch.delenv(name)
    with running_sink() as sink:
        monkeypatch.setenv("SMTP_URL", sink.url)
        started = len(devserver._running_services)
        notes = devserver._prepare_environment()
        [gateway] = devserver._running_services[started:]
    try:
        assert os.environ["SMS_GATEWAY_URL"] == gateway.url
        assert os.environ["SMS_FROM"] == devserver.DEV_SMS_FROM
        assert os.environ["SMS_WEBHOOK_SECRET"] == gateway.webhook_secret
        assert os.environ["DEV_SMS_DIR"] == str(tmp_path / "sms")
        assert f"SMS:        dev gateway on port {gateway.port}; read it at /dev/sms" in notes
        config = {name: os.environ[name] for name in ("SMS_GATEWAY_URL", "SMS_FROM")}
        client = sms.SmsGateway(config["SMS_GATEWAY_URL"], config["SMS_FROM"], timeout=2)
        try:
            sent = client.send("+905321112233", "hello")
        finally:
            client.close()
        assert read_messages(tmp_path / "sms")[0].sid == sent.sid
    finally:
        devserver._running_services.remove(gateway)
        gateway.stop()


@pytest.fixture(scope="module")
def dev_sms_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dev-sms")


@pytest.fixture(scope="module")
def dev_app(app, database_url, redis_url, dev_sms_folder):
    """An app as the run command makes it: with DEV_SMS_DIR, so /dev/sms is registered."""
    from crm_web import create_app
    from crm_web.extensions import db

    dev = create_app(make_config(database_url, redis_url, DEV_SMS_DIR=str(dev_sms_folder)))
    dev.test_client_class = app.test_client_class
    yield dev
    with dev.app_context():
        db.engine.dispose()


@pytest.fixture
def dev_org(dev_app, database_url):
    """A committed organization with an admin and a sales rep; removed afterwards."""
    from crm_web.accounts.services import create_user
    from crm_web.db import clear_tenant, set_tenant
    from crm_web.extensions import db
    from crm_web.onboarding import create_organization

    slug = f"devsms-{uuid.uuid4().hex[:8]}"
    with dev_app.app_context():
        organization, admin = create_organization(
            name="Dev SMS",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Ada Admin",
            admin_password="correct-horse",
        )
        set_tenant(organization.id, admin.id)
        sales = create_user(
            email=f"sales@{slug}.example", name="Sam", role="sales", password="correct-horse"
        )
        db.session.commit()
        clear_tenant()
        emails = {"admin": admin.email, "sales": sales.email}
    yield emails
    # As the server's superuser: row-level security does not apply, and the cascade takes the rest.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM audit_log WHERE organization_id = %s", (organization.id,))
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization.id,))


@pytest.mark.committed
def test_the_dev_sms_page_lists_messages_for_admins_only(dev_app, dev_org, dev_sms_folder):
    with DevSmsGateway(dev_sms_folder, report_delay=None) as running:
        client = sms.SmsGateway(running.url, SENDER, timeout=2)
        try:
            client.send("+905321112233", TURKISH)
            client.send("+905321112244", "Code {1234} expires in 5 min")
        finally:
            client.close()

    admin = dev_app.test_client()
    login(admin, dev_org["admin"])
    page = admin.get("/dev/sms")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Dev SMS" in html and ">Dev SMS</a>" in html  # the page and its nav link
    assert TURKISH in html and "Code {1234} expires in 5 min" in html
    assert html.index("Code {1234}") < html.index(TURKISH)  # newest first
    assert f"1 part · UCS-2 · {len(TURKISH)} code units" in " ".join(html.split())
    assert "1 part · GSM-7 · 30 septets" in " ".join(html.split())
    assert 'class="badge sms-queued">queued' in html

    fragment = admin.get("/dev/sms", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="messages"')

    rep = dev_app.test_client()
    login(rep, dev_org["sales"])
    assert rep.get("/dev/sms").status_code == 403


def test_without_the_dev_gateway_there_is_no_dev_sms_page(client):
    assert client.get("/dev/sms").status_code == 404
