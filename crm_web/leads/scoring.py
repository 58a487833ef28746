"""Lead scoring (seed 004's dynamic lead scoring): per-organization rules evaluated in SQL.

Each active rule is a condition on a lead's column (title, budget, days since its last activity,
...) worth some points in one of four factors. One query joins leads to their organization's
rules and sums the points of those that hold, so one lead (after a change) and a million (after
the rules change) are scored by the same SQL, and a lead's stored breakdown says which rules
matched.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, text

from crm_web import i18n, jobs
from crm_web.db import atomic, current_organization_id
from crm_web.errors import NotFound, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.leads.models import (
    AUTHORITIES,
    LEAD_SOURCES,
    OPEN_STATUSES,
    SCORING_FACTORS,
    TIMELINES,
    Lead,
    LeadScoringRule,
)
from crm_web.privacy.audit import record

# field: (label, kind). A kind decides which operators apply and how a value is read.
FIELDS = {
    "title": (_l("Job title"), "text"),
    "authority": (_l("Authority (BANT)"), "text"),
    "budget": (_l("Budget (BANT)"), "number"),
    "need": (_l("Need (BANT)"), "text"),
    "timeline": (_l("Timeline (BANT)"), "text"),
    "company": (_l("Company"), "text"),
    "company_size": (_l("Company size"), "text"),
    "industry": (_l("Industry"), "text"),
    "country": (_l("Country"), "text"),
    "city": (_l("City"), "text"),
    "source": (_l("Source"), "text"),
    "email": (_l("Email"), "text"),
    "phone": (_l("Phone"), "text"),
    "website": (_l("Website"), "text"),
    "form_submissions": (_l("Web form submissions"), "number"),
    "activity_count": (_l("Activities"), "number"),
    "last_activity_at": (_l("Days since the last activity"), "recency"),
}
OPERATORS = {
    "equals": _l("is one of"),
    "contains": _l("contains one of"),
    "is_set": _l("is filled in"),
    "is_empty": _l("is empty"),
    "at_least": _l("is at least"),
    "at_most": _l("is at most"),
}
OPERATORS_BY_KIND = {
    "text": ("equals", "contains", "is_set", "is_empty"),
    "number": ("at_least", "at_most", "is_set", "is_empty"),
    "recency": ("at_most",),
}
MAX_RULES = 100
BANDS = (("0-29", 0, 29), ("30-59", 30, 59), ("60-79", 60, 79), ("80-100", 80, 100))
# Seed 004's recommended actions by score.
ACTIONS = {
    "immediate_sales_contact": (
        _l("Contact now"),
        "high",
        _l("High-quality lead ready for conversion"),
    ),
    "nurture_campaign": (_l("Nurture"), "medium", _l("Qualified lead requiring nurturing")),
    "education_content": (
        _l("Send educational content"),
        "low",
        _l("Early stage lead needs education"),
    ),
    "monitor": (_l("Monitor"), "low", _l("Little fit or interest so far")),
}
# (factor, label, field, operator, value, points): every organization starts with these,
# labelled in its language.
DEFAULT_RULES = (
    (
        "demographic",
        _l("Senior job title"),
        "title",
        "contains",
        "director, vp, vice president, head, chief, ceo, cto, cfo, owner, founder",
        15,
    ),
    ("demographic", _l("Decision maker"), "authority", "equals", "decision_maker", 15),
    ("demographic", _l("Influencer"), "authority", "equals", "influencer", 8),
    ("firmographic", _l("Large company"), "company_size", "equals", "201-1000, 1000+", 15),
    ("firmographic", _l("Mid-size company"), "company_size", "equals", "51-200", 8),
    ("firmographic", _l("Budget of 10,000 or more"), "budget", "at_least", "10000", 8),
    ("firmographic", _l("Budget of 100,000 or more"), "budget", "at_least", "100000", 7),
    (
        "firmographic",
        _l("Buying within 3 months"),
        "timeline",
        "equals",
        "immediate, 1-3 months",
        10,
    ),
    ("firmographic", _l("Need described"), "need", "is_set", "", 5),
    ("behavioural", _l("Three or more activities"), "activity_count", "at_least", "3", 10),
    ("behavioural", _l("Ten or more activities"), "activity_count", "at_least", "10", 5),
    ("behavioural", _l("Activity in the last 7 days"), "last_activity_at", "at_most", "7", 10),
    ("behavioural", _l("Activity in the last 30 days"), "last_activity_at", "at_most", "30", 5),
    ("engagement", _l("Filled in the web form"), "form_submissions", "at_least", "1", 10),
    ("engagement", _l("Came back to the web form"), "form_submissions", "at_least", "2", 5),
    ("engagement", _l("Referred by someone"), "source", "equals", "referral, partner", 10),
    ("engagement", _l("Gave a phone number"), "phone", "is_set", "", 5),
    (
        "engagement",
        _l("Free email address"),
        "email",
        "contains",
        "@gmail., @hotmail., @yahoo., @outlook.",
        -5,
    ),
)
FIELD_CHOICES = {
    "authority": AUTHORITIES,
    "timeline": TIMELINES[1:],
    "source": LEAD_SOURCES,
}


def _values(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def _number(value: str) -> Decimal:
    return Decimal(value.strip().replace(",", ""))


def check_rule(factor: str, label: str, field: str, operator: str, value: str, points) -> dict:
    """The rule's values cleaned, or a ValidationError naming every wrong field."""
    errors = {}
    label, value = label.strip(), value.strip()
    if factor not in SCORING_FACTORS:
        errors["factor"] = _("Choose one of: %(choices)s.", choices=", ".join(SCORING_FACTORS))
    if not label:
        errors["label"] = _("Name the rule.")
    elif len(label) > 100:
        errors["label"] = _("Keep the name under 100 characters.")
    if field not in FIELDS:
        errors["field"] = _("Choose a field.")
    elif operator not in OPERATORS_BY_KIND[FIELDS[field][1]]:
        allowed = ", ".join(str(OPERATORS[o]) for o in OPERATORS_BY_KIND[FIELDS[field][1]])
        errors["operator"] = _(
            "For %(field)s choose: %(allowed)s.",
            field=str(FIELDS[field][0]).lower(),
            allowed=allowed,
        )
    elif operator in ("equals", "contains") and not _values(value):
        errors["value"] = _("Give one or more values, separated by commas.")
    elif operator in ("at_least", "at_most"):
        try:
            if _number(value) < 0:
                errors["value"] = _("Give a number of zero or more.")
        except InvalidOperation:
            errors["value"] = _("Give a number.")
    if len(value) > 500:
        errors["value"] = _("Keep the value under 500 characters.")
    try:
        points = int(points)
        if not -100 <= points <= 100:
            errors["points"] = _("Points go from -100 to 100.")
    except (TypeError, ValueError):
        errors["points"] = _("Give a whole number of points.")
    check_fields(errors)
    if operator in ("is_set", "is_empty"):
        value = ""
    return {
        "factor": factor,
        "label": label,
        "field": field,
        "operator": operator,
        "value": value,
        "match_values": _values(value) if operator in ("equals", "contains") else [],
        "threshold": _number(value) if operator in ("at_least", "at_most") else None,
        "points": points,
    }


