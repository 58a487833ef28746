"""Dashboards benchmark: every role's card fragments, the dashboard page, the reports and the
materialized views' refresh at scale (prints figures; not a test).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/bench_dashboard.py --customers 1000000 --open 100000 \\
            --closed 500000 --lines 5000000 --deliveries 1000000

A database of its own (crm_bench_dashboard, or --database) is migrated and an organization seeded with N
customers (`crm seed`'s COPY), then orders and lines with bench_commerce.py's loader, and
deals (open and closed over two years, with the pipeline's totals kept by its statement
triggers), tickets, activities, consent changes and campaign deliveries set-based as the
owner; then VACUUM ANALYZE. With --reuse the data a previous run loaded there is timed again
(pending migrations applied first): loading a million takes minutes. It prints:

1. each materialized view's refresh time (REFRESH ... CONCURRENTLY, as the scheduler's job);
2. each card fragment's p50/p95 per role (Flask test client, single client; target p95 <
   100 ms), and the dashboard page itself (the grid that paints at once) against the plain
   page (bench/plain_wsgi.py's /plain: one 50-row query, Flask alone) timed the same way;
   "painted" is the page plus its slowest card (the cards load in parallel) and, for a single
   connection, the page plus every card one after another (target < 300 ms);
3. the reports page and a CSV report (target p95 < 500 ms).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg
from _common import (
    HTMX,
    database_url,
    fresh_database,
    new_organization,
    p50_p95,
    server_url,
    sign_in,
    timed,
    timed_gets,
    vacuum_analyze,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_commerce import load as load_orders  # noqa: E402
from bench_commerce import make_app  # noqa: E402

TABLES = (
    "customers",
    "orders",
    "order_lines",
    "opportunities",
    "tickets",
    "activities",
    "customer_consent_events",
    "campaigns",
    "campaign_recipients",
    "communications",
)
ROLES = ("sales", "manager", "support", "marketing", "admin")
SELLERS = 20
ORGANIZATION = "Dashboard Bench"


def load_crm(database_url: str, organization_id: int, users: dict, args) -> None:
    """Deals, tickets, activities, consent changes, communications and campaign deliveries."""
    sellers = users["sellers"]
    with psycopg.connect(database_url, autocommit=False) as connection:
        run = connection.execute
        first, count = run(
            "SELECT min(id), count(*) FROM customers WHERE organization_id = %s",
            (organization_id,),
        ).fetchone()
        run(
            "UPDATE customers SET owner_id = (%(sellers)s)[1 + id %% %(n)s] "
            "WHERE organization_id = %(org)s",
            {"sellers": sellers, "n": len(sellers), "org": organization_id},
        )
        stages = run(
            "SELECT id, outcome, probability FROM pipeline_stages WHERE organization_id = %s "
            "ORDER BY position",
            (organization_id,),
        ).fetchall()
        open_ids = [stage[0] for stage in stages if stage[1] == "open"]
        won = next(stage[0] for stage in stages if stage[1] == "won")
        lost = next(stage[0] for stage in stages if stage[1] == "lost")
        total = args.open + args.closed
        # Statement triggers keep the board's totals; the rest of the load runs without them.
        run(
            "INSERT INTO opportunities (organization_id, opportunity_number, name, customer_id, "
            "stage_id, status, probability, amount, currency, expected_close_date, owner_id, "
            "position, source, competitor, next_step, description, win_reason, loss_reason, "
            "stage_entered_at, closed_at, created_at, updated_at) "
            "SELECT %(org)s, 'OPP-' || lpad(g::text, 8, '0'), 'Deal ' || g, "
            "%(first)s + (g::bigint * 7919) %% %(n)s, "
            "CASE WHEN g <= %(open)s THEN (%(open_ids)s)[1 + g %% %(stages)s] "
            "     WHEN g %% 3 = 0 THEN %(lost)s ELSE %(won)s END, "
            "CASE WHEN g <= %(open)s THEN 'open' WHEN g %% 3 = 0 THEN 'lost' ELSE 'won' END, "
            "CASE WHEN g <= %(open)s THEN 10 + g %% 80 WHEN g %% 3 = 0 THEN 0 ELSE 100 END, "
            "1000 + g %% 50000, 'TRY', current_date + (g %% 180) - 30, "
            "(%(sellers)s)[1 + g %% %(sellers_n)s], g, '', '', '', '', '', '', c, "
            "CASE WHEN g > %(open)s THEN c + make_interval(days => 5 + g %% 60) END, c, c "
            "FROM generate_series(1, %(total)s) g, "
            "LATERAL (SELECT now() - make_interval(days => 61 + g %% 670) AS c) x",
            {
                "org": organization_id,
                "first": first,
                "n": count,
                "open": args.open,
                "open_ids": open_ids,
                "stages": len(open_ids),
                "won": won,
                "lost": lost,
                "sellers": sellers,
                "sellers_n": len(sellers),
                "total": total,
            },
        )
        run("SET session_replication_role = replica")
        agents = users["agents"]
        run(
            "INSERT INTO tickets (organization_id, number, subject, description, customer_id, "
            "channel, category, ticket_type, priority, status, assignee_id, department, tags, "
            "routing_reason, csat_comment, first_responded_at, resolved_at, csat_rating, csat_submitted_at, "
            "first_response_seconds, resolution_seconds, first_response_breached, "
            "resolution_breached, sla_due_at, created_at, updated_at) "
            "SELECT %(org)s, g, 'Ticket ' || g, '', %(first)s + (g::bigint * 31) %% %(n)s, "
            "(ARRAY['email','phone','web','api'])[1 + g %% 4], 'general', 'question', "
            "(ARRAY['low','normal','high','urgent'])[1 + g %% 4], "
            "CASE WHEN g %% 10 = 0 THEN 'open' ELSE 'closed' END, "
            "(%(agents)s)[1 + g %% %(agents_n)s], '', '{}', '', '', c + interval '1 hour', "
            "CASE WHEN g %% 10 <> 0 THEN c + interval '1 day' END, "
            "CASE WHEN g %% 3 = 0 THEN 1 + g %% 5 END, "
            "CASE WHEN g %% 3 = 0 THEN c + interval '2 days' END, "
            "600 + g %% 7200, CASE WHEN g %% 10 <> 0 THEN 3600 + g %% 86400 END, "
            "g %% 17 = 0, g %% 23 = 0, c + interval '8 hours', c, c "
            "FROM generate_series(1, %(tickets)s) g, "
            "LATERAL (SELECT now() - make_interval(mins => g %% 87840) AS c) x",
            {
                "org": organization_id,
                "first": first,
                "n": count,
                "agents": agents,
                "agents_n": len(agents),
                "tickets": args.tickets,
            },
        )
        run(
            "INSERT INTO activities (organization_id, activity_type, subject, description, "
            "customer_id, assigned_to_id, due_at, status, priority, location, outcome, "
            "next_action, completed_at, reminder_armed, created_at, updated_at) "
            "SELECT %(org)s, (ARRAY['call','meeting','email','follow_up'])[1 + g %% 4], "
            "'Activity ' || g, '', %(first)s + (g::bigint * 13) %% %(n)s, "
            "(%(sellers)s)[1 + g %% %(sellers_n)s], d, "
            "CASE WHEN g %% 5 = 0 THEN 'planned' ELSE 'completed' END, 'normal', '', '', '', "
            "CASE WHEN g %% 5 <> 0 THEN d END, false, d, d "
            "FROM generate_series(1, %(activities)s) g, "
            "LATERAL (SELECT now() - make_interval(mins => g %% 87840) "
            "                + interval '3 days' AS d) x",
            {
                "org": organization_id,
                "first": first,
                "n": count,
                "sellers": sellers,
                "sellers_n": len(sellers),
                "activities": args.activities,
            },
        )
        run(
            "INSERT INTO customer_consent_events (organization_id, customer_id, channel, "
            "old_value, new_value, source, note, created_at) "
            "SELECT %(org)s, %(first)s + g %% %(n)s, 'email', g %% 4 = 0, g %% 4 <> 0, "
            "CASE WHEN g %% 4 = 0 THEN 'unsubscribe' ELSE 'form' END, '', "
            "now() - make_interval(mins => g %% 87840) "
            "FROM generate_series(1, %(events)s) g",
            {"org": organization_id, "first": first, "n": count, "events": args.customers // 5},
        )
        run(
            "INSERT INTO communications (organization_id, customer_id, communication_type, "
            "direction, subject, content, sender, recipient, status, outcome, "
            "provider_message_id, source_type, attachments, tags, created_at) "
            "SELECT %(org)s, %(first)s + g %% %(n)s, "
            "(ARRAY['call','meeting','email','sms'])[1 + g %% 4], 'outbound', 'Hello', '', "
            "'', '', 'logged', '', '', '', '[]', '{}', now() - make_interval(mins => g %% 87840) "
            "FROM generate_series(1, %(count)s) g",
            {"org": organization_id, "first": first, "n": count, "count": args.customers},
        )
        campaigns = max(1, args.deliveries // 50_000)
        run(
            "INSERT INTO campaigns (organization_id, name, status, topic, from_name, "
            "from_address, reply_to, include_segment_ids, exclude_segment_ids, schedule_mode, "
            "ab_test_percent, ab_metric, ab_wait_minutes, ab_auto, recipient_count, "
            "started_at, finished_at, created_at, updated_at) "
            "SELECT %(org)s, 'Campaign ' || g, 'sent', '', 'Us', 'us@example.com', '', '{}', "
            "'{}', 'now', 0, 'opens', 240, true, 50000, t, t + interval '1 hour', t, t "
            "FROM generate_series(1, %(campaigns)s) g, "
            "LATERAL (SELECT now() - make_interval(days => g * 3) AS t) x",
            {"org": organization_id, "campaigns": campaigns},
        )
        first_campaign = run(
            "SELECT min(id) FROM campaigns WHERE organization_id = %s", (organization_id,)
        ).fetchone()[0]
        run(
            "INSERT INTO campaign_recipients (organization_id, campaign_id, customer_id, email, "
            "status, sent_at, opened_at, opens, clicked_at, clicks) "
            "SELECT %(org)s, %(first_campaign)s + (g - 1) / 50000, "
            "%(first)s + (g - 1) %% %(n)s, 'c' || g || '@example.com', 'sent', now(), "
            "CASE WHEN g %% 3 = 0 THEN now() END, (g %% 3 = 0)::int, "
            "CASE WHEN g %% 10 = 0 THEN now() END, (g %% 10 = 0)::int "
            "FROM generate_series(1, %(deliveries)s) g",
            {
                "org": organization_id,
                "first_campaign": first_campaign,
                "first": first,
                "n": count,
                "deliveries": min(args.deliveries, campaigns * 50_000),
            },
        )
        connection.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--closed", type=int, default=500_000)
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database", default="crm_bench_dashboard", help="the bench's database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the data a previous run loaded into --database (loading 1M takes minutes); "
        "pending migrations are applied first",
    )
    args = parser.parse_args()

    if args.reuse:
        url = database_url(server_url(), args.database)
        app = make_app(url, connections=4)
        organization_id, emails = loaded(url)
    else:
        url = fresh_database(server_url(), args.database)
        app = make_app(url, connections=4)
        organization_id, emails = load_all(app, url, args)
    measure(app, organization_id, emails, args)


def loaded(url: str) -> tuple[int, dict]:
    """The organization a previous run loaded, and the email of each role's bench user (read
    as the owner: the app's role sees no organization before it signs in)."""
    with psycopg.connect(url) as connection:
        organization_id = connection.execute(
            "SELECT id FROM organizations WHERE name = %s ORDER BY id DESC LIMIT 1",
            (ORGANIZATION,),
        ).fetchone()[0]
        emails = {
            role: connection.execute(
                "SELECT email FROM users WHERE organization_id = %s AND role = %s "
                "AND password_hash IS NOT NULL ORDER BY id LIMIT 1",
                (organization_id, role),
            ).fetchone()[0]
            for role in ROLES
        }
    return organization_id, emails


