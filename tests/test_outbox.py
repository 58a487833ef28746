"""The outbox: written with the business change, claimed under a lease, sent to a real SMTP sink
or the dev SMS gateway, marked; retries, bounces, cancellations, the sweep, the admin pages."""

import ast
import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from sms_gateway import running_gateway
from smtp_sink import running_sink
from sqlalchemy import func, select, text
from worker_fixtures import queued

from crm_web.db import atomic, clear_tenant, set_tenant, tenant_scope
from crm_web.devservices import free_port
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.outbox import channels, delivery, failures, services
from crm_web.outbox.models import OutboxMessage, Suppression
from crm_web.tickets import services as tickets
from tests import factories


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Outbox Desk")
    set_tenant(organization.id, admin.id)
    return organization


def _reply_to(org, email: str, body: str = "We are on it."):
    customer = factories.customer(org, first_name="Şükrü", last_name="Çağlar")
    # Stored as given, past the service's normalising: the outbox sends what a row holds.
    customer.primary_email = email
    ticket = tickets.create_ticket(subject="Fatura hatalı", customer_id=customer.id)
    return ticket, tickets.add_reply(ticket.id, body)


def _messages(kind: str = "ticket_reply") -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


def _make_due(message_ids) -> None:
    """Bring retries' next attempt to now (the backoff is minutes)."""
    db.session.execute(
        text("UPDATE outbox_messages SET next_attempt_at = now() WHERE id = ANY(:ids)"),
        {"ids": list(message_ids)},
    )


def test_a_message_is_written_with_its_change_and_nudged_only_after_commit(org, stub_broker):
    stub_broker.flush("outbox")

    @atomic
    def reply_in_a_larger_transaction():
        _ticket, reply = _reply_to(org, "mia@example.com")
        assert stub_broker.queues["outbox"].qsize() == 0  # not committed yet
        return reply

    reply = reply_in_a_larger_transaction()
    [row] = _messages()
    assert (row.status, row.channel, row.source_id, row.to_address) == (
        "queued",
        "email",
        reply.id,
        "mia@example.com",
    )
    assert row.message_id.startswith("<") and row.message_id.endswith("@crm.localhost>")
    [nudge] = queued(stub_broker, "outbox")
    assert (nudge.actor_name, nudge.args) == ("deliver_outbox", (org.id, "email"))
    stub_broker.flush("outbox")


def test_a_rolled_back_change_writes_and_sends_nothing(org, stub_broker):
    stub_broker.flush("outbox")
    customer = factories.customer(org, primary_email="roll@example.com")
    ticket = tickets.create_ticket(subject="Rolled back", customer_id=customer.id)

    @atomic
    def reply_then_fail():
        tickets.add_reply(ticket.id, "This never leaves.")
        raise RuntimeError("the change fails after the reply")

    with pytest.raises(RuntimeError):
        reply_then_fail()
    assert _messages() == []
    assert stub_broker.queues["outbox"].qsize() == 0


def test_the_same_dedupe_key_writes_one_message(org):
    recipient = services.Recipient("ada@example.com", "Ada")
    customer = factories.customer(org, primary_email="ada@example.com")
    ticket = tickets.create_ticket(subject="Twice", customer_id=customer.id)
    first = services.queue("ticket_resolved", [recipient], source_id=ticket.id, dedupe_key="k1")
    again = services.queue("ticket_resolved", [recipient], source_id=ticket.id, dedupe_key="k1")
    assert len(first) == 1 and again == []


def test_sent_once_with_its_stable_message_id_and_marked(org, smtp_to_sink):
    ticket, reply = _reply_to(org, "mia@example.com", "Yeni parça yarın kargoda. 📦")
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    [row] = _messages()
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    assert mail.message["Message-ID"] == row.message_id == row.provider_id
    assert mail.message["Subject"] == f"[{ticket.reference}] Re: Fatura hatalı"
    assert str(mail.message["To"]) == "Şükrü Çağlar <mia@example.com>"
    assert "Yeni parça yarın kargoda. 📦" in mail.body
    assert mail.message.get_body(("html",)) is not None
    # Nothing left to claim: a second loop (a duplicate nudge) sends nothing.
    assert delivery.deliver("email") == {}
    assert len(smtp_to_sink.mails) == 1


