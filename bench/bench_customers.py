"""Customer list benchmark: the /customers fragments at 1M customers in one organization.

Run by hand (prints figures; not a test), on a database of its own:

    psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE crm_bench_a'
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench_a REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/bench_customers.py --customers 1000000

It migrates the database, creates an organization with a team of owners, seeds N customers
with the `crm seed` service (COPY), VACUUM ANALYZEs, then times HTMX requests for the list
fragment with the Flask test client: page 1, a search term (common, rare, a phone fragment),
each filter, each sort, and page 10,000 of the keyset (newest first and by name) against
page 1, the two timed in turns so a busy machine weighs on both alike. `--slug` reuses an
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

PASSWORD = "quiet lake at dawn"
TEAM = 20
PAGE_SIZE = 50
DEEP_PAGE = 10_000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed_gets(client, urls: list[str], runs: int) -> list[tuple[float, float, float, int]]:
    """For each URL: p50 and p95 wall time, p50 CPU time of this process (the rest is waiting
    for the database, or for a busy machine), and the rows of the last answer. The URLs take
    turns, so URLs compared with each other are timed under the same load."""
    for _ in range(3):  # warm the caches and the statement cache
        for url in urls:
            client.get(url, headers={"HX-Request": "true"})
    samples = {url: [] for url in urls}
    cpu = {url: [] for url in urls}
    rows = {}
    for _ in range(runs):
        for url in urls:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, headers={"HX-Request": "true"})
            samples[url].append((time.perf_counter() - started) * 1000)
            cpu[url].append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200, (url, response.status_code, response.data[:300])
            rows[url] = response.get_data(as_text=True).count('<tr id="customer-')
    return [
        (
            statistics.median(samples[url]),
            percentile(samples[url], 0.95),
            statistics.median(cpu[url]),
            rows[url],
        )
        for url in urls
    ]


def setup(app, args):
    from sqlalchemy import select

    from crm_web.accounts.models import Organization, User
    from crm_web.accounts.services import create_user, organization_id_for_slug
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db
    from crm_web.onboarding import create_organization

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
    active = one("SELECT count(*) FROM customers WHERE organization_id = :org AND is_active")
    # Page DEEP_PAGE, or the last page of a smaller list; the cursor is the key of the row
    # just above it, as the page before would have handed out.
    deep_offset = max(0, min(DEEP_PAGE - 1, (active - 1) // PAGE_SIZE) * PAGE_SIZE - 1)
    return {
        "total": total,
        "deep_page": deep_offset // PAGE_SIZE + 2,
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
        # The cursors of the deep page in both orders.
        "deep_id": one(
            "SELECT id FROM customers WHERE organization_id = :org AND is_active "
            "ORDER BY id DESC OFFSET :n LIMIT 1",
            n=deep_offset,
        ),
        "deep_name": db.session.execute(
            text(
                "SELECT sort_name, id FROM customers WHERE organization_id = :org AND is_active "
                "ORDER BY sort_name, id OFFSET :n LIMIT 1"
            ),
            {"org": organization_id, "n": deep_offset},
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
    deep = f"deep page {values['deep_page']:,}"
    # Each page 1 is timed in turns with its deep page, so their ratio compares like with like.
    compared = (
        (
            ("page 1 (newest first)", "/customers"),
            (f"{deep} (newest first)", f"/customers?cursor={encode_cursor([values['deep_id']])}"),
        ),
        (
            ("page 1 sorted by name", "/customers?sort=name"),
            (
                f"{deep} sorted by name",
                f"/customers?sort=name&cursor={encode_cursor([deep_name, deep_name_id])}",
            ),
        ),
    )
    cases = (
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
    groups = [*compared, *((case,) for case in cases)]
    ratios = []
    for group in groups:
        group = [(label, url) for label, url in group if args.only in label]
        if not group:
            continue
        timings = timed_gets(client, [url for _, url in group], args.runs)
        for (label, url), (p50, p95, cpu, rows) in zip(group, timings, strict=True):
            flag = "" if p95 <= 50 else "   <-- over 50 ms"
            print(
                f"{label:<42} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (cpu {cpu:5.1f} ms)"
                f"   rows {rows:3d}{flag}"
            )
            if args.explain:
                client.organization_id = organization.id
                explain(app, client, url)
        if len(group) == 2:
            (page1_p50, page1_p95, *_), (deep_p50, deep_p95, *_) = timings
            ratios.append((group[1][0], deep_p50 / page1_p50, deep_p95 / page1_p95))
    for label, p50_ratio, p95_ratio in ratios:
        print(
            f"{label} / page 1: p50 ratio {p50_ratio:.2f}, p95 ratio {p95_ratio:.2f} "
            "(target <= 1.2)"
        )


if __name__ == "__main__":
    main()
