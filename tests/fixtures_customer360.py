"""Fixtures for the customer 360, events and communications tests (imported by those modules)."""

import datetime as dt

import pytest
from sqlalchemy import update

from crm_web.db import set_tenant
from crm_web.extensions import db
from tests import factories

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def org(make_org):
    """An organization and its admin, made the current tenant."""
    organization, admin = make_org(timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    return organization, admin


@pytest.fixture
def customer(org):
    """A customer of the current organization, with a Turkish name."""
    return factories.customer(
        first_name="Ayşe", last_name="Yılmaz", primary_email="ayse@example.com"
    )


@pytest.fixture
def upload_dir(app, tmp_path, monkeypatch):
    """Documents go to a folder of this test."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def backdate(model, row_id: int, column: str, moment: dt.datetime) -> None:
    """Move a row's timestamp (timeline order and score windows depend on it)."""
    db.session.execute(update(model).where(model.id == row_id).values({column: moment}))
    db.session.expire_all()


def ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)