def test_a_4xx_is_retried_with_backoff_then_sent(org, smtp_to_sink):
    smtp_to_sink.handler.rcpt_answers["busy@example.com"] = ["451 4.3.0 Mailbox busy, try later"]
    _ticket, reply = _reply_to(org, "busy@example.com")
    before = datetime.now(UTC)
    assert delivery.deliver("email") == {"queued": 1}
    [row] = _messages()
    assert row.status == "queued" and row.attempts == 1
    assert "451" in row.last_error
    # Exponential backoff with jitter: the first retry is 15-45 s away.
    assert before + timedelta(seconds=14) < row.next_attempt_at < before + timedelta(seconds=46)
    assert delivery.deliver("email") == {}  # not due yet
    _make_due([row.id])
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    row = _messages()[0]
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert mail.message["Message-ID"] == row.message_id
    assert db.session.get(type(reply), reply.id).email_status == "sent"


def test_a_hard_bounce_fails_once_and_suppresses_the_next_send(org, smtp_to_sink):
    smtp_to_sink.handler.rcpt_answers["gone@example.com"] = ["550 5.1.1 No such user"]
    ticket, reply = _reply_to(org, "Gone@Example.com")
    assert delivery.deliver("email") == {"failed": 1}
    [row] = _messages()
    assert row.status == "failed" and "550" in row.last_error
    [suppression] = db.session.scalars(select(Suppression)).all()
    assert suppression.address == "Gone@Example.com" and suppression.outbox_message_id == row.id
    assert db.session.get(type(reply), reply.id).email_status == "failed"

    tickets.add_reply(ticket.id, "Second try.")
    assert delivery.deliver("email") == {"suppressed": 1}
    assert smtp_to_sink.mails == []
    assert [row.status for row in _messages()] == ["failed", "suppressed"]


