"""Commerce and loyalty benchmark (prints figures; not a test).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/bench_commerce.py --customers 1000000 --lines 5000000 --lots 1000000

A database of its own (crm_bench_commerce) is migrated, an organization seeded with N customers
(`crm seed`'s COPY), a catalog, orders with L lines and loyalty members with M point lots, all
written set-based as the owner with the triggers off for the load (the bench times the reads,
the jobs and order placement, not the bulk load), then VACUUM ANALYZEd. Loading 1M customers
takes minutes: with --template NAME the loaded database is kept as NAME, and a later run with
the same --template copies it (CREATE DATABASE ... TEMPLATE, seconds) instead of loading again,
so every run times the same fresh data (drop NAME to load afresh). It prints:

1. the 360 page's commerce cards: p50/p95 of the customer's purchase figures (the service)
   and of the KPI fragment (Flask test client), over random customers (target p95 < 50 ms);
2. the RFM recompute of every buyer (target < 30 s for 1M customers), and again with the
   values in place (the nightly run);
3. 200 orders placed at once (threads sharing a pool of --connections connections, through
   the service and the stock triggers): orders/s, beside the bare 50-row order list page timed
   in the same run;
4. the point expiry job over M lots, all past their date (target < 10 s for 1M lots).
"""

import argparse
import datetime as dt
import random
import threading
import time

import psycopg
from _common import (
    HTMX,
    ROOT,
    fresh_database,
    new_organization,
    p50_p95,
    server_url,
    sign_in,
    timed,
    timed_gets,
    vacuum_analyze,
)
from _common import (
    database_url as database_url_of,
)

TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "stock_movements",
    "loyalty_members",
    "loyalty_ledger",
    "loyalty_lots",
)


def make_app(database_url: str, connections: int):
    """The app on the bench database with a pool for `connections` threads, migrated."""
    import os

    from flask_migrate import upgrade

    os.environ["DATABASE_URL"] = database_url
    from crm_web import create_app
    from crm_web.config import Config

    config = Config()
    config.WTF_CSRF_ENABLED = False
    config.SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": True,
        "pool_size": connections,
        "max_overflow": 0,
        "pool_timeout": 120,
    }
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
    return app


