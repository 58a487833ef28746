"""Deterministic demo loyalty: the program with tiers, a category multiplier and a rewards
catalog, members among the customers who bought, their points for their paid orders (set-based,
through the ledger's trigger), expiry of what is over a year old, tiers, and some redemptions.
"""

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from crm_web.catalog.models import ProductCategory
from crm_web.customers.seeding import _copy_text
from crm_web.db import copy_insert, current_organization_id, current_tenant
from crm_web.extensions import db
from crm_web.loyalty import ledger, members, programs, rewards
from crm_web.loyalty.models import LoyaltyProgram, Reward
from crm_web.privacy.audit import record
from crm_web.sequences import allocate

TIERS = (("Bronze", "0", "1"), ("Silver", "5000", "1.25"), ("Gold", "20000", "1.5"))
MEMBER_COLUMNS = (
    "organization_id",
    "program_id",
    "customer_id",
    "membership_number",
    "joined_at",
    "is_active",
    "tier_review_on",
)
REDEMPTIONS = 40
# The tables this seeding fills, for ANALYZE afterwards.
TABLES = ("loyalty_members", "loyalty_ledger", "loyalty_lots", "loyalty_tier_changes")


def _program() -> LoyaltyProgram:
    """The active program, or the demo's (with its tiers, multiplier and rewards)."""
    program = programs.active_program()
    if program is not None:
        return program
    program = programs.create_program(
        {
            "name": "Stars",
            "code": "STARS",
            "description": "One star per lira spent; double in your birthday month.",
            "points_per_unit": "1",
            "point_expiry_days": "365",
            "birthday_multiplier": "2",
            "first_order_bonus": "250",
            "referral_points": "1000",
            "survey_points": "100",
            "tier_basis": "points",
        }
    )
    for name, threshold, multiplier in TIERS:
        programs.add_tier(
            program.id,
            name=name,
            threshold=threshold,
            points_multiplier=multiplier,
            benefits={"Silver": "Free delivery", "Gold": "Free delivery, workshop invitations"}.get(
                name, ""
            ),
        )
    coffee = db.session.scalar(
        select(ProductCategory.id).where(
            ProductCategory.organization_id == program.organization_id,
            ProductCategory.name == "Coffee",
        )
    )
    if coffee is not None:
        programs.set_category_multiplier(program.id, coffee, "2")
    gold = programs.tiers(program)[-1]
    catalog = [
        {
            "name": "10 % off your next order",
            "kind": "coupon",
            "points_cost": "1500",
            "coupon_type": "percent",
            "coupon_value": "10",
            "coupon_valid_days": "60",
        },
        {"name": "Free grinder service", "kind": "service", "points_cost": "3000"},
        {
            "name": "Barista workshop seat",
            "kind": "experience",
            "points_cost": "6000",
            "stock": "12",
            "min_tier_id": str(gold.id),
        },
    ]
    if db.session.scalar(
        text("SELECT 1 FROM products WHERE organization_id = :org AND sku = 'TEA-003'"),
        {"org": program.organization_id},
    ):
        catalog.append(
            {"name": "Linden tea on us", "kind": "product", "points_cost": "800", "sku": "TEA-003"}
        )
    for values in catalog:
        rewards.create_reward(values)
    return program