def test_a_5xx_after_rcpt_fails_without_suppressing(org, app):
    class RefusesContent:
        async def handle_DATA(self, server, session, envelope):
            return "554 5.6.0 Message content rejected"

    port = free_port()
    controller = Controller(RefusesContent(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        _reply_to(org, "content@example.com")
        assert delivery.deliver("email") == {"failed": 1}
    finally:
        controller.stop()
    assert "554" in _messages()[0].last_error
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_a_server_that_is_down_leaves_the_batch_queued_for_its_retry(org, app):
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nothing listens
    _reply_to(org, "a@example.com")
    _reply_to(org, "b@example.com")
    assert delivery.deliver("email") == {"queued": 2}
    rows = _messages()
    assert all(row.status == "queued" and row.attempts == 1 for row in rows)
    assert all("Connection refused" in row.last_error for row in rows)


def test_a_message_whose_reason_went_away_is_cancelled(org, smtp_to_sink):
    customer = factories.customer(org, primary_email="re@example.com")
    ticket = tickets.create_ticket(subject="Reopened", customer_id=customer.id)
    tickets.change_status(ticket.id, "resolved")
    tickets.change_status(ticket.id, "open")
    assert delivery.deliver("email") == {"cancelled": 1}
    [row] = _messages("ticket_resolved")
    assert row.status == "cancelled" and "reopened" in row.last_error
    assert smtp_to_sink.mails == []


def test_an_address_the_server_cannot_take_fails_with_a_clear_reason(org, smtp_to_sink):
    # The sink does not offer SMTPUTF8: a non-ASCII local part cannot be delivered through it.
    _reply_to(org, "mulâyim.arslan4@example.com.tr")
    assert delivery.deliver("email") == {"failed": 1}
    [row] = _messages()
    assert "SMTPUTF8" in row.last_error and row.status == "failed"


def test_a_non_ascii_address_goes_out_over_smtputf8(org, app):
    with running_sink(smtputf8=True) as sink:
        app.config["SMTP_URL"] = sink.url
        _reply_to(org, "mulâyim.arslan4@example.com.tr")
        assert delivery.deliver("email") == {"sent": 1}
    [mail] = sink.mails
    assert mail.rcpt_tos == ["mulâyim.arslan4@example.com.tr"]


def test_an_expired_lease_is_requeued_by_the_sweep_and_sent_with_the_same_message_id(
    org, smtp_to_sink, stub_broker
):
    _reply_to(org, "lease@example.com")
    # A worker claimed the message and died before marking it.
    [claimed] = delivery.claim("email", owner="dead-worker:1:1")
    db.session.execute(
        text("UPDATE outbox_messages SET lease_expires_at = now() - interval '1 second'")
    )
    stub_broker.flush("outbox")
    clear_tenant()
    assert delivery.sweep() == 1
    set_tenant(org.id)
    [row] = _messages()
    assert (row.status, row.lease_owner) == ("queued", None)
    [nudge] = queued(stub_broker, "outbox")
    assert nudge.args == (org.id, "email")
    stub_broker.flush("outbox")
    assert delivery.deliver("email") == {"sent": 1}
    assert smtp_to_sink.mails[0].message["Message-ID"] == claimed.message_id


def test_the_sweep_nudges_what_a_lost_nudge_left_behind(org, stub_broker):
    _reply_to(org, "lost@example.com")
    stub_broker.flush("outbox")  # the nudge after commit was lost (Redis was down)
    clear_tenant()
    assert delivery.sweep() == 0  # within the grace period: a worker may be on its way
    later = datetime.now(UTC) + delivery.NUDGE_GRACE + timedelta(seconds=1)
    assert delivery.sweep(now=later) == 1
    [nudge] = queued(stub_broker, "outbox")
    assert nudge.args == (org.id, "email")
    stub_broker.flush("outbox")


def test_failures_are_classified_in_one_place():
    import smtplib

    refused = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"5.1.1 unknown")})
    assert failures.classify(refused) == failures.Failure(
        retry=False, reason="SMTP 550 at RCPT: 5.1.1 unknown", bounce=True
    )
    greylisted = smtplib.SMTPRecipientsRefused({"x@example.com": (450, b"greylisted")})
    assert failures.classify(greylisted).retry and not failures.classify(greylisted).bounce
    assert failures.classify(smtplib.SMTPDataError(421, b"closing")).retry
    assert not failures.classify(smtplib.SMTPDataError(552, b"too big")).retry
    assert failures.classify(ConnectionRefusedError(111, "refused")).broken_connection
    assert failures.classify(TimeoutError("timed out")).retry
    assert failures.classify(sms.SmsNotSent("busy", retryable=True)).retry
    assert not failures.classify(sms.SmsNotSent("bad number", retryable=False)).retry
    assert failures.classify(sms.SmsUncertain("no answer")).retry


def test_retry_delays_grow_with_jitter_and_stop_at_the_limit(org, app):
    delays = [failures.retry_delay(attempt) for attempt in range(1, 12)]
    assert delays[0] <= timedelta(seconds=45) and delays[3] >= timedelta(seconds=120)
    assert max(delays) <= failures.RETRY_CAP * 1.5
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"
    _reply_to(org, "never@example.com")
    db.session.execute(
        text("UPDATE outbox_messages SET attempts = :n"), {"n": failures.MAX_ATTEMPTS - 1}
    )
    assert delivery.deliver("email") == {"failed": 1}
    assert _messages()[0].last_error.startswith(f"Gave up after {failures.MAX_ATTEMPTS} attempts.")


