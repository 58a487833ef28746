"""Customer list benchmark: the /customers fragments at 1M customers in one organization.

Run by hand (prints figures; not a test), on a database of its own:

    psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE crm_bench_a'
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench_a REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/bench_customers.py --customers 1000000

It migrates the database, creates an organization with a team of owners, seeds N customers
with the `crm seed` service (COPY), VACUUM ANALYZEs, then times HTMX requests for the list
fragment with the Flask test client: page 1, a search term (common, rare, a phone fragment),
each filter, each sort, and a page deep in the keyset against page 1. `--slug` reuses an
organization seeded by an earlier run; `--explain` prints each query's plan.
The "N customers match" line is a fragment of its own (/customers/count, fetched after the
rows, counting at most 1,001), timed separately. Targets (issue 3): fragment p95 <= 50 ms;
a deep page <= 1.2x page 1.
"""

import argparse
import os
import statistics
import time
import uuid

import psycopg

PASSWORD = "bench-password"
TEAM = 20


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed_gets(client, url: str, runs: int) -> tuple[float, float, float, int]:
    """p50 and p95 wall time, p50 CPU time of this process (the rest is waiting for the
    database, or for a busy machine), and the rows of the last answer."""
    for _ in range(3):  # warm the caches and the statement cache
        client.get(url, headers={"HX-Request": "true"})
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, headers={"HX-Request": "true"})
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.data[:300])
    rows = response.get_data(as_text=True).count('<tr id="customer-')
    return statistics.median(samples), percentile(samples, 0.95), statistics.median(cpu), rows