def _column_case(kind: str, cast_to: str = "") -> str:
    """The lead's value of the rule's field, for fields of one kind (NULL for the others)."""
    whens = " ".join(
        f"WHEN '{name}' THEN l.{name}{cast_to}" for name, (_label, k) in FIELDS.items() if k == kind
    )
    return f"(CASE r.field {whens} END)"


_TEXT, _NUMBER, _TIME = (
    _column_case("text"),
    _column_case("number", "::numeric"),
    _column_case("recency"),
)
# One rule against one lead. Fields of another kind read as NULL, which the COALESCEs route
# around, so "is filled in" works for text and numbers alike. Generated once from FIELDS (column
# names from that fixed list; every value comes from the rule's row), so the text is constant and
# the server keeps it prepared.
_MATCHES = f"""COALESCE(CASE r.operator
    WHEN 'equals' THEN lower({_TEXT}) = ANY(r.match_values)
    WHEN 'contains' THEN EXISTS (
        SELECT 1 FROM unnest(r.match_values) AS m(part) WHERE strpos(lower({_TEXT}), m.part) > 0)
    WHEN 'is_set' THEN COALESCE({_TEXT} <> '', {_NUMBER} <> 0, false)
    WHEN 'is_empty' THEN COALESCE({_TEXT} = '', {_NUMBER} = 0, true)
    WHEN 'at_least' THEN {_NUMBER} >= r.threshold
    WHEN 'at_most' THEN COALESCE(
        {_NUMBER} <= r.threshold, {_TIME} >= now() - make_interval(days => r.threshold::int))
END, false)"""
_FACTOR_SUMS = ", ".join(
    f"COALESCE(sum(r.points) FILTER (WHERE r.factor = '{factor}'), 0) AS {factor}"
    for factor in SCORING_FACTORS
)
_BREAKDOWN = ", ".join(f"'{factor}', s.{factor}" for factor in SCORING_FACTORS)


