"""Marketing cards: campaigns running and their results, audience growth, segment sizes and
the revenue won from campaign-sourced leads.

Consent changes per month and sent campaigns' results come from `consent_months` and
`campaign_results` (0039), refreshed with the dashboards.
Campaigns record no cost yet, so "campaign ROI" shows the revenue side (deals won from leads
whose source is an email campaign) and says so; automations and surveys add their cards from
their own modules (crm_web/dashboard/registry.py).
"""

from datetime import datetime

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.campaigns.results import recipient_count_by_status
from crm_web.dashboard.figures import Figure, Row, months, one, ratio, rows
from crm_web.dashboard.registry import Card
from crm_web.sla import charts

CAMPAIGN_SOURCES = ("email_campaign",)


def campaigns(user) -> Figure:
    period = months()
    counts = one(
        """SELECT count(*) FILTER (WHERE status IN ('scheduled', 'sending')) AS running,
                  count(*) FILTER (WHERE status = 'sent' AND finished_at >= :this_start) AS sent,
                  count(*) FILTER (WHERE status = 'sent' AND finished_at >= :last_start
                                     AND finished_at < :this_start) AS sent_before
             FROM campaigns WHERE organization_id = :org""",
        period,
    )
    latest = rows(
        """SELECT id, name, status FROM campaigns
            WHERE organization_id = :org AND status IN ('sending', 'sent')
            ORDER BY coalesce(finished_at, started_at) DESC NULLS LAST, id DESC LIMIT 4""",
        period,
    )
    figures, as_of = _results(latest, period)
    result_rows = []
    for campaign in latest:
        counts_of = figures.get(campaign.id, {"sent": 0, "opened": 0, "clicked": 0})
        result_rows.append(
            Row(
                campaign.name,
                ratio(counts_of["opened"], counts_of["sent"]),
                "percent",
                url_for("campaigns.show", campaign_id=campaign.id),
                _(
                    "%(sent)s sent, %(clicked)s clicked",
                    sent=counts_of["sent"],
                    clicked=counts_of["clicked"],
                ),
            )
        )
    return Figure(
        counts.running,
        caption=_(
            "Running or scheduled; %(sent)s sent this month, %(before)s last month",
            sent=counts.sent,
            before=counts.sent_before,
        ),
        rows=result_rows,
        note=_("Open rate of the latest campaigns.") if result_rows else "",
        drill_url=url_for("campaigns.index"),
        as_of=as_of,
    )


def _results(latest, period) -> tuple[dict[int, dict[str, int]], datetime | None]:
    """Sent, opened and clicked of each campaign in `latest`, and when they were counted: a
    sent campaign's from `campaign_results_rows` (tens of thousands of recipients each); one
    still sending, or sent since the last refresh, counted live."""
    stored = rows(
        """SELECT campaign_id, sent, opened, clicked, refreshed_at FROM campaign_results_rows
            WHERE campaign_id = ANY(:ids)""",
        period,
        ids=[campaign.id for campaign in latest if campaign.status == "sent"],
    )
    figures = {
        row.campaign_id: {"sent": row.sent, "opened": row.opened, "clicked": row.clicked}
        for row in stored
    }
    live = [campaign.id for campaign in latest if campaign.id not in figures]
    if live:
        figures.update(recipient_count_by_status(live))
    return figures, max((row.refreshed_at for row in stored), default=None)


def audience_growth(user) -> Figure:
    period = months()
    row = one(
        """SELECT coalesce(sum(opt_ins) FILTER (WHERE month >= :this_month), 0)::bigint AS opt_ins,
                  coalesce(sum(opt_ins) FILTER (WHERE month = :last_month), 0)::bigint
                      AS opt_ins_before,
                  coalesce(sum(opt_outs) FILTER (WHERE month >= :this_month), 0)::bigint AS outs,
                  coalesce(sum(opt_outs) FILTER (WHERE month = :last_month), 0)::bigint
                      AS outs_before,
                  max(refreshed_at) AS refreshed_at
             FROM consent_months_rows
            WHERE channel = 'email' AND month >= :last_month""",
        period,
    )
    return Figure(
        row.opt_ins - row.outs,
        previous=row.opt_ins_before - row.outs_before,
        caption=_("Net email opt-ins this month"),
        rows=[
            Row(_("Opt-ins"), row.opt_ins),
            Row(_("Unsubscribes"), row.outs),
            Row(_("Opt-ins last month"), row.opt_ins_before),
            Row(_("Unsubscribes last month"), row.outs_before),
        ],
        drill_url=url_for("customers.index"),
        as_of=row.refreshed_at,
    )


def segment_sizes(user) -> Figure:
    period = months()
    found = rows(
        """SELECT id, segment_name, customer_count FROM segments
            WHERE organization_id = :org AND is_active
            ORDER BY customer_count DESC, segment_name LIMIT 6""",
        period,
    )
    return Figure(
        len(found),
        caption=_("Largest active segments"),
        chart=charts.bar_chart(
            _("Customers per segment"),
            [segment.segment_name[:12] for segment in found],
            [charts.Series(_("Customers"), "series-a", [s.customer_count for s in found])],
            label=lambda value: f"{value:,.0f}",
            width=360,
            height=150,
        ),
        rows=[
            Row(s.segment_name, s.customer_count, url=url_for("segments.show", segment_id=s.id))
            for s in found
        ],
        drill_url=url_for("segments.index"),
    )


def campaign_roi(user) -> Figure:
    period = months()
    row = one(
        """SELECT coalesce(sum(o.amount) FILTER (WHERE o.closed_at >= :this_start), 0) AS won,
                  coalesce(sum(o.amount) FILTER (WHERE o.closed_at < :this_start), 0) AS won_before,
                  count(*) FILTER (WHERE o.closed_at >= :this_start) AS deals
             FROM opportunities o JOIN leads l
               ON l.id = o.lead_id AND l.organization_id = o.organization_id
            WHERE o.organization_id = :org AND o.status = 'won' AND o.closed_at >= :last_start
              AND l.source = ANY(:sources)""",
        period,
        sources=list(CAMPAIGN_SOURCES),
    )
    return Figure(
        row.won,
        "money",
        previous=row.won_before,
        caption=_("%(count)s deals won from campaign leads this month", count=row.deals),
        note=_("Campaign costs are not recorded yet: this is the revenue side of ROI."),
        drill_url=url_for("leads.index", source="email_campaign"),
    )


CARDS = (
    Card("campaigns", _l("Campaigns"), ("marketing",), campaigns, order=10, wide=True),
    Card("audience", _l("Audience growth"), ("marketing",), audience_growth, order=20),
    Card("segments", _l("Segment sizes"), ("marketing",), segment_sizes, order=30),
    Card("campaign_roi", _l("Revenue from campaigns"), ("marketing",), campaign_roi, order=40),
)
