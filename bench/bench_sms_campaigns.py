"""Starting an SMS campaign: the ledger with the SMS consent rules and one outbox SMS per
recipient with the organization's quiet hours applied in each recipient's time zone, and the
form's live count of reachable customers. Run by hand (prints figures; not a test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_sms_campaigns.py --recipients 100000 [--quiet 21:00-09:00]

For issue 16's "1,000,000 SMS queued", --recipients 1000000 (the seeding alone takes minutes:
--seeded NAME keeps the seeded database under NAME, and the next runs start from a copy of it).

It makes a database of its own (--database, crm_bench_sms_campaigns by default; dropped at the
end), seeds N customers with the `crm seed` service (their own time zones), all with a phone
and SMS opt-in, a static segment of them all and a draft SMS campaign with merge fields. The
clock runs around `schedule_campaign(..., now)` (one transaction: the ledger statement and the
queue statement), then around the live count the campaign form asks for as the marketer types.
Sending through the gateway is the outbox's (bench_outbox.py).
"""

import argparse
import time

import psycopg
from _common import (
    bench_environment,
    copied_or_fresh,
    copy_database,
    migrated_app,
    new_organization,
    server_url,
)
from sqlalchemy import text

DATABASE = "crm_bench_sms_campaigns"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--quiet", default="21:00-09:00", help="quiet hours ('' for none)")
    parser.add_argument("--counts", type=int, default=5, help="live counts to time")
    parser.add_argument("--database", default=DATABASE, help="the bench database's name")
    parser.add_argument(
        "--seeded",
        help="a database kept between runs with the seeded customers: made (and seeded) by the "
        "first run, copied by the next ones instead of seeding again",
    )
    args = parser.parse_args()
    from crm_web.devservices import drop_database

    server = server_url()
    url, copied = copied_or_fresh(server, args.database, args.seeded)
    bench_environment(DATABASE_URL=url, SECRET_KEY="bench-sms", LOG_LEVEL="WARNING")
    from crm_web.campaigns import services
    from crm_web.db import tenant_scope
    from crm_web.extensions import db
    from crm_web.segments.services import create_segment

    app = migrated_app()
    try:
        with app.app_context():
            if not copied:
                _seed(url, args.recipients)
                db.session.commit()
                if args.seeded:
                    db.engine.dispose()
                    copy_database(server, args.database, args.seeded)
        organization_id, admin_id = _organization(url, args.quiet)
        with app.app_context(), tenant_scope(organization_id, admin_id):
            segment = create_segment({"segment_name": "All", "is_dynamic": False})
            campaign = services.create_campaign(
                {
                    "name": "Bench SMS",
                    "channel": "sms",
                    "include_segment_ids": [segment.id],
                    "sms_body": "Merhaba {{ customer.first_name }}, bahar indirimi başladı!",
                    "sender_id": "BENCH",
                }
            )
            db.session.commit()
            campaign_id, segment_id = campaign.id, segment.id
        print(f"{args.recipients:,} customers with SMS consent, quiet hours {args.quiet or 'none'}")

        with app.app_context(), tenant_scope(organization_id, admin_id):
            started = time.perf_counter()
            services.schedule_campaign(campaign_id)
            seconds = time.perf_counter() - started
            queued, held = db.session.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE next_attempt_at > now() + "
                    "interval '1 minute') FROM outbox_messages WHERE source_id = :c"
                ),
                {"c": campaign_id},
            ).one()
        print(
            f"start (ledger + queue): {seconds:.2f} s for {queued:,} SMS "
            f"({queued / seconds:,.0f}/s); {held:,} wait for the end of the quiet hours"
        )

        with app.app_context(), tenant_scope(organization_id, admin_id):
            samples = []
            for _run in range(args.counts):
                started = time.perf_counter()
                reachable = services.reachable("sms", [segment_id], [])
                samples.append(time.perf_counter() - started)
            samples.sort()
        print(
            f"live count of {reachable:,} reachable: median {samples[len(samples) // 2] * 1000:.0f}"
            f" ms, worst {samples[-1] * 1000:.0f} ms ({args.counts} runs)"
        )
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_database(server, args.database)


SLUG = "bench-sms"


def _seed(url: str, recipients: int) -> None:
    """A new organization with `recipients` customers, all with a phone and SMS consent."""
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, tenant_scope
    from crm_web.extensions import db

    organization, admin = new_organization("Bench SMS", slug=SLUG, timezone="Europe/Istanbul")
    db.session.commit()
    with tenant_scope(organization.id, admin.id):
        atomic(seed_customers)(recipients, seed=16)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "UPDATE customers SET sms_opt_in = true, do_not_contact = false, "
            "is_active = true, primary_phone = '+90532' || lpad(id::text, 7, '0')"
        )
        connection.execute("VACUUM ANALYZE customers")


def _organization(url: str, quiet: str) -> tuple[int, int]:
    """The seeded organization, with these quiet hours, and its admin (as the owner: the app's
    role sees no organization before it acts for one)."""
    with psycopg.connect(url) as connection:
        return connection.execute(
            "UPDATE organizations o SET sms_quiet_hours = %s FROM users u"
            " WHERE o.slug = %s AND u.organization_id = o.id AND u.email = %s"
            " RETURNING o.id, u.id",
            (quiet, SLUG, f"admin@{SLUG}.example"),
        ).fetchone()


if __name__ == "__main__":
    main()
