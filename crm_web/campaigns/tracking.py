"""Opens, clicks and unsubscribes from the links in campaign emails.

The open pixel and click redirect must stay cheap: a hit is one RPUSH of a short line to a
Redis list (no database write in the request), and a job drains the list every few seconds,
writing each organization's hits with two set-based statements (events, then the ledger's
first-open/click times and counts). While Redis is unreachable a hit is written directly.
A hit within SUSPECT_SECONDS of delivery is flagged as a likely machine open or link scanner:
it counts in the totals but not as a unique open or click.
"""

import functools
import time
from collections import defaultdict

from flask_babel import gettext as _
from sqlalchemy import select, text, update

from crm_web.campaigns.models import CampaignRecipient, EmailTemplateVersion
from crm_web.customers.services import set_consent
from crm_web.db import atomic, current_organization_id, tenant_scope
from crm_web.errors import NotFound
from crm_web.extensions import db
from crm_web.redis_client import get_redis, when_redis_down

BUFFER = "crm:campaign-hits"
FLUSH_BATCH = 20_000
SUSPECT_SECONDS = 2


@when_redis_down(False, "buffering a tracking hit")
def _buffer(line: str) -> bool:
    get_redis().rpush(BUFFER, line)
    return True


def hit(kind: str, organization_id: int, recipient_id: int, link: int = 0) -> None:
    """Record an open or a click (buffered; written by `flush`)."""
    line = f"{kind} {organization_id} {recipient_id} {link} {time.time():.3f}"
    if not _buffer(line):
        with tenant_scope(organization_id):
            _write(organization_id, [(kind, recipient_id, link, time.time())])


@functools.lru_cache(maxsize=1024)
def _links(organization_id: int, version_id: int) -> tuple[str, ...]:
    with tenant_scope(organization_id):
        links = db.session.scalar(
            select(EmailTemplateVersion.links).where(
                EmailTemplateVersion.organization_id == organization_id,
                EmailTemplateVersion.id == version_id,
            )
        )
        db.session.commit()
    return tuple(links or ())


def link_target(organization_id: int, version_id: int, index: int) -> str | None:
    """The URL of a campaign's own link (versions never change, so it is kept per process)."""
    links = _links(organization_id, version_id)
    return links[index] if 0 <= index < len(links) else None


@when_redis_down([], "reading tracking hits")
def _drain() -> list[bytes]:
    return get_redis().lpop(BUFFER, FLUSH_BATCH) or []


def flush() -> int:
    """Write the buffered hits, organization by organization; returns how many."""
    by_organization = defaultdict(list)
    lines = _drain()
    for line in lines:
        try:
            kind, organization, recipient, link, at = line.decode().split()
            by_organization[int(organization)].append((kind, int(recipient), int(link), float(at)))
        except ValueError:
            continue  # not a line we wrote
    for organization_id, hits in by_organization.items():
        with tenant_scope(organization_id):
            _write(organization_id, hits)
    return len(lines)


_EVENTS = """
WITH hits AS (
    SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:recipients AS bigint[]),
                         CAST(:links AS smallint[]), CAST(:times AS float8[]))
           AS h(kind, recipient_id, link_index, at)
), written AS (
    INSERT INTO campaign_events (organization_id, campaign_id, recipient_id, kind, link_index,
                                 occurred_at, suspect)
    SELECT r.organization_id, r.campaign_id, r.id, h.kind,
           CASE WHEN h.kind = 'click' THEN h.link_index END, to_timestamp(h.at),
           r.sent_at IS NULL OR to_timestamp(h.at) < r.sent_at + make_interval(secs => :suspect)
      FROM hits h
      JOIN campaign_recipients r ON r.organization_id = :org AND r.id = h.recipient_id
    RETURNING recipient_id, kind, occurred_at, suspect
)
UPDATE campaign_recipients r
   SET opens = r.opens + w.opens, clicks = r.clicks + w.clicks,
       opened_at = coalesce(r.opened_at, w.first_open), clicked_at = coalesce(r.clicked_at, w.first_click)
  FROM (SELECT recipient_id,
               count(*) FILTER (WHERE kind = 'open') AS opens,
               count(*) FILTER (WHERE kind = 'click') AS clicks,
               min(occurred_at) FILTER (WHERE kind = 'open' AND NOT suspect) AS first_open,
               min(occurred_at) FILTER (WHERE kind = 'click' AND NOT suspect) AS first_click
          FROM written GROUP BY recipient_id) AS w
 WHERE r.organization_id = :org AND r.id = w.recipient_id
"""


@atomic
def _write(organization_id: int, hits: list[tuple[str, int, int, float]]) -> None:
    db.session.execute(
        text(_EVENTS),
        {
            "org": organization_id,
            "kinds": [h[0] for h in hits],
            "recipients": [h[1] for h in hits],
            "links": [h[2] for h in hits],
            "times": [h[3] for h in hits],
            "suspect": SUSPECT_SECONDS,
        },
    )


# -- unsubscribe and preferences ----------------------------------------------------------------


def recipient(recipient_id: int) -> CampaignRecipient:
    row = db.session.scalar(
        select(CampaignRecipient).where(
            CampaignRecipient.organization_id == current_organization_id(),
            CampaignRecipient.id == recipient_id,
        )
    )
    if row is None:
        raise NotFound(_("This link is no longer valid."))
    return row


@atomic
def unsubscribe(recipient_id: int) -> CampaignRecipient:
    """Stop all marketing email to the recipient's customer (the consent history says which
    campaign's link did it); a second click changes nothing."""
    row = recipient(recipient_id)
    set_consent(
        row.customer_id,
        source="unsubscribe",
        note=f"Unsubscribe link of campaign {row.campaign_id}"[:200],
        email_opt_in=False,
    )
    db.session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.organization_id == row.organization_id,
            CampaignRecipient.id == row.id,
            CampaignRecipient.unsubscribed_at.is_(None),
        )
        .values(unsubscribed_at=text("now()"))
    )
    return row
