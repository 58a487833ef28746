"""Support cards: my queue, breaching soon, breach rate, response and resolution medians,
CSAT by month and tickets by channel.

Breached means what the SLA dashboard (crm_web/sla/dashboard.py) counts: a target missed, or
a live deadline passed on a ticket still open. Times are SLA working time, as the clock
measured them. The month figures (tickets opened, targets missed, medians, CSAT) come from
the month views (0039) refreshed with the dashboards; the queue and the deadlines are live.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.dashboard.figures import Figure, Row, add_months, months, one, ratio, rows
from crm_web.dashboard.registry import Card
from crm_web.labels import label
from crm_web.sla import charts

ACTIVE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
SOON = timedelta(hours=2)
TREND_MONTHS = 6


def my_queue(user) -> Figure:
    period = months()
    row = one(
        f"""SELECT count(*) AS open,
                   count(*) FILTER (WHERE priority IN ('urgent', 'high')) AS pressing,
                   count(*) FILTER (WHERE sla_due_at < :now) AS late
              FROM tickets
             WHERE organization_id = :org AND assignee_id = :user AND {ACTIVE}""",
        period,
        user=user.id,
    )
    return Figure(
        row.open,
        rows=[Row(_("Urgent or high priority"), row.pressing), Row(_("Past their SLA"), row.late)],
        drill_url=url_for("tickets.index", view="mine"),
    )


def breaching_soon(user) -> Figure:
    period = months()
    row = one(
        f"""SELECT count(*) FILTER (WHERE sla_due_at >= :now AND sla_due_at < :soon) AS soon,
                   count(*) FILTER (WHERE sla_due_at < :now) AS breached
              FROM tickets
             WHERE organization_id = :org AND {ACTIVE} AND sla_due_at < :soon""",
        period,
        soon=period.now + SOON,
    )
    return Figure(
        row.soon,
        caption=_("Due within two hours"),
        rows=[
            Row(_("Already breached"), row.breached, url=url_for("tickets.index", view="breached"))
        ],
        drill_url=url_for("tickets.index", view="breaching"),
    )


def breach_rate(user) -> Figure:
    period = months()
    # Missed targets per month from `ticket_months_rows`; a deadline passed on a ticket still
    # open depends on the time of reading, so those are counted live (the active-ticket index).
    row = one(
        """SELECT coalesce(sum(tickets) FILTER (WHERE month >= :this_month), 0)::bigint
                      AS tickets,
                  coalesce(sum(missed) FILTER (WHERE month >= :this_month), 0)::bigint AS missed,
                  coalesce(sum(tickets) FILTER (WHERE month = :last_month), 0)::bigint
                      AS tickets_before,
                  coalesce(sum(missed) FILTER (WHERE month = :last_month), 0)::bigint
                      AS missed_before,
                  max(refreshed_at) AS refreshed_at
             FROM ticket_months_rows WHERE month >= :last_month""",
        period,
    )
    late = one(
        f"""SELECT count(*) FILTER (WHERE created_at >= :this_start) AS this,
                   count(*) FILTER (WHERE created_at < :this_start) AS last
              FROM tickets
             WHERE organization_id = :org AND {ACTIVE} AND sla_due_at < :now
               AND created_at >= :last_start
               AND NOT (first_response_breached OR resolution_breached)""",
        period,
    )
    breached = row.missed + late.this
    return Figure(
        ratio(breached, row.tickets),
        "percent",
        previous=ratio(row.missed_before + late.last, row.tickets_before),
        caption=_(
            "%(breached)s of %(tickets)s tickets opened this month",
            breached=breached,
            tickets=row.tickets,
        ),
        drill_url=url_for("sla.index"),
        as_of=row.refreshed_at,
    )


def response_times(user) -> Figure:
    period = months()
    # A median cannot be added up: the month's own, from `ticket_month_medians_rows`.
    found = {
        row.month: row
        for row in rows(
            """SELECT month, first_response, resolution, refreshed_at
                 FROM ticket_month_medians_rows
                WHERE month IN (:this_month, :last_month)""",
            period,
        )
    }
    this, last = found.get(period.this_month), found.get(period.last_month)
    return Figure(
        _hours(this.first_response if this else None),
        "hours",
        previous=_hours(last.first_response if last else None),
        caption=_("Median first response (working hours)"),
        rows=[
            Row(
                _("Median resolution this month"),
                _hours(this.resolution if this else None),
                "hours",
            ),
            Row(
                _("Median resolution last month"),
                _hours(last.resolution if last else None),
                "hours",
            ),
        ],
        drill_url=url_for("sla.index"),
        as_of=_as_of(found.values()),
    )


def _as_of(found) -> datetime | None:
    """The refresh time of the month rows read (None when there were none)."""
    return max((row.refreshed_at for row in found), default=None)


def _hours(seconds) -> Decimal | None:
    return None if seconds is None else (Decimal(seconds) / 3600).quantize(Decimal("0.1"))


def csat_trend(user) -> Figure:
    period = months()
    since = add_months(period.this_month, 1 - TREND_MONTHS)
    found = {
        row.month: row
        for row in rows(
            """SELECT month, round(rating_sum::numeric / answers, 2) AS rating, answers,
                      refreshed_at
                 FROM csat_months_rows WHERE month >= :since""",
            period,
            since=since,
        )
    }
    starts = [add_months(since, n) for n in range(TREND_MONTHS)]
    this, last = found.get(period.this_month), found.get(period.last_month)
    return Figure(
        this.rating if this else None,
        "rating",
        previous=last.rating if last else None,
        caption=_("%(count)s ratings this month (1 to 5)", count=this.answers if this else 0),
        chart=charts.bar_chart(
            _("CSAT by month"),
            [month.strftime("%m/%y") for month in starts],
            [
                charts.Series(
                    _("Average rating"),
                    "series-a",
                    [float(found[m].rating) if m in found else None for m in starts],
                )
            ],
            label=lambda value: f"{value:.1f}",
            ceiling=5,
            width=360,
            height=150,
        ),
        drill_url=url_for("sla.index"),
        as_of=_as_of(found.values()),
    )


def by_channel(user) -> Figure:
    period = months()
    found = rows(
        """SELECT channel,
                  coalesce(sum(tickets) FILTER (WHERE month >= :this_month), 0)::bigint AS this,
                  coalesce(sum(tickets) FILTER (WHERE month = :last_month), 0)::bigint AS last,
                  max(refreshed_at) AS refreshed_at
             FROM ticket_months_rows
            WHERE month >= :last_month
            GROUP BY channel ORDER BY this DESC, channel""",
        period,
    )
    return Figure(
        sum(row.this for row in found),
        previous=sum(row.last for row in found),
        caption=_("Tickets opened this month"),
        rows=[
            Row(
                label(row.channel, "ticket_channel"),
                row.this,
                url=url_for("tickets.index", view="all", channel=row.channel),
            )
            for row in found
        ],
        drill_url=url_for("tickets.index", view="all"),
        as_of=_as_of(found),
    )


CARDS = (
    Card("my_queue", _l("My queue"), ("support",), my_queue, order=10),
    Card("breaching", _l("Breaching soon"), ("support",), breaching_soon, order=20),
    Card("breach_rate", _l("Breach rate"), ("support",), breach_rate, order=30),
    Card("response_times", _l("Response and resolution"), ("support",), response_times, order=40),
    Card("csat", _l("Customer satisfaction"), ("support",), csat_trend, order=50),
    Card("channels", _l("Tickets by channel"), ("support",), by_channel, order=60),
)
