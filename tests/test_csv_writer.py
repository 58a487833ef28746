"""The one CSV writer: a byte order mark, streamed chunks, formulas disarmed, in every CSV the
app produces (the export and an import's left-out rows)."""

import csv
import io

from import_helpers import upload_dir  # noqa: F401
from test_customer_import import csv_bytes
from test_customer_import_flow import admin_org, job_id_from, post_file, work  # noqa: F401

from crm_web.csv_writer import disarm, stream_csv
from crm_web.db import clear_tenant, set_tenant
from crm_web.imports import services

EVIL = '=HYPERLINK("http://evil.example")'


def read(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_cells_a_spreadsheet_would_run_are_quoted_and_numbers_are_not():
    for text in (EVIL, "@SUM(A1)", "+cmd", "-1+2", "\tx", "\rx"):
        assert disarm(text) == "'" + text
    for text in ("+90 532 111 22 33", "-12.50", "plain", "", "a=b"):
        assert disarm(text) == text


def test_stream_csv_writes_a_bom_then_rows_in_chunks():
    rows = [[n, EVIL, None, "x" * 50] for n in range(100)]
    chunks = list(stream_csv(["Row", "=Header"], rows, flush_bytes=1000))
    assert len(chunks) > 3
    lines = read("".join(chunks))
    assert lines[0] == ["Row", "'=Header"]
    assert lines[1] == ["0", "'" + EVIL, "", "x" * 50]
    assert len(lines) == 101


def test_the_rejects_file_disarms_formulas_from_the_uploaded_file(
    client,
    login_as,
    admin_org,  # noqa: F811
    stub_broker,
):
    organization, admin = admin_org
    stub_broker.flush("imports")
    login_as(admin)
    data = csv_bytes([[EVIL, "Kara", "not-an-email", "", "", "", ""]])
    job_id = job_id_from(post_file(client, data))
    set_tenant(organization.id)
    form = {f"columns-{i}": name for i, name in enumerate(services.get_import(job_id).mapping)}
    clear_tenant()
    client.post(f"/imports/{job_id}/check", data={**form, "dedupe_mode": "skip"})
    work(stub_broker, organization.id, job_id)

    lines = read(client.get(f"/imports/{job_id}/rejects.csv").get_data(as_text=True))

    assert lines[1][0] == "2" and lines[1][1].startswith("Email:")
    assert lines[1][2] == "'" + EVIL
