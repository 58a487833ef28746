"""Leads benchmark: seeding and rescoring set-based, list fragments, capture latency.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_leads.py --leads 1000000

It migrates the database and creates a fresh organization with ten sales reps in a team and
two assignment rules, then seeds customers and N leads through `crm seed`'s services (COPY, then
set-based scoring, conversion and assignment history), times a full rescoring after a rule
change, the lead list's HTMX fragments (first page, filters, search, score order, a deep keyset
page), the scoring analysis, and a capture (numbering, routing, scoring) by hand and through the
public form. Last, a CSV import of --import-rows new leads (the worker's dry run, then the
import: checks, COPY, dedupe against the stored leads, routing by the rules, scoring), against
a raw COPY of the same file in the same run, and the same file again in "update" mode.
"""

import argparse
import csv
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict

import psycopg
from bench_customer_import import Clock, raw_copy_plain
from bench_customer_import import timed as timed_stage

IMPORT_HEADER = [
    "First name",
    "Last name",
    "Company",
    "Job title",
    "Email",
    "Phone",
    "Country",
    "Source",
    "Budget",
    "Authority",
    "Timeline",
]
TITLES = ("CEO", "Director of IT", "Buyer", "Engineer", "Head of Sales", "")
SOURCES = ("Trade show", "referral", "Web form", "cold call", "partner", "advertising")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(label: str, samples: list[float]) -> None:
    print(
        f"{label:<40} p50 {statistics.median(samples):7.1f} ms   p95 {percentile(samples, 0.95):7.1f} ms"
    )


