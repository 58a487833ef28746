"""Fixtures for the customer 360, events and communications tests (imported by those modules)."""

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from crm_web.activities.services import complete_activity
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline.opportunities import move_opportunity
from crm_web.pipeline.stages import list_stages
from crm_web.tickets.services import change_status
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


@dataclass
class OpenWork:
    deals: list
    tickets: list
    activities: list


@pytest.fixture
def open_work(org, customer):
    """What `customer` has open, beside what is closed (which the 360 leaves out): two open
    deals (the later one first made) and a won one; two tickets being worked and a resolved
    one; an overdue call and a planned meeting, and a completed one."""
    organization, admin = org
    stages = {stage.name: stage.id for stage in list_stages()}
    later = factories.deal(
        customer.id, "2500", name="Fleet renewal", expected_close_date=NOW.date() + dt.timedelta(60)
    )
    sooner = factories.deal(
        customer.id,
        "1000.50",
        name="Pilot",
        expected_close_date=NOW.date() + dt.timedelta(10),
        stage_id=stages["Proposal"],
    )
    won = factories.deal(customer.id, "9999", name="Won before")
    move_opportunity(won.id, stage_id=stages["Closed Won"], reason="Signed")
    urgent = factories.ticket(
        organization,
        user=admin,
        customer_id=customer.id,
        subject="Invoice is wrong",
        priority="urgent",
    )
    normal = factories.ticket(
        organization, user=admin, customer_id=customer.id, subject="How do I export?"
    )
    done = factories.ticket(organization, user=admin, customer_id=customer.id, subject="Solved")
    change_status(done.id, "resolved")
    overdue = factories.activity(
        customer_id=customer.id, subject="Call back about the invoice", due_at=ago(hours=3)
    )
    meeting = factories.activity(
        customer_id=customer.id,
        activity_type="meeting",
        subject="Quarterly review",
        due_at=NOW + dt.timedelta(days=3),
    )
    finished = factories.activity(customer_id=customer.id, subject="Intro call")
    complete_activity(finished.id, acting_user=admin, outcome="Went well")
    return OpenWork([sooner, later], [urgent, normal], [overdue, meeting])
