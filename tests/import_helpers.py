"""What the CSV import tests share: a file's bytes, an upload folder of the test's own, and a
job's dry run and import run in the test's transaction (the worker's entry)."""

import csv
import io

import pytest
from sqlalchemy import select

from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.imports import services
from crm_web.imports.models import ImportReject


def csv_bytes(rows, header, delimiter=",", encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    """Uploads of the test go to its own folder (import this fixture into a test module)."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def check(job, mode="skip", mapping=None):
    """Save the mapping and run the dry run; the job as it ended."""
    services.check_import(job.id, mapping or job.mapping, mode)
    services.run_import_job(job.id)
    return services.get_import(job.id)


def run(job):
    """Import a checked job; the job as it ended."""
    services.start_import(job.id)
    services.run_import_job(job.id)
    return services.get_import(job.id)


def importer(make_org, name: str):
    """An organization in Istanbul's timezone with its admin made the tenant: (org, admin)."""
    organization, admin = make_org(name, timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    return organization, admin


def uploader(target: str, default_name: str):
    """`upload(data, name=default_name)` for this import target."""

    def upload(data: bytes, name: str = default_name):
        return services.create_import(target, name, io.BytesIO(data))

    return upload


def rejects(job) -> dict[int, tuple[str, str]]:
    """The rows a job left out: row number -> (outcome, reason)."""
    return {
        r.row_number: (r.outcome, r.reason)
        for r in db.session.scalars(select(ImportReject).where(ImportReject.job_id == job.id))
    }
