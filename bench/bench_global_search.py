"""Global search benchmark: each provider's suggestions, and the whole /search fragment, at scale.

Run by hand (prints figures; not a test):

    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/bench_global_search.py \\
        --customers 1000000 --leads 300000 --deals 200000 --tickets 200000

It makes a database of its own (`crm_bench_search` on BENCH_DATABASE_URL's server), seeds one
organization through `crm seed`'s services, and a second, smaller one whose rows share the
first one's index (the tenant predicate must keep them out, not slow the first one down). Then
for terms of every shape a user types (short and long names, a code, an email, a phone, a deal
and a ticket number, a word nobody has) it times what each provider answers for five
suggestions, and the /search fragment an admin's box fetches (every provider), p50 and p95.
Last it prints the plan of each provider's index read, as its search function runs it.
"""

import argparse
import os
import time
from types import SimpleNamespace

import psycopg
from _common import (
    database_url as database_url_of,
)
from _common import (
    fresh_database,
    new_organization,
    p50_p95,
    server_url,
    sign_in,
    timed,
    vacuum_analyze,
)

TABLES = ("customers", "leads", "opportunities", "tickets")


def seed(counts: dict[str, int], random_seed: int) -> None:
    from crm_web.customer360.seeding import seed_customers_with_activity
    from crm_web.db import atomic
    from crm_web.leads.seeding import seed_leads
    from crm_web.pipeline.seeding import seed_pipeline
    from crm_web.tickets.seeding import seed_tickets

    for label, step in (
        ("customers", lambda n: atomic(seed_customers_with_activity)(n, seed=random_seed)),
        ("leads", lambda n: atomic(seed_leads)(n, seed=random_seed)),
        ("deals", lambda n: atomic(seed_pipeline)(n, seed=random_seed, quote_share=0.0)),
        ("tickets", lambda n: atomic(seed_tickets)(n, seed=random_seed)),
    ):
        started = time.perf_counter()
        step(counts[label])
        print(f"  {counts[label]:>9,} {label:<10} {time.perf_counter() - started:6.1f} s")


def terms(organization_id: int) -> dict[str, str]:
    """Search terms taken from the seeded rows, so each finds what a user would look for."""
    from sqlalchemy import text

    from crm_web.extensions import db

    def one(sql: str) -> str:
        return str(db.session.execute(text(sql), {"org": organization_id}).scalar_one())

    customer = "FROM customers WHERE organization_id = :org ORDER BY id DESC LIMIT 1 OFFSET 777"
    return {
        "two letters": "an",
        "common name": one(
            "SELECT first_name FROM customers WHERE organization_id = :org AND first_name <> '' "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ),
        "full name": one(f"SELECT first_name || ' ' || last_name {customer}"),
        "customer code": one(f"SELECT customer_code {customer}"),
        "email": one(f"SELECT primary_email {customer}"),
        "phone": one(f"SELECT primary_phone {customer}"),
        "lead number": one(
            "SELECT lead_number FROM leads WHERE organization_id = :org ORDER BY id LIMIT 1 OFFSET 999"
        ),
        "deal name": one(
            "SELECT name FROM opportunities WHERE organization_id = :org ORDER BY id LIMIT 1 OFFSET 99"
        ),
        "ticket number": "T-"
        + one(
            "SELECT number FROM tickets WHERE organization_id = :org ORDER BY id LIMIT 1 OFFSET 99"
        ),
        "nobody": "zqxw",
    }


PLANS = {
    # The index reads inside each provider's search function (as its owner runs them).
    "customers": "SELECT c.id FROM customers c WHERE c.organization_id = {org} "
    "AND c.search_text LIKE '%{term}%' LIMIT 5",
    "leads": "SELECT l.id FROM leads l WHERE l.organization_id = {org} "
    "AND l.search_text LIKE '%{term}%' LIMIT 5",
    "deals": "SELECT o.id FROM opportunities o WHERE o.organization_id = {org} "
    "AND o.search_text LIKE '%{term}%' LIMIT 5",
    "tickets": "SELECT t.id FROM tickets t WHERE t.organization_id = {org} "
    "AND t.status IN ('new', 'open', 'in_progress', 'waiting_on_customer') "
    "AND (t.subject ILIKE '%{term}%' OR t.number = 0) ORDER BY t.id DESC LIMIT 5",
}