# One lead's score, breakdown and action: a correlated subquery on the lead `l`, so every
# statement scans the leads it scores once and joins each to its organization's few rules,
# whatever the planner believes about the table (a fresh bulk load has no statistics). `l` may
# be any row with the lead's columns: an import scores its new leads before inserting them.
SCORE_OF_LEAD = f"""
    SELECT s.score,
           jsonb_build_object({_BREAKDOWN}, 'total', s.score, 'matched', s.matched) AS breakdown,
           CASE WHEN s.score >= 80 THEN 'immediate_sales_contact'
                WHEN s.score >= 60 THEN 'nurture_campaign'
                WHEN s.score >= 30 THEN 'education_content'
                ELSE 'monitor' END AS action
    FROM (
        SELECT {_FACTOR_SUMS},
               greatest(0, least(100, COALESCE(sum(r.points), 0))) AS score,
               COALESCE(jsonb_agg(jsonb_build_object(
                   'rule', r.id, 'label', r.label, 'factor', r.factor, 'points', r.points)
                   ORDER BY r.position, r.id), '[]') AS matched
        FROM lead_scoring_rules r
        WHERE r.organization_id = l.organization_id AND r.is_active AND {_MATCHES}
    ) s"""
_SCORE_ONE = text(
    f"SELECT x.* FROM leads l, LATERAL ({SCORE_OF_LEAD}) x"
    " WHERE l.organization_id = :org AND l.id = :id"
)
_RESCORE = text(
    f"""UPDATE leads l SET (lead_score, score_breakdown, recommended_action, scored_at) =
        (SELECT x.score, x.breakdown, x.action, now() FROM ({SCORE_OF_LEAD}) x)
    WHERE l.organization_id = :org AND l.id > :after AND l.id <= :last
      AND (NOT :open_only OR l.status IN :open)"""
).bindparams(bindparam("open", expanding=True))


def scored_columns_sql(lead_row: str) -> str:
    """A SET clause that stores the score of `lead_row` (SQL for one row with a lead's columns,
    such as its values after a change) on the lead an UPDATE changes."""
    return (
        "(lead_score, score_breakdown, recommended_action, scored_at) = "
        f"(SELECT x.score, x.breakdown, x.action, now() FROM {lead_row} l, "
        f"LATERAL ({SCORE_OF_LEAD}) x)"
    )


def score_lead(lead: Lead) -> Lead:
    """Recompute one lead's score, breakdown and action; the change is audited with the lead."""
    db.session.flush()
    row = db.session.execute(_SCORE_ONE, {"org": current_organization_id(), "id": lead.id}).one()
    lead.lead_score, lead.score_breakdown, lead.recommended_action = (
        row.score,
        row.breakdown,
        row.action,
    )
    lead.scored_at = datetime.now(UTC)
    return lead


def rescore_batch(after_id: int = 0, *, limit: int = 5000, open_only: bool = False) -> int | None:
    """Rescore the next `limit` leads after `after_id` set-based; the last id done, or None at the end."""
    organization_id = current_organization_id()
    ids = select(Lead.id).where(Lead.organization_id == organization_id, Lead.id > after_id)
    if open_only:
        ids = ids.where(Lead.status.in_(OPEN_STATUSES))
    last_id = db.session.scalar(
        select(func.max(ids.order_by(Lead.id).limit(limit).subquery().c.id))
    )
    if last_id is None:
        return None
    count = db.session.execute(
        _RESCORE,
        {
            "org": organization_id,
            "after": after_id,
            "last": last_id,
            "open_only": open_only,
            "open": list(OPEN_STATUSES),
        },
    ).rowcount
    record(
        db.session,
        organization_id=organization_id,
        action="update",
        table_name="leads",
        row_id=f"{after_id + 1}..{last_id}",
        new={"rescored": count},
    )
    return last_id


def rescore_all(*, open_only: bool = False) -> int:
    """Rescore every lead of the organization, one committed batch at a time; returns the batches."""
    batches, after_id = 0, 0
    while (after_id := atomic(rescore_batch)(after_id, open_only=open_only)) is not None:
        batches += 1
    return batches


def schedule_nightly_rescoring() -> int:
    """Queue a rescoring of open leads for every organization using leads ("days since" rules
    change with time alone); returns how many were queued."""
    organization_ids = list(db.session.execute(text("SELECT lead_organizations()")).scalars())
    for organization_id in organization_ids:
        jobs.enqueue(jobs.RESCORE_LEADS, organization_id, True)
    return len(organization_ids)


def list_rules() -> list[LeadScoringRule]:
    return list(
        db.session.scalars(
            select(LeadScoringRule)
            .where(LeadScoringRule.organization_id == current_organization_id())
            .order_by(LeadScoringRule.position, LeadScoringRule.id)
        )
    )


