"""Sales and manager cards: pipeline, forecast, closing deals, tasks, win rates, cycle times,
quotes waiting, team activity and deals at risk.

Open deals and open tasks are read live (indexed by owner, stage and close date; the board's
per-stage and per-month totals are kept by triggers, 0007). Closed deals come from
`sales_dashboard_rows` (0036) and completed activities from `activity_months_rows` (0039),
refreshed by the scheduler: their cards say "as of" its refresh.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.dashboard.figures import Figure, Months, Row, add_months, months, one, ratio, rows
from crm_web.dashboard.registry import Card
from crm_web.labels import label
from crm_web.sla import charts

AT_RISK_DAYS = 14
TREND_MONTHS = 6


def my_pipeline(user) -> Figure:
    period = months()
    row = one(
        """SELECT coalesce(sum(amount), 0) AS amount,
                  coalesce(sum(amount * probability / 100), 0) AS weighted,
                  count(*) AS deals,
                  coalesce(sum(amount) FILTER (WHERE created_at >= :this_start), 0) AS added,
                  coalesce(sum(amount) FILTER (WHERE created_at >= :last_start
                                                 AND created_at < :this_start), 0) AS added_before
             FROM opportunities
            WHERE organization_id = :org AND owner_id = :user AND status = 'open'""",
        period,
        user=user.id,
    )
    return Figure(
        row.amount,
        "money",
        caption=_("%(count)s open deals", count=row.deals),
        rows=[
            Row(_("Weighted forecast"), row.weighted.quantize(Decimal("0.01")), "money"),
            Row(_("Added this month"), row.added, "money"),
            Row(_("Added last month"), row.added_before, "money"),
        ],
        drill_url=url_for("pipeline.opportunity_list", owner_id=user.id, status="open"),
    )


def closing_this_month(user) -> Figure:
    period = months()
    row = one(
        """SELECT count(*) FILTER (WHERE expected_close_date >= :this_month
                                     AND expected_close_date < :next_month) AS deals,
                  coalesce(sum(amount) FILTER (WHERE expected_close_date >= :this_month
                                                 AND expected_close_date < :next_month), 0)
                      AS amount,
                  count(*) FILTER (WHERE expected_close_date >= :last_month
                                     AND expected_close_date < :this_month) AS deals_before
             FROM opportunities
            WHERE organization_id = :org AND owner_id = :user AND status = 'open'
              AND expected_close_date >= :last_month AND expected_close_date < :next_month""",
        period,
        user=user.id,
    )
    return Figure(
        row.deals,
        previous=row.deals_before,
        rows=[Row(_("Amount closing this month"), row.amount, "money")],
        note=_("Compared with open deals still dated last month."),
        drill_url=url_for(
            "pipeline.opportunity_list",
            owner_id=user.id,
            status="open",
            close_month=period.this_month.strftime("%Y-%m"),
        ),
    )


def my_tasks(user) -> Figure:
    period = months()
    # Open tasks live (the open-task index); the ones done, per month from the view.
    row = one(
        """SELECT count(*) FILTER (WHERE due_at < :now) AS overdue,
                  count(*) FILTER (WHERE due_at >= :now AND due_at < :tomorrow) AS today
             FROM activities
            WHERE organization_id = :org AND assigned_to_id = :user
              AND status IN ('planned', 'in_progress') AND due_at < :tomorrow""",
        period,
        user=user.id,
        tomorrow=_tomorrow(period),
    )
    done = _activity_counts(period, assignee=user.id)
    return Figure(
        row.overdue + row.today,
        caption=_("%(overdue)s overdue, %(today)s due today", overdue=row.overdue, today=row.today),
        rows=[
            Row(_("Completed this month"), done.this),
            Row(_("Completed last month"), done.last),
        ],
        drill_url=url_for("activities.tasks"),
        as_of=done.refreshed_at,
    )


def _tomorrow(period: Months) -> datetime:
    local = period.now.astimezone(period.zone).date() + timedelta(days=1)
    return datetime.combine(local, time(), period.zone)


def _closed(period: Months, owner_id: int | None, since_months: int = 1):
    """Won, lost, won amount and cycle days per month from `sales_dashboard_rows` since
    `since_months` before this month; one owner's or everyone's."""
    return rows(
        """SELECT month, sum(won_count) AS won, sum(lost_count) AS lost,
                  sum(won_amount) AS won_amount, sum(won_cycle_days) AS cycle_days,
                  max(refreshed_at) AS refreshed_at
             FROM sales_dashboard_rows
            WHERE month >= :since AND (CAST(:owner AS bigint) IS NULL OR owner_key = :owner)
            GROUP BY month ORDER BY month""",
        period,
        since=add_months(period.this_month, -since_months),
        owner=owner_id,
    )


def _as_of():
    return one("SELECT max(refreshed_at) AS at FROM sales_dashboard_rows", months()).at


def win_rate(user) -> Figure:
    return _win_rate(user.id)


def team_win_rate(user) -> Figure:
    return _win_rate(None)


def _win_rate(owner_id: int | None) -> Figure:
    period = months()
    by_month = {row.month: row for row in _closed(period, owner_id)}
    this, last = by_month.get(period.this_month), by_month.get(period.last_month)

    def rate(row):
        return ratio(row.won, row.won + row.lost) if row else None

    return Figure(
        rate(this),
        "percent",
        previous=rate(last),
        caption=_(
            "%(won)s won, %(lost)s lost", won=this.won if this else 0, lost=this.lost if this else 0
        ),
        rows=[Row(_("Won this month"), this.won_amount if this else Decimal(0), "money")],
        drill_url=url_for("pipeline.opportunity_list", status="won", **_owner(owner_id)),
        as_of=_as_of(),
    )


def _owner(owner_id):
    return {"owner_id": owner_id} if owner_id else {}


def recent_activity(user) -> Figure:
    period = months()
    found = rows(
        """SELECT a.id, a.subject, a.activity_type, a.completed_at, a.customer_id
             FROM activities a JOIN customers c
               ON c.id = a.customer_id AND c.organization_id = a.organization_id
            WHERE a.organization_id = :org AND c.owner_id = :user AND a.status = 'completed'
              AND a.completed_at >= :last_start
            ORDER BY a.completed_at DESC LIMIT 5""",
        period,
        user=user.id,
    )
    counts = _activity_counts(period, owner=user.id)
    return Figure(
        counts.this,
        previous=counts.last,
        caption=_("Activities done on your accounts this month"),
        rows=[
            Row(
                f"{label(item.activity_type, 'activity_type')}: {item.subject}",
                item.completed_at,
                "datetime",
                url_for("activities.detail", activity_id=item.id),
            )
            for item in found
        ],
        drill_url=url_for("activities.index"),
        as_of=counts.refreshed_at,
    )


# --- manager -----------------------------------------------------------------------------


def team_pipeline(user) -> Figure:
    period = months()
    stages = rows(
        """SELECT s.name, coalesce(t.opportunity_count, 0) AS deals,
                  coalesce(t.amount, 0) AS amount
             FROM pipeline_stages s
             LEFT JOIN pipeline_stage_totals t
               ON t.stage_id = s.id AND t.organization_id = s.organization_id
            WHERE s.organization_id = :org AND s.outcome = 'open'
            ORDER BY s.position""",
        period,
    )
    owners = rows(
        """SELECT coalesce(u.name, :nobody) AS name, sum(m.amount) AS amount, m.owner_key
             FROM pipeline_month_totals m
             LEFT JOIN users u ON u.id = m.owner_key AND u.organization_id = m.organization_id
            WHERE m.organization_id = :org
            GROUP BY 1, 3 ORDER BY amount DESC LIMIT 5""",
        period,
        nobody=_("Unassigned"),
    )
    total = sum((stage.amount for stage in stages), Decimal(0))
    return Figure(
        total,
        "money",
        caption=_("%(count)s open deals", count=sum(stage.deals for stage in stages)),
        chart=charts.bar_chart(
            _("By stage"),
            [stage.name for stage in stages],
            [charts.Series(_("Amount"), "series-a", [float(stage.amount) for stage in stages])],
            label=_compact,
            width=360,
            height=150,
        ),
        rows=[
            Row(
                owner.name,
                owner.amount,
                "money",
                url_for("pipeline.opportunity_list", owner_id=owner.owner_key, status="open")
                if owner.owner_key
                else None,
            )
            for owner in owners
        ],
        drill_url=url_for("pipeline.board"),
    )


def _compact(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def forecast_vs_target(user) -> Figure:
    period = months()
    row = one(
        """SELECT (SELECT coalesce(sum(amount * probability / 100), 0)
                     FROM pipeline_month_totals
                    WHERE organization_id = :org AND month = :this_month) AS weighted,
                  (SELECT amount FROM sales_targets
                    WHERE organization_id = :org AND month = :this_month) AS target,
                  (SELECT coalesce(sum(amount), 0) FROM opportunities
                    WHERE organization_id = :org AND status = 'won'
                      AND closed_at >= :this_start) AS won,
                  (SELECT amount FROM sales_targets
                    WHERE organization_id = :org AND month = :last_month) AS last_target,
                  (SELECT coalesce(sum(amount), 0) FROM opportunities
                    WHERE organization_id = :org AND status = 'won'
                      AND closed_at >= :last_start AND closed_at < :this_start) AS won_before""",
        period,
    )
    expected = row.won + row.weighted.quantize(Decimal("0.01"))
    figure = Figure(
        expected,
        "money",
        caption=_("Won this month plus the weighted open pipeline closing in it"),
        rows=[
            Row(_("Won this month"), row.won, "money"),
            Row(_("Weighted open deals"), row.weighted.quantize(Decimal("0.01")), "money"),
            Row(_("Won last month"), row.won_before, "money"),
        ],
        drill_url=url_for("pipeline.forecast"),
    )
    if row.target:
        figure.rows.insert(0, Row(_("Target"), row.target, "money"))
        figure.rows.insert(1, Row(_("Of target"), ratio(expected, row.target), "percent"))
        if row.last_target:
            figure.rows.append(
                Row(_("Last month, of target"), ratio(row.won_before, row.last_target), "percent")
            )
    else:
        figure.note = _("No target for this month: set one on the forecast page.")
    return figure


def cycle_time_trend(user) -> Figure:
    period = months()
    by_month = {row.month: row for row in _closed(period, None, TREND_MONTHS - 1)}
    starts = [add_months(period.this_month, n - TREND_MONTHS + 1) for n in range(TREND_MONTHS)]

    def days(month):
        row = by_month.get(month)
        return (
            (Decimal(row.cycle_days) / row.won).quantize(Decimal("0.1"))
            if row and row.won
            else None
        )

    def rate(month):
        row = by_month.get(month)
        return ratio(row.won, row.won + row.lost) if row else None

    return Figure(
        days(period.this_month),
        "days",
        previous=days(period.last_month),
        caption=_("Average days from creation to won"),
        chart=charts.bar_chart(
            _("Win rate by month (%)"),
            [month.strftime("%m/%y") for month in starts],
            [charts.Series(_("Win rate"), "series-a", [_float(rate(m)) for m in starts])],
            label=lambda value: f"{value:.0f}",
            width=360,
            height=150,
        ),
        drill_url=url_for("pipeline.opportunity_list", status="won"),
        as_of=_as_of(),
    )


def _float(value):
    return None if value is None else float(value)


def quotes_waiting(user) -> Figure:
    period = months()
    row = one(
        """SELECT count(*) FILTER (WHERE status = 'pending_approval') AS waiting,
                  coalesce(sum(total) FILTER (WHERE status = 'pending_approval'), 0) AS amount,
                  count(*) FILTER (WHERE approved_at >= :this_start) AS approved,
                  count(*) FILTER (WHERE approved_at >= :last_start AND approved_at < :this_start)
                      AS approved_before
             FROM quotes
            WHERE organization_id = :org AND is_current
              AND (status = 'pending_approval' OR approved_at >= :last_start)""",
        period,
    )
    return Figure(
        row.waiting,
        rows=[
            Row(_("Amount waiting"), row.amount, "money"),
            Row(_("Approved this month"), row.approved),
            Row(_("Approved last month"), row.approved_before),
        ],
        drill_url=url_for("approvals.inbox"),
    )


def team_activity(user) -> Figure:
    period = months()
    people = rows(
        """SELECT u.name, sum(m.completed)::bigint AS done
             FROM activity_months_rows m JOIN users u
               ON u.id = m.assignee_key AND u.organization_id = m.organization_id
            WHERE m.month >= :this_month
            GROUP BY u.name ORDER BY done DESC, u.name LIMIT 5""",
        period,
    )
    counts = _activity_counts(period)
    return Figure(
        counts.this,
        previous=counts.last,
        caption=_("Activities completed this month"),
        rows=[Row(person.name, person.done) for person in people],
        drill_url=url_for("activities.index"),
        as_of=counts.refreshed_at,
    )


def _activity_counts(period: Months, assignee: int | None = None, owner: int | None = None):
    """Activities completed this month (a later month too: a completion dated ahead counts
    now, as the live count did) and last month, from `activity_months_rows`; one assignee's or
    the activities on one owner's customers, else everyone's."""
    return one(
        """SELECT coalesce(sum(completed) FILTER (WHERE month >= :this_month), 0)::bigint AS this,
                  coalesce(sum(completed) FILTER (WHERE month = :last_month), 0)::bigint AS last,
                  max(refreshed_at) AS refreshed_at
             FROM activity_months_rows
            WHERE month >= :last_month
              AND (CAST(:assignee AS bigint) IS NULL OR assignee_key = :assignee)
              AND (CAST(:owner AS bigint) IS NULL OR owner_key = :owner)""",
        period,
        assignee=assignee,
        owner=owner,
    )


def at_risk(user) -> Figure:
    period = months()
    # At risk is every open deal but those dated today or later and touched since `stale`:
    # counted as the open pipeline (the trigger-kept month totals, 0007) less those few, so
    # no query reads every open deal. Past their date: the months before this one from the
    # totals, this month's days before today live (both indexes are partial on open deals).
    row = one(
        """WITH totals AS (
                SELECT coalesce(sum(opportunity_count), 0) AS deals,
                       coalesce(sum(amount), 0) AS amount,
                       coalesce(sum(opportunity_count) FILTER (WHERE month < :this_month), 0)
                           AS overdue
                  FROM pipeline_month_totals WHERE organization_id = :org),
           days AS (
                SELECT count(*) AS overdue FROM opportunities
                 WHERE organization_id = :org AND status = 'open'
                   AND expected_close_date >= :this_month AND expected_close_date < :today),
           fresh AS (
                SELECT count(*) AS deals, coalesce(sum(amount), 0) AS amount FROM opportunities
                 WHERE organization_id = :org AND status = 'open' AND updated_at >= :stale
                   AND expected_close_date >= :today)
           SELECT totals.overdue + days.overdue AS overdue,
                  totals.deals - totals.overdue - days.overdue - fresh.deals AS stale,
                  totals.amount - fresh.amount AS amount
             FROM totals, days, fresh""",
        period,
        stale=period.now - timedelta(days=AT_RISK_DAYS),
    )
    return Figure(
        row.overdue + row.stale,
        rows=[
            Row(_("Past their close date"), row.overdue),
            Row(_("Untouched for %(days)s days", days=AT_RISK_DAYS), row.stale),
            Row(_("Amount at risk"), row.amount, "money"),
        ],
        drill_url=url_for(
            "pipeline.opportunity_list",
            status="open",
            close_month=period.last_month.strftime("%Y-%m"),
        ),
    )


CARDS = (
    Card("my_pipeline", _l("My open pipeline"), ("sales",), my_pipeline, order=10),
    Card("closing", _l("Closing this month"), ("sales",), closing_this_month, order=20),
    Card("my_tasks", _l("My tasks today and overdue"), ("sales",), my_tasks, order=30),
    Card("win_rate", _l("My win rate"), ("sales",), win_rate, order=40),
    Card(
        "account_activity",
        _l("Recent activity on my accounts"),
        ("sales",),
        recent_activity,
        order=50,
    ),
    Card("team_pipeline", _l("Team pipeline"), ("manager",), team_pipeline, order=10, wide=True),
    Card("forecast", _l("Forecast against target"), ("manager",), forecast_vs_target, order=20),
    Card("team_win_rate", _l("Team win rate"), ("manager",), team_win_rate, order=30),
    Card("cycle_time", _l("Sales cycle"), ("manager",), cycle_time_trend, order=40),
    Card("quotes_waiting", _l("Quotes awaiting approval"), ("manager",), quotes_waiting, order=50),
    Card("team_activity", _l("Team activity"), ("manager",), team_activity, order=60),
    Card("at_risk", _l("Deals at risk"), ("manager",), at_risk, order=70),
)
