"""Activities benchmark: seeding, my tasks, the calendar and the reminder outbox on a real database.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_activities.py --customers 1000000 --activities 300000

It migrates the database, creates an organization with a team of sellers, seeds customers and
activities through the `crm seed` services, then times the HTMX fragments and API calls a seller
uses (my tasks, the calendar month and week, mine and everyone's) with the Flask test client,
and how fast the outbox sends reminders that came due, over SMTP to a local sink, with one
sender and with two racing.
"""

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

SELLERS = 10


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(client, url: str, runs: int, headers: dict) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples), percentile(samples, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--reminders", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import text

    from crm_web import create_app
    from crm_web.accounts.services import create_api_token, create_user
    from crm_web.activities import reminders, services
    from crm_web.activities.seeding import seed_activities
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant, tenant_scope
    from crm_web.devservices import free_port
    from crm_web.extensions import db
    from crm_web.messaging.devmail import start_sink
    from crm_web.onboarding import create_organization

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
            timezone="Europe/Istanbul",
        )
        set_tenant(organization.id, admin.id)
        seller = None
        for index in range(SELLERS):
            user = create_user(
                email=f"seller{index}@{slug}.example",
                name=f"Seller {index}",
                role="sales",
                password="quiet lake at dawn" if index == 0 else None,
            )
            seller = seller or user
        started = time.perf_counter()
        atomic(seed_customers)(args.customers, seed=3)
        print(f"seed: {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        count = atomic(seed_activities)(args.activities, seed=3)
        seconds = time.perf_counter() - started
        print(f"seed: {count:,} activities in {seconds:.1f} s = {count / seconds:,.0f} rows/s")
        with psycopg.connect(app.config["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE activities")
            connection.execute("VACUUM ANALYZE customers")
        set_tenant(organization.id, seller.id)
        _token, raw_token = create_api_token(seller)
        today = services.local_today()
        mine = db.session.execute(
            text("SELECT count(*) FROM activities WHERE assigned_to_id = :u"), {"u": seller.id}
        ).scalar_one()
        print(f"the timed seller has {mine:,} activities")

    client = app.test_client()
    response = client.post("/login", data={"email": seller.email, "password": "quiet lake at dawn"})
    assert response.status_code == 303, response.status_code
    htmx = {"HX-Request": "true"}
    api = {"Authorization": f"Bearer {raw_token}"}
    month_start, month_end = today.replace(day=1), today.replace(day=1) + timedelta(days=31)
    for label, url, headers in (
        ("my tasks (three buckets)", "/tasks", htmx),
        ("calendar month, mine", f"/calendar?date={today}", htmx),
        ("calendar month, everyone", f"/calendar?date={today}&user=all", htmx),
        ("calendar week, everyone", f"/calendar?view=week&date={today}&user=all", htmx),
        ("activity list, open", "/activities?status=open", htmx),
        (
            "API calendar, everyone, 200",
            f"/api/v1/crm/calendar/?start={month_start}&end={month_end}&user=all&limit=200",
            api,
        ),
    ):
        p50, p95 = timed(client, url, args.runs, headers)
        print(f"{label:<32} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")

    def send(results: list) -> None:
        with app.app_context(), tenant_scope(organization.id):
            total = 0
            while counts := reminders.process_due_reminders():
                total += counts.get("sent", 0)
            results.append(total)

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        sink = start_sink(Path(folder), port=port)
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        try:
            for senders in (1, 2):
                with app.app_context():
                    set_tenant(organization.id)
                    # Make open future activities' reminders come due now.
                    armed = db.session.execute(
                        text(
                            "UPDATE activities SET reminder_minutes_before = 5, "
                            "reminder_at = now() - interval '1 minute', reminder_armed = true "
                            "WHERE id IN (SELECT id FROM activities WHERE organization_id = :org "
                            "AND status = 'planned' AND due_at > now() + interval '1 day' "
                            "AND NOT reminder_armed ORDER BY id LIMIT :n)"
                        ),
                        {"org": organization.id, "n": args.reminders},
                    ).rowcount
                    db.session.commit()
                results: list = []
                started = time.perf_counter()
                threads = [threading.Thread(target=send, args=(results,)) for _ in range(senders)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                seconds = time.perf_counter() - started
                print(
                    f"reminders, {senders} sender(s): {sum(results):,} of {armed:,} sent in "
                    f"{seconds:.1f} s = {sum(results) / seconds:,.0f}/s"
                )
        finally:
            sink.stop()


if __name__ == "__main__":
    main()
