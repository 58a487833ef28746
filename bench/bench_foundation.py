"""Foundation benchmark: seeding speed and fragment latency on a real database.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_foundation.py --customers 1000000

It migrates the database, creates a fresh organization, seeds N customers through the
`crm seed` service (COPY into staging + one INSERT ... SELECT), then times HTMX fragments
(dashboard summary, audit log first page and a page deep in its keyset) with the Flask test client.
"""

import argparse
import statistics
import time
import uuid

import psycopg


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed_gets(client, url: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, headers={"HX-Request": "true"})
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples), percentile(samples, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--audit-rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import text

    from crm_web import create_app
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db
    from crm_web.onboarding import create_organization
    from crm_web.pagination import encode_cursor

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        upgrade(revision="heads")
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        organization, admin = create_organization(
            name="Bench",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Bench",
            admin_password="quiet lake at dawn",
        )
        set_tenant(organization.id, admin.id)
        started = time.perf_counter()
        atomic(seed_customers)(args.customers, seed=3)
        seconds = time.perf_counter() - started
        print(
            f"seed: {args.customers:,} customers in {seconds:.1f} s = {args.customers / seconds:,.0f} rows/s"
        )

        # A long audit trail, written set-based, so the audit page has a deep keyset to walk.
        db.session.execute(
            text(
                "INSERT INTO audit_log (organization_id, user_id, action, table_name, row_id, new_values) "
                "SELECT :org, :user, 'update', 'customers', g::text, jsonb_build_object('n', g) "
                "FROM generate_series(1, :n) g"
            ),
            {"org": organization.id, "user": admin.id, "n": args.audit_rows},
        )
        db.session.commit()
        # VACUUM (as the owner, outside a transaction) also sets the visibility map index-only scans use.
        with psycopg.connect(app.config["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE customers")
            connection.execute("VACUUM ANALYZE audit_log")
        deep_id = db.session.execute(
            text(
                "SELECT id FROM audit_log WHERE organization_id = :org ORDER BY id LIMIT 1 OFFSET 100"
            ),
            {"org": organization.id},
        ).scalar_one()

    client = app.test_client()
    response = client.post("/login", data={"email": admin.email, "password": "quiet lake at dawn"})
    assert response.status_code == 303, response.status_code
    for label, url in (
        ("dashboard summary", "/"),
        ("audit log page 1", "/admin/audit"),
        ("audit log deep page", f"/admin/audit?cursor={encode_cursor([deep_id])}"),
        ("audit log filtered (action=create)", "/admin/audit?action=create"),
    ):
        p50, p95 = timed_gets(client, url, args.runs)
        print(f"{label:<36} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")


if __name__ == "__main__":
    main()
