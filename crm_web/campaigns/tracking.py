"""Opens, clicks and unsubscribes from the links in campaign emails.

The open pixel and click redirect must stay cheap: a hit is one RPUSH of a short line to a
Redis list (no database write in the request), and a job drains the list every few seconds,
writing each organization's hits with two set-based statements (events, then the ledger's
first-open/click times and counts). While Redis is unreachable a hit is written directly.

A flush loses nothing if it dies half-way: it first RENAMEs the buffer to a key of its own
(`...:flushing:<time>:<id>`; new hits start a new buffer), trims a chunk off that key only
after the chunk's transaction committed, and deletes the key when it is empty. A later flush
claims (RENAME again, so only one does) a flushing key older than ORPHAN_SECONDS, a flush
that died, and writes it again skipping the events already written, so a chunk committed
just before the crash is not counted twice.
A hit within SUSPECT_SECONDS of delivery is flagged as a likely machine open or link scanner:
it counts in the totals but not as a unique open or click.
"""

import functools
import time
import uuid
from collections import defaultdict

import redis
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
# A flushing key this old belongs to a flush that died (the job's time limit is 60 s).
ORPHAN_SECONDS = 300
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


def _flushing_key(now: float) -> str:
    return f"{BUFFER}:flushing:{int(now)}:{uuid.uuid4().hex}"


def _take(source: str, now: float) -> str | None:
    """RENAME `source` to a flushing key of this flush's own; None if it is gone (empty, or
    another flush took it first)."""
    key = _flushing_key(now)
    try:
        get_redis().rename(source, key)
    except redis.ResponseError:  # no such key
        return None
    return key


def _orphans(now: float) -> list[str]:
    """Flushing keys left by flushes that died."""
    found = []
    for raw in get_redis().scan_iter(match=f"{BUFFER}:flushing:*", count=100):
        key = raw.decode() if isinstance(raw, bytes) else raw
        try:
            started = int(key.split(":")[-2])
        except ValueError:
            continue
        if now - started > ORPHAN_SECONDS:
            found.append(key)
    return found


def _parse(lines: list[bytes]) -> dict[int, list[tuple[str, int, int, float]]]:
    by_organization = defaultdict(list)
    for line in lines:
        try:
            kind, organization, recipient, link, at = line.decode().split()
            by_organization[int(organization)].append((kind, int(recipient), int(link), float(at)))
        except ValueError:
            continue  # not a line we wrote
    return by_organization


def _flush_key(key: str, *, replay: bool) -> int:
    """Write the hits kept under `key` chunk by chunk, trimming each chunk once written."""
    client = get_redis()
    total = 0
    while True:
        lines = client.lrange(key, 0, FLUSH_BATCH - 1)
        if not lines:
            client.delete(key)
            return total
        for organization_id, hits in _parse(lines).items():
            with tenant_scope(organization_id):
                _write(organization_id, hits, replay=replay)
        client.ltrim(key, len(lines), -1)
        total += len(lines)


@when_redis_down(0, "writing tracking hits")
def flush() -> int:
    """Write the buffered hits (and those of a flush that died), organization by organization;
    returns how many lines were read."""
    now = time.time()
    total = 0
    for orphan in _orphans(now):
        key = _take(orphan, now)
        if key is not None:
            total += _flush_key(key, replay=True)
    key = _take(BUFFER, now)
    if key is not None:
        total += _flush_key(key, replay=False)
    return total


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
     {replay}
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


# Hits of a flush that died may have been written already: the same line makes the same event.
_NOT_WRITTEN = """
     WHERE NOT EXISTS (
        SELECT 1 FROM campaign_events e
         WHERE e.organization_id = r.organization_id AND e.campaign_id = r.campaign_id
           AND e.occurred_at = to_timestamp(h.at) AND e.recipient_id = r.id AND e.kind = h.kind
           AND e.link_index IS NOT DISTINCT FROM CASE WHEN h.kind = 'click' THEN h.link_index END)
"""
_STATEMENTS = {
    replay: text(_EVENTS.replace("{replay}", _NOT_WRITTEN if replay else ""))
    for replay in (False, True)
}


@atomic
def _write(
    organization_id: int, hits: list[tuple[str, int, int, float]], *, replay: bool = False
) -> None:
    db.session.execute(
        _STATEMENTS[replay],
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
