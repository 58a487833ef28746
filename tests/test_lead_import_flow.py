"""The lead import through its pages (the leads list's button, upload, mapping, dry run,
import with the actor, result), its roles and tenants."""

import io
import re

from import_helpers import upload_dir  # noqa: F401
from sqlalchemy import select
from test_customer_import_flow import job_id_from, work
from test_lead_import import csv_bytes

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.imports import services
from crm_web.leads.models import Lead


def post_file(client, data: bytes, name="fair.csv"):
    return client.post(
        "/imports/leads/new",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_from_the_leads_list_to_imported_leads(client, login_as, make_org, make_user, stub_broker):
    organization, _admin = make_org("Fair Co", timezone="Europe/Istanbul")
    seller = make_user(organization, role="sales")
    stub_broker.flush("imports")
    login_as(seller)

    listing = client.get("/leads/").get_data(as_text=True)
    assert 'href="/imports/leads/new"' in listing
    page = client.get("/imports/leads/new").get_data(as_text=True)
    assert "Import leads from a CSV file" in page
    data = csv_bytes(
        [
            [
                "Elif",
                "Şahin",
                "Kuş A.Ş.",
                "elif@kus.example",
                "0532 444 55 66",
                "TR",
                "fuar",
                "",
                "",
            ],
            ["Bad", "Row", "", "nope", "", "", "", "", ""],
        ]
    )
    response = post_file(client, data)
    assert response.status_code == 303
    job_id = job_id_from(response)

    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert re.search(r'<option selected value="company">|<option value="company" selected', page)
    assert "by email or phone" in page and "Status (new leads)" in page

    set_tenant(organization.id)
    form = {f"columns-{i}": name for i, name in enumerate(services.get_import(job_id).mapping)}
    clear_tenant()
    response = client.post(
        f"/imports/{job_id}/check",
        data={**form, "dedupe_mode": "skip"},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == f"/imports/{job_id}"
    work(stub_broker, organization.id, job_id)
    fragment = client.get(f"/imports/{job_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Dry run: nothing has been imported yet" in fragment
    assert "<td>3</td><td>rejected</td><td>Email:" in fragment

    client.post(f"/imports/{job_id}/run", headers={"HX-Request": "true"})
    work(stub_broker, organization.id, job_id)
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "<strong>1</strong> created" in page
    assert '<a href="/leads/" id="see-imported">See the leads</a>' in page
    set_tenant(organization.id)
    [elif_] = db.session.scalars(select(Lead)).all()
    assert (elif_.company, elif_.phone, elif_.source) == ("Kuş A.Ş.", "+905324445566", "trade_show")
    clear_tenant()
    assert "Kuş A.Ş." in client.get("/leads/").get_data(as_text=True)


def test_roles_and_tenants(client, login_as, make_org, make_user):
    organization, admin = make_org("Roles Co")
    set_tenant(organization.id, admin.id)
    job = services.create_import(
        "leads",
        "x.csv",
        io.BytesIO(csv_bytes([["A", "B", "", "a@example.com", "", "", "", "", ""]])),
    )
    clear_tenant()
    agent = make_user(organization, role="support")
    marketer = make_user(organization, role="marketing")
    _other, other_admin = make_org("Other Co")

    login_as(agent)
    for url in ("/imports/leads/new", f"/imports/{job.id}", f"/imports/{job.id}/rejects.csv"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/imports/{job.id}/run").status_code == 403

    login_as(marketer)
    assert client.get(f"/imports/{job.id}").status_code == 200
    assert client.get("/imports/leads/new").status_code == 200

    login_as(other_admin)
    assert client.get(f"/imports/{job.id}").status_code == 404
    assert client.post(f"/imports/{job.id}/run").status_code == 404