def test_an_sms_goes_through_the_dev_gateway_with_its_segments_and_delivery_report(
    org, app, client
):
    with running_gateway() as gateway:
        app.config["SMS_GATEWAY_URL"], app.config["SMS_FROM"] = gateway.url, "+905550000000"
        [outbox_id] = services.queue(
            "sla_escalation_sms",
            [services.Recipient("+905551112233")],
            source_id=_breach_escalation_id(org),
        )
        assert delivery.deliver("sms") == {"sent": 1}
        [received] = gateway.messages
    row = db.session.get(OutboxMessage, outbox_id)
    assert row.status == "sent" and row.provider_id == received.sid
    assert received.to == "+905551112233" and received.body.startswith("SLA first response")
    assert row.segments == received.segments.parts == sms.segments(received.body).parts

    # The gateway reports delivery to the signed callback URL the message carried.
    url = channels.sms_status_url(org.id, outbox_id)
    form = {"MessageSid": received.sid, "MessageStatus": "delivered"}
    signature = sms.signature(gateway.webhook_secret, url, form)
    response = client.post(
        url.removeprefix(app.config["BASE_URL"]),
        data=form,
        headers={sms.SIGNATURE_HEADER: signature},
    )
    assert response.status_code == 204
    db.session.expire_all()
    assert db.session.get(OutboxMessage, outbox_id).delivery_status == "delivered"
    forged = client.post(
        url.removeprefix(app.config["BASE_URL"]),
        data={**form, "MessageStatus": "failed"},
        headers={sms.SIGNATURE_HEADER: signature},
    )
    assert forged.status_code == 403


def _breach_escalation_id(org) -> int:
    from crm_web.sla.models import SlaEscalation

    customer = factories.customer(org, primary_email="sla@example.com")
    ticket = tickets.create_ticket(subject="Sunucu çöktü", customer_id=customer.id)
    return db.session.scalar(
        select(SlaEscalation.id)
        .where(SlaEscalation.ticket_id == ticket.id, SlaEscalation.level == 100)
        .order_by(SlaEscalation.id)
        .limit(1)
    )


def login(client, email: str) -> None:
    response = client.post("/login", data={"email": email, "password": "correct-horse"})
    assert response.status_code == 303


def _admin_email(org) -> str:
    return db.session.scalar(
        text("SELECT email FROM users WHERE organization_id = :org AND role = 'admin'"),
        {"org": org.id},
    )


def test_every_template_previews_for_an_admin(org, client, make_user):
    from crm_web.outbox import kinds

    login(client, _admin_email(org))
    page = client.get("/admin/messages")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for kind in kinds.all_kinds():
        assert f'id="message-{kind.name}"' in html
    assert "does not render" not in html
    assert "Ayşe Yılmaz" in html  # a sample recipient
    frame = client.get("/admin/messages/ticket_resolved.html")
    assert frame.status_code == 200 and "Rate our support" in frame.get_data(as_text=True)
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert client.get("/admin/messages/no_such_kind.html").status_code == 404

    seller = make_user(org, role="sales", email=f"s-{uuid.uuid4().hex[:6]}@example.com")
    client.post("/logout")
    login(client, seller.email)
    assert client.get("/admin/messages").status_code == 403


def test_the_system_page_shows_the_outbox(org, client, smtp_to_sink):
    smtp_to_sink.handler.rcpt_answers["gone@example.com"] = ["550 5.1.1 No such user"]
    _reply_to(org, "gone@example.com")
    _reply_to(org, "ok@example.com")
    delivery.deliver("email")
    _reply_to(org, "waiting@example.com")
    report = services.report()
    assert report.queued == 1 and report.last_day["sent"] == 1 and report.last_day["failed"] == 1
    assert report.sent_per_minute == 0.2
    [failure] = report.recent_failures
    assert failure.to_address == "gone@example.com"
    login(client, _admin_email(org))
    html = client.get("/admin/system").get_data(as_text=True)
    assert "Outbox" in html and "gone@example.com" in html
    assert "SMTP 550 at RCPT: 5.1.1 No such user" in html


def _imports(tree, *, at_import_time: bool) -> set[tuple[str, str | None]]:
    """(module, name) pairs imported; at import time means outside any function body."""
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if at_import_time and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return found