def seed_loyalty(*, seed: int = 1, share: float = 0.5) -> int:
    """Enrol `share` of the customers who bought (those not members yet) with their points;
    returns how many joined."""
    organization_id = current_organization_id()
    program = _program()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    buyers = db.session.execute(
        text(
            "SELECT o.customer_id, min(o.paid_at) FROM orders o"
            " WHERE o.organization_id = :org AND o.paid_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM loyalty_members m WHERE m.organization_id = :org"
            "   AND m.program_id = :program AND m.customer_id = o.customer_id)"
            " GROUP BY o.customer_id ORDER BY o.customer_id"
        ),
        {"org": organization_id, "program": program.id},
    ).all()
    chosen = [row for row in buyers if rng.random() < share]
    if not chosen:
        return 0
    first = allocate(organization_id, "loyalty_member", len(chosen))
    rows = []
    for index, (customer_id, first_paid) in enumerate(chosen):
        joined = first_paid - timedelta(days=rng.randrange(1, 30))
        review = joined + timedelta(days=365)
        while review <= now:
            review += timedelta(days=365)
        rows.append(
            (
                organization_id,
                program.id,
                customer_id,
                members.membership_number(first + index),
                joined,
                True,
                review.date(),
            )
        )
    copy_insert(
        "loyalty_members",
        MEMBER_COLUMNS,
        ("".join("\t".join(_copy_text(v) for v in row) + "\n" for row in rows),),
    )
    params = {"org": organization_id, "program": program.id, "user": current_tenant().user_id}
    # Each paid order's points (category multipliers; the live rules' birthday and tier
    # multipliers are left to live orders), as lots that expire a year on.
    db.session.execute(
        text(
            """
            WITH earned AS (
                SELECT m.id AS member_id, o.id AS order_id, o.order_number, o.paid_at,
                       floor(sum(l.net_amount * coalesce(r.multiplier, 1)) * p.points_per_unit)::int
                           AS points,
                       p.point_expiry_days
                  FROM orders o
                  JOIN loyalty_members m ON m.organization_id = :org AND m.program_id = :program
                                        AND m.customer_id = o.customer_id
                  JOIN loyalty_programs p ON p.id = :program
                  JOIN order_lines l ON l.order_id = o.id AND l.organization_id = :org
                  LEFT JOIN loyalty_category_rules r ON r.program_id = :program
                                                    AND r.category_id = l.category_id
                 WHERE o.organization_id = :org AND o.paid_at IS NOT NULL
                   AND o.paid_at >= m.joined_at AND o.status <> 'cancelled'
                 GROUP BY m.id, o.id, o.order_number, o.paid_at, p.points_per_unit,
                          p.point_expiry_days
            ), written AS (
                INSERT INTO loyalty_ledger (organization_id, member_id, kind, points, expires_at,
                                            order_id, source_key, note, details, created_by_id,
                                            created_at)
                SELECT :org, member_id, 'earn', points,
                       paid_at + make_interval(days => point_expiry_days), order_id,
                       -- the key settle_order writes for the order's earning
                       'order:' || order_id || ':' || 'earn', order_number,
                       '{"rule": "order", "seeded": true}'::jsonb, :user, paid_at
                  FROM earned WHERE points > 0 ORDER BY paid_at
                ON CONFLICT (organization_id, source_key) WHERE source_key IS NOT NULL DO NOTHING
                RETURNING id, member_id, points, expires_at, created_at
            )
            INSERT INTO loyalty_lots (organization_id, entry_id, member_id, earned_at, expires_at,
                                      remaining)
            SELECT :org, id, member_id, created_at, expires_at, points FROM written
            """
        ),
        params,
    )
    # Returned orders (wholly refunded) take back what they earned, from their own lot (nothing
    # is spent yet), under the key settle_order would have written.
    db.session.execute(
        text(
            """
            WITH back AS (
                SELECT e.id AS lot_id, e.member_id, e.points, o.id AS order_id,
                       o.order_number, o.refunded_total, o.returned_at
                  FROM loyalty_ledger e
                  JOIN orders o ON o.id = e.order_id AND o.organization_id = :org
                 WHERE e.organization_id = :org AND e.kind = 'earn' AND o.status = 'returned'
            ), written AS (
                INSERT INTO loyalty_ledger (organization_id, member_id, kind, points, order_id,
                                            source_key, note, details, created_by_id, created_at)
                SELECT :org, member_id, 'reverse', -points, order_id,
                       'order:' || order_id || ':' || 'reverse' || ':' || refunded_total,
                       order_number,
                       jsonb_build_object('rule', 'refund', 'seeded', true,
                                          'lots', jsonb_build_array(jsonb_build_array(lot_id, points))),
                       :user, returned_at
                  FROM back
                ON CONFLICT (organization_id, source_key) WHERE source_key IS NOT NULL DO NOTHING
                RETURNING (details -> 'lots' -> 0 ->> 0)::bigint AS lot_id
            )
            UPDATE loyalty_lots l SET remaining = 0
              FROM written w WHERE l.entry_id = w.lot_id AND l.organization_id = :org
            """
        ),
        params,
    )
    ledger.expire_points(now)
    db.session.execute(
        text(
            """
            WITH reached AS (
                SELECT m.id, (SELECT t.id FROM loyalty_tiers t WHERE t.program_id = :program
                               AND t.threshold <= m.lifetime_points
                             ORDER BY t.threshold DESC LIMIT 1) AS tier_id, m.joined_at
                  FROM loyalty_members m
                 WHERE m.organization_id = :org AND m.program_id = :program AND m.tier_id IS NULL
            ), moved AS (
                UPDATE loyalty_members m SET tier_id = r.tier_id, tier_since = r.joined_at
                  FROM reached r WHERE m.id = r.id
                RETURNING m.id, m.tier_id, m.joined_at
            )
            INSERT INTO loyalty_tier_changes (organization_id, member_id, to_tier_id, reason,
                                              changed_at)
            SELECT :org, id, tier_id, 'join', joined_at FROM moved
            """
        ),
        params,
    )
    _redeem_some(rng, program, [row[2] for row in rows])
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="loyalty_members",
        row_id=f"seed {seed}",
        new={"seeded": len(rows), "seed": seed},
    )
    return len(rows)


def _redeem_some(rng: random.Random, program: LoyaltyProgram, customer_ids: list[int]) -> None:
    """Some members (a fifth, at most REDEMPTIONS) spent points on the cheapest reward they
    could afford (not a product: its stock may have run out, and a refused movement ends the
    transaction). Through the service, one at a time: a sample is enough for the demo."""
    offered = [r for r in rewards.list_rewards() if r.min_tier_id is None and r.kind != "product"]
    if not offered:
        return
    cheapest: Reward = min(offered, key=lambda r: r.points_cost)
    chosen = [c for c in customer_ids if rng.random() < 0.2][:REDEMPTIONS]
    for customer_id in chosen:
        member = members.member_of(customer_id)
        if ledger.available(member.id) >= cheapest.points_cost:
            rewards.redeem_reward(customer_id, cheapest.id)
