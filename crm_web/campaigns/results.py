"""A campaign's figures: progress, opens and clicks (unique, total, suspect), per link and per
hour, per A/B variant with the significance of the difference, and its recipients."""

import datetime as dt
import math
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select, text

from crm_web.campaigns import content, library
from crm_web.campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.pagination import Page, keyset_page


def variants(campaign: Campaign) -> list[CampaignVariant]:
    return list(
        db.session.scalars(
            select(CampaignVariant)
            .where(
                CampaignVariant.organization_id == campaign.organization_id,
                CampaignVariant.campaign_id == campaign.id,
            )
            .order_by(CampaignVariant.position)
        )
    )


def subject_of(variant: CampaignVariant) -> str:
    """The variant's subject: its own, else its template version's."""
    return variant.subject or library.get_version(variant.version_id).subject


@dataclass(frozen=True)
class VariantResult:
    position: int
    label: str
    subject: str
    sent: int
    opened: int
    clicked: int

    def rate(self, metric: str) -> float:
        hits = self.opened if metric == "opens" else self.clicked
        return hits / self.sent if self.sent else 0.0


def variant_results(campaign: Campaign) -> list[VariantResult]:
    """Per variant: sent, unique opens and clicks (the A/B test and the results page)."""
    counts = {
        row.variant: row
        for row in db.session.execute(
            text(
                """
                SELECT variant, count(*) FILTER (WHERE status = 'sent') AS sent,
                       count(opened_at) AS opened, count(clicked_at) AS clicked
                  FROM campaign_recipients
                 WHERE organization_id = :org AND campaign_id = :campaign AND variant IS NOT NULL
                 GROUP BY variant
                """
            ),
            {"org": campaign.organization_id, "campaign": campaign.id},
        )
    }
    results = []
    for variant in variants(campaign):
        row = counts.get(variant.position)
        results.append(
            VariantResult(
                variant.position,
                "ABCD"[variant.position],
                subject_of(variant),
                row.sent if row else 0,
                row.opened if row else 0,
                row.clicked if row else 0,
            )
        )
    return results


def significance(best: VariantResult, other: VariantResult, metric: str) -> float | None:
    """The two-proportion z-test's confidence (0-1) that `best` beats `other` on `metric`."""
    if not best.sent or not other.sent:
        return None
    p1, p2 = best.rate(metric), other.rate(metric)
    pooled = (p1 * best.sent + p2 * other.sent) / (best.sent + other.sent)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / best.sent + 1 / other.sent))
    if spread == 0:
        return None
    z = (p1 - p2) / spread
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@dataclass(frozen=True)
class Stats:
    recipients: int
    queued: int
    held: int
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    unsubscribed: int
    total_opens: int
    total_clicks: int
    suspect_opens: int
    suspect_clicks: int
    rate_per_second: float
    eta_seconds: int | None
    # SMS: reported delivered by the gateway (counted in `sent` too).
    delivered: int = 0

    @property
    def done(self) -> int:
        return self.recipients - self.queued - self.held

    @property
    def percent(self) -> int:
        return 100 if not self.recipients else int(100 * self.done / self.recipients)

    def share(self, count: int) -> float:
        return count / self.sent if self.sent else 0.0


def stats(campaign: Campaign) -> Stats:
    """The campaign's figures from its ledger (one grouped read) and its events."""
    row = db.session.execute(
        text(
            """
            SELECT count(*) AS recipients,
                   count(*) FILTER (WHERE status = 'queued') AS queued,
                   count(*) FILTER (WHERE status = 'held') AS held,
                   count(*) FILTER (WHERE status IN ('sent', 'delivered')
                                       OR status = 'failed' AND sent_at IS NOT NULL) AS sent,
                   count(*) FILTER (WHERE status = 'delivered') AS delivered,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'skipped') AS skipped,
                   count(opened_at) AS opened, count(clicked_at) AS clicked,
                   count(unsubscribed_at) AS unsubscribed,
                   coalesce(sum(opens), 0) AS total_opens, coalesce(sum(clicks), 0) AS total_clicks,
                   count(*) FILTER (WHERE sent_at >= now() - interval '10 seconds') AS recent
              FROM campaign_recipients
             WHERE organization_id = :org AND campaign_id = :campaign
            """
        ),
        {"org": campaign.organization_id, "campaign": campaign.id},
    ).one()
    suspect = dict(
        db.session.execute(
            text(
                "SELECT kind, count(*) FROM campaign_events WHERE organization_id = :org "
                "AND campaign_id = :campaign AND suspect GROUP BY kind"
            ),
            {"org": campaign.organization_id, "campaign": campaign.id},
        ).all()
    )
    rate = row.recent / 10.0
    left = row.queued
    eta = int(left / rate) if rate and left and campaign.status == "sending" else None
    return Stats(
        row.recipients, row.queued, row.held, row.sent, row.failed, row.skipped, row.opened,
        row.clicked, row.unsubscribed, row.total_opens, row.total_clicks,
        suspect.get("open", 0), suspect.get("click", 0), rate, eta, row.delivered,
    )  # fmt: skip


