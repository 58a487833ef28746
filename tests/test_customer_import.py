"""CSV import of customers: reading any file, validation, dedupe, atomicity, progress, rejects.

The runs here call the worker's entry (services.run_import_job) in the test's transaction;
test_customer_import_flow.py runs it through the actor and the pages.
"""

# The upload_dir fixture is imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import csv
import io

import import_helpers
import psycopg
import pytest
from import_helpers import check, run, upload_dir  # noqa: F401
from sqlalchemy import func, select, text
from worker_fixtures import queued

from crm_web.customers.models import ConsentEvent, Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.imports import services
from crm_web.imports.models import ImportReject
from crm_web.privacy.models import AuditEntry

HEADER = ["Ad", "Soyad", "E-posta", "Telefon", "Şehir", "Ülke", "E-posta izni"]


def csv_bytes(rows, header=HEADER, delimiter=",", encoding="utf-8") -> bytes:
    return import_helpers.csv_bytes(rows, header, delimiter, encoding)


def stored_files(upload_dir) -> list:
    return [path for path in upload_dir.rglob("*") if path.is_file()]


@pytest.fixture
def org(make_org):
    return import_helpers.importer(make_org, "Importer")


upload = import_helpers.uploader("customers", "customers.csv")


def customers(organization_id):
    return list(
        db.session.scalars(
            select(Customer)
            .where(Customer.organization_id == organization_id)
            .order_by(Customer.id)
        )
    )


def rejects(job):
    return [
        (reject.row_number, reject.outcome, reject.reason)
        for reject in db.session.scalars(
            select(ImportReject)
            .where(ImportReject.job_id == job.id)
            .order_by(ImportReject.row_number)
        )
    ]


def test_a_good_file_is_checked_then_imported(org):
    organization, admin = org
    job = upload(
        csv_bytes(
            [
                ["Ayşe", "Yılmaz", "Ayse@Example.com", "0532 123 45 67", "İstanbul", "TR", "evet"],
                ["John", "Smith", "john@example.co.uk", "+44 7911 123456", "London", "GB", "no"],
            ]
        )
    )
    assert job.status == "uploaded"
    assert job.encoding == "utf-8" and job.delimiter == ","
    assert job.mapping == [
        "first_name",
        "last_name",
        "primary_email",
        "primary_phone",
        "city",
        "country",
        "email_opt_in",
    ]

    job = check(job)
    assert job.status == "checked", job.message
    assert job.report["create"] == 2 and job.report["reject"] == 0
    assert customers(organization.id) == []  # a dry run writes nothing

    job = run(job)
    assert job.status == "imported", job.message
    assert job.report["created"] == 2
    assert job.rows_processed == job.rows_total == 2
    ayse, john = customers(organization.id)
    assert (ayse.first_name, ayse.primary_email, ayse.primary_phone) == (
        "Ayşe",
        "ayse@example.com",
        "+905321234567",
    )
    assert ayse.email_opt_in is True and john.email_opt_in is False
    assert john.primary_phone == "+447911123456"
    assert ayse.customer_code.startswith("CUS-") and ayse.customer_code != john.customer_code
    # Consent history: the opt-in is a decision, the default "no" is not.
    events = db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.organization_id == organization.id)
    ).all()
    assert [(e.customer_id, e.channel, e.new_value, e.source, e.user_id) for e in events] == [
        (ayse.id, "email", True, "import", admin.id)
    ]
    audit = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.organization_id == organization.id, AuditEntry.table_name == "customers"
        )
    ).all()
    assert [(a.action, a.new_values) for a in audit] == [
        ("create", {"import_job": job.id, "customers": 2})
    ]


