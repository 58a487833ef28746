"""Support cards: my queue, breaching soon, breach rate, response and resolution medians,
CSAT by month and tickets by channel.

Breached means what the SLA dashboard (crm_web/sla/dashboard.py) counts: a target missed, or
a live deadline passed on a ticket still open. Times are SLA working time, as the clock
measured them.
"""

from datetime import timedelta
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.dashboard.figures import Figure, Row, add_months, months, one, ratio, rows
from crm_web.dashboard.registry import Card
from crm_web.labels import label
from crm_web.sla import charts

ACTIVE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
BREACHED = f"(first_response_breached OR resolution_breached OR (sla_due_at < :now AND {ACTIVE}))"
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
    row = one(
        f"""SELECT count(*) FILTER (WHERE created_at >= :this_start) AS tickets,
                   count(*) FILTER (WHERE created_at >= :this_start AND {BREACHED}) AS breached,
                   count(*) FILTER (WHERE created_at < :this_start) AS tickets_before,
                   count(*) FILTER (WHERE created_at < :this_start AND {BREACHED}) AS breached_before
              FROM tickets
             WHERE organization_id = :org AND created_at >= :last_start""",
        period,
    )
    return Figure(
        ratio(row.breached, row.tickets),
        "percent",
        previous=ratio(row.breached_before, row.tickets_before),
        caption=_(
            "%(breached)s of %(tickets)s tickets opened this month",
            breached=row.breached,
            tickets=row.tickets,
        ),
        drill_url=url_for("sla.index"),
    )


def response_times(user) -> Figure:
    period = months()
    row = one(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
                      FILTER (WHERE created_at >= :this_start) AS first,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
                      FILTER (WHERE created_at < :this_start) AS first_before,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds)
                      FILTER (WHERE created_at >= :this_start) AS resolution,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds)
                      FILTER (WHERE created_at < :this_start) AS resolution_before
             FROM tickets
            WHERE organization_id = :org AND created_at >= :last_start""",
        period,
    )
    return Figure(
        _hours(row.first),
        "hours",
        previous=_hours(row.first_before),
        caption=_("Median first response (working hours)"),
        rows=[
            Row(_("Median resolution this month"), _hours(row.resolution), "hours"),
            Row(_("Median resolution last month"), _hours(row.resolution_before), "hours"),
        ],
        drill_url=url_for("sla.index"),
    )


def _hours(seconds) -> Decimal | None:
    return None if seconds is None else (Decimal(seconds) / 3600).quantize(Decimal("0.1"))


def csat_trend(user) -> Figure:
    period = months()
    since = add_months(period.this_month, 1 - TREND_MONTHS)
    found = {
        row.month: row
        for row in rows(
            """SELECT date_trunc('month', csat_submitted_at AT TIME ZONE :zone)::date AS month,
                      round(avg(csat_rating), 2) AS rating, count(*) AS answers
                 FROM tickets
                WHERE organization_id = :org AND csat_rating IS NOT NULL
                  AND csat_submitted_at >= :since
                GROUP BY 1""",
            period,
            zone=period.zone.key,
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
    )


def by_channel(user) -> Figure:
    period = months()
    found = rows(
        """SELECT channel, count(*) FILTER (WHERE created_at >= :this_start) AS this,
                  count(*) FILTER (WHERE created_at < :this_start) AS last
             FROM tickets
            WHERE organization_id = :org AND created_at >= :last_start
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
    )


CARDS = (
    Card("my_queue", _l("My queue"), ("support",), my_queue, order=10),
    Card("breaching", _l("Breaching soon"), ("support",), breaching_soon, order=20),
    Card("breach_rate", _l("Breach rate"), ("support",), breach_rate, order=30),
    Card("response_times", _l("Response and resolution"), ("support",), response_times, order=40),
    Card("csat", _l("Customer satisfaction"), ("support",), csat_trend, order=50),
    Card("channels", _l("Tickets by channel"), ("support",), by_channel, order=60),
)