# create_app's imports run when an app is built, not when crm_web is imported: they are a node of
# their own, the app's wiring (every domain, through crm_web.domains), reached by importing it.
APP_WIRING = "crm_web.create_app"
# Imports inside functions count at import time too, so a function-local import cannot hide a
# cycle; except where a function imports on purpose to wire or to start quickly: create_app
# (its own node, APP_WIRING), the CLI's seeding commands and the run command.
LAZY_BY_DESIGN = ("crm_web", "crm_web.cli", "crm_web.devserver")


def _module_trees() -> dict[str, ast.Module]:
    """Every module of crm_web and worker, by name, parsed."""
    root = Path(__file__).resolve().parent.parent
    trees = {}
    for package in ("crm_web", "worker"):
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            trees[name.removesuffix(".__init__")] = ast.parse(path.read_text())
    return trees


def _module_graph(*, at_import_time: bool) -> dict[str, set[str]]:
    """The project's modules (and the app's wiring) and the project modules each imports (at
    import time: outside function bodies, except in LAZY_BY_DESIGN's modules; elsewhere every import counts)."""
    trees = _module_trees()
    functions = [node for node in trees["crm_web"].body if isinstance(node, ast.FunctionDef)]
    trees[APP_WIRING] = ast.Module(
        body=[statement for function in functions for statement in function.body], type_ignores=[]
    )
    graph = {}
    for module, tree in trees.items():
        edges = set()
        strict = module not in LAZY_BY_DESIGN
        for imported, name in _imports(tree, at_import_time=at_import_time and not strict):
            # `from package import module` runs the module (and the package's own top).
            if name and f"{imported}.{name}" in trees:
                edges.add(f"{imported}.{name}")
            if imported in trees:
                edges.add(imported)
        graph[module] = edges - {module}
    return graph


def test_crm_web_never_imports_worker():
    graph = _module_graph(at_import_time=False)
    assert not [
        (module, imported)
        for module, imports in graph.items()
        if module.startswith("crm_web")
        for imported in imports
        if imported.startswith("worker")
    ]


def test_no_import_cycles():
    graph = _module_graph(at_import_time=True)

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for following in graph[node]:
                if following == start:
                    return path
                if following not in seen:
                    seen.add(following)
                    stack.append((following, [*path, following]))
        return None

    cycles = {tuple(sorted(cycle)) for module in graph if (cycle := cycle_from(module))}
    assert cycles == set(), sorted(cycles)
    assert "crm_web.domains" in graph[APP_WIRING]


def test_create_app_wires_every_blueprint_module():
    graph = _module_graph(at_import_time=True)
    reached, stack = set(), [APP_WIRING]
    while stack:
        for following in graph[stack.pop()] - reached:
            reached.add(following)
            stack.append(following)
    blueprint_modules = {
        module
        for module in graph
        if module.count(".") == 2 and module.rsplit(".", 1)[1] in ("views", "export_views", "api")
    }
    assert blueprint_modules - reached == set()


def test_imports_only_at_the_top_of_a_module():
    imports = ast.Import | ast.ImportFrom
    late = []
    for module, tree in _module_trees().items():
        body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
        after_imports = itertools.dropwhile(lambda node: isinstance(node, imports), body)
        late.extend((module, node.lineno) for node in after_imports if isinstance(node, imports))
    assert late == []