def timed(fn, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def write_leads_file(path: str, rows: int, variant: int = 0) -> None:
    """N leads, Turkish and British; 0.1% with a bad email. A variant changes budgets."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(IMPORT_HEADER)
        for i in range(rows):
            turkish = i % 3 != 0
            writer.writerow(
                [
                    f"Ad{i}",
                    f"Soyad{i % 5000}",
                    f"Firma {i % 20000}",
                    TITLES[i % len(TITLES)],
                    "broken.address" if i % 1000 == 999 else f"lead{i}@example{i % 97}.com",
                    f"0532 {i // 10000:03d} {i % 10000:04d}"
                    if turkish
                    else f"+44 7911 {i % 1000000:06d}",
                    "TR" if turkish else "GB",
                    SOURCES[i % len(SOURCES)],
                    str((i % 50) * 5000 + variant),
                    "decision_maker" if i % 4 == 0 else "influencer",
                    "1-3 months" if i % 5 == 0 else "",
                ]
            )


def bench_import(app, rows: int) -> None:
    """Import a file of new leads, then the same leads again in update mode; rows/s and stages."""
    from crm_web.imports import services
    from crm_web.leads.importing import LeadTarget

    stages: dict[str, float] = defaultdict(float)
    for name in ("_stage", "_plan", "_record_rejects"):
        setattr(services, name, timed_stage(stages, name.strip("_"), getattr(services, name)))
    LeadTarget.clean = timed_stage(stages, "  of which clean (validation)", LeadTarget.clean)
    LeadTarget.update = timed_stage(stages, "update", LeadTarget.update)
    LeadTarget.create = timed_stage(stages, "create (route, score, insert)", LeadTarget.create)
    app.config["IMPORT_MAX_BYTES"] = 1 << 40
    app.config["UPLOAD_DIR"] = tempfile.mkdtemp(prefix="crm-bench-uploads-")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "leads.csv")
        write_leads_file(path, rows)
        url = app.config["DATABASE_URL"]
        copy_seconds, _cpu = raw_copy_plain(url, Clock(url), path, len(IMPORT_HEADER))
        copy_rate = rows / copy_seconds
        print(
            f"\nimport file: {rows:,} rows, {os.path.getsize(path) / 1e6:.0f} MB; "
            f"raw COPY into a plain table {copy_rate:,.0f} rows/s"
        )

        def run(file_path: str, mode: str, label: str) -> None:
            with open(file_path, "rb") as stream:
                job = services.create_import("leads", "bench.csv", stream)
            services.check_import(job.id, job.mapping, mode)
            started = time.perf_counter()
            services.run_import_job(job.id)
            check_seconds = time.perf_counter() - started
            assert services.get_import(job.id).status == "checked"
            services.start_import(job.id)
            stages.clear()
            started = time.perf_counter()
            services.run_import_job(job.id)
            seconds = time.perf_counter() - started
            done = services.get_import(job.id)
            assert done.status == "imported", done.message
            print(
                f"{label}: dry run {rows / check_seconds:>9,.0f} rows/s   import {seconds:6.1f} s "
                f"= {rows / seconds:>9,.0f} rows/s   ratio to raw COPY {rows / seconds / copy_rate:.3f}"
                f"   {dict(done.report)}"
            )
            for name, spent in stages.items():
                print(f"    {name:<32} {spent:6.1f} s")

        run(path, "skip", "import new leads")
        changed = os.path.join(directory, "changed.csv")
        write_leads_file(changed, rows, variant=1)
        run(changed, "update", "update of the same leads")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--import-rows", type=int, default=100_000, help="0: no import")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import text

    from crm_web import create_app
    from crm_web.accounts.services import create_user
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, set_tenant
    from crm_web.extensions import db
    from crm_web.leads import assignment, scoring, services
    from crm_web.leads.seeding import seed_leads
    from crm_web.onboarding import create_organization
    from crm_web.pagination import encode_cursor

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["LEAD_FORM_MAX_PER_IP"] = 1_000_000
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
        reps = [
            create_user(
                email=f"rep{i}@{slug}.example",
                name=f"Rep {i}",
                role="sales",
                password="quiet lake at dawn",
                skills="turkish" if i % 3 == 0 else "english",
            )
            for i in range(10)
        ]
        team = assignment.create_team(name="Sales", member_ids=[rep.id for rep in reps])
        assignment.create_rule(
            name="Turkey",
            priority=1,
            user_id=None,
            team_id=team.id,
            method="least_loaded",
            countries="TR",
            required_skills="turkish",
        )
        assignment.create_rule(
            name="All", priority=2, user_id=None, team_id=team.id, method="round_robin"
        )
        services.update_settings(
            web_form_enabled=True, web_form_thank_you="Thanks.", auto_assign=True
        )
        atomic(seed_customers)(args.customers, seed=5)
        started = time.perf_counter()
        atomic(seed_leads)(args.leads, seed=5)
        seconds = time.perf_counter() - started
        print(
            f"seed: {args.leads:,} leads (scored, converted, assigned) in {seconds:.1f} s "
            f"= {args.leads / seconds:,.0f} leads/s"
        )
        # A rule change rescores every lead, in committed batches of 5,000.
        rule = scoring.list_rules()[0]
        rule.points += 1
        db.session.commit()
        started = time.perf_counter()
        batches = scoring.rescore_all()
        seconds = time.perf_counter() - started
        print(
            f"rescore: {args.leads:,} leads in {batches} batches, {seconds:.1f} s "
            f"= {args.leads / seconds:,.0f} leads/s"
        )
        # As autovacuum would: statistics, and the visibility map index-only scans rely on.
        with psycopg.connect(app.config["DATABASE_URL"], autocommit=True) as connection:
            for table in ("leads", "customers", "lead_assignments"):
                connection.execute(f"VACUUM ANALYZE {table}")

        deep_id = db.session.execute(
            text(
                "SELECT id FROM leads WHERE organization_id = :org ORDER BY id LIMIT 1 OFFSET 5000"
            ),
            {"org": organization.id},
        ).scalar_one()
        some_lead = db.session.execute(
            text("SELECT id FROM leads WHERE organization_id = :org ORDER BY id DESC LIMIT 1"),
            {"org": organization.id},
        ).scalar_one()
        db.session.commit()

    client = app.test_client()
    response = client.post("/login", data={"email": admin.email, "password": "quiet lake at dawn"})
    assert response.status_code == 303, response.status_code
    htmx = {"HX-Request": "true"}
    for label, url in (
        ("list page 1", "/leads/"),
        ("list deep page (cursor)", f"/leads/?cursor={encode_cursor([deep_id])}"),
        ("list status=qualified", "/leads/?status=qualified"),
        ("list best score first", "/leads/?sort=score"),
        ("list assigned to one rep", f"/leads/?assigned_to={reps[3].id}"),
        ("list band 80-100", "/leads/?band=80-100"),
        ("list search 'son'", "/leads/?q=son"),
        ("list search exact email", "/leads/?q=nobody%40nowhere.example"),
        ("lead detail", f"/leads/{some_lead}"),
        ("scoring analysis", "/leads/scoring/analysis"),
    ):

        def get(url=url):
            result = client.get(url, headers=htmx)
            assert result.status_code == 200, (url, result.status_code)

        report(label, timed(get, args.runs))

    counter = iter(range(10**9))

    def capture():
        n = next(counter)
        result = client.post(
            "/leads/new",
            data={
                "first_name": "Bench",
                "last_name": f"Capture {n}",
                "email": f"c{n}@bench.example",
                "country": "TR",
                "source": "web_form",
                "authority": "decision_maker",
            },
            headers=htmx,
        )
        assert result.status_code == 200, result.status_code

    def web_form():
        n = next(counter)
        result = client.post(
            f"/f/{slug}/lead",
            data={
                "first_name": "Web",
                "last_name": f"Visitor {n}",
                "email": f"w{n}@bench.example",
                "need": "A CRM",
            },
        )
        assert result.status_code == 200, result.status_code

    report("capture by hand (route, score)", timed(capture, args.runs))
    report("capture by public form", timed(web_form, args.runs))
    if args.import_rows:
        with app.app_context():
            set_tenant(organization.id, admin.id)
            bench_import(app, args.import_rows)


if __name__ == "__main__":
    main()