def test_bad_rows_are_reported_with_row_number_and_reason(org):
    organization, _ = org
    job = upload(
        csv_bytes(
            [
                ["Ok", "Person", "ok@example.com", "", "", "", ""],
                ["Bad", "Email", "not-an-email", "", "", "", ""],
                ["", "", "noname@example.com", "", "", "", ""],
                ["Bad", "Phone", "phone@example.com", "12", "", "", ""],
                ["Short", "Row"],
                ["Bad", "Consent", "consent@example.com", "", "", "", "maybe"],
            ]
        )
    )
    job = check(job)
    assert job.report["create"] == 1 and job.report["reject"] == 5
    assert job.rows_rejected == 5
    found = rejects(job)
    assert [(row, outcome) for row, outcome, _ in found] == [
        (3, "reject"),
        (4, "reject"),
        (5, "reject"),
        (6, "reject"),
        (7, "reject"),
    ]
    reasons = {row: reason for row, _, reason in found}
    assert reasons[3].startswith("Email: ")
    assert reasons[4] == "First name: Give a first or last name."
    assert reasons[5].startswith("Phone: ")
    assert reasons[6] == "This row has 2 fields; the header has 7."
    assert reasons[7] == "Email opt-in: Use yes or no."

    # The rejects download is the file's own rows, with the row number and reason in front.
    download = "".join(services.rejects_csv(job.id))
    assert download.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(download.lstrip("\ufeff"))))
    assert lines[0] == ["Row", "Reason", *HEADER]
    assert [line[0] for line in lines[1:]] == ["3", "4", "5", "6", "7"]
    assert lines[2][2:] == ["", "", "noname@example.com", "", "", "", ""]
    assert lines[4][2:] == ["Short", "Row"]

    job = run(job)
    assert job.report["created"] == 1
    assert [c.primary_email for c in customers(organization.id)] == ["ok@example.com"]


def test_dedupe_skip_update_create(org):
    organization, _ = org
    first = run(check(upload(csv_bytes([["Ayşe", "Yılmaz", "ayse@example.com", "", "", "", ""]]))))
    assert first.report["created"] == 1
    rows = [
        ["Ayşe", "Demir", "AYSE@example.com", "+90 532 000 00 01", "Ankara", "TR", "yes"],
        ["Mehmet", "Kaya", "mehmet@example.com", "+90 532 000 00 02", "", "", ""],
        ["Memo", "Kaya", "mehmet@example.com", "", "", "", ""],  # same email as row 3
        ["M.", "Kaya", "other@example.com", "+90 532 000 00 02", "", "", ""],  # same phone
    ]
    data = csv_bytes(rows)

    skipped = check(upload(data), mode="skip")
    assert {k: skipped.report[k] for k in ("create", "skip", "duplicate")} == {
        "create": 1,
        "skip": 1,
        "duplicate": 2,
    }
    reasons = {row: (outcome, reason) for row, outcome, reason in rejects(skipped)}
    code = customers(organization.id)[0].customer_code
    assert reasons[2] == ("skip", f"Already exists as {code} (skipped).")
    assert reasons[4] == ("duplicate", "Same email as row 3.")
    assert reasons[5] == ("duplicate", "Same phone as row 3.")

    updated = run(check(upload(data), mode="update"))
    assert updated.report["updated"] == 1 and updated.report["created"] == 1
    ayse = customers(organization.id)[0]
    assert (ayse.last_name, ayse.city, ayse.primary_phone, ayse.email_opt_in) == (
        "Demir",
        "Ankara",
        "+905320000001",
        True,
    )
    # The update left an audit entry with the old and new values, and a consent history line.
    change = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "customers",
            AuditEntry.action == "update",
            AuditEntry.row_id == str(ayse.id),
        )
    ).one()
    assert change.old_values["last_name"] == "Yılmaz" and change.new_values["last_name"] == "Demir"
    assert "first_name" not in change.new_values  # unchanged fields are not listed
    consent = db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.customer_id == ayse.id)
    ).one()
    assert (consent.old_value, consent.new_value, consent.source) == (False, True, "import")

    created = run(check(upload(data), mode="create"))
    assert created.report["created"] == 4
    assert len(customers(organization.id)) == 2 + 4


def test_in_update_mode_one_record_is_updated_by_its_first_matching_row_only(org):
    organization, _ = org
    run(check(upload(csv_bytes([["Ece", "Ak", "ece@example.com", "0532 000 00 09", "", "", ""]]))))
    rows = [
        ["Ece", "By email", "ece@example.com", "", "", "", ""],
        ["Ece", "By phone", "other@example.com", "+90 532 000 00 09", "", "", ""],
    ]
    job = run(check(upload(csv_bytes(rows)), mode="update"))
    assert (job.report["updated"], job.report["duplicate"]) == (1, 1)
    assert rejects(job) == [(3, "duplicate", "Matches the same record as row 2.")]
    [ece] = customers(organization.id)
    assert (ece.last_name, ece.primary_email) == ("By email", "ece@example.com")