def setup(app, args):
    from sqlalchemy import select

    from crm_web.accounts.models import Organization, User
    from crm_web.accounts.services import (
        create_organization,
        create_user,
        organization_id_for_slug,
    )
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db

    slug = args.slug or f"bench-{uuid.uuid4().hex[:8]}"
    organization_id = organization_id_for_slug(slug)
    if organization_id is not None:
        set_tenant(organization_id)
        admin = db.session.scalar(
            select(User).where(User.organization_id == organization_id, User.role == "admin")
        )
        set_tenant(organization_id, admin.id)
        print(f"reusing organization {slug}")
        return db.session.get(Organization, organization_id), admin

    organization, admin = create_organization(
        name="Bench",
        slug=slug,
        admin_email=f"admin@{slug}.example",
        admin_name="Bench Admin",
        admin_password=PASSWORD,
        timezone="Europe/Istanbul",
    )
    set_tenant(organization.id, admin.id)
    for number in range(TEAM - 1):
        atomic(create_user)(
            email=f"seller{number}@{slug}.example",
            name=f"Seller {number}",
            role="sales",
            password=PASSWORD,
        )
    started = time.perf_counter()
    atomic(seed_customers)(args.customers, seed=3)
    seconds = time.perf_counter() - started
    print(
        f"seed {slug}: {args.customers:,} customers in {seconds:.1f} s "
        f"= {args.customers / seconds:,.0f} rows/s"
    )
    # VACUUM (as the owner, outside a transaction) also sets the visibility map.
    started = time.perf_counter()
    with psycopg.connect(app.config["DATABASE_URL"], autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE customers")
    print(f"vacuum analyze: {time.perf_counter() - started:.1f} s")
    return organization, admin


def sample_values(organization_id: int) -> dict:
    """Real values from the data to search and filter for (read as the owner, untimed)."""
    from sqlalchemy import text

    from crm_web.extensions import db

    def one(sql, **params):
        return db.session.execute(text(sql), {"org": organization_id, **params}).scalar()

    total = one("SELECT count(*) FROM customers WHERE organization_id = :org")
    return {
        "total": total,
        "common_last_name": one(
            "SELECT last_name FROM customers WHERE organization_id = :org AND country = 'TR' "
            "GROUP BY last_name ORDER BY count(*) DESC LIMIT 1"
        ),
        "rare_email": one(
            "SELECT primary_email FROM customers WHERE organization_id = :org ORDER BY id "
            "OFFSET :n LIMIT 1",
            n=total // 3,
        ),
        "phone": one(
            "SELECT primary_phone FROM customers WHERE organization_id = :org ORDER BY id "
            "OFFSET :n LIMIT 1",
            n=total // 2,
        ),
        "city": one(
            "SELECT city FROM customers WHERE organization_id = :org ORDER BY id DESC LIMIT 1"
        ),
        "owner_id": one(
            "SELECT owner_id FROM customers WHERE organization_id = :org AND owner_id IS NOT NULL "
            "ORDER BY id LIMIT 1"
        ),
        "deep_id": one(
            "SELECT id FROM customers WHERE organization_id = :org ORDER BY id DESC "
            "OFFSET :n LIMIT 1",
            n=int(total * 0.9),
        ),
        "deep_name": db.session.execute(
            text(
                "SELECT sort_name, id FROM customers WHERE organization_id = :org "
                "ORDER BY sort_name, id OFFSET :n LIMIT 1"
            ),
            {"org": organization_id, "n": int(total * 0.9)},
        ).one(),
    }


def explain(app, client, url: str) -> None:
    """EXPLAIN ANALYZE the statements one request for the URL runs (as the app role, under RLS)."""
    from sqlalchemy import event

    from crm_web.extensions import db

    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "customer" in statement and not statement.lstrip().upper().startswith(
            ("SET", "EXPLAIN")
        ):
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        client.get(url, headers={"HX-Request": "true"})
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with app.app_context(), engine.connect() as connection:
        for statement, parameters in statements:
            if "FROM users" in statement or "FROM organizations" in statement:
                continue
            connection.exec_driver_sql(
                "SELECT set_config('app.organization_id', %(org)s, false), "
                "set_config('plan_cache_mode', 'force_custom_plan', false)",
                {"org": str(client.organization_id)},
            )
            plan = connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
            ).scalars()
            print("\n".join(f"    {line}" for line in plan))
            print()
            connection.rollback()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--slug", help="reuse this organization (seeded by an earlier run)")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from crm_web import create_app
    from crm_web.extensions import db
    from crm_web.pagination import encode_cursor

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        upgrade(revision="heads")
        organization, admin = setup(app, args)
        values = sample_values(organization.id)
        db.session.commit()
    print(f"organization {organization.slug}: {values['total']:,} customers")
    print(f"load average before timing: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    term = values["common_last_name"].lower()[:6]
    deep_name, deep_name_id = values["deep_name"]
    cases = (
        ("page 1 (newest first)", "/customers"),
        (
            "deep page (90% down, newest first)",
            f"/customers?cursor={encode_cursor([values['deep_id']])}",
        ),
        ("page 1 sorted by name", "/customers?sort=name"),
        (
            "deep page sorted by name",
            f"/customers?sort=name&cursor={encode_cursor([deep_name, deep_name_id])}",
        ),
        (f"search common name '{term}'", f"/customers?q={term}"),
        (f"search common name '{term[:3]}'", f"/customers?q={term[:3]}"),
        ("search rare email", f"/customers?q={values['rare_email'][:14]}"),
        ("search phone digits", f"/customers?q={values['phone'][-7:]}"),
        ("search with no match", "/customers?q=zzqxw"),
        ("search two letters, no match", "/customers?q=qx"),
        ("search sorted by name", f"/customers?q={term}&sort=name"),
        ("filter lifecycle=churned", "/customers?lifecycle=churned"),
        ("filter type=company", "/customers?type=company"),
        ("filter owner", f"/customers?owner={values['owner_id']}"),
        ("filter city", f"/customers?city={values['city']}"),
        ("filter tag=vip", "/customers?tag=vip"),
        ("filter inactive", "/customers?active=no"),
        ("filter unassigned (none)", "/customers?owner=none"),
        ("filters combined", f"/customers?lifecycle=customer&tag=vip&owner={values['owner_id']}"),
        ("filter city, sorted by name", f"/customers?city={values['city']}&sort=name"),
        ("filter city nobody lives in", "/customers?city=Nowhere"),
        ("filter city nobody lives in, by name", "/customers?city=Nowhere&sort=name"),
        ("count: everything (capped)", "/customers/count"),
        (f"count: search '{term}'", f"/customers/count?q={term}"),
        ("count: search rare email", f"/customers/count?q={values['rare_email'][:14]}"),
        ("count: filter city", f"/customers/count?city={values['city']}"),
        ("count: filter tag=vip", "/customers/count?tag=vip"),
    )
    client = app.test_client()
    response = client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    results = {}
    for label, url in cases:
        if args.only not in label:
            continue
        p50, p95, cpu, rows = timed_gets(client, url, args.runs)
        results[label] = (p50, p95)
        flag = "" if p95 <= 50 else "   <-- over 50 ms"
        print(
            f"{label:<42} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (cpu {cpu:5.1f} ms)"
            f"   rows {rows:3d}{flag}"
        )
        if args.explain:
            client.organization_id = organization.id
            explain(app, client, url)
    for page1, deep in (
        ("page 1 (newest first)", "deep page (90% down, newest first)"),
        ("page 1 sorted by name", "deep page sorted by name"),
    ):
        if page1 not in results or deep not in results:
            continue
        ratio = results[deep][1] / results[page1][1]
        print(f"deep/page-1 p95 ratio ({page1}): {ratio:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
