"""Segments at 1M customers: a full refresh of a 3-condition dynamic segment, and the builder's
live count. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_segments.py --customers 1000000 [--runs 20] [--keep]

It creates a database of its own (crm_bench_segments; dropped at the end unless --keep),
migrates it, seeds N customers with the `crm seed` service (COPY) and VACUUM ANALYZEs; with
--reuse it keeps the database and reuses the customers an earlier --keep run seeded (loading 1M
customers takes minutes). Then:

- refresh: the segment "city is one of 5 cities, tags contains vip, agrees to email" created
  empty, then refreshed: the first refresh (every member enters), a refresh with nothing to
  change, and one after 1% of the customers changed city (some leave, some enter). Target
  (issue 15): a full refresh < 3 s.
- live count: POST /segments/preview as the builder sends it (the count and the first 20), with
  three conditions, `--runs` times; p50 and p95. Target: p95 < 300 ms.

The count reads every customer of the organization (a parallel sequential scan): row-level
security lets the planner use an index only for conditions whose operators are leakproof, and
the array containment (`tags @> ...`) and the folded text (`crm_fold(city)`) are not. The same
count run by the table's owner, without row-level security, takes the tags and city indexes
(a BitmapAnd) in about 40% of the time.
"""

import argparse
import json
import os
import time

from _common import (
    bench_environment,
    database_url,
    fresh_database,
    migrated_app,
    new_organization,
    p50_p95,
    server_url,
    sign_in,
    timed,
    vacuum_analyze,
)

DATABASE = "crm_bench_segments"
CRITERIA = {
    "match": "all",
    "rules": [
        {"field": "city", "op": "in", "value": []},
        {"field": "tags", "op": "contains", "value": "vip"},
        {"field": "email_opt_in", "op": "eq", "value": True},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database's customers (implies --keep)"
    )
    parser.add_argument("--no-refresh", action="store_true", help="time the live count only")
    args = parser.parse_args()
    args.keep = args.keep or args.reuse

    server = server_url()
    url = database_url(server, DATABASE) if args.reuse else fresh_database(server, DATABASE)
    if args.reuse:
        from crm_web.devservices import ensure_database

        ensure_database(server, DATABASE)
    bench_environment(
        DATABASE_URL=url,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        SECRET_KEY="bench-segments",
    )
    from sqlalchemy import select, text

    from crm_web.accounts.models import Organization, User
    from crm_web.accounts.services import organization_id_for_slug
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, tenant_scope
    from crm_web.devservices import drop_database
    from crm_web.extensions import db

    app = migrated_app()
    try:
        with app.app_context():
            organization_id = organization_id_for_slug("bench-segments")
            if organization_id is None:
                organization, admin = new_organization("Bench Segments", slug="bench-segments")
                db.session.commit()
                with tenant_scope(organization.id, admin.id):
                    started = time.perf_counter()
                    atomic(seed_customers)(args.customers, seed=15)
                    print(
                        f"{args.customers:,} customers seeded in"
                        f" {time.perf_counter() - started:.1f} s"
                    )
            else:
                with tenant_scope(organization_id):
                    organization = db.session.get(Organization, organization_id)
                    admin = db.session.scalar(
                        select(User).where(User.email == "admin@bench-segments.example")
                    )
                print("reusing the customers of an earlier run")
        vacuum_analyze(url, "customers")
        with app.app_context(), tenant_scope(organization.id, admin.id):
            cities = [
                row[0]
                for row in db.session.execute(
                    text(
                        "SELECT city FROM customers WHERE organization_id = :org GROUP BY city "
                        "ORDER BY count(*) DESC LIMIT 5"
                    ),
                    {"org": organization.id},
                )
            ]
            CRITERIA["rules"][0]["value"] = cities
        if not args.no_refresh:
            refresh(app, organization, admin, cities)
        live_count(app, admin, args.runs)
    finally:
        with app.app_context():
            db.engine.dispose()
        if not args.keep:
            drop_database(server, DATABASE)


def refresh(app, organization, admin, cities: list[str]) -> None:
    """A full refresh of the 3-condition segment: first, with nothing changed, after 1% moved."""
    from sqlalchemy import text

    from crm_web.db import tenant_scope
    from crm_web.extensions import db
    from crm_web.segments import services

    with app.app_context(), tenant_scope(organization.id, admin.id):
        # Created matching nobody, so the timed refresh is the first full one.
        segment = services.create_segment(
            {
                "segment_name": f"Bench {time.time():.0f}",
                "criteria": {"match": "any", "rules": []},
            }
        )
        db.session.execute(
            text("UPDATE segments SET criteria = CAST(:c AS jsonb) WHERE id = :id"),
            {"c": json.dumps(CRITERIA), "id": segment.id},
        )
        db.session.commit()
        db.session.expire_all()
        for label in ("first refresh (all enter)", "refresh, nothing changed"):
            started = time.perf_counter()
            result = services.refresh_segment(segment.id)
            seconds = time.perf_counter() - started
            print(
                f"{label:<36}{seconds:>8.2f} s   {result.customer_count:,} members, "
                f"{result.entered:,} entered, {result.left:,} left"
            )
        db.session.execute(
            text(
                "UPDATE customers SET city = CASE WHEN city = :first THEN 'Elsewhere' "
                "ELSE :first END WHERE organization_id = :org AND id % 100 = 7"
            ),
            {"first": cities[0], "org": organization.id},
        )
        db.session.commit()
        started = time.perf_counter()
        result = services.refresh_segment(segment.id)
        print(
            f"{'refresh after 1% moved':<36}{time.perf_counter() - started:>8.2f} s   "
            f"{result.customer_count:,} members, {result.entered:,} entered, "
            f"{result.left:,} left"
        )


def live_count(app, admin, runs: int) -> None:
    """The builder's live count (and first 20) of the 3 conditions, `runs` times."""
    client = app.test_client()
    sign_in(client, admin.email)
    form = {"c-r-match": "all"}
    for index, rule in enumerate(CRITERIA["rules"]):
        form[f"c-r.{index}-field"] = rule["field"]
        form[f"c-r.{index}-op"] = rule["op"]
        value = rule["value"]
        form[f"c-r.{index}-value"] = (
            ", ".join(value) if isinstance(value, list) else str(value).lower()
        )

    def count():
        response = client.post(
            "/segments/preview?fragment=preview", data=form, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200 and b"segment-count" in response.data

    count()
    p50, p95 = p50_p95(timed(count, runs))
    print(f"{'live count (3 conditions)':<36}{p50:>8.0f} ms p50   {p95:.0f} ms p95")


if __name__ == "__main__":
    main()
