"""The sales forecast (seed 003's totals, seed 004's best/expected/worst by month and win rates).

Definitions, per month of expected close (deals already overdue count in the current month):
- pipeline: the amount of the open deals;
- expected: what was already won that month + every open deal weighted by its probability;
- best case: won + the full amount of the likely deals (probability >= BEST_CASE_PROBABILITY)
  + the others weighted; worst case: won + only the committed deals (probability >=
  COMMIT_PROBABILITY), weighted. So worst <= expected <= best;
- historical: won + every open deal weighted by its stage's historical win rate (the share of
  deals that reached that stage, closed in the last 12 months, and were won);
- coverage: pipeline / what is left of the month's target (target - won), the usual
  "pipeline coverage" a manager compares with 3x.

Over 600 lines on purpose: the figures' definitions above, the queries that compute them and
the cache that keeps them are read together whenever a number looks wrong.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from crm_web.db import atomic, current_organization_id
from crm_web.errors import ValidationError, invalid
from crm_web.extensions import db
from crm_web.formatting import local
from crm_web.pipeline.amounts import parse_amount
from crm_web.pipeline.board import Filters, board_columns
from crm_web.pipeline.models import (
    Opportunity,
    SalesTarget,
)
from crm_web.privacy.audit import record
from crm_web.redis_client import get_redis, when_redis_down
from crm_web.timezones import acting_organization

MONTHS = 6
BEST_CASE_PROBABILITY = 50
COMMIT_PROBABILITY = 75
HISTORY_MONTHS = 12
CENT = Decimal("0.01")
ZERO = Decimal("0")


def add_months(month: date, count: int) -> date:
    index = month.month - 1 + count
    return date(month.year + index // 12, index % 12 + 1, 1)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


# The figures a month or an owner sums (the rest are labels and targets).
SUMMED = (
    "open_count",
    "overdue_count",
    "pipeline",
    "weighted",
    "won",
    "best_extra",
    "worst_extra",
    "historical_extra",
)


@dataclass
class Figures:
    """One row of the forecast: a month, an owner or the whole window."""

    label: str
    open_count: int = 0
    overdue_count: int = 0
    pipeline: Decimal = ZERO
    weighted: Decimal = ZERO
    won: Decimal = ZERO
    best_extra: Decimal = ZERO
    worst_extra: Decimal = ZERO
    historical_extra: Decimal = ZERO
    target: Decimal | None = None
    month: date | None = None

    @property
    def expected(self) -> Decimal:
        return _money(self.won + self.weighted)

    @property
    def best_case(self) -> Decimal:
        return _money(self.won + self.best_extra)

    @property
    def worst_case(self) -> Decimal:
        return _money(self.won + self.worst_extra)

    @property
    def historical(self) -> Decimal:
        return _money(self.won + self.historical_extra)

    @property
    def remaining_target(self) -> Decimal | None:
        return None if self.target is None else max(self.target - self.won, ZERO)

    @property
    def coverage(self) -> Decimal | None:
        """Pipeline / (target - won); None without a target or when it is met."""
        remaining = self.remaining_target
        if not remaining:
            return None
        return (self.pipeline / remaining).quantize(CENT, rounding=ROUND_HALF_UP)

    def add(self, other: "Figures") -> None:
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.target is not None:
            self.target = (self.target or ZERO) + other.target


@dataclass
class StageRate:
    stage_id: int
    name: str
    probability: Decimal
    reached: int
    won: int
    average_days: Decimal | None

    @property
    def win_rate(self) -> Decimal | None:
        """Won / reached, as a percentage."""
        if not self.reached:
            return None
        return (Decimal(self.won) * 100 / self.reached).quantize(Decimal("0.1"))


@dataclass
class Forecast:
    start: date
    currency: str
    months: list[Figures]
    total: Figures
    owners: list[Figures]
    stage_rates: list[StageRate]
    open_pipeline: Decimal
    open_weighted: Decimal
    open_count: int
    won_count_12m: int = 0
    lost_count_12m: int = 0
    average_cycle_days: Decimal | None = None
    chart: dict = field(default_factory=dict)

    @property
    def win_rate_12m(self) -> Decimal | None:
        closed = self.won_count_12m + self.lost_count_12m
        if not closed:
            return None
        return (Decimal(self.won_count_12m) * 100 / closed).quantize(Decimal("0.1"))


def _organization():
    # The signed-in snapshot's values when there is one: no query.
    return acting_organization()


def this_month(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date().replace(day=1)


def stage_rates(since: datetime) -> list[StageRate]:
    """Per stage: how many deals closed since `since` reached it, how many of those were won,
    and the average days they spent in it (from the stage history)."""
    rows = db.session.execute(
        text(
            """
            WITH closed AS (
                SELECT id, status FROM opportunities
                WHERE organization_id = :org AND closed_at >= :since AND closed_at IS NOT NULL
            ), visits AS (
                SELECT h.opportunity_id, h.to_stage_id, c.status,
                       lead(h.changed_at) OVER (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id)
                         - h.changed_at AS stay
                FROM opportunity_stage_history h JOIN closed c ON c.id = h.opportunity_id
                WHERE h.organization_id = :org
            )
            SELECT s.id, s.name, s.probability,
                   count(DISTINCT v.opportunity_id) AS reached,
                   count(DISTINCT v.opportunity_id) FILTER (WHERE v.status = 'won') AS won,
                   avg(extract(epoch FROM v.stay)) / 86400 AS average_days
            FROM pipeline_stages s LEFT JOIN visits v ON v.to_stage_id = s.id
            WHERE s.organization_id = :org
            GROUP BY s.id, s.name, s.probability, s.position
            ORDER BY s.position, s.id
            """
        ),
        {"org": current_organization_id(), "since": since},
    ).all()
    return [
        StageRate(
            row.id,
            row.name,
            row.probability,
            row.reached,
            row.won,
            None
            if row.average_days is None
            else Decimal(row.average_days).quantize(Decimal("0.1")),
        )
        for row in rows
    ]


HISTORY_CACHE_SECONDS = 600


def _history_key(organization_id: int) -> str:
    """Names the stages (their names and probabilities are in the figures) and the versions of
    the won and lost ones, which the database bumps whenever a deal enters, leaves or changes
    in them (0017_pipeline_versions): closing or reopening a deal makes a new key, so no writer
    has to drop the old one, while moves between open stages keep it."""
    stages = []
    for column in board_columns(Filters()):
        stage = column.stage
        # Open stages' versions move with every open deal, which the history does not read.
        version = None if stage.outcome == "open" else column.version
        stages.append(
            (stage.id, stage.name, stage.position, stage.probability, stage.outcome, version)
        )
    digest = hashlib.sha1(repr(stages).encode()).hexdigest()
    return f"crm:forecast-history:{organization_id}:{digest}"


@dataclass
class History:
    """The last 12 months of closed deals: win rates by stage, counts and the sales cycle."""

    since: str
    rates: list[StageRate]
    won: int
    lost: int
    cycle_days: Decimal | None


def _history(since: datetime) -> History:
    """Read from Redis when kept; the scan of the history behind it is the forecast's costliest
    query, and its inputs change only when a closed deal does (see _history_key)."""
    key = _history_key(current_organization_id())
    cached = _cached_history(key)
    if cached is not None:
        data = json.loads(cached)
        if data["since"] == since.isoformat():
            return History(
                data["since"],
                [
                    StageRate(
                        rate["stage_id"],
                        rate["name"],
                        Decimal(rate["probability"]),
                        rate["reached"],
                        rate["won"],
                        None if rate["average_days"] is None else Decimal(rate["average_days"]),
                    )
                    for rate in data["rates"]
                ],
                data["won"],
                data["lost"],
                None if data["cycle_days"] is None else Decimal(data["cycle_days"]),
            )
    won, lost, cycle = db.session.execute(
        select(
            func.count().filter(Opportunity.status == "won"),
            func.count().filter(Opportunity.status == "lost"),
            func.avg(
                func.extract("epoch", Opportunity.closed_at - Opportunity.created_at) / 86400
            ).filter(Opportunity.status == "won"),
        ).where(
            Opportunity.organization_id == current_organization_id(),
            Opportunity.closed_at >= since,
            Opportunity.closed_at.is_not(None),
        )
    ).one()
    history = History(
        since.isoformat(),
        stage_rates(since),
        won,
        lost,
        None if cycle is None else Decimal(cycle).quantize(Decimal("0.1")),
    )
    _cache_history(
        key,
        json.dumps(
            {
                "since": history.since,
                "rates": [
                    {
                        "stage_id": rate.stage_id,
                        "name": rate.name,
                        "probability": str(rate.probability),
                        "reached": rate.reached,
                        "won": rate.won,
                        "average_days": None
                        if rate.average_days is None
                        else str(rate.average_days),
                    }
                    for rate in history.rates
                ],
                "won": history.won,
                "lost": history.lost,
                "cycle_days": None if history.cycle_days is None else str(history.cycle_days),
            }
        ),
    )
    return history


@when_redis_down(None, "reading the forecast's win rates")
def _cached_history(key: str) -> bytes | None:
    return get_redis().get(key)


@when_redis_down(None, "keeping the forecast's win rates")
def _cache_history(key: str, payload: str) -> None:
    get_redis().set(key, payload, ex=HISTORY_CACHE_SECONDS)


# The forecast's figures per month and per owner, summed in the database: the open deals from
# the sums the trigger keeps per month, owner (0: none), stage and probability (the months before
# the first are the overdue deals, counted in it), the won deals by their month of closing in
# the organization's time zone. Each stage's historical win rate comes in as two arrays.
FIGURES_QUERY = text(
    """
    WITH open_sums AS (
        SELECT greatest(t.month, :start) AS month, nullif(t.owner_key, 0) AS owner_id,
               t.opportunity_count AS open_count,
               CASE WHEN t.month < :start THEN t.opportunity_count ELSE 0 END AS overdue_count,
               t.amount AS pipeline,
               t.amount * t.probability / 100 AS weighted,
               0 AS won,
               CASE WHEN t.probability >= :best THEN t.amount
                    ELSE t.amount * t.probability / 100 END AS best_extra,
               CASE WHEN t.probability >= :commit THEN t.amount * t.probability / 100
                    ELSE 0 END AS worst_extra,
               t.amount * coalesce(r.rate, 0) AS historical_extra
        FROM pipeline_month_totals t
        LEFT JOIN unnest(CAST(:stage_ids AS bigint[]), CAST(:rates AS numeric[]))
            AS r (stage_id, rate) ON r.stage_id = t.stage_id
        WHERE t.organization_id = :org AND t.month < :end AND t.opportunity_count > 0
    ), won_sums AS (
        SELECT date_trunc('month', timezone(:timezone, closed_at))::date AS month, owner_id,
               0 AS open_count, 0 AS overdue_count, 0 AS pipeline, 0 AS weighted,
               sum(amount) AS won, 0 AS best_extra, 0 AS worst_extra, 0 AS historical_extra
        FROM opportunities
        WHERE organization_id = :org AND status = 'won'
          AND closed_at >= :start_at AND closed_at < :end_at
        GROUP BY 1, 2
    ), sums AS (
        SELECT * FROM open_sums UNION ALL SELECT * FROM won_sums
    )
    SELECT g.*, u.name AS owner_name
    FROM (
        SELECT grouping(owner_id) = 0 AS by_owner, month, owner_id,
               sum(open_count)::bigint AS open_count, sum(overdue_count)::bigint AS overdue_count,
               sum(pipeline) AS pipeline, sum(weighted) AS weighted, sum(won) AS won,
               sum(best_extra) AS best_extra, sum(worst_extra) AS worst_extra,
               sum(historical_extra) AS historical_extra
        FROM sums
        GROUP BY GROUPING SETS ((month), (owner_id))
    ) g
    LEFT JOIN users u ON u.id = g.owner_id AND u.organization_id = :org
    """
)

# Every open deal, whatever its date (the stage totals the board keeps already say it), with
# the months' targets: one row per target, or one row with no target.
OPEN_AND_TARGETS_QUERY = text(
    """
    SELECT o.open_count, o.open_pipeline, o.open_weighted, t.month, t.amount AS target
    FROM (
        SELECT coalesce(sum(s.opportunity_count), 0)::bigint AS open_count,
               coalesce(sum(s.amount), 0) AS open_pipeline,
               coalesce(sum(s.weighted_amount), 0) AS open_weighted
        FROM pipeline_stage_totals s JOIN pipeline_stages p ON p.id = s.stage_id
        WHERE s.organization_id = :org AND p.outcome = 'open'
    ) o
    LEFT JOIN sales_targets t
        ON t.organization_id = :org AND t.month >= :start AND t.month < :end
    """
)


def version() -> tuple[date, tuple]:
    """The current month, and the parts naming the version of what the forecast shows from it:
    the organization's time zone and currency, and its stages as the board reads them, with the
    versions the database bumps on every change to deals, owners' names and targets
    (0017_pipeline_versions)."""
    organization = _organization()
    stages = [tuple(column.stage) for column in board_columns(Filters())]
    digest = hashlib.sha1(repr(stages).encode()).hexdigest()
    start = this_month(organization.timezone)
    return start, (start.isoformat(), organization.timezone, organization.currency, digest)


def forecast(months: int = MONTHS, today: date | None = None) -> Forecast:
    """The forecast for the current month and the next ones, in the organization's time zone."""
    organization_id = current_organization_id()
    organization = _organization()
    timezone = ZoneInfo(organization.timezone)
    start = today.replace(day=1) if today else this_month(organization.timezone)
    end = add_months(start, months)
    start_at = datetime(start.year, start.month, 1, tzinfo=timezone)
    end_at = datetime(end.year, end.month, 1, tzinfo=timezone)
    history_since = datetime.combine(
        add_months(start, -HISTORY_MONTHS), datetime.min.time(), timezone
    )

    history = _history(history_since)
    rates = history.rates
    # Stages without closed history fall back to their configured probability.
    historical_rate = {
        rate.stage_id: (rate.win_rate if rate.win_rate is not None else rate.probability) / 100
        for rate in rates
    }

    figures_rows = db.session.execute(
        FIGURES_QUERY,
        {
            "org": organization_id,
            "start": start,
            "end": end,
            "start_at": start_at,
            "end_at": end_at,
            "timezone": organization.timezone,
            "best": BEST_CASE_PROBABILITY,
            "commit": COMMIT_PROBABILITY,
            "stage_ids": list(historical_rate),
            "rates": list(historical_rate.values()),
        },
    ).all()
    open_and_targets = db.session.execute(
        OPEN_AND_TARGETS_QUERY, {"org": organization_id, "start": start, "end": end}
    ).all()
    open_count, open_pipeline, open_weighted = open_and_targets[0][:3]
    targets = {row.month: row.target for row in open_and_targets if row.month is not None}

    by_month = {
        add_months(start, index): Figures(
            label=local(add_months(start, index), "month"),
            month=add_months(start, index),
            target=targets.get(add_months(start, index)),
        )
        for index in range(months)
    }
    by_owner: dict[int | None, Figures] = {}

    # The grouping sets give each month and each owner exactly one row.
    for row in figures_rows:
        if row.by_owner:
            figures = by_owner[row.owner_id] = Figures(label=row.owner_name or _("Unassigned"))
        else:
            figures = by_month[row.month]
        for name in SUMMED:
            setattr(figures, name, getattr(row, name))

    total = Figures(label=_("Next %(num)s months", num=months))
    for figures in by_month.values():
        total.add(figures)

    result = Forecast(
        start=start,
        currency=organization.currency,
        months=list(by_month.values()),
        total=total,
        owners=sorted(by_owner.values(), key=lambda f: (-f.pipeline, f.label)),
        stage_rates=rates,
        open_pipeline=_money(open_pipeline),
        open_weighted=_money(open_weighted),
        open_count=open_count,
        won_count_12m=history.won,
        lost_count_12m=history.lost,
        average_cycle_days=history.cycle_days,
    )
    result.chart = chart(result.months)
    return result


CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM, CHART_LEFT = 720, 260, 16, 28, 64


def _nice_ceiling(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        ceiling = magnitude * Decimal(str(step))
        if ceiling >= value:
            return ceiling
    return magnitude * 10


def chart(months: list[Figures]) -> dict:
    """Geometry of the server-rendered SVG chart: per month a worst/expected/best bar and the target."""
    top = max(
        [figures.best_case for figures in months] + [figures.target or ZERO for figures in months]
    )
    ceiling = _nice_ceiling(top)
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(months), 1)
    bar = slot / 4

    def y(value: Decimal) -> float:
        return round(CHART_TOP + plot_height * (1 - float(value / ceiling)), 1)

    groups = []
    for index, figures in enumerate(months):
        x = CHART_LEFT + index * slot + slot / 8
        bars = []
        for offset, (kind, value) in enumerate(
            (
                ("worst", figures.worst_case),
                ("expected", figures.expected),
                ("best", figures.best_case),
            )
        ):
            bars.append(
                {
                    "kind": kind,
                    "x": round(x + offset * bar, 1),
                    "y": y(value),
                    "width": round(bar - 2, 1),
                    "height": round(CHART_TOP + plot_height - y(value), 1),
                    "value": value,
                }
            )
        groups.append(
            {
                "label": figures.label,
                "label_x": round(x + 1.5 * bar, 1),
                "bars": bars,
                "target_y": None if figures.target is None else y(figures.target),
                "target_x1": round(x - 2, 1),
                "target_x2": round(x + 3 * bar + 2, 1),
            }
        )
    ticks = [
        {"y": y(ceiling * Decimal(step) / 4), "value": ceiling * Decimal(step) / 4}
        for step in range(5)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "baseline": CHART_TOP + plot_height,
        "groups": groups,
        "ticks": ticks,
    }