def load_all(app, url: str, args) -> tuple[int, dict]:
    """Seed the organization and load every table (see the module docstring)."""
    from crm_web.accounts.services import create_user
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, clear_tenant, set_tenant
    from crm_web.extensions import db

    started = time.perf_counter()
    with app.app_context():
        organization, admin = new_organization(ORGANIZATION, currency="TRY")
        set_tenant(organization.id, admin.id)
        people = {}
        for role in ("manager", "support", "marketing"):
            people[role] = atomic(create_user)(
                email=f"{role}@{organization.slug}.example",
                name=role.title(),
                role=role,
                password=os.environ.get("BENCH_PASSWORD", "quiet lake at dawn"),
            )
        sellers = [
            atomic(create_user)(
                email=f"seller{n}@{organization.slug}.example",
                name=f"Seller {n}",
                role="sales",
                password="quiet lake at dawn" if n == 0 else None,
            )
            for n in range(SELLERS)
        ]
        people["sales"] = sellers[0]
        people["admin"] = admin
        atomic(seed_customers)(args.customers, seed=1)
        users = {"sellers": [s.id for s in sellers], "agents": [people["support"].id]}
        emails = {role: person.email for role, person in people.items()}
        clear_tenant()
        db.session.remove()
    print(f"seeded {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    load_orders(url, organization.id, admin.id, args.lines, 0)
    load_crm(url, organization.id, users, args)
    vacuum_analyze(url, *TABLES)
    print(
        f"loaded {args.open:,} open + {args.closed:,} closed deals, {args.lines:,} order lines, "
        f"{args.tickets:,} tickets, {args.activities:,} activities, {args.deliveries:,} "
        f"deliveries in {time.perf_counter() - started:.1f} s"
    )
    return organization.id, emails


def measure(app, organization_id: int, emails: dict, args) -> None:
    """Print the refresh times, the cards', pages' and reports' percentiles."""
    from crm_web.dashboard import registry
    from crm_web.dashboard import services as dashboards

    with app.app_context():
        for run in range(2):
            seconds = dashboards.refresh()
            print(
                f"1. refresh of every dashboard view (run {run + 1}): {sum(seconds.values()):.2f} s"
            )
            for view, taken in seconds.items():
                print(f"      {view:<22} {taken:6.2f} s")

    import plain_wsgi

    plain = plain_wsgi.app.test_client()
    plain_samples = timed(lambda: plain.get(f"/plain?org={organization_id}").status_code, args.runs)
    _plain50, plain95 = p50_p95(plain_samples)
    print(f"2. plain page (Flask alone, 50-row query): p95 {plain95:.1f} ms")
    client = app.test_client()
    worst = []
    for role in ROLES:
        sign_in(client, emails[role])
        page50, page95, _size = timed_gets(client, "/", args.runs, headers={})
        print(
            f"   {role}: page (grid) p50 {page50:.1f} ms, p95 {page95:.1f} ms "
            f"= {page95 / plain95:.1f}x the plain page"
        )
        slowest = 0.0
        serial = page95
        for card in registry.cards_for([role]):
            p50, p95, _size = timed_gets(client, f"/dashboard/cards/{card.key}", args.runs, HTMX)
            flag = "" if p95 < 100 else "  (over 100 ms)"
            print(f"      card {card.key:<18} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms{flag}")
            slowest = max(slowest, p95)
            serial += p95
        worst.append(page95 + slowest)
        print(
            f"      painted: page + slowest card {page95 + slowest:.0f} ms "
            f"(cards in parallel); one connection, card after card: {serial:.0f} ms"
        )
    print(f"   worst role painted in {max(worst):.0f} ms (target < 300 ms)")

    sign_in(client, emails["admin"])
    p50, p95, _size = timed_gets(client, "/reports", max(10, args.runs // 5), headers={})
    print(f"3. reports page (5 charts, last 30 days): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    p50, p95, size = timed_gets(client, "/reports/product-revenue.csv", 10, headers={})
    print(f"   product revenue CSV: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {size:,} bytes")


if __name__ == "__main__":
    main()
