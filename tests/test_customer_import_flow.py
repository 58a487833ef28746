"""The import pages (upload -> mapping -> dry run -> import -> result), roles, the actor on a
real dramatiq Worker with progress seen from outside, a 100k-row file, and the CSV export."""

import csv
import io
import re
import threading
import time

import psycopg
import pytest
from import_helpers import upload_dir  # noqa: F401
from sqlalchemy import select
from test_customer_import import HEADER, csv_bytes
from worker_fixtures import queued, running_worker

from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.imports import services
from worker.actors.imports import run_import_job


@pytest.fixture
def admin_org(make_org):
    return make_org("Flow Co", timezone="Europe/Istanbul")


def post_file(client, data: bytes, name="people.csv"):
    return client.post(
        "/imports/customers/new",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def job_id_from(response) -> int:
    return int(re.search(r"/imports/(\d+)$", response.headers["Location"]).group(1))


def work(broker, organization_id: int, job_id: int) -> None:
    """Take the queued message off the stub queue and run the actor in this test's transaction."""
    [message] = queued(broker, "imports")
    assert message.actor_name == "run_import_job"
    assert message.args == (organization_id, job_id)
    broker.flush("imports")
    run_import_job.fn(*message.args)
    clear_tenant()


def test_upload_map_check_import_and_result_pages(client, login_as, admin_org, stub_broker):
    organization, admin = admin_org
    stub_broker.flush("imports")
    login_as(admin)

    page = client.get("/imports/customers/new")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data
    data = csv_bytes(
        [
            ["Zeynep", "Kara", "zeynep@example.com", "0532 111 22 33", "Bursa", "TR", "evet"],
            ["Bad", "Row", "nope", "", "", "", ""],
        ]
    )
    response = post_file(client, data)
    assert response.status_code == 303
    job_id = job_id_from(response)

    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    # The mapping screen shows each column with its guess and sample values.
    assert 'id="mapping-form"' in page
    assert re.search(
        r'<option selected value="first_name">|<option value="first_name" selected', page
    )
    assert "zeynep@example.com" in page

    set_tenant(organization.id)
    form = {f"columns-{i}": name for i, name in enumerate(services.get_import(job_id).mapping)}
    clear_tenant()
    response = client.post(
        f"/imports/{job_id}/check",
        data={**form, "dedupe_mode": "skip"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/imports/{job_id}"
    # Queued, not run: the page polls the job while it waits and runs.
    fragment = client.get(f"/imports/{job_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert (
        fragment.strip().startswith('<div id="import-job"') and 'hx-trigger="every 1s"' in fragment
    )
    assert "<progress" in fragment

    work(stub_broker, organization.id, job_id)
    fragment = client.get(f"/imports/{job_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in fragment  # finished: polling stops
    assert "Dry run: nothing has been imported yet" in fragment
    assert "<td>3</td><td>rejected</td><td>Email:" in fragment
    set_tenant(organization.id)
    assert db.session.scalars(select(Customer)).all() == []
    clear_tenant()

    rejects = client.get(f"/imports/{job_id}/rejects.csv")
    assert rejects.status_code == 200 and rejects.is_streamed
    assert rejects.headers["Content-Disposition"] == 'attachment; filename="people-rejects.csv"'
    lines = list(csv.reader(io.StringIO(rejects.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[1][0] == "3" and lines[1][1].startswith("Email:") and lines[1][2] == "Bad"

    response = client.post(f"/imports/{job_id}/run", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == f"/imports/{job_id}"
    work(stub_broker, organization.id, job_id)
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "<h2>Imported</h2>" in page and "<strong>1</strong> created" in page
    set_tenant(organization.id)
    [zeynep] = db.session.scalars(select(Customer)).all()
    assert (zeynep.primary_phone, zeynep.email_opt_in) == ("+905321112233", True)
    clear_tenant()

    # The job is done: a second import of it is refused.
    again = client.post(f"/imports/{job_id}/run")
    assert again.status_code == 409


def test_the_mapping_form_shows_errors_in_place(client, login_as, admin_org, stub_broker):
    _organization, admin = admin_org
    stub_broker.flush("imports")
    login_as(admin)
    job_id = job_id_from(
        post_file(client, csv_bytes([["A", "B", "a@example.com", "", "", "", ""]]))
    )
    form = {f"columns-{i}": "first_name" for i in range(len(HEADER))}
    response = client.post(
        f"/imports/{job_id}/check",
        data={**form, "dedupe_mode": "skip"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "First name is mapped twice." in response.get_data(as_text=True)
    assert stub_broker.queues["imports"].qsize() == 0


def test_the_rows_left_out_load_page_by_page(client, login_as, admin_org):
    organization, admin = admin_org
    set_tenant(organization.id, admin.id)
    rows = [[f"N{i}", "X", f"bad{i}", "", "", "", ""] for i in range(60)]
    job = services.create_import("customers", "bad.csv", io.BytesIO(csv_bytes(rows)))
    services.check_import(job.id, job.mapping, "skip")
    services.run_import_job(job.id)
    clear_tenant()
    login_as(admin)
    page = client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert page.count("<td>rejected</td>") == 50
    more = re.search(r'hx-get="(/imports/\d+/rejects\?cursor=[^"]+)"', page).group(1)
    rest = client.get(more.replace("&amp;", "&"), headers={"HX-Request": "true"})
    body = rest.get_data(as_text=True)
    assert body.count("<td>rejected</td>") == 10 and "<td>61</td>" in body
    assert "load-more" not in body


def test_an_upload_that_cannot_be_read_says_why(client, login_as, admin_org, app, monkeypatch):
    _organization, admin = admin_org
    login_as(admin)
    response = post_file(client, b"")
    assert response.status_code == 422
    assert "The file is empty." in response.get_data(as_text=True)
    # Past the request size limit the upload is cut off; the page still says what happened.
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = post_file(client, csv_bytes([["x" * 100] * 7] * 20))
    assert response.status_code == 413
    assert "The file is larger than" in response.get_data(as_text=True)


def test_roles_and_tenants(client, login_as, admin_org, make_org, make_user):
    organization, admin = admin_org
    set_tenant(organization.id, admin.id)
    job = services.create_import("customers", "x.csv", io.BytesIO(csv_bytes([["A", "B"] * 3])))
    clear_tenant()
    seller = make_user(organization, role="sales")
    marketer = make_user(organization, role="marketing")
    _other, other_admin = make_org("Other Co")

    login_as(seller)
    for url in ("/imports/customers/new", f"/imports/{job.id}", "/customers/export.csv"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/imports/{job.id}/run").status_code == 403

    login_as(marketer)
    assert client.get(f"/imports/{job.id}").status_code == 200
    assert client.get("/customers/export.csv").status_code == 200

    login_as(other_admin)
    assert client.get(f"/imports/{job.id}").status_code == 404
    assert client.get(f"/imports/{job.id}/rejects.csv").status_code == 404
    assert client.get("/imports/nothing/new").status_code == 404


def test_export_streams_the_filtered_list_and_imports_again(client, login_as, admin_org):
    organization, admin = admin_org
    set_tenant(organization.id, admin.id)
    rows = [
        [f"Name{i}", "Ankara" if i % 2 else "İzmir", f"n{i}@example.com", f"+90532000{i:04d}"]
        for i in range(30)
    ]
    rows.append(["=HYPERLINK(1)", "Ankara", "formula@example.com", ""])
    job = services.create_import(
        "customers", "a.csv", io.BytesIO(csv_bytes(rows, header=["Ad", "Şehir", "E-posta", "Tel"]))
    )
    services.check_import(job.id, job.mapping, "skip")
    services.run_import_job(job.id)
    services.start_import(job.id)
    services.run_import_job(job.id)
    assert services.get_import(job.id).report["created"] == 31
    clear_tenant()
    login_as(admin)

    # The list page links to the export of what it shows.
    page = client.get("/customers?city=Ankara&sort=name").get_data(as_text=True)
    assert 'href="/customers/export.csv?city=Ankara&amp;sort=name"' in page
    response = client.get("/customers/export.csv?city=Ankara&sort=name")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, body = lines[0], lines[1:]
    assert header[:4] == ["Code", "Type", "Title", "First name"] and header[-2:] == [
        "Owner",
        "Created",
    ]
    names = [line[header.index("First name")] for line in body]
    # Only Ankara, in the list's name order; the formula is disarmed, the phone is not touched.
    assert len(body) == 16
    assert "'=HYPERLINK(1)" in names
    plain = [name for name in names if name.startswith("Name")]
    assert plain == sorted(plain, key=str.lower)
    assert all(line[header.index("City")] == "Ankara" for line in body)
    assert "+905320000001" in [line[header.index("Phone")] for line in body]

    # The export imports again as it is: every row matches, nothing changes.
    set_tenant(organization.id, admin.id)
    again = services.create_import("customers", "export.csv", io.BytesIO(text.encode()))
    assert again.mapping[header.index("First name")] == "first_name"
    assert again.mapping[header.index("Code")] == ""
    services.check_import(again.id, again.mapping, "update")
    services.run_import_job(again.id)
    services.start_import(again.id)
    services.run_import_job(again.id)
    report = services.get_import(again.id).report
    assert (report["update"], report["updated"], report["reject"]) == (16, 0, 0), report
    db.session.rollback()
    formula = db.session.scalars(
        select(Customer).where(Customer.primary_email == "formula@example.com")
    ).one()
    assert formula.first_name == "=HYPERLINK(1)"


def test_a_100k_row_file(admin_org, tmp_path):
    organization, admin = admin_org
    set_tenant(organization.id, admin.id)
    path = tmp_path / "100k.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(100_000):
            email = "broken" if i % 1000 == 999 else f"p{i}@example.com"
            writer.writerow([f"Ad{i}", f"Soyad{i}", email, f"+90532{i:07d}", "Ankara", "TR", "yes"])
    with open(path, "rb") as stream:
        job = services.create_import("customers", "100k.csv", stream)
    assert job.rows_total == 100_000
    services.check_import(job.id, job.mapping, "skip")
    services.run_import_job(job.id)
    checked = services.get_import(job.id)
    assert (checked.report["create"], checked.report["reject"]) == (99_900, 100)
    services.start_import(job.id)
    services.run_import_job(job.id)
    imported = services.get_import(job.id)
    assert imported.report["created"] == 99_900 and imported.rows_rejected == 100
    count = db.session.scalar(
        select(db.func.count())
        .select_from(Customer)
        .where(Customer.organization_id == organization.id)
    )
    assert count == 99_900


@pytest.fixture
def actor_org(committed_context, make_org, database_url):
    """A committed organization; its customers go first, without a foreign-key check per row
    (deleting 5,000 customers one check at a time takes minutes)."""
    organization, admin = make_org("Actor Co")
    committed_context.append(organization.id)
    yield organization, admin
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        for table in ("customer_consent_events", "import_rejects", "import_jobs", "customers"):
            connection.execute(
                f"DELETE FROM {table} WHERE organization_id = %s", (organization.id,)
            )


@pytest.mark.committed
def test_the_actor_runs_on_a_worker_and_progress_is_visible_meanwhile(
    app,
    stub_broker,
    actor_org,
    database_url,
    monkeypatch,
):
    organization, admin = actor_org
    stub_broker.flush("imports")
    # Report after every batch of 100, so a short file shows several steps.
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(services, "BATCH_ROWS", 100)
    rows = [[f"A{i}", "B", f"a{i}@example.com", "", "", "", ""] for i in range(5_000)]
    set_tenant(organization.id, admin.id)
    job = services.create_import("customers", "actor.csv", io.BytesIO(csv_bytes(rows)))
    services.check_import(job.id, job.mapping, "skip")
    clear_tenant()

    seen = []

    def watch(stop: threading.Event) -> None:
        with psycopg.connect(database_url, autocommit=True) as connection:
            while not stop.is_set():
                status, processed, customers = connection.execute(
                    "SELECT status, rows_processed, (SELECT count(*) FROM customers "
                    "WHERE organization_id = %s) FROM import_jobs WHERE id = %s",
                    (organization.id, job.id),
                ).fetchone()
                seen.append((status, processed, customers))
                time.sleep(0.01)

    def run_phase() -> None:
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(stop,))
        watcher.start()
        try:
            with running_worker(stub_broker, {"imports"}):
                stub_broker.join("imports", timeout=60_000)
        finally:
            stop.set()
            watcher.join()
        assert stub_broker.dead_letters_by_queue["imports"] == []

    run_phase()
    set_tenant(organization.id, admin.id)
    assert services.get_import(job.id).status == "checked"
    services.start_import(job.id)
    clear_tenant()
    seen.clear()
    run_phase()

    set_tenant(organization.id, admin.id)
    job = services.get_import(job.id)
    assert job.status == "imported" and job.report["created"] == 5_000
    # Progress was visible from another connection while the import ran, and its rows were
    # not: they appeared all at once, with the job's "imported".
    running = [entry for entry in seen if entry[0] == "running"]
    assert any(0 < processed < 5_000 for _, processed, _ in running), seen[:5]
    assert all(customers == 0 for _, _, customers in running)
    assert (
        db.session.scalar(
            select(db.func.count())
            .select_from(Customer)
            .where(Customer.organization_id == organization.id)
        )
        == 5_000
    )
    clear_tenant()
