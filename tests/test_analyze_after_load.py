"""Bulk loads leave the planner informed: `crm seed` and CSV imports ANALYZE what they wrote."""

# The upload_dir fixture is imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import import_helpers
from import_helpers import check, run, upload_dir  # noqa: F401
from sqlalchemy import text

from crm_web.db import analyze_loaded
from crm_web.extensions import db


def analyze_counts(*tables: str) -> dict[str, int]:
    """How often each table was analyzed by hand (not by autovacuum), as the statistics say now."""
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    return dict(
        db.session.execute(
            text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables"
                " WHERE relname = ANY(CAST(:tables AS text[]))"
            ),
            {"tables": list(tables)},
        ).all()
    )


def known_rows(table: str) -> float:
    """The row count the planner's statistics hold for the table."""
    return db.session.scalar(
        text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
    )


def test_crm_seed_analyzes_every_table_it_loaded(app, make_org):
    from crm_web.activities.seeding import TABLES as ACTIVITY_TABLES
    from crm_web.customer360.seeding import TABLES as CUSTOMER_TABLES
    from crm_web.leads.seeding import TABLES as LEAD_TABLES
    from crm_web.pipeline.seeding import TABLES as PIPELINE_TABLES
    from crm_web.tickets.seeding import TABLES as TICKET_TABLES

    tables = (
        *CUSTOMER_TABLES,
        *LEAD_TABLES,
        *PIPELINE_TABLES,
        *ACTIVITY_TABLES,
        *TICKET_TABLES,
    )
    organization, _ = make_org("Analyzed")
    before = analyze_counts(*tables)
    result = app.test_cli_runner().invoke(
        args=["crm", "seed", "--org", organization.slug, "--customers", "200", "--tickets", "40"]
    )
    assert result.exit_code == 0, result.output
    assert "analyzed customers" in result.output
    after = analyze_counts(*tables)
    assert set(after) == set(tables)
    assert {table for table in tables if after[table] > before[table]} == set(tables)
    # The planner now knows the customers are there (reltuples is -1 or 0 before any ANALYZE).
    assert known_rows("customers") >= 200


def test_a_customer_import_analyzes_the_customers_once_it_changed_enough(make_org):
    organization, _ = import_helpers.importer(make_org, "Imported")
    # Autovacuum's threshold: 50 rows plus a tenth of the rows the statistics know of.
    count = 60 + int(max(known_rows("customers"), 0) * 0.1)
    data = import_helpers.csv_bytes(
        [[f"Ayla{n}", "Kaya", f"ayla{n}@example.com"] for n in range(count)],
        ["First name", "Last name", "Email"],
    )
    job = import_helpers.uploader("customers", "many.csv")(data)
    check(job)
    before = analyze_counts("customers", "customer_consent_events")
    assert run(job).report["created"] == count
    after = analyze_counts("customers", "customer_consent_events")
    assert after["customers"] == before["customers"] + 1


def test_a_small_change_to_a_big_table_is_not_worth_an_analyze(make_org):
    make_org("Small change")
    analyze_loaded(("customers",))
    known = max(known_rows("customers"), 0)
    assert analyze_loaded(("customers",), changed=int(50 + known * 0.1)) == []
    assert analyze_loaded(("customers",), changed=int(51 + known * 0.1) + 1) == ["customers"]
    # Only plain tables of the app's schema, whatever the caller names.
    assert analyze_loaded(("pg_class", "no_such_table")) == []
