"""`flask --app wsgi crm ...`: the commands other issues, scripts and tests rely on."""

import sys
import time

import click
from flask.cli import with_appcontext

from crm_web import onboarding
from crm_web.accounts import services as accounts
from crm_web.db import analyze_loaded, atomic, set_tenant
from crm_web.errors import ServiceError
from crm_web.i18n import LANGUAGES
from crm_web.permissions import ROLES


def _fail(exc: ServiceError) -> None:
    details = "; ".join(f"{field}: {message}" for field, message in exc.fields.items())
    click.echo(f"Error: {exc.message}{' (' + details + ')' if details else ''}", err=True)
    sys.exit(1)


@click.group()
@with_appcontext
def crm():
    """CRM administration."""
    from flask import current_app

    from crm_web.devservices import ServiceUnreachable, check_postgres, check_redis

    try:
        check_postgres(current_app.config["DATABASE_URL"])
        check_redis(current_app.config["REDIS_URL"])
    except ServiceUnreachable as exc:
        raise click.ClickException(str(exc)) from None


@crm.command("create-org")
@click.option("--name", required=True)
@click.option("--slug", default=None, help="URL name; derived from --name when omitted.")
@click.option("--admin-email", required=True)
@click.option("--admin-password", required=True)
@click.option("--admin-name", default="")
@click.option("--timezone", default="UTC")
@click.option("--currency", default="USD")
@click.option("--locale", type=click.Choice(LANGUAGES), default="en", show_default=True)
@with_appcontext
def create_org(name, slug, admin_email, admin_password, admin_name, timezone, currency, locale):
    """Create an organization and its first admin."""
    import re

    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63]
    try:
        organization, admin = onboarding.create_organization(
            name=name,
            slug=slug,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=admin_password,
            timezone=timezone,
            currency=currency,
            locale=locale,
        )
    except ServiceError as exc:
        _fail(exc)
    click.echo(
        f"Created organization {organization.slug} (id {organization.id}) with admin {admin.email}."
    )


@crm.command("create-user")
@click.option("--org", "org_slug", required=True, help="The organization's slug.")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password", required=True)
@click.option("--name", default="")
@click.option("--department", default="")
@click.option("--skills", default="", help="Comma separated.")
@with_appcontext
def create_user(org_slug, email, role, password, name, department, skills):
    """Create a user in an organization."""
    organization_id = accounts.organization_id_for_slug(org_slug)
    if organization_id is None:
        _fail(ServiceError(f"No organization with slug {org_slug}."))
    set_tenant(organization_id)
    try:
        user = accounts.create_user(
            email=email,
            name=name,
            role=role,
            password=password,
            department=department,
            skills=skills,
        )
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"Created {user.role} {user.email} (id {user.id}) in {org_slug}.")


@crm.command("create-token")
@click.option("--email", required=True)
@click.option("--name", default="CLI")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Days the token lasts; without it, until it is revoked.",
)
@with_appcontext
def create_token(email, name, expires_days):
    """Print a new API token for a user (shown once)."""
    try:
        user = accounts.user_by_email(email)
        _token, raw = accounts.create_api_token(user, name, expires_days)
    except ServiceError as exc:
        _fail(exc)
    click.echo(raw)


