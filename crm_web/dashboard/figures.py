"""What a dashboard card shows, and the periods cards compare: this month against the last.

A card's `build` returns a `Figure`: its main number (and how to format it: money, number,
percent, days, hours), the same number over the month before, a few detail rows or a small
chart, the link to the list behind it, and, for figures read from a materialized view, when
that view was refreshed ("as of").
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import text

from crm_web.accounts.models import Organization
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.sla.charts import Chart

KINDS = ("number", "money", "percent", "days", "hours", "rating")


@dataclass(frozen=True)
class Row:
    """One line under a card's figure: a label, a value (formatted as `kind`), maybe a link."""

    label: str
    value: object
    kind: str = "number"
    url: str | None = None
    note: str = ""

    def as_json(self) -> dict:
        return {"label": self.label, "value": plain(self.value), "kind": self.kind, "url": self.url}


@dataclass
class Figure:
    value: object
    kind: str = "number"
    previous: object = None
    caption: str = ""
    rows: list[Row] = field(default_factory=list)
    chart: Chart | None = None
    drill_url: str | None = None
    note: str = ""
    as_of: datetime | None = None

    @property
    def change(self) -> Decimal | None:
        """The change against last month in percent, or None when there is nothing to compare."""
        if self.previous is None or self.value is None:
            return None
        previous, value = Decimal(str(self.previous)), Decimal(str(self.value))
        if previous == 0:
            return None
        return ((value - previous) / abs(previous) * 100).quantize(Decimal("0.1"))

    def as_json(self) -> dict:
        """The figure for the API: plain values, ISO times."""
        return {
            "value": plain(self.value),
            "kind": self.kind,
            "previous": plain(self.previous),
            "change_percent": plain(self.change),
            "caption": self.caption,
            "rows": [row.as_json() for row in self.rows],
            "drill_url": self.drill_url,
            "note": self.note,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Months:
    """This month and the one before in the organization's time zone, as dates and instants."""

    zone: ZoneInfo
    this_month: date
    last_month: date
    now: datetime

    @property
    def this_start(self) -> datetime:
        return datetime.combine(self.this_month, time(), self.zone).astimezone(UTC)

    @property
    def last_start(self) -> datetime:
        return datetime.combine(self.last_month, time(), self.zone).astimezone(UTC)

    @property
    def next_month(self) -> date:
        return add_months(self.this_month, 1)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    @property
    def params(self) -> dict:
        """Bind parameters for SQL: :org, :this_start, :last_start, :now, :this_month..."""
        return {
            "org": current_organization_id(),
            "this_start": self.this_start,
            "last_start": self.last_start,
            "now": self.now,
            "this_month": self.this_month,
            "last_month": self.last_month,
            "next_month": self.next_month,
            "today": self.today,
        }


def add_months(day: date, count: int) -> date:
    """The first of the month `count` months after `day`'s (before, when negative)."""
    index = day.year * 12 + day.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def organization_zone() -> ZoneInfo:
    organization = db.session.get(Organization, current_organization_id())
    return ZoneInfo((organization.timezone if organization else None) or "UTC")


def months(now: datetime | None = None) -> Months:
    """This month and the last, in the organization's time zone."""
    zone = organization_zone()
    now = now or datetime.now(UTC)
    this_month = now.astimezone(zone).date().replace(day=1)
    return Months(zone, this_month, add_months(this_month, -1), now)


def one(sql: str, period: Months, **params):
    """The one row `sql` returns, with the period's parameters bound."""
    return db.session.execute(text(sql), {**period.params, **params}).one()


def rows(sql: str, period: Months, **params) -> list:
    return db.session.execute(text(sql), {**period.params, **params}).all()


def ratio(part, whole) -> Decimal | None:
    """`part` of `whole` in percent, one decimal; None when `whole` is zero."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))
