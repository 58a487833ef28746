"""Customer 360 benchmark: the page and its timeline for a customer with 1,000 timeline entries
and OPEN_WORK open deals, tickets and activities each.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_customer_360.py --customers 1000000

It migrates the database, creates an organization and seeds N customers with their demo
history (`crm seed`: COPY, then set-based activity), timing both. One customer then gets
1,000 timeline entries of every kind (communications, notes, event registrations and
attendances, consent changes, documents), written set-based, and its open deals, tickets and
activities, made by their services (each 360 section lists 10 and counts all, one query per
section, so their number should not move the figures). With the Flask test client
it times, as p50/p95 over --runs requests: the full 360 page, the timeline fragment
(first page), a "load more" page 500 entries deep, a type-filtered fragment, the KPI
fragment and the JSON 360 and timeline endpoints. `--org SLUG` reuses an organization
seeded by an earlier run instead of seeding again.
"""

import argparse
import time
import uuid

from _common import (
    HTMX,
    PASSWORD,
    migrated_app,
    new_organization,
    sign_in,
    timed_gets,
    vacuum_analyze,
)

ENTRIES = {
    "communications": 400,
    "customer_notes": 300,
    "event_registrations": 100,
    "event_attendances": 60,
    "customer_consent_events": 100,
    "customer_documents": 40,
}


def add_history(session, organization_id: int, customer_id: int, user_id: int) -> None:
    """ENTRIES timeline rows for one customer, spread over two years, set-based."""
    from sqlalchemy import text

    params = {"org": organization_id, "customer": customer_id, "user": user_id}
    spread = "now() - make_interval(hours => (g * 17) % 17000, secs => g)"
    session.execute(
        text(
            f"""
            INSERT INTO communications (organization_id, customer_id, communication_type, direction,
                subject, content, sender, recipient, status, outcome, duration_seconds, opened_date,
                provider_message_id, source_type, attachments, tags, created_by_id, created_at)
            SELECT :org, :customer, (ARRAY['email','call','sms','meeting'])[1 + g % 4],
                   CASE WHEN g % 3 = 0 THEN 'inbound' ELSE 'outbound' END,
                   'Message ' || g, repeat('Some words about the deal. ', 8), '', '',
                   CASE WHEN g % 4 = 0 AND g % 2 = 0 THEN 'opened' ELSE 'logged' END,
                   CASE WHEN g % 4 = 1 THEN 'interested' ELSE '' END,
                   CASE WHEN g % 4 IN (1, 3) THEN 600 END,
                   CASE WHEN g % 4 = 0 AND g % 2 = 0 THEN {spread} + interval '1 hour' END,
                   '', '', '[]', '{{}}', :user, {spread}
            FROM generate_series(1, {ENTRIES["communications"]}) g
            """
        ),
        params,
    )
    session.execute(
        text(
            f"""
            INSERT INTO customer_notes (organization_id, customer_id, body, author_id, created_at, updated_at)
            SELECT :org, :customer, 'Note ' || g || ': ' || repeat('details ', 20), :user,
                   {spread}, {spread}
            FROM generate_series(1, {ENTRIES["customer_notes"]}) g
            """
        ),
        params,
    )
    session.execute(
        text(
            f"""
            WITH new_events AS (
                INSERT INTO events (organization_id, name, starts_at, location, notes, created_by_id)
                SELECT :org, 'Bench event ' || g, {spread}, 'Istanbul', '', :user
                FROM generate_series(1, {ENTRIES["event_registrations"]}) g
                RETURNING id, starts_at
            )
            INSERT INTO event_attendees (organization_id, event_id, customer_id, registered_at, attended_at)
            SELECT :org, id, :customer, starts_at - interval '7 days',
                   CASE WHEN row_number() OVER (ORDER BY id) <= {ENTRIES["event_attendances"]}
                        THEN starts_at + interval '10 minutes' END
            FROM new_events
            """
        ),
        params,
    )
    session.execute(
        text(
            f"""
            INSERT INTO customer_consent_events (organization_id, customer_id, channel, old_value,
                new_value, source, user_id, note, created_at)
            SELECT :org, :customer, (ARRAY['email','sms','all'])[1 + g % 3], g % 2 = 0, g % 2 = 1,
                   'form', :user, '', {spread}
            FROM generate_series(1, {ENTRIES["customer_consent_events"]}) g
            """
        ),
        params,
    )
    session.execute(
        text(
            f"""
            INSERT INTO customer_documents (organization_id, customer_id, category, filename,
                content_type, size_bytes, sha256, storage_key, uploaded_by_id, created_at)
            SELECT :org, :customer, (ARRAY['contract','quote','invoice'])[1 + g % 3],
                   'document-' || g || '.pdf', 'application/pdf', 1024 * g, md5(g::text),
                   'bench/' || :customer || '/' || g || '/' || md5(random()::text), :user, {spread}
            FROM generate_series(1, {ENTRIES["customer_documents"]}) g
            """
        ),
        params,
    )


OPEN_WORK = 30