def get_rule(rule_id: int) -> LeadScoringRule:
    rule = db.session.scalar(
        select(LeadScoringRule).where(
            LeadScoringRule.id == rule_id,
            LeadScoringRule.organization_id == current_organization_id(),
        )
    )
    if rule is None:
        raise NotFound(_("No such scoring rule."))
    return rule


def add_default_rules(organization_id: int) -> None:
    """Give an organization seed 004's starting rules, labelled in its language."""
    with i18n.organization_language(organization_id):
        db.session.add_all(
            LeadScoringRule(
                organization_id=organization_id,
                position=position,
                is_active=True,
                **check_rule(factor, str(label), field, operator, value, points),
            )
            for position, (factor, label, field, operator, value, points) in enumerate(
                DEFAULT_RULES
            )
        )


def _rescore_after_commit() -> None:
    jobs.enqueue_after_commit(jobs.RESCORE_LEADS, current_organization_id())


@atomic
def create_rule(**values) -> LeadScoringRule:
    """Add a scoring rule; every lead is rescored in the background once this commits."""
    cleaned = check_rule(**values)
    organization_id = current_organization_id()
    count, last = db.session.execute(
        select(func.count(), func.coalesce(func.max(LeadScoringRule.position), -1)).where(
            LeadScoringRule.organization_id == organization_id
        )
    ).one()
    if count >= MAX_RULES:
        raise ValidationError(
            _("An organization can have at most %(num)s scoring rules.", num=MAX_RULES)
        )
    rule = LeadScoringRule(
        organization_id=organization_id, position=last + 1, is_active=True, **cleaned
    )
    db.session.add(rule)
    db.session.flush()
    _rescore_after_commit()
    return rule


@atomic
def update_rule(rule_id: int, *, is_active: bool = True, **values) -> LeadScoringRule:
    """Change a scoring rule; every lead is rescored in the background once this commits."""
    rule = get_rule(rule_id)
    for key, value in check_rule(**values).items():
        setattr(rule, key, value)
    rule.is_active = is_active
    _rescore_after_commit()
    return rule


@atomic
def delete_rule(rule_id: int) -> None:
    """Remove a scoring rule; every lead is rescored in the background once this commits."""
    db.session.delete(get_rule(rule_id))
    _rescore_after_commit()


@dataclass
class Band:
    name: str
    low: int
    high: int
    leads: int
    converted: int
    disqualified: int
    average_score: float

    @property
    def conversion_rate(self) -> float | None:
        """Converted out of all the band's leads."""
        return self.converted / self.leads if self.leads else None

    @property
    def decided_rate(self) -> float | None:
        """Converted out of the band's decided leads (converted or disqualified)."""
        decided = self.converted + self.disqualified
        return self.converted / decided if decided else None


@dataclass
class Analysis:
    bands: list[Band]
    histogram: list[int]  # leads per 10 points: 0-9, 10-19, ..., 90-100
    total: int
    rules: list[LeadScoringRule]

    @property
    def widest_bucket(self) -> int:
        return max(self.histogram) or 1


def analysis() -> Analysis:
    """Score distribution and conversion by band, from one grouped scan of the score index."""
    bucket = func.least(Lead.lead_score // 10, 9)
    rows = db.session.execute(
        select(
            bucket.label("bucket"),
            func.count(),
            func.count().filter(Lead.status == "converted"),
            func.count().filter(Lead.status == "disqualified"),
            func.sum(Lead.lead_score),
        )
        .where(Lead.organization_id == current_organization_id())
        .group_by(bucket)
    ).all()
    histogram = [0] * 10
    sums: dict[int, tuple[int, int, int, int]] = {}
    for index, count, converted, disqualified, score_sum in rows:
        histogram[index] = count
        sums[index] = (count, converted, disqualified, score_sum or 0)
    bands = []
    for name, low, high in BANDS:
        parts = [sums[i] for i in range(low // 10, high // 10 + 1) if i in sums and i <= 9]
        leads = sum(p[0] for p in parts)
        bands.append(
            Band(
                name=name,
                low=low,
                high=high,
                leads=leads,
                converted=sum(p[1] for p in parts),
                disqualified=sum(p[2] for p in parts),
                average_score=(sum(p[3] for p in parts) / leads) if leads else 0.0,
            )
        )
    return Analysis(bands=bands, histogram=histogram, total=sum(histogram), rules=list_rules())


def action_label(action: str) -> tuple[str, str, str]:
    """(label, priority, reason) of a recommended action."""
    return ACTIONS.get(action, ("", "", ""))
