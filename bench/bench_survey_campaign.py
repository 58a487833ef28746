"""What a survey costs a campaign: starting it (the ledger, one invitation per recipient, the
queue) and loading and rendering a batch of its emails (each with a personal survey link),
beside the same campaign without a survey, in the same run. Run by hand (prints figures; not a
test):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_survey_campaign.py --recipients 50000 --batch 500

It makes a database of its own (crm_bench_survey_campaign, dropped at the end), seeds N customers
with the `crm seed` service, all agreeing to email, a static segment of them all, a launched NPS
survey and two templates that differ only by the survey link. The start clock runs around
`schedule_campaign` (one transaction); the batch clock around the campaign kind's `load` (the
batch's recipients, consent and invitations in one query, the links signed) and rendering each
message, as a delivery loop does for one claimed batch.
"""

import argparse
import statistics
import time

import psycopg
from _common import bench_environment, fresh_database, migrated_app, new_organization, server_url
from sqlalchemy import text

DATABASE = "crm_bench_survey_campaign"
BODY = (
    "<p>Hello {{ customer.first_name }},</p><p>Our spring news.</p>"
    '<a href="https://example.com/shop">Shop</a>'
)


def _pending(organization_id: int, campaign_id: int, batch: int) -> list:
    from crm_web.extensions import db
    from crm_web.outbox.kinds import Pending

    rows = db.session.execute(
        text(
            "SELECT id, kind, source_id, context, to_address, to_name, customer_id, message_id "
            "FROM outbox_messages WHERE organization_id = :org AND source_id = :c "
            "ORDER BY id LIMIT :n"
        ),
        {"org": organization_id, "c": campaign_id, "n": batch},
    )
    return [
        Pending(r.id, organization_id, r.kind, r.source_id, r.context, r.to_address, r.to_name,
                r.customer_id, None, r.message_id, 0, "")
        for r in rows
    ]  # fmt: skip


def _batch_seconds(organization_id: int, campaign_id: int, batch: int, runs: int) -> list[float]:
    from crm_web.campaigns import content, messages

    pending = _pending(organization_id, campaign_id, batch)
    samples = []
    for _run in range(runs):
        started = time.perf_counter()
        contexts = messages._load(pending)
        for context in contexts.values():
            content.render(context["prepared"], context["values"])
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    server = server_url()
    url = fresh_database(server, DATABASE)
    bench_environment(DATABASE_URL=url, SECRET_KEY="bench-survey", LOG_LEVEL="WARNING")
    from crm_web.campaigns import library, services
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, tenant_scope
    from crm_web.devservices import drop_database
    from crm_web.extensions import db
    from crm_web.segments.services import create_segment
    from crm_web.surveys import seeding
    from crm_web.surveys import services as surveys

    app = migrated_app()
    try:
        with app.app_context():
            organization, admin = new_organization("Bench surveys", slug="bench-surveys")
            db.session.commit()
            with tenant_scope(organization.id, admin.id):
                atomic(seed_customers)(args.recipients, seed=17)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                "UPDATE customers SET email_opt_in = true, do_not_contact = false, "
                "is_active = true, primary_email = 'c' || id || '@example.com'"
            )
            connection.execute("VACUUM ANALYZE customers")
        campaign_ids = {}
        with app.app_context(), tenant_scope(organization.id, admin.id):
            segment = create_segment({"segment_name": "All", "is_dynamic": False})
            survey = surveys.create_survey({"name": "NPS"}, seeding.nps_document())
            surveys.launch(survey.id)
            for name, html, survey_id in (
                ("plain", BODY, None),
                ("survey", BODY + '<a href="{{ survey_url }}">Answer</a>', survey.id),
            ):
                template = library.create_template({"name": name, "subject": "News", "html": html})
                campaign_ids[name] = services.create_campaign(
                    {
                        "name": name,
                        "include_segment_ids": [segment.id],
                        "variants": [{"template_id": template.id}],
                        "survey_id": survey_id,
                    }
                ).id
            db.session.commit()
        print(f"{args.recipients:,} customers agreeing to email; batches of {args.batch}")

        for name, campaign_id in campaign_ids.items():
            with app.app_context(), tenant_scope(organization.id, admin.id):
                started = time.perf_counter()
                services.schedule_campaign(campaign_id)
                seconds = time.perf_counter() - started
                invited = db.session.scalar(
                    text("SELECT count(*) FROM survey_invitations WHERE campaign_id = :c"),
                    {"c": campaign_id},
                )
            print(f"{name:>6}: start {seconds:.2f} s ({invited:,} invitations)")
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("ANALYZE survey_invitations")
        for name, campaign_id in campaign_ids.items():
            with app.app_context(), tenant_scope(organization.id, admin.id):
                samples = _batch_seconds(organization.id, campaign_id, args.batch, args.runs)
            median = statistics.median(samples)
            print(
                f"{name:>6}: load + render a batch: median {median * 1000:.0f} ms "
                f"({median / args.batch * 1e6:.0f} µs a message), worst {max(samples) * 1000:.0f}"
                f" ms ({args.runs} runs)"
            )
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_database(server, DATABASE)


if __name__ == "__main__":
    main()