def add_open_work(customer_id: int) -> None:
    """OPEN_WORK open deals, tickets and activities of the customer, made by their services."""
    import datetime as dt
    from decimal import Decimal

    from crm_web.activities.services import create_activity
    from crm_web.pipeline.opportunities import create_opportunity
    from crm_web.tickets.services import create_ticket

    now = dt.datetime.now(dt.UTC)
    for n in range(OPEN_WORK):
        create_opportunity(
            name=f"Bench deal {n}",
            customer_id=customer_id,
            amount=Decimal(1000 + n),
            expected_close_date=now.date() + dt.timedelta(days=n),
        )
        create_ticket(subject=f"Bench ticket {n}", customer_id=customer_id)
        create_activity(
            activity_type="call",
            subject=f"Bench call {n}",
            customer_id=customer_id,
            due_at=now + dt.timedelta(hours=n - 5),
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--org", help="reuse this already seeded organization (its slug)")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from sqlalchemy import text

    from crm_web.accounts.services import create_api_token, create_user
    from crm_web.customer360.seeding import seed_activity
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db

    app = migrated_app()
    with app.app_context():
        if args.org:
            organization_id = db.session.execute(
                text("SELECT organization_id_for_slug(:s)"), {"s": args.org}
            ).scalar_one()
            set_tenant(organization_id)
            # A fresh admin whose password we know signs in for the timings.
            admin = create_user(
                email=f"bench-{uuid.uuid4().hex[:8]}@{args.org}.example",
                name="Bench",
                role="admin",
                password=PASSWORD,
            )
        else:
            slug = f"bench360-{uuid.uuid4().hex[:8]}"
            organization, admin = new_organization("Bench 360", slug)
            organization_id = organization.id
            set_tenant(organization_id, admin.id)
            started = time.perf_counter()
            atomic(seed_customers)(args.customers, seed=3)
            customers_seconds = time.perf_counter() - started
            started = time.perf_counter()
            activity = atomic(seed_activity)(0, seed=3)
            activity_seconds = time.perf_counter() - started
            print(f"org {slug}")
            print(
                f"seed customers: {args.customers:,} in {customers_seconds:.1f} s; "
                f"their activity ({sum(activity.values()):,} rows: "
                + ", ".join(f"{n:,} {table}" for table, n in activity.items())
                + f") in {activity_seconds:.1f} s"
            )
        set_tenant(organization_id, admin.id)
        # A customer from the middle of the table without any history yet (seeding gave some
        # customers theirs), so it ends up with exactly the entries added below.
        customer_id = db.session.execute(
            text(
                """
                SELECT c.id FROM customers c
                WHERE c.organization_id = :org
                  AND c.id >= (SELECT id FROM customers WHERE organization_id = :org ORDER BY id
                               OFFSET (SELECT count(*) / 2 FROM customers WHERE organization_id = :org)
                               LIMIT 1)
                  AND NOT EXISTS (SELECT 1 FROM communications x WHERE x.customer_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM customer_notes x WHERE x.customer_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM event_attendees x WHERE x.customer_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM customer_consent_events x WHERE x.customer_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM customer_documents x WHERE x.customer_id = c.id)
                ORDER BY c.id LIMIT 1
                """
            ),
            {"org": organization_id},
        ).scalar_one()
        atomic(add_history)(db.session, organization_id, customer_id, admin.id)
        atomic(add_open_work)(customer_id)
        entries = db.session.execute(
            text(
                "SELECT (SELECT count(*) FROM communications WHERE customer_id = :c)"
                " + (SELECT count(*) FROM customer_notes WHERE customer_id = :c)"
                " + (SELECT count(*) + count(attended_at) FROM event_attendees WHERE customer_id = :c)"
                " + (SELECT count(*) FROM customer_consent_events WHERE customer_id = :c)"
                " + (SELECT count(*) FROM customer_documents WHERE customer_id = :c)"
            ),
            {"c": customer_id},
        ).scalar_one()
        _token, raw_token = create_api_token(admin, "bench")
        admin_email = admin.email
        db.session.commit()
        vacuum_analyze(
            app.config["DATABASE_URL"],
            "customers",
            "communications",
            "customer_notes",
            "events",
            "event_attendees",
            "customer_consent_events",
            "customer_documents",
            "opportunities",
            "tickets",
            "activities",
        )

    print(f"customer {customer_id}: {entries:,} timeline entries")
    client = app.test_client()
    sign_in(client, admin_email)

    base = f"/customers/{customer_id}"
    fragment = client.get(f"{base}/timeline", headers=HTMX).get_data(as_text=True)
    cursor = None
    for _ in range(20):  # 20 pages of 25: 500 entries deep
        page_url = f"{base}/timeline" + (f"?cursor={cursor}" if cursor else "")
        body = client.get(page_url, headers=HTMX).get_data(as_text=True)
        cursor = body.split("cursor=")[1].split('"')[0].split("&")[0] if "cursor=" in body else None
    assert "entry" in fragment and cursor
    api = {"Authorization": f"Bearer {raw_token}"}
    for label, url, headers in (
        ("360 page (full)", base, {}),
        ("timeline fragment, page 1", f"{base}/timeline", HTMX),
        ("timeline fragment, 500 deep", f"{base}/timeline?cursor={cursor}", HTMX),
        ("timeline fragment, notes+calls", f"{base}/timeline?types=note&types=call", HTMX),
        ("KPI fragment", f"{base}/kpis", HTMX),
        ("API 360", f"/api/v1/crm/customers/{customer_id}/360/", api),
        ("API timeline", f"/api/v1/crm/customers/{customer_id}/timeline/", api),
    ):
        p50, p95, size = timed_gets(client, url, args.runs, headers)
        print(f"{label:<32} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