def searched_organization(url: str):
    """The organization an earlier run seeded and searched, and its admin (ids and email)."""
    with psycopg.connect(url) as connection:
        organization_id, admin_id, email = connection.execute(
            "SELECT o.id, u.id, u.email FROM organizations o JOIN users u "
            "ON u.organization_id = o.id AND u.role = 'admin' WHERE o.name = 'Searched'"
        ).fetchone()
    return SimpleNamespace(id=organization_id), SimpleNamespace(id=admin_id, email=email)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--reuse", action="store_true", help="time the database an earlier run seeded again"
    )
    args = parser.parse_args()

    if args.reuse:
        database_url = database_url_of(server_url(), "crm_bench_search")
    else:
        database_url = fresh_database(server_url(), "crm_bench_search")
    os.environ["DATABASE_URL"] = database_url
    from _common import migrated_app

    from crm_web.accounts.models import User
    from crm_web.db import clear_tenant, set_tenant
    from crm_web.extensions import db

    app = migrated_app()
    with app.app_context():
        counts = {
            "customers": args.customers,
            "leads": args.leads,
            "deals": args.deals,
            "tickets": args.tickets,
        }
        if args.reuse:
            organization, admin = searched_organization(database_url)
        else:
            print("Seeding the organization searched:")
            organization, admin = new_organization("Searched")
            set_tenant(organization.id, admin.id)
            seed(counts, random_seed=1)
            clear_tenant()
            print("Seeding a neighbour (a tenth of that, other seed):")
            neighbour, neighbour_admin = new_organization("Neighbour")
            set_tenant(neighbour.id, neighbour_admin.id)
            seed({kind: max(count // 10, 1) for kind, count in counts.items()}, random_seed=2)
            clear_tenant()
            vacuum_analyze(database_url, *TABLES)

        set_tenant(organization.id, admin.id)
        user = db.session.get(User, admin.id)
        searched = terms(organization.id)
        providers = app.extensions["search_providers"]
        print(f"\nSuggestions (5 per kind), {args.runs} runs each:")
        print(f"{'term':<14} {'':<28}" + "".join(f"{p.key:>20}" for p in providers))
        for label, term in searched.items():
            cells = []
            for provider in providers:
                found = provider.find(term, 5, user)
                p50, p95 = p50_p95(timed(lambda p=provider, t=term: p.find(t, 5, user), args.runs))
                cells.append(f"{len(found)} · {p50:5.1f}/{p95:5.1f} ms")
            print(f"{label:<14} {term[:27]:<28}" + "".join(f"{cell:>20}" for cell in cells))
        clear_tenant()
        db.session.remove()

    client = app.test_client()
    with app.app_context():
        sign_in(client, admin.email)
    print(f"\nThe /search fragment (every provider), {args.runs} runs each:")
    for label, term in searched.items():
        p50, p95 = p50_p95(
            timed(
                lambda t=term: client.get(
                    "/search", query_string={"q": t}, headers={"HX-Request": "true"}
                ),
                args.runs,
            )
        )
        print(f"{label:<14} {term[:27]:<28} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")

    print("\nPlans of the index reads (EXPLAIN ANALYZE, as the search functions' owner):")
    with psycopg.connect(database_url, autocommit=True) as connection:
        for kind, sql in PLANS.items():
            term = searched["common name"].lower()
            query = sql.format(org=organization.id, term=term)
            plan = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query}").fetchall()
            print(f"-- {kind}: '{term}'")
            for (line,) in plan:
                print(f"   {line}")


if __name__ == "__main__":
    main()