def test_update_mode_accepts_rows_without_names_for_existing_customers(org):
    organization, _ = org
    run(check(upload(csv_bytes([["Ali", "Veli", "ali@example.com", "", "", "", "no"]]))))
    data = csv_bytes(
        [["ali@example.com", "evet"], ["nobody@example.com", "evet"]],
        header=["Email", "Email opt-in"],
    )
    job = run(check(upload(data), mode="update"))
    assert job.report["updated"] == 1 and job.report["reject"] == 1
    [(row, outcome, reason)] = rejects(job)
    assert (row, outcome) == (3, "reject")
    assert reason == "First name: Give a first or last name. No existing record matches it."
    [ali] = customers(organization.id)
    assert ali.email_opt_in is True and ali.first_name == "Ali"


def refuse_inserts(table: str, condition: str) -> None:
    """Make the database fail inserts into `table` where `condition` holds (a real error, in
    the middle of the import's transaction); undone with the test's transaction."""
    role = db.session.scalar(text("SELECT current_user"))
    db.session.execute(text("RESET ROLE"))  # the migrating role may add triggers
    db.session.execute(
        text(
            "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
    )
    db.session.execute(
        text(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW "
            f"WHEN ({condition}) EXECUTE FUNCTION refuse_insert()"
        )
    )
    db.session.execute(text(f'SET ROLE "{role}"'))


def test_a_failure_during_the_upsert_leaves_nothing(org):
    organization, _ = org
    run(check(upload(csv_bytes([["Ali", "Veli", "ali@example.com", "", "", "", "no"]]))))
    [ali] = customers(organization.id)
    # Fails at the very end: the audit entry for the new customers comes after the updates,
    # the inserts and the consent history are written.
    refuse_inserts("audit_log", "NEW.table_name = 'customers' AND NEW.action = 'create'")
    rows = [["Ali", "Changed", "ali@example.com", "", "", "", "yes"]]
    rows += [[f"New{i}", "Person", f"new{i}@example.com", "", "", "", "yes"] for i in range(20)]
    job = check(upload(csv_bytes(rows)), mode="update")
    assert job.report["update"] == 1 and job.report["create"] == 20

    with pytest.raises(Exception, match="disk full"):
        run(job)

    job = services.get_import(job.id)
    assert job.status == "failed"
    assert job.message.endswith("nothing was imported.")
    assert [c.id for c in customers(organization.id)] == [ali.id]
    db.session.refresh(ali)
    assert (ali.last_name, ali.email_opt_in) == ("Veli", False)
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
    updates = select(func.count()).where(
        AuditEntry.table_name == "customers", AuditEntry.action == "update"
    )
    assert db.session.scalar(updates) == 0


def test_encodings_delimiters_and_bom(org):
    organization, _ = org
    rows = [["Şükrü", "Öztürk", "sukru@example.com", "", "İzmir", "TR", "hayır"]]
    cases = [
        (csv_bytes(rows, encoding="utf-8-sig"), "utf-8-sig", ","),
        (csv_bytes(rows, delimiter=";", encoding="utf-16"), "utf-16", ";"),
        (csv_bytes(rows, delimiter="\t", encoding="utf-16-le"), "utf-16-le", "\t"),
        (csv_bytes(rows, delimiter=";", encoding="cp1254"), "cp1254", ";"),
    ]
    for data, encoding, delimiter in cases:
        job = upload(data)
        assert (job.encoding, job.delimiter) == (encoding, delimiter)
        assert job.headers == HEADER
        assert job.sample == rows
        assert ("not UTF-8" in job.encoding_note) == (encoding == "cp1254")
        checked = check(job, mode="create")
        assert checked.report["create"] == 1, checked.message

    # A latin-1 guess that shows wrong letters can be read again as cp1254.
    job = upload(csv_bytes(rows, encoding="cp1254"))
    job = services.change_encoding(job.id, "latin-1")
    assert job.sample[0][0] != "Şükrü"
    job = services.change_encoding(job.id, "cp1254")
    assert job.sample[0][0] == "Şükrü"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf\r\n  \r\n", "The file is empty."),
        (b"Ad,Soyad\r\n", "The file has a header row but no rows under it."),
        (b"PK\x03\x04rest-of-a-zip", "This is an Excel workbook"),
        (b"a,b\x00\x01\x02,c\n", "This is not a text (CSV) file."),
    ],
)
def test_files_that_cannot_be_imported_say_why_and_store_nothing(org, upload_dir, data, message):
    with pytest.raises(ValidationError) as error:
        upload(data)
    assert error.value.message.startswith(message)
    assert services.recent_imports("customers") == []
    assert stored_files(upload_dir) == []


