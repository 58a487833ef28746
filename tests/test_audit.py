"""The audit trail: who changed what, with old and new values, and the admin page that reads it."""

from sqlalchemy import select

from crm_web.accounts.services import update_user
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry


def _entries(table: str, row_id: int) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table, AuditEntry.row_id == str(row_id))
            .order_by(AuditEntry.id)
        )
    )


def test_create_and_update_are_recorded_with_who_and_values(make_org, make_user):
    org, admin = make_org()
    user = make_user(org, role="sales", name="Sam")
    set_tenant(org.id, admin.id)
    update_user(
        user.id,
        acting_user=admin,
        name="Samantha",
        role="support",
        department="Help desk",
        skills="billing",
        is_active=True,
    )
    created, updated = _entries("users", user.id)
    assert created.action == "create"
    assert created.new_values["name"] == "Sam"
    assert "password_hash" not in created.new_values
    assert updated.action == "update"
    assert updated.user_id == admin.id
    assert updated.old_values == {"name": "Sam", "role": "sales", "department": "", "skills": []}
    assert updated.new_values == {
        "name": "Samantha",
        "role": "support",
        "department": "Help desk",
        "skills": ["billing"],
    }


def test_a_refused_change_leaves_no_audit_entry(make_org, make_user):
    org, admin = make_org()
    set_tenant(org.id, admin.id)
    before = len(_entries("users", admin.id))
    try:
        update_user(
            admin.id,
            acting_user=admin,
            name="X",
            role="sales",
            department="",
            skills="",
            is_active=True,
        )
    except Exception as exc:
        assert "own role" in str(exc)
    assert len(_entries("users", admin.id)) == before


def test_delete_is_recorded_with_old_values(make_org, make_user):
    org, admin = make_org()
    user = make_user(org, role="marketing", name="Mia")
    set_tenant(org.id, admin.id)
    db.session.delete(db.session.merge(user))
    db.session.commit()
    deleted = _entries("users", user.id)[-1]
    assert deleted.action == "delete"
    assert deleted.old_values["name"] == "Mia" and deleted.new_values is None


def test_audit_page_filters_by_table_and_action(client, make_org, make_user, login_as):
    org, admin = make_org()
    make_user(org, role="sales", name="Filterable Fred")
    login_as(admin)
    page = client.get("/admin/audit?table_name=users&action=create").get_data(as_text=True)
    assert "Filterable Fred" in page
    assert "<code>name</code>: Filterable Fred" in page
    other_table = client.get("/admin/audit?table_name=organizations").get_data(as_text=True)
    assert "<code>name</code>: Filterable Fred" not in other_table
    fragment = client.get("/admin/audit?action=update", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