@crm.command("seed")
@click.option(
    "--org",
    "org_slug",
    default="demo",
    show_default=True,
    help="The organization's slug; the demo organization is created when it does not exist.",
)
@click.option(
    "--locale",
    "language",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Customers of this language only (tr: Turkish names, cities and +90 phones); a new "
    "demo organization speaks it (tr: Turkish, TRY, Europe/Istanbul). Mixed when omitted.",
)
@click.option("--customers", default=1000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--tickets",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Demo support tickets, some near or past their SLA.",
)
@click.option("--seed", "random_seed", default=1, show_default=True, help="Same seed, same data.")
@click.option(
    "--leads",
    default=None,
    type=click.IntRange(min=0),
    help="Demo leads across the workflow, scored and assigned; one per four customers when omitted.",
)
@click.option(
    "--opportunities",
    default=None,
    type=click.IntRange(min=0),
    help="Demo deals across the stages, with stage history and quotes; one per five customers when omitted.",
)
@click.option(
    "--orders",
    default=None,
    type=click.IntRange(min=0),
    help="Demo orders over the last two years (with a catalog, stock movements and a loyalty program "
    "with members); one per two customers when omitted.",
)
@click.option(
    "--activities",
    default=None,
    type=click.IntRange(min=0),
    help="Demo activities (calls, meetings, tasks); one per ten customers when omitted.",
)
@with_appcontext
def seed(
    org_slug, language, customers, tickets, random_seed, activities, opportunities, leads, orders
):
    """Add deterministic demo data to an organization (written with COPY and set-based SQL)."""
    from crm_web.activities import seeding as activities_seeding
    from crm_web.automations import seeding as automations_seeding
    from crm_web.campaigns import seeding as campaigns_seeding
    from crm_web.customer360 import seeding as customer_seeding
    from crm_web.demo import COMMERCE_TABLES, DEMO_SLUG, create_demo_organization, seed_commerce
    from crm_web.leads import seeding as leads_seeding
    from crm_web.pipeline import seeding as pipeline_seeding
    from crm_web.segments import seeding as segments_seeding
    from crm_web.tickets import seeding as tickets_seeding

    organization_id = accounts.organization_id_for_slug(org_slug)
    if organization_id is None and org_slug == DEMO_SLUG:
        organization_id = create_demo_organization(language or "en")
        click.echo(f"Created the demo organization ({language or 'en'}).")
    if organization_id is None:
        _fail(ServiceError(f"No organization with slug {org_slug}."))
    set_tenant(organization_id)
    _seed_step(
        "customers",
        org_slug,
        customer_seeding.seed_customers_with_activity,
        customer_seeding.TABLES,
        customers,
        random_seed,
        language=language,
    )
    steps = (
        (
            "leads",
            leads_seeding.seed_leads,
            leads_seeding.TABLES,
            customers // 4 if leads is None else leads,
            {"language": language},
        ),
        (
            "opportunities",
            pipeline_seeding.seed_pipeline,
            pipeline_seeding.TABLES,
            customers // 5 if opportunities is None else opportunities,
            {},
        ),
        (
            "orders",
            seed_commerce,
            COMMERCE_TABLES,
            customers // 2 if orders is None else orders,
            {},
        ),
        # After deals and leads: activities go to the deals, leads and customers seeded before.
        (
            "activities",
            activities_seeding.seed_activities,
            activities_seeding.TABLES,
            customers // 10 if activities is None else activities,
            {},
        ),
        ("tickets", tickets_seeding.seed_tickets, tickets_seeding.TABLES, tickets, {}),
    )
    for noun, seed_fn, tables, wanted, options in steps:
        if wanted:
            _seed_step(noun, org_slug, seed_fn, tables, wanted, random_seed, **options)
    if customers:
        count = atomic(segments_seeding.seed_segments)()
        click.echo(f"Seeded {count} segments into {org_slug}.")
        count = atomic(campaigns_seeding.seed_campaigns)()
        click.echo(f"Seeded the starter email templates and {count} campaigns into {org_slug}.")
        count = atomic(automations_seeding.seed_automations)(language or "en")
        click.echo(f"Seeded {count} starter journeys into {org_slug}.")


def _seed_step(
    noun: str, org_slug: str, seed_fn, tables: tuple[str, ...], count: int, seed: int, **options
) -> None:
    """Run one seeding function in its own transaction, say how long it took, then analyze the
    tables it loaded, so the first page read from them is planned with their real size."""
    started = time.perf_counter()
    result = atomic(seed_fn)(count, seed=seed, **options)
    seconds = time.perf_counter() - started
    # The customers' and orders' steps also tell what else they seeded.
    seeded, details = result if isinstance(result, tuple) else (result, {})
    click.echo(f"Seeded {seeded:,} {noun} into {org_slug} in {seconds:.1f} s.")
    if details:
        click.echo("  with " + ", ".join(f"{n:,} {table}" for table, n in details.items()))
    if seeded:
        started = time.perf_counter()
        analyzed = atomic(analyze_loaded)(tables)
        click.echo(f"  analyzed {', '.join(analyzed)} in {time.perf_counter() - started:.1f} s")


@crm.command("demo")
@click.option("--locale", "language", type=click.Choice(LANGUAGES), default="en", show_default=True)
@with_appcontext
def demo(language):
    """Create the demo organization unless it exists (in Turkish with --locale tr)."""
    from crm_web.demo import DEMO_PASSWORD, DEMO_USERS, ensure_demo_organization

    created = ensure_demo_organization(language=language)
    click.echo("Demo organization created." if created else "Demo organization already exists.")
    for email, _name, role, _department, _skills in DEMO_USERS:
        click.echo(f"  {role:<10} {email} / {DEMO_PASSWORD}")