def sms_cost(body: str, recipients: int = 1) -> "SmsCost":
    """What an SMS campaign's text costs, rendered with the sample customer's merge fields:
    its length, encoding and parts per message, and the parts for `recipients`."""
    try:
        rendered = content.render_sms(
            body,
            {
                "customer": content.sample_customer(),
                "survey_url": content.MERGE_FIELDS["survey_url"],
            },
        )
    except Exception:  # noqa: BLE001 (a template error: counted as written)
        rendered = body
    counted = sms.segments(rendered, turkish_shift=current_app.config["SMS_TURKISH_SHIFT"])
    return SmsCost(
        counted.characters, counted.encoding, counted.parts, counted.parts * recipients, rendered
    )


@dataclass(frozen=True)
class SmsCost:
    characters: int
    encoding: str
    parts: int
    total_parts: int
    sample: str


def link_clicks(campaign: Campaign) -> list[tuple[str, int, int]]:
    """(URL, clicks, unique clickers) per tracked link of the first variant's template."""
    first = variants(campaign)[:1]
    if not first:
        return []
    links = library.get_version(first[0].version_id).links
    counts = {
        row.link_index: row
        for row in db.session.execute(
            text(
                "SELECT link_index, count(*) AS clicks, count(DISTINCT recipient_id) AS people "
                "FROM campaign_events WHERE organization_id = :org AND campaign_id = :campaign "
                "AND kind = 'click' GROUP BY link_index"
            ),
            {"org": campaign.organization_id, "campaign": campaign.id},
        )
    }
    return [
        (url, counts[i].clicks if i in counts else 0, counts[i].people if i in counts else 0)
        for i, url in enumerate(links)
    ]


def events_by_hour(campaign: Campaign, hours: int = 48) -> list[tuple[dt.datetime, int, int]]:
    """(hour, opens, clicks) since the campaign started, for the chart."""
    return [
        tuple(row)
        for row in db.session.execute(
            text(
                """
                SELECT date_trunc('hour', occurred_at) AS hour,
                       count(*) FILTER (WHERE kind = 'open'), count(*) FILTER (WHERE kind = 'click')
                  FROM campaign_events
                 WHERE organization_id = :org AND campaign_id = :campaign
                 GROUP BY 1 ORDER BY 1 LIMIT :hours
                """
            ),
            {"org": campaign.organization_id, "campaign": campaign.id, "hours": hours},
        )
    ]


def recipients_page(
    campaign: Campaign, status: str = "", cursor: str | None = None, limit: int = 50
) -> Page:
    stmt = select(CampaignRecipient).where(
        CampaignRecipient.organization_id == campaign.organization_id,
        CampaignRecipient.campaign_id == campaign.id,
    )
    if status == "opened":
        stmt = stmt.where(CampaignRecipient.opened_at.is_not(None))
    elif status == "clicked":
        stmt = stmt.where(CampaignRecipient.clicked_at.is_not(None))
    elif status == "unsubscribed":
        stmt = stmt.where(CampaignRecipient.unsubscribed_at.is_not(None))
    elif status:
        stmt = stmt.where(CampaignRecipient.status == status)
    return keyset_page(stmt, (CampaignRecipient.id,), cursor=cursor, limit=limit, descending=False)


def recipient_count_by_status(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Sent, opened and clicked per campaign, for the list (one grouped read)."""
    rows = db.session.execute(
        select(
            CampaignRecipient.campaign_id,
            # Sent as the campaign's own figures count it: an SMS delivered, or failed after
            # it left, was sent.
            func.count().filter(
                CampaignRecipient.status.in_(("sent", "delivered"))
                | (CampaignRecipient.status == "failed") & CampaignRecipient.sent_at.is_not(None)
            ),
            func.count(CampaignRecipient.opened_at),
            func.count(CampaignRecipient.clicked_at),
        )
        .where(
            CampaignRecipient.organization_id == current_organization_id(),
            CampaignRecipient.campaign_id.in_(campaign_ids),
        )
        .group_by(CampaignRecipient.campaign_id)
    ).all()
    return {row[0]: {"sent": row[1], "opened": row[2], "clicked": row[3]} for row in rows}
