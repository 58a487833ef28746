"""Loyalty on the JSON API: programs (list, create with tiers), a customer's membership (read
with its ledger, join, redeem) and the rewards catalog."""

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from crm_web.customers.services import get_customer
from crm_web.db import atomic
from crm_web.errors import NotFound, ValidationError, invalid
from crm_web.inputs import json_field, json_object, query_int
from crm_web.loyalty import ledger, members, programs, rewards
from crm_web.loyalty.models import LedgerEntry, LoyaltyMember, LoyaltyProgram, Reward
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("loyalty", __name__)

PROGRAM_BODY = (*programs.PROGRAM_FIELDS, "tiers")
TIER_FIELDS = ("name", "threshold", "points_multiplier", "benefits")


def _number(value) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def program_json(program: LoyaltyProgram) -> dict:
    return {
        "id": program.id,
        "name": program.name,
        "code": program.code,
        "description": program.description,
        "is_active": program.is_active,
        "points_per_unit": _number(program.points_per_unit),
        "point_expiry_days": program.point_expiry_days,
        "birthday_multiplier": _number(program.birthday_multiplier),
        "first_order_bonus": program.first_order_bonus,
        "referral_points": program.referral_points,
        "survey_points": program.survey_points,
        "tier_basis": program.tier_basis,
        "terms": program.terms,
        "tiers": [
            {
                "id": tier.id,
                "name": tier.name,
                "threshold": _number(tier.threshold),
                "points_multiplier": _number(tier.points_multiplier),
                "benefits": tier.benefits,
            }
            for tier in programs.tiers(program)
        ],
        "category_multipliers": [
            {
                "category_id": rule.category_id,
                "category": name,
                "multiplier": _number(rule.multiplier),
            }
            for rule, name in programs.category_rules(program)
        ],
    }


def entry_json(entry: LedgerEntry) -> dict:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "points": entry.points,
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
        "order_id": entry.order_id,
        "note": entry.note,
        "created_at": entry.created_at.isoformat(),
    }


def member_json(member: LoyaltyMember) -> dict:
    return {
        "membership_number": member.membership_number,
        "program_id": member.program_id,
        "joined_at": member.joined_at.isoformat(),
        "tier": member.tier.name if member.tier else None,
        "tier_since": member.tier_since.isoformat() if member.tier_since else None,
        "tier_review_on": member.tier_review_on.isoformat(),
        "balance": ledger.available(member.id),
        "lifetime_points": member.lifetime_points,
    }


def reward_json(reward: Reward) -> dict:
    return {
        "id": reward.id,
        "name": reward.name,
        "kind": reward.kind,
        "description": reward.description,
        "points_cost": reward.points_cost,
        "stock": reward.stock,
        "product_id": reward.product_id,
        "coupon_type": reward.coupon_type or None,
        "coupon_value": _number(reward.coupon_value),
        "coupon_valid_days": reward.coupon_valid_days,
        "min_tier": reward.min_tier.name if reward.min_tier else None,
        "is_active": reward.is_active,
    }


@bp.route("/crm/loyalty/programs/", methods=["GET"])
@requires("view loyalty")
def list_programs():
    return jsonify(list_json([program_json(p) for p in programs.list_programs()], None))


@atomic
def _create_program(body: dict) -> LoyaltyProgram:
    program = programs.create_program({k: body[k] for k in programs.PROGRAM_FIELDS if k in body})
    tiers = json_field(body, "tiers", list, [])
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict):
            raise invalid({f"tiers[{index}]": _("Send an object.")})
        values = {k: tier.get(k) for k in TIER_FIELDS}
        try:
            programs.add_tier(program.id, **values)
        except ValidationError as exc:
            raise invalid({f"tiers[{index}].{k}": v for k, v in exc.fields.items()}) from None
    return program


@bp.route("/crm/loyalty/programs/", methods=["POST"])
@requires("configure loyalty")
def create_program():
    """A program with its rules and, optionally, its tiers: {"name", "code", "points_per_unit",
    ..., "tiers": [{"name": "Gold", "threshold": "2000", "points_multiplier": "2"}]}."""
    program = _create_program(json_object())
    response = jsonify(program_json(program))
    response.status_code = 201
    return response


def _member(customer_id: int) -> LoyaltyMember:
    get_customer(customer_id)
    member = members.member_of(customer_id)
    if member is None:
        raise NotFound(_("This customer is not a member of the loyalty program."))
    return member


@bp.route("/crm/customers/<int:customer_id>/loyalty/", methods=["GET"])
@requires("view loyalty")
def customer_loyalty(customer_id: int):
    """Balance (unexpired points), tier and the ledger, newest first (?cursor=, ?limit=)."""
    member = _member(customer_id)
    page = ledger.entries(
        member.id,
        cursor=request.args.get("cursor"),
        limit=max(1, min(query_int("limit", 25), 200)),
    )
    return jsonify(
        {
            **member_json(member),
            "ledger": list_json([entry_json(e) for e in page.items], page.next_cursor),
        }
    )


@bp.route("/crm/customers/<int:customer_id>/loyalty/", methods=["POST"])
@requires("enrol members")
def enrol(customer_id: int):
    """The customer joins the active program."""
    get_customer(customer_id)
    member = members.enrol(customer_id)
    response = jsonify(member_json(member))
    response.status_code = 201
    return response


@bp.route("/crm/customers/<int:customer_id>/loyalty/redeem/", methods=["POST"])
@requires("redeem rewards")
def redeem(customer_id: int):
    """{"reward_id": 3} for a reward of the catalog, or {"points": 200, "note": "..."} to spend
    points on something else; the answer carries a coupon reward's code."""
    _member(customer_id)
    body = json_object()
    reward_id = json_field(body, "reward_id", int)
    if reward_id is not None:
        redemption, coupon = rewards.redeem_reward(customer_id, reward_id)
    elif "points" in body:
        redemption = members.redeem_points(
            customer_id, body.get("points"), json_field(body, "note", str, "")
        )
        coupon = None
    else:
        raise invalid({"reward_id": _("Send a reward_id, or the points to spend.")})
    member = members.member_of(customer_id)
    response = jsonify(
        {
            "redemption_id": redemption.id,
            "points": redemption.points,
            "reward_id": redemption.reward_id,
            "coupon": None
            if coupon is None
            else {"code": coupon.code, "valid_until": coupon.valid_until.isoformat()},
            "balance": ledger.available(member.id),
        }
    )
    response.status_code = 201
    return response


@bp.route("/crm/rewards/", methods=["GET"])
@requires("view loyalty")
def list_rewards():
    """The active program's rewards on offer, cheapest first."""
    return jsonify(list_json([reward_json(r) for r in rewards.list_rewards()], None))
