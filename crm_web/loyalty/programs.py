"""The loyalty program's configuration: the program and its earn rules, tiers and category
multipliers; and which tier a qualifying value reaches."""

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text

from crm_web.catalog.models import ProductCategory
from crm_web.catalog.products import parse_count, parse_decimal
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_organization_id, flush_unique
from crm_web.errors import NotFound, check_fields
from crm_web.extensions import db
from crm_web.loyalty.models import (
    TIER_BASES,
    LoyaltyCategoryRule,
    LoyaltyProgram,
    LoyaltyTier,
)

MAX_POINTS = 10_000_000
# field -> how it is read: (kind, low, high)
PROGRAM_NUMBERS = {
    "points_per_unit": ("decimal", Decimal("0"), Decimal("1000"), 4),
    "point_expiry_days": ("count", 0, 36_500, 0),
    "birthday_multiplier": ("decimal", Decimal("1"), Decimal("10"), 2),
    "first_order_bonus": ("count", 0, MAX_POINTS, 0),
    "referral_points": ("count", 0, MAX_POINTS, 0),
    "survey_points": ("count", 0, MAX_POINTS, 0),
}
PROGRAM_TEXTS = {"name": 100, "code": 20, "description": 10_000, "terms": 20_000}
PROGRAM_FIELDS = (*PROGRAM_TEXTS, *PROGRAM_NUMBERS, "tier_basis", "is_active")
# What a new program has where nothing is given.
PROGRAM_DEFAULTS = {
    "is_active": True,
    "tier_basis": "points",
    "points_per_unit": "1",
    "point_expiry_days": "365",
    "birthday_multiplier": "2",
}


def active_program() -> LoyaltyProgram | None:
    """The organization's active program (there is at most one), or None."""
    return db.session.scalar(
        select(LoyaltyProgram).where(
            LoyaltyProgram.organization_id == current_organization_id(), LoyaltyProgram.is_active
        )
    )


def list_programs() -> list[LoyaltyProgram]:
    return list(
        db.session.scalars(
            select(LoyaltyProgram)
            .where(LoyaltyProgram.organization_id == current_organization_id())
            .order_by(LoyaltyProgram.is_active.desc(), LoyaltyProgram.id)
        )
    )


def get_program(program_id: int) -> LoyaltyProgram:
    program = db.session.scalar(
        select(LoyaltyProgram).where(
            LoyaltyProgram.id == program_id,
            LoyaltyProgram.organization_id == current_organization_id(),
        )
    )
    if program is None:
        raise NotFound(_("No such loyalty program."))
    return program


def _number(name: str, value):
    kind, low, high, places = PROGRAM_NUMBERS[name]
    if kind == "count":
        return parse_count("0" if value in (None, "") else value, low=low, high=high)
    return parse_decimal(value, low=low, high=high, places=places)


def _clean_program(values: dict, names) -> dict:
    cleaned, errors = {}, {}
    for name in names:
        value = values.get(name)
        try:
            if name in PROGRAM_TEXTS:
                if not isinstance(value, str | type(None)):
                    raise FieldError(_("Send text."))
                text_value = (value or "").strip()
                if len(text_value) > PROGRAM_TEXTS[name]:
                    raise FieldError(_("Keep this under %(n)s characters.", n=PROGRAM_TEXTS[name]))
                if name in ("name", "code") and not text_value:
                    raise FieldError(_("This field is required."))
                cleaned[name] = text_value.upper() if name == "code" else text_value
            elif name in PROGRAM_NUMBERS:
                cleaned[name] = _number(name, value)
            elif name == "tier_basis":
                if value not in TIER_BASES:
                    raise FieldError(_("Choose lifetime points or spend in the last 12 months."))
                cleaned[name] = value
            elif name == "is_active":
                cleaned[name] = value is not False and value not in ("", "0", "false", None)
        except FieldError as exc:
            errors[name] = str(exc)
    check_fields(errors)
    return cleaned


PROGRAM_UNIQUE = {
    "uq_loyalty_programs_org_code": ("code", _l("Another program has this code.")),
    "uq_loyalty_programs_org_active": (
        "is_active",
        _l("Another program is active; end it first (one program earns at a time)."),
    ),
}


@atomic
def create_program(values: dict) -> LoyaltyProgram:
    """A new program (active unless said otherwise; one active program per organization)."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    cleaned = _clean_program({**PROGRAM_DEFAULTS, **given}, PROGRAM_FIELDS)
    program = LoyaltyProgram(organization_id=current_organization_id(), **cleaned)
    db.session.add(program)
    flush_unique(PROGRAM_UNIQUE)
    return program


@atomic
def update_program(program_id: int, values: dict) -> LoyaltyProgram:
    """Change the fields sent."""
    program = get_program(program_id)
    for name, value in _clean_program(values, [n for n in PROGRAM_FIELDS if n in values]).items():
        setattr(program, name, value)
    flush_unique(PROGRAM_UNIQUE)
    return program


# Tiers


def tiers(program: LoyaltyProgram) -> list[LoyaltyTier]:
    """The program's tiers, lowest threshold first."""
    return list(
        db.session.scalars(
            select(LoyaltyTier)
            .where(
                LoyaltyTier.organization_id == program.organization_id,
                LoyaltyTier.program_id == program.id,
            )
            .order_by(LoyaltyTier.threshold)
        )
    )