def parse_month(value: str, field_name: str = "month") -> date:
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m").date()
    except ValueError:
        raise invalid({field_name: _("Use a month like 2026-03.")}) from None


@atomic
def set_targets(amounts: dict[str, str]) -> None:
    """Save several months' targets ({"2026-03": "50000", ...}) in one transaction."""
    for month, amount in amounts.items():
        try:
            set_target(parse_month(month), amount)
        except ValidationError as exc:
            details = "; ".join(exc.fields.values()) or exc.message
            raise ValidationError(
                _("Target for %(month)s: %(details)s", month=month, details=details)
            ) from None


@atomic
def set_target(month: date, amount) -> SalesTarget | None:
    """Set (or with an empty amount, clear) the organization's sales target for a month."""
    organization_id = current_organization_id()
    month = month.replace(day=1)
    if amount in (None, ""):
        existing = db.session.scalar(
            select(SalesTarget).where(
                SalesTarget.organization_id == organization_id, SalesTarget.month == month
            )
        )
        if existing is not None:
            db.session.delete(existing)
            db.session.flush()
        return None
    amount = parse_amount(amount)
    # An upsert, so two managers saving the same month at once cannot collide.
    target_id = db.session.execute(
        insert(SalesTarget)
        .values(organization_id=organization_id, month=month, amount=amount)
        .on_conflict_do_update(
            constraint="uq_sales_targets_org_month",
            set_={"amount": amount, "updated_at": func.now()},
        )
        .returning(SalesTarget.id)
    ).scalar_one()
    record(
        db.session,
        organization_id=organization_id,
        action="update",
        table_name="sales_targets",
        row_id=target_id,
        new={"month": month, "amount": amount},
    )
    return db.session.get(SalesTarget, target_id, populate_existing=True)


def targets(start: date, months: int = MONTHS) -> dict[date, Decimal]:
    """The targets set for the months from `start`."""
    return dict(
        db.session.execute(
            select(SalesTarget.month, SalesTarget.amount).where(
                SalesTarget.organization_id == current_organization_id(),
                SalesTarget.month >= start,
                SalesTarget.month < add_months(start, months),
            )
        ).all()
    )