def load(database_url: str, organization_id: int, user_id: int, lines: int, lots: int) -> dict:
    """Orders, lines and loyalty lots for the seeded customers, as the owner, triggers off."""
    with psycopg.connect(database_url, autocommit=False) as connection:
        run = connection.execute
        run("SET session_replication_role = replica")
        customers = run(
            "SELECT min(id), count(*) FROM customers WHERE organization_id = %s", (organization_id,)
        ).fetchone()
        first_customer, customer_count = customers
        run(
            "INSERT INTO product_categories (organization_id, name, description) "
            "SELECT %s, 'Category ' || g, '' FROM generate_series(1, 10) g",
            (organization_id,),
        )
        run(
            "INSERT INTO products (organization_id, sku, name, category_id, description, price, "
            "tax_rate, is_active, track_stock, stock_on_hand, reorder_level) "
            "SELECT %s, 'SKU-' || g, 'Product ' || g, "
            "(SELECT min(id) FROM product_categories WHERE organization_id = %s) + g %% 10, '', "
            "10 + g, 20, true, true, 1000000000, 5 FROM generate_series(1, 200) g",
            (organization_id, organization_id),
        )
        first_product = run(
            "SELECT min(id) FROM products WHERE organization_id = %s", (organization_id,)
        ).fetchone()[0]
        per_order = 2
        orders = max(1, lines // per_order)
        run(
            "INSERT INTO orders (organization_id, order_number, customer_id, status, channel, "
            "payment_method, currency, subtotal, tax_total, discount_total, total, "
            "refunded_total, coupon_code, notes, ordered_at, paid_at, created_at, updated_at) "
            "SELECT %(org)s, 'ORD-' || lpad(g::text, 8, '0'), "
            "%(first)s + (g::bigint * 7919) %% %(n)s, "
            "CASE WHEN g %% 25 = 0 THEN 'pending' WHEN g %% 40 = 0 THEN 'cancelled' "
            "ELSE 'delivered' END, 'online', 'card', 'TRY', 100, 20, 0, 120, 0, '', '', "
            "t, CASE WHEN g %% 25 <> 0 THEN t END, t, t "
            "FROM generate_series(1, %(orders)s) g, "
            "LATERAL (SELECT now() - make_interval(days => g %% 730, mins => g %% 1440) AS t) x",
            {
                "org": organization_id,
                "first": first_customer,
                "n": customer_count,
                "orders": orders,
            },
        )
        first_order = run(
            "SELECT min(id) FROM orders WHERE organization_id = %s", (organization_id,)
        ).fetchone()[0]
        run(
            "INSERT INTO order_lines (organization_id, order_id, position, product_id, "
            "category_id, sku, name, quantity, unit_price, discount_percent, tax_rate, "
            "net_amount, tax_amount, line_total, returned_quantity) "
            "SELECT %(org)s, %(first_order)s + (g - 1) / %(per)s, 1 + (g - 1) %% %(per)s, "
            "%(first_product)s + g %% 200, NULL, 'SKU', 'Product', 1, 50, 0, 20, 50, 10, 60, 0 "
            "FROM generate_series(1, %(lines)s) g",
            {
                "org": organization_id,
                "first_order": first_order,
                "per": per_order,
                "first_product": first_product,
                "lines": orders * per_order,
            },
        )
        run(
            "INSERT INTO organization_counters (organization_id, name, value) "
            "VALUES (%s, 'order', %s) ON CONFLICT (organization_id, name) "
            "DO UPDATE SET value = excluded.value",
            (organization_id, orders),
        )
        # Loyalty: a member per customer (up to the lots), lots all past their date.
        program = run(
            "INSERT INTO loyalty_programs (organization_id, name, code, description, is_active, "
            "points_per_unit, point_expiry_days, birthday_multiplier, first_order_bonus, "
            "referral_points, survey_points, tier_basis, terms) VALUES "
            "(%s, 'Stars', 'STARS', '', true, 1, 365, 2, 0, 0, 0, 'points', '') RETURNING id",
            (organization_id,),
        ).fetchone()[0]
        members = min(customer_count, max(1, lots // 4))
        run(
            "INSERT INTO loyalty_members (organization_id, program_id, customer_id, "
            "membership_number, joined_at, is_active, tier_review_on, points_balance, "
            "lifetime_points) SELECT %s, %s, %s + g - 1, 'LOY-' || lpad(g::text, 8, '0'), "
            "now() - interval '3 years', true, current_date + 100, 0, 0 "
            "FROM generate_series(1, %s) g",
            (organization_id, program, first_customer, members),
        )
        first_member = run(
            "SELECT min(id) FROM loyalty_members WHERE organization_id = %s", (organization_id,)
        ).fetchone()[0]
        run(
            "INSERT INTO loyalty_ledger (organization_id, member_id, kind, points, expires_at, "
            "source_key, note, details, created_at) "
            "SELECT %(org)s, %(first)s + (g - 1) %% %(members)s, 'earn', 100, "
            "now() - make_interval(days => 1 + g %% 300), 'bench:' || g, '', '{}', "
            "now() - interval '2 years' FROM generate_series(1, %(lots)s) g",
            {"org": organization_id, "first": first_member, "members": members, "lots": lots},
        )
        run(
            "INSERT INTO loyalty_lots (organization_id, entry_id, member_id, earned_at, "
            "expires_at, remaining) SELECT organization_id, id, member_id, created_at, "
            "expires_at, points FROM loyalty_ledger WHERE organization_id = %s",
            (organization_id,),
        )
        run(
            "UPDATE loyalty_members m SET points_balance = s.p, lifetime_points = s.p "
            "FROM (SELECT member_id, sum(points) AS p FROM loyalty_ledger "
            "WHERE organization_id = %s GROUP BY member_id) s WHERE m.id = s.member_id",
            (organization_id,),
        )
        connection.commit()
    return {
        "orders": orders,
        "lines": orders * per_order,
        "members": members,
        "lots": lots,
        "first_customer": first_customer,
        "customers": customer_count,
    }


def database_exists(server: str, name: str) -> bool:
    with psycopg.connect(server, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def copied_database(server: str, template: str, name: str) -> str:
    """The URL of database `name`, dropped and created as a copy of `template`."""
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url_of(server, name)


def keep_as_template(app, server: str, name: str, template: str) -> None:
    """Copy the freshly loaded database `name` to `template` for later runs (the copy needs
    `name` without connections: the app's pool is emptied first)."""
    from crm_web.extensions import db

    with app.app_context():
        db.engine.dispose()
    started = time.perf_counter()
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
    print(f"kept the loaded data as {template} in {time.perf_counter() - started:.1f} s")


def loaded_before(database_url: str):
    """The organization, its admin and the load's figures of a copied database."""
    from types import SimpleNamespace

    with psycopg.connect(database_url) as connection:
        run = connection.execute
        organization_id, admin_id, email = run(
            "SELECT o.id, u.id, u.email FROM organizations o JOIN users u "
            "ON u.organization_id = o.id AND u.role = 'admin' WHERE o.name = 'Commerce Bench'"
        ).fetchone()
        first_customer, customers = run(
            "SELECT min(id), count(*) FROM customers WHERE organization_id = %s",
            (organization_id,),
        ).fetchone()
        counts = {
            table: run(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("orders", "order_lines", "loyalty_members", "loyalty_lots")
        }
    loaded = {
        "orders": counts["orders"],
        "lines": counts["order_lines"],
        "members": counts["loyalty_members"],
        "lots": counts["loyalty_lots"],
        "first_customer": first_customer,
        "customers": customers,
    }
    return SimpleNamespace(id=organization_id), SimpleNamespace(id=admin_id, email=email), loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--orders-at-once", type=int, default=200)
    # The threads share a pool this big (the server's max_connections is shared with others).
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database", default="crm_bench_commerce", help="the bench's own")
    parser.add_argument(
        "--template", help="a database keeping the loaded data, copied by later runs"
    )
    args = parser.parse_args()

    server = server_url()
    if args.template and database_exists(server, args.template):
        database_url = copied_database(server, args.template, args.database)
        app = make_app(database_url, connections=args.connections)
        organization, admin, loaded = loaded_before(database_url)
        print(f"copied {args.template} (loaded before) into {args.database}")
    else:
        database_url = fresh_database(server, args.database)
        app = make_app(database_url, connections=args.connections)
        organization, admin, loaded = seed_and_load(app, database_url, args)
        if args.template:
            keep_as_template(app, server, args.database, args.template)
    run_timings(app, organization, admin, loaded, args)


def seed_and_load(app, database_url: str, args):
    """Seed the customers (`crm seed`'s COPY) and load the rest; (organization, admin, loaded)."""
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, clear_tenant, set_tenant
    from crm_web.extensions import db

    with app.app_context():
        organization, admin = new_organization("Commerce Bench", currency="TRY")
        set_tenant(organization.id, admin.id)
        started = time.perf_counter()
        atomic(seed_customers)(args.customers, seed=1)
        print(f"seeded {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        clear_tenant()
        db.session.remove()
    started = time.perf_counter()
    loaded = load(database_url, organization.id, admin.id, args.lines, args.lots)
    vacuum_analyze(database_url, *TABLES)
    print(
        f"loaded {loaded['orders']:,} orders, {loaded['lines']:,} lines, "
        f"{loaded['members']:,} members with {loaded['lots']:,} lots in "
        f"{time.perf_counter() - started:.1f} s (set-based, triggers off)"
    )
    return organization, admin, loaded


def run_timings(app, organization, admin, loaded: dict, args) -> None:
    from crm_web.catalog import customer_value, orders
    from crm_web.db import atomic, clear_tenant, set_tenant
    from crm_web.extensions import db
    from crm_web.loyalty import ledger

    rng = random.Random(7)
    with app.app_context():
        set_tenant(organization.id, admin.id)
        ids = [
            loaded["first_customer"] + rng.randrange(loaded["customers"]) for _ in range(args.runs)
        ]
        picks = iter(ids * 2)
        p50, p95 = p50_p95(timed(lambda: orders.customer_purchases(next(picks)), args.runs))
        print(f"1. 360 commerce cards (service): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        clear_tenant()
    client = app.test_client()
    sign_in(client, admin.email)
    kpi_p50, kpi_p95, _size = timed_gets(client, f"/customers/{ids[0]}/kpis", args.runs)
    print(f"   KPI fragment (all cards, scores): p50 {kpi_p50:.1f} ms, p95 {kpi_p95:.1f} ms")

    with app.app_context():
        set_tenant(organization.id, admin.id)
        started = time.perf_counter()
        buyers = customer_value.recompute()
        print(f"2. RFM recompute: {buyers:,} buyers in {time.perf_counter() - started:.1f} s")
        # The nightly case: the values exist and few change.
        started = time.perf_counter()
        customer_value.recompute()
        print(f"   again, nothing changed: {time.perf_counter() - started:.1f} s")
        clear_tenant()
        db.session.remove()

    page_p50, page_p95, _size = timed_gets(client, "/orders", 50, headers=HTMX)
    with app.app_context():
        set_tenant(organization.id, admin.id)
        product_ids = list(
            db.session.execute(
                db.text("SELECT id FROM products WHERE organization_id = :o"),
                {"o": organization.id},
            ).scalars()
        )
        clear_tenant()
        db.session.remove()
    results: list = [None] * args.orders_at_once
    barrier = threading.Barrier(args.orders_at_once)

    def place(index: int) -> None:
        with app.app_context():
            set_tenant(organization.id, admin.id)
            try:
                barrier.wait(60)
                results[index] = orders.place_order(
                    customer_id=ids[index % len(ids)],
                    lines=[
                        {"product_id": product_ids[(index + k) % len(product_ids)], "quantity": 1}
                        for k in range(3)
                    ],
                    status="paid",
                ).id
            except Exception as exc:  # reported below
                results[index] = exc
            finally:
                clear_tenant()
                db.session.remove()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(args.orders_at_once)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not isinstance(r, int)]
    print(
        f"3. {args.orders_at_once} orders at once (3 lines each): {elapsed:.2f} s, "
        f"{(args.orders_at_once - len(failed)) / elapsed:.0f} orders/s, {len(failed)} failed"
        f"{' (' + repr(failed[0]) + ')' if failed else ''}; the bare 50-row order list: "
        f"p50 {page_p50:.1f} ms, p95 {page_p95:.1f} ms"
    )

    with app.app_context():
        set_tenant(organization.id, admin.id)
        started = time.perf_counter()
        expired = atomic(ledger.expire_points)(dt.datetime.now(dt.UTC))
        print(
            f"4. point expiry: {loaded['lots']:,} lots past their date, {expired:,} expiry "
            f"entries (one per member) in {time.perf_counter() - started:.1f} s"
        )
        clear_tenant()


if __name__ == "__main__":
    main()