def tier_reached(program: LoyaltyProgram, value: Decimal) -> LoyaltyTier | None:
    """The highest tier whose threshold `value` reaches, or None (below every tier)."""
    return db.session.scalar(
        select(LoyaltyTier)
        .where(
            LoyaltyTier.organization_id == program.organization_id,
            LoyaltyTier.program_id == program.id,
            LoyaltyTier.threshold <= value,
        )
        .order_by(LoyaltyTier.threshold.desc())
        .limit(1)
    )


@atomic
def add_tier(
    program_id: int, *, name: str, threshold, points_multiplier="1", benefits: str = ""
) -> LoyaltyTier:
    """A tier reached at `threshold` (lifetime points or 12 months' spend, as the program says)."""
    program = get_program(program_id)
    errors, values = {}, {}
    name = (name or "").strip() if isinstance(name, str | type(None)) else None
    if not name or len(name) > 60:
        errors["name"] = _("Give the tier a name (at most 60 characters).")
    for field, raw, low, high in (
        ("threshold", threshold, Decimal("0"), Decimal("9999999999999.99")),
        ("points_multiplier", points_multiplier or "1", Decimal("1"), Decimal("10")),
    ):
        try:
            values[field] = parse_decimal(raw, low=low, high=high)
        except FieldError as exc:
            errors[field] = str(exc)
    benefits = (benefits or "").strip() if isinstance(benefits, str | type(None)) else ""
    if len(benefits) > 10_000:
        errors["benefits"] = _("Keep this under %(n)s characters.", n=10_000)
    check_fields(errors)
    tier = LoyaltyTier(
        organization_id=program.organization_id,
        program_id=program.id,
        name=name,
        benefits=benefits,
        **values,
    )
    db.session.add(tier)
    flush_unique(
        {
            "uq_loyalty_tiers_program_name": ("name", _l("Another tier has this name.")),
            "uq_loyalty_tiers_program_threshold": (
                "threshold",
                _l("Another tier starts at this threshold."),
            ),
        }
    )
    return tier


@atomic
def remove_tier(program_id: int, tier_id: int) -> None:
    """Remove a tier; its members have none until their next upgrade or review."""
    program = get_program(program_id)
    tier = db.session.scalar(
        select(LoyaltyTier).where(
            LoyaltyTier.id == tier_id,
            LoyaltyTier.program_id == program.id,
            LoyaltyTier.organization_id == program.organization_id,
        )
    )
    if tier is None:
        raise NotFound(_("No such tier."))
    db.session.delete(tier)
    db.session.flush()


# Category multipliers


def category_rules(program: LoyaltyProgram) -> list[tuple[LoyaltyCategoryRule, str]]:
    """The program's category multipliers with their category's name."""
    return list(
        db.session.execute(
            select(LoyaltyCategoryRule, ProductCategory.name)
            .join(ProductCategory, ProductCategory.id == LoyaltyCategoryRule.category_id)
            .where(
                LoyaltyCategoryRule.organization_id == program.organization_id,
                LoyaltyCategoryRule.program_id == program.id,
            )
            .order_by(func.lower(ProductCategory.name))
        )
    )


def multipliers(program: LoyaltyProgram) -> dict[int, Decimal]:
    """Category id -> its earn multiplier (categories not listed earn 1x)."""
    return {rule.category_id: rule.multiplier for rule, _name in category_rules(program)}


@atomic
def set_category_multiplier(program_id: int, category_id, multiplier) -> None:
    """Products of the category earn `multiplier` times the points (1 removes the rule)."""
    program = get_program(program_id)
    errors = {}
    category = None
    if isinstance(category_id, int) or (isinstance(category_id, str) and category_id.isdigit()):
        category = db.session.scalar(
            select(ProductCategory).where(
                ProductCategory.id == int(category_id),
                ProductCategory.organization_id == program.organization_id,
            )
        )
    if category is None:
        errors["category_id"] = _("Choose one of the categories.")
    try:
        value = parse_decimal(multiplier, low=Decimal("0"), high=Decimal("100"))
    except FieldError as exc:
        errors["multiplier"] = str(exc)
    check_fields(errors)
    db.session.execute(
        text(
            "DELETE FROM loyalty_category_rules WHERE program_id = :program "
            "AND category_id = :category AND organization_id = :org"
        ),
        {"program": program.id, "category": category.id, "org": program.organization_id},
    )
    if value != 1:
        db.session.add(
            LoyaltyCategoryRule(
                organization_id=program.organization_id,
                program_id=program.id,
                category_id=category.id,
                multiplier=value,
            )
        )
    db.session.flush()
