"""What the pages show of a customer's membership: the 360 page's loyalty card."""

import datetime as dt
from dataclasses import dataclass, field

from crm_web.loyalty import coupons, ledger, members, programs, rewards
from crm_web.loyalty.models import (
    Coupon,
    LedgerEntry,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    Reward,
)

# Points expiring within this are called out on the card.
EXPIRING_SOON = dt.timedelta(days=30)


@dataclass
class Card:
    """A customer's membership at a glance (member None: not a member yet)."""

    program: LoyaltyProgram | None
    member: LoyaltyMember | None = None
    available: int = 0
    expiring: int = 0
    expiring_at: dt.datetime | None = None
    next_tier: LoyaltyTier | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)
    rewards: list[Reward] = field(default_factory=list)


def customer_card(customer_id: int, now: dt.datetime | None = None) -> Card:
    """The card of the customer's membership of the active program."""
    now = now or dt.datetime.now(dt.UTC)
    program = programs.active_program()
    member = members.member_of(customer_id) if program else None
    if member is None:
        return Card(program)
    expiring, expiring_at = ledger.expiring(member.id, now, EXPIRING_SOON)
    current = member.tier.threshold if member.tier else -1
    higher = [tier for tier in programs.tiers(program) if tier.threshold > current]
    return Card(
        program=program,
        member=member,
        available=ledger.available(member.id, now),
        expiring=expiring,
        expiring_at=expiring_at,
        next_tier=higher[0] if higher else None,
        entries=ledger.entries(member.id, limit=5).items,
        coupons=[
            c for c in coupons.coupons_of(member.id) if c.used_at is None and c.valid_until > now
        ],
        rewards=rewards.list_rewards(),
    )