@pytest.mark.committed
def test_two_sweepers_and_two_delivery_loops_at_once_send_each_message_once(
    app, make_org, committed_context, smtp_to_sink, stub_broker
):
    organization, admin = make_org("Two Sweepers")
    committed_context.append(organization.id)
    with tenant_scope(organization.id, admin.id):
        customer = factories.customer(organization, primary_email="many@example.com")
        ticket = tickets.create_ticket(subject="Many replies", customer_id=customer.id)
        for number in range(120):
            tickets.add_reply(ticket.id, f"Reply {number}")
        # A dead worker's claim, to be re-queued by both sweepers at once.
        delivery.claim("email", owner="dead:1:1", limit=60)
        db.session.execute(
            text("UPDATE outbox_messages SET lease_expires_at = now() - interval '1 minute'")
        )
        db.session.commit()
    clear_tenant()
    db.session.remove()

    def in_app(fn):
        def run():
            with app.app_context():
                fn()
                db.session.remove()

        return run

    later = datetime.now(UTC) + timedelta(minutes=5)
    sweepers = [
        threading.Thread(target=in_app(lambda: delivery.sweep(now=later))) for _ in range(2)
    ]
    for thread in sweepers:
        thread.start()
    for thread in sweepers:
        thread.join()

    def deliver():
        with tenant_scope(organization.id):
            delivery.deliver("email")

    loops = [threading.Thread(target=in_app(deliver)) for _ in range(2)]
    for thread in loops:
        thread.start()
    for thread in loops:
        thread.join()
    message_ids = [mail.message["Message-ID"] for mail in smtp_to_sink.mails]
    assert len(message_ids) == len(set(message_ids)) == 120
    with psycopg.connect(app.config["DATABASE_URL"]) as connection:
        statuses = connection.execute(
            "SELECT status, count(*) FROM outbox_messages WHERE organization_id = %s GROUP BY 1",
            (organization.id,),
        ).fetchall()
    assert statuses == [("sent", 120)]
    stub_broker.flush("outbox")


def test_a_ticket_subject_with_a_line_break_is_refused_at_input(org):
    from crm_web.errors import ValidationError

    customer = factories.customer(org, primary_email="crlf@example.com")
    with pytest.raises(ValidationError) as refused:
        tickets.create_ticket(subject="Hello\r\nBcc: all@example.com", customer_id=customer.id)
    assert "one line" in refused.value.fields["subject"]


def test_a_message_that_cannot_be_built_fails_at_once_with_the_reason(org, smtp_to_sink):
    ticket, _reply = _reply_to(org, "old@example.com")
    # Data written before today's checks, straight into the database: a subject with a line
    # break is folded onto one line, a recipient's name with one cannot head a message.
    db.session.execute(
        text("UPDATE tickets SET subject = 'Broken\nsubject' WHERE id = :id"), {"id": ticket.id}
    )
    _reply_to(org, "other@example.com")
    db.session.execute(
        text(
            "UPDATE outbox_messages SET to_name = 'Eve\r\nBcc: x@example.com' WHERE to_address = :a"
        ),
        {"a": "other@example.com"},
    )
    db.session.expire_all()
    assert delivery.deliver("email") == {"sent": 1, "failed": 1}
    [mail] = smtp_to_sink.mails
    assert mail.message["Subject"] == f"[{ticket.reference}] Re: Broken subject"
    failed = [row for row in _messages() if row.status == "failed"]
    assert failed[0].attempts == 1
    assert failed[0].last_error.startswith("The message cannot be built:")


def test_the_ticket_says_why_a_reply_was_not_emailed_and_warns_before_the_next(
    org, client, smtp_to_sink
):
    ticket, _reply = _reply_to(org, "mulâyim.arslan4@example.com.tr")
    delivery.deliver("email")
    login(client, _admin_email(org))
    html = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "email failed" in html
    assert "Not emailed: " in html and "SMTPUTF8" in html
    # Up front, above the composer: the configured server cannot take this address.
    assert "does not offer SMTPUTF8: email to it cannot be delivered." in html


def test_a_delivery_job_sends_its_share_then_hands_the_rest_to_a_new_job(
    org, smtp_to_sink, stub_broker, monkeypatch
):
    monkeypatch.setattr(delivery, "CLAIM_BATCH", 2)
    monkeypatch.setattr(delivery, "BATCHES_PER_JOB", 2)
    customer = factories.customer(org, primary_email="share@example.com")
    ticket = tickets.create_ticket(subject="Many", customer_id=customer.id)
    for number in range(5):
        tickets.add_reply(ticket.id, f"Reply {number}")
    stub_broker.flush("outbox")
    assert delivery.deliver_share("email") == {"sent": 4}
    [rest] = queued(stub_broker, "outbox")
    assert rest.args == (org.id, "email")
    stub_broker.flush("outbox")
    assert delivery.deliver_share("email") == {"sent": 1}
    assert queued(stub_broker, "outbox") == []  # nothing left: no further job