def test_a_file_over_the_size_limit_is_refused(org, upload_dir, tmp_path):
    organization, _ = org
    row = "Name,Surname,name.surname@example.com,+905321234567,Istanbul,TR,yes\r\n"
    path = tmp_path / "big.csv"
    with open(path, "w") as out:
        out.write(",".join(HEADER) + "\r\n")
        out.write(row * (50 * 1024 * 1024 // len(row) + 1))
    assert path.stat().st_size > 50 * 1024 * 1024
    with open(path, "rb") as stream, pytest.raises(ValidationError) as error:
        services.create_import("customers", "big.csv", stream)
    assert error.value.message.startswith("The file is larger than 50 MB")
    assert services.recent_imports("customers") == []
    assert stored_files(upload_dir) == []


def test_a_running_or_imported_job_cannot_be_changed(org):
    job = upload(csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    services.check_import(job.id, job.mapping, "skip")
    with pytest.raises(Conflict):
        services.check_import(job.id, job.mapping, "skip")
    services.run_import_job(job.id)
    run(services.get_import(job.id))
    with pytest.raises(Conflict):
        services.start_import(job.id)


def _untouched_for(job_id: int, status: str, age: str = "2 minutes") -> None:
    db.session.execute(
        text(
            f"UPDATE import_jobs SET status = :status, updated_at = now() - interval '{age}' WHERE id = :id"
        ),
        {"id": job_id, "status": status},
    )
    db.session.commit()


def test_a_run_that_died_with_its_worker_fails_visibly_and_can_be_started_again(org):
    organization_id, admin_id = org[0].id, org[1].id
    job = upload(csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    services.check_import(job.id, job.mapping, "skip")
    _untouched_for(job.id, "running")
    with pytest.raises(Conflict):  # until the sweep has looked, it may still be running
        services.check_import(job.id, job.mapping, "skip")
    clear_tenant()
    assert services.sweep() == 1
    set_tenant(organization_id, admin_id)
    job = services.get_import(job.id)
    assert job.status == "failed" and "worker checking this file stopped" in job.message
    job = check(job)
    assert job.status == "checked"


def test_the_sweep_leaves_a_live_run_alone(org, database_url):
    organization_id, admin_id = org[0].id, org[1].id
    job = upload(csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    services.check_import(job.id, job.mapping, "skip")
    _untouched_for(job.id, "running", "10 minutes")  # a long statement writes no progress
    with psycopg.connect(database_url) as worker:  # the run's transaction holds its lock
        worker.execute("SELECT pg_advisory_xact_lock(%s, %s)", (services.RUN_LOCK, job.id))
        clear_tenant()
        assert services.sweep() == 0
    set_tenant(organization_id, admin_id)
    assert services.get_import(job.id).status == "running"


def test_a_queued_run_whose_message_was_lost_is_sent_again(org, stub_broker):
    organization_id = org[0].id
    job = upload(csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    services.check_import(job.id, job.mapping, "skip")
    stub_broker.flush("imports")  # lost with Redis
    _untouched_for(job.id, "queued")
    clear_tenant()
    assert services.sweep() == 1
    [message] = queued(stub_broker, "imports")
    assert message.args == (organization_id, job.id)
    stub_broker.flush("imports")


def test_mapping_is_checked(org):
    job = upload(csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    with pytest.raises(ValidationError, match="mapped twice"):
        services.check_import(job.id, ["first_name"] * 7, "skip")
    with pytest.raises(ValidationError, match="First name, Last name or Company"):
        services.check_import(job.id, ["", "", "primary_email", "", "", "", ""], "skip")
    with pytest.raises(ValidationError):
        services.check_import(job.id, job.mapping, "merge")
