"""Deterministic demo deals with their stage history and quotes, written with COPY.

Deals spread over the stages (most open, some won, some lost), each with the history of the
stages it went through, so the forecast's win rates and cycle times have something to read.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text

from crm_web.accounts.models import Organization, User
from crm_web.customers.seeding import _copy_text
from crm_web.db import copy_insert, current_organization_id
from crm_web.extensions import db
from crm_web.permissions import roles_with
from crm_web.pipeline.models import PipelineStage
from crm_web.pipeline.ordering import POSITION_GAP
from crm_web.pipeline.quotes import Line, compute_totals
from crm_web.privacy.audit import record
from crm_web.sequences import allocate

OPPORTUNITY_COLUMNS = (
    "organization_id",
    "opportunity_number",
    "name",
    "customer_id",
    "stage_id",
    "status",
    "probability",
    "amount",
    "currency",
    "expected_close_date",
    "owner_id",
    "position",
    "source",
    "competitor",
    "next_step",
    "description",
    "win_reason",
    "loss_reason",
    "stage_entered_at",
    "closed_at",
    "created_by_id",
    "created_at",
    "updated_at",
)
HISTORY_COLUMNS = (
    "organization_id",
    "opportunity_id",
    "from_stage_id",
    "to_stage_id",
    "amount",
    "changed_by_id",
    "changed_at",
)
QUOTE_COLUMNS = (
    "organization_id",
    "quote_number",
    "version",
    "is_current",
    "opportunity_id",
    "title",
    "status",
    "currency",
    "valid_until",
    "notes",
    "discount_percent",
    "tax_rate",
    "subtotal",
    "discount_total",
    "tax_total",
    "total",
    "created_by_id",
    "approved_by_id",
    "approved_at",
    "approval_note",
    "sent_at",
    "decided_at",
    "created_at",
    "updated_at",
)
ITEM_COLUMNS = (
    "organization_id",
    "quote_id",
    "position",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "line_total",
)
DEAL_NAMES = (
    "Annual licence",
    "Fleet renewal",
    "Support contract",
    "Pilot project",
    "Expansion",
    "Website rebuild",
    "Hardware refresh",
    "Training package",
    "Consulting retainer",
    "Cloud migration",
)
PRODUCTS = (
    ("User licence", 120),
    ("Onboarding workshop", 1500),
    ("Premium support (year)", 4800),
    ("Integration package", 9000),
    ("Hardware unit", 650),
    ("Consulting day", 900),
)
SOURCES = ("web", "referral", "event", "partner", "cold call", "lead conversion")
COMPETITORS = ("", "", "", "Acme CRM", "SalesForge", "PipeHero")
WIN_REASONS = ("Best price", "Strong references", "Fastest rollout", "Existing relationship")
LOSS_REASONS = ("Price too high", "Chose a competitor", "No budget this year", "Went silent")
# What seed_pipeline loads (crm seed analyzes them afterwards).
TABLES = ("opportunities", "opportunity_stage_history", "quotes", "quote_items")


def _rows(lines: list[tuple]) -> str:
    return "".join("\t".join(_copy_text(value) for value in line) + "\n" for line in lines)


def _chunks(rows: list[tuple], size: int = 5000):
    for start in range(0, len(rows), size):
        yield _rows(rows[start : start + size])


def _ids_by_number(table: str, column: str, numbers: list[str]) -> dict[str, int]:
    rows = db.session.execute(
        text(
            f"SELECT {column}, id FROM {table} WHERE organization_id = :org AND {column} = ANY(:n)"
        ),
        {"org": current_organization_id(), "n": numbers},
    )
    return dict(rows.all())


def seed_pipeline(
    count: int, *, seed: int = 1, open_share: float = 0.7, quote_share: float = 0.1
) -> int:
    """Add `count` deterministic deals (with history and some quotes) to the current organization."""
    if count <= 0:
        return 0
    organization_id = current_organization_id()
    rng = random.Random(seed)
    organization = db.session.get(Organization, organization_id)
    customers = list(
        db.session.scalars(
            text("SELECT id FROM customers WHERE organization_id = :org ORDER BY id"),
            {"org": organization_id},
        )
    )
    if not customers:
        raise ValueError("Seed customers first: deals need customers.")
    sellers = list(
        db.session.scalars(
            select(User.id).where(
                User.organization_id == organization_id,
                User.role.in_(roles_with("work deals")),
            )
        )
    )
    managers = [
        user_id
        for (user_id,) in db.session.execute(
            select(User.id).where(
                User.organization_id == organization_id,
                User.role.in_(roles_with("approve quotes")),
            )
        )
    ] or sellers
    stages = list(
        db.session.scalars(
            select(PipelineStage)
            .where(PipelineStage.organization_id == organization_id)
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )
    open_stages = [stage for stage in stages if stage.outcome == "open"]
    won = next(stage for stage in stages if stage.outcome == "won")
    lost = next(stage for stage in stages if stage.outcome == "lost")
    # New cards go below what the columns already hold.
    positions = dict(
        db.session.execute(
            text(
                "SELECT stage_id, max(position) FROM opportunities WHERE organization_id = :org"
                " GROUP BY stage_id"
            ),
            {"org": organization_id},
        ).all()
    )
    first_number = allocate(organization_id, "opportunity", count)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()

    deals, paths = [], {}
    for index in range(count):
        number = f"OPP-{first_number + index:06d}"
        roll = rng.random()
        created = now - timedelta(days=rng.randrange(20, 360), hours=rng.randrange(24))
        if roll < open_share:
            depth = min(int(rng.triangular(0, len(open_stages), 0)), len(open_stages) - 1)
            path = open_stages[: depth + 1]
        else:
            reach = rng.randrange(1, len(open_stages) + 1)
            is_won = rng.random() < 0.6
            path = [*open_stages[:reach], won if is_won else lost]
        # Stage changes spread between creation and now (closed deals close in the past).
        span = (now - created).total_seconds()
        moments = sorted(rng.uniform(0, span * 0.9) for _ in path[1:])
        times = [created, *(created + timedelta(seconds=s) for s in moments)]
        stage = path[-1]
        closed_at = times[-1] if stage.outcome != "open" else None
        positions[stage.id] = positions.get(stage.id, 0) + POSITION_GAP
        amount = Decimal(rng.choice((1, 2, 3, 5, 8, 12, 20, 35, 50, 80, 150))) * 1000 + Decimal(
            rng.randrange(0, 1000)
        )
        if stage.outcome == "open":
            expected = today + timedelta(days=rng.randrange(-30, 240))
        else:
            expected = closed_at.date()
        owner = rng.choice(sellers) if sellers else None
        deals.append(
            (
                organization_id,
                number,
                f"{rng.choice(DEAL_NAMES)} {first_number + index}",
                rng.choice(customers),
                stage.id,
                stage.outcome,
                stage.probability,
                amount,
                organization.currency,
                expected,
                owner,
                positions[stage.id],
                rng.choice(SOURCES),
                rng.choice(COMPETITORS),
                "Follow up on the proposal" if stage.outcome == "open" else "",
                "",
                rng.choice(WIN_REASONS) if stage.outcome == "won" else "",
                rng.choice(LOSS_REASONS) if stage.outcome == "lost" else "",
                times[-1],
                closed_at,
                owner,
                created,
                times[-1],
            )
        )
        paths[number] = (path, times, amount, owner)

    copy_insert("opportunities", OPPORTUNITY_COLUMNS, _chunks(deals))
    ids = _ids_by_number("opportunities", "opportunity_number", list(paths))
    history = []
    for number, (path, times, amount, owner) in paths.items():
        previous = None
        for stage, moment in zip(path, times, strict=True):
            history.append(
                (organization_id, ids[number], previous, stage.id, amount, owner, moment)
            )
            previous = stage.id
    copy_insert("opportunity_stage_history", HISTORY_COLUMNS, _chunks(history))
    quotes = _seed_quotes(rng, paths, ids, organization, managers, quote_share, now)
    for table, rows in (
        ("opportunities", len(deals)),
        ("opportunity_stage_history", len(history)),
        ("quotes", quotes),
    ):
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name=table,
            row_id=f"seed {seed}",
            new={"seeded": rows, "seed": seed},
        )
    return count


def _seed_quotes(rng, paths, ids, organization, managers, share, now) -> int:
    """A quote for a share of the deals past the first stages; a sent one sometimes revised."""
    organization_id = organization.id
    candidates = [
        number
        for number, (path, _times, _amount, _owner) in paths.items()
        if len(path) >= 3 and rng.random() < share
    ]
    if not candidates:
        return 0
    first = allocate(organization_id, "quote", len(candidates))
    quotes, lines_by_key = [], {}
    for offset, number in enumerate(candidates):
        path, times, _amount, owner = paths[number]
        outcome = path[-1].outcome
        status = {"won": "accepted", "lost": "rejected"}.get(
            outcome, rng.choice(("draft", "pending_approval", "approved", "sent"))
        )
        quote_number = f"Q-{first + offset:06d}"
        versions = 2 if status in ("sent", "accepted", "rejected") and rng.random() < 0.2 else 1
        for version in range(1, versions + 1):
            lines = [
                Line(
                    name,
                    Decimal(rng.randrange(1, 20)),
                    Decimal(price),
                    Decimal(rng.choice((0, 0, 5, 10))),
                )
                for name, price in rng.sample(PRODUCTS, rng.randrange(1, 4))
            ]
            totals = compute_totals(lines, Decimal("0"), Decimal("20"))
            current = version == versions
            version_status = status if current else "sent"
            created = times[min(2, len(times) - 1)] + timedelta(hours=version)
            approved = version_status in ("approved", "sent", "accepted", "rejected")
            sent = version_status in ("sent", "accepted", "rejected")
            quotes.append(
                (
                    organization_id,
                    quote_number,
                    version,
                    current,
                    ids[number],
                    f"Proposal for {number}",
                    version_status,
                    organization.currency,
                    (created + timedelta(days=30)).date(),
                    "",
                    Decimal("0"),
                    Decimal("20"),
                    totals.subtotal,
                    totals.discount_total,
                    totals.tax_total,
                    totals.total,
                    owner,
                    rng.choice(managers) if approved else None,
                    created + timedelta(hours=2) if approved else None,
                    "",
                    created + timedelta(hours=3) if sent else None,
                    min(times[-1], now) if version_status in ("accepted", "rejected") else None,
                    created,
                    created,
                )
            )
            lines_by_key[(quote_number, version)] = lines
    copy_insert("quotes", QUOTE_COLUMNS, _chunks(quotes))
    quote_ids = {
        (row.quote_number, row.version): row.id
        for row in db.session.execute(
            text(
                "SELECT quote_number, version, id FROM quotes"
                " WHERE organization_id = :org AND quote_number = ANY(:n)"
            ),
            {"org": organization_id, "n": sorted({key[0] for key in lines_by_key})},
        )
    }
    items = [
        (
            organization_id,
            quote_ids[key],
            position,
            line.description,
            line.quantity,
            line.unit_price,
            line.discount_percent,
            line.total,
        )
        for key, lines in lines_by_key.items()
        for position, line in enumerate(lines, start=1)
    ]
    copy_insert("quote_items", ITEM_COLUMNS, _chunks(items))
    return len(quotes)
