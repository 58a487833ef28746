"""Campaigns: draft, schedule, start, pause, resume, cancel, the A/B winner, and the figures.

A campaign is a state machine: draft -> scheduled -> sending (<-> paused) -> sent, or
cancelled. Starting it writes the recipient ledger in one set-based statement with the consent
rules applied (email opt-in, or for an SMS campaign SMS opt-in and a phone; not
do-not-contact, not suppressed, wanting the campaign's topic), then queues one outbox message per recipient due now or later (`outbox.queue_select`, one
INSERT ... SELECT): the outbox's delivery jobs send them at its speed, at least once with a
stable Message-ID, and the campaign kind (messages.py) checks consent again at send time.
Pausing moves the queued messages out of reach in one UPDATE (and the kind puts back those in
flight); resuming gives them their times back. Nothing is sent twice: each message has a
dedupe key per campaign and customer, and the delivery loop marks what it sent.

The state machine is kept whole here (drafting, scheduling, starting, pausing, the A/B
decision, the scheduler's sweep) for both channels, some 700 lines; the figures are in
results.py, what is particular to SMS in sms.py, the messages in messages.py.
"""

import datetime as dt
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _
from sqlalchemy import select, text, update

from crm_web import jobs
from crm_web.accounts.models import Organization
from crm_web.campaigns import library, sms
from crm_web.campaigns.models import (
    AB_METRICS,
    CHANNELS,
    SCHEDULE_MODES,
    Campaign,
    CampaignRecipient,
    CampaignVariant,
)
from crm_web.campaigns.results import variant_results, variants
from crm_web.campaigns.sms import clean_sms
from crm_web.customer360.models import CAMPAIGN_TYPES
from crm_web.db import analyze_loaded, atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.inputs import text_field
from crm_web.outbox import services as outbox
from crm_web.pagination import Page, keyset_page
from crm_web.segments.models import Segment
from crm_web.surveys import invitations

KIND = "campaign"
SMS_KIND = "campaign_sms"
MAX_VARIANTS = 4
# Far enough that no delivery loop reaches it: where a paused campaign's messages wait.
PAUSED_UNTIL = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
# The earliest a day begins anywhere (UTC+14): a per-timezone campaign starts then.
EARLIEST_OFFSET = dt.timedelta(hours=14)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- reading ------------------------------------------------------------------------------------


def list_campaigns(cursor: str | None = None, limit: int = 50) -> Page:
    stmt = select(Campaign).where(Campaign.organization_id == current_organization_id())
    return keyset_page(stmt, (Campaign.id,), cursor=cursor, limit=limit)


def get_campaign(campaign_id: int, *, lock: bool = False) -> Campaign:
    stmt = select(Campaign).where(
        Campaign.id == campaign_id, Campaign.organization_id == current_organization_id()
    )
    campaign = db.session.scalar(stmt.with_for_update() if lock else stmt)
    if campaign is None:
        raise NotFound(_("No such campaign."))
    return campaign


# -- drafting -----------------------------------------------------------------------------------


def _whole(data: dict, name: str, errors: dict, default, low: int, high: int):
    value = data.get(name, default)
    if value in (None, ""):
        return None if default is None else default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = _("Give a whole number from %(low)s to %(high)s.", low=low, high=high)
        return default
    return value


def _segment_ids(data: dict, name: str, errors: dict) -> list[int]:
    raw = data.get(name) or []
    if not isinstance(raw, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) or (isinstance(i, str) and i.isdigit())
        for i in raw
    ):
        errors[name] = _("Send a list of segment ids.")
        return []
    ids = sorted({int(i) for i in raw})
    found = set(
        db.session.scalars(
            select(Segment.id).where(
                Segment.organization_id == current_organization_id(),
                Segment.id.in_(ids),
                Segment.is_active,
            )
        )
    )
    if set(ids) - found:
        errors[name] = _("Choose segments of this organization.")
    return ids


def _email(value: str, name: str, errors: dict) -> None:
    if value and (value.count("@") != 1 or " " in value or not value.split("@")[1]):
        errors[name] = _("Give an email address.")


def kind_of(campaign: Campaign) -> str:
    """The outbox kind a campaign's messages are."""
    return SMS_KIND if campaign.channel == "sms" else KIND


def _clean(data: dict) -> tuple[dict, list[dict]]:
    errors: dict[str, str] = {}
    channel = data.get("channel") or "email"
    if channel not in CHANNELS:
        errors["channel"] = _("Choose email or SMS.")
        channel = "email"
    clean = {
        "channel": channel,
        "name": text_field(data, "name", errors, 150, required=True),
        "topic": text_field(data, "topic", errors, 30),
        "from_name": text_field(data, "from_name", errors, 100),
        "from_address": text_field(data, "from_address", errors, 254),
        "reply_to": text_field(data, "reply_to", errors, 254),
        "include_segment_ids": _segment_ids(data, "include_segment_ids", errors),
        "exclude_segment_ids": _segment_ids(data, "exclude_segment_ids", errors),
        "throttle_per_minute": _whole(data, "throttle_per_minute", errors, None, 1, 1_000_000),
        "ab_test_percent": _whole(data, "ab_test_percent", errors, 0, 0, 50),
        "ab_wait_minutes": _whole(data, "ab_wait_minutes", errors, 240, 5, 10_080),
        "ab_metric": data.get("ab_metric") or "opens",
        "ab_auto": bool(data.get("ab_auto", True)),
    }
    if clean["topic"] and clean["topic"] not in CAMPAIGN_TYPES:
        errors["topic"] = _("Choose a campaign type.")
    if clean["ab_metric"] not in AB_METRICS:
        errors["ab_metric"] = _("Choose unique opens or clicks.")
    _email(clean["from_address"], "from_address", errors)
    _email(clean["reply_to"], "reply_to", errors)
    if not clean["include_segment_ids"] and "include_segment_ids" not in errors:
        errors["include_segment_ids"] = _("Choose at least one segment to send to.")
    clean["survey_id"] = invitations.chosen_survey(data.get("survey_id"), "survey_id", errors)
    if channel == "sms":
        clean_sms(data, clean, errors)
        invitations.check_campaign_survey(clean["survey_id"], [clean["sms_body"]], errors)
        check_fields(errors)
        return clean, []
    clean["sms_body"] = clean["sender_id"] = ""
    raw_variants = data.get("variants")
    if not isinstance(raw_variants, list) or not 1 <= len(raw_variants) <= MAX_VARIANTS:
        errors["variants"] = _("Give one to %(most)s variants.", most=MAX_VARIANTS)
        raw_variants = []
    cleaned, bodies = [], []
    for index, raw in enumerate(raw_variants):
        where = f"variants[{index}]"
        if not isinstance(raw, dict):
            errors[where] = _("Send an object with template_id and subject.")
            continue
        template_id = raw.get("template_id")
        if isinstance(template_id, str) and template_id.isdigit():
            template_id = int(template_id)
        try:
            if isinstance(template_id, bool) or not isinstance(template_id, int):
                raise NotFound("")
            template = library.get_template(template_id)
        except NotFound:
            errors[f"{where}.template_id"] = _("Choose a template.")
            continue
        version = library.current_version(template)
        # Empty: the template version's own subject (whichever version it is sent with).
        subject = raw.get("subject") or ""
        if not isinstance(subject, str) or len(subject) > 300:
            errors[f"{where}.subject"] = _("At most %(count)s characters.", count=300)
            continue
        cleaned.append({"version_id": version.id, "subject": subject.strip()})
        bodies.extend((version.html, version.text))
    if clean["ab_test_percent"] and len(raw_variants) < 2:
        errors["ab_test_percent"] = _("An A/B test needs two to four variants.")
    if cleaned:
        invitations.check_campaign_survey(clean["survey_id"], bodies, errors)
    check_fields(errors)
    return clean, cleaned


def _write_variants(campaign: Campaign, cleaned: list[dict]) -> None:
    db.session.execute(
        CampaignVariant.__table__.delete().where(
            CampaignVariant.organization_id == campaign.organization_id,
            CampaignVariant.campaign_id == campaign.id,
        )
    )
    for position, values in enumerate(cleaned):
        db.session.add(
            CampaignVariant(
                organization_id=campaign.organization_id,
                campaign_id=campaign.id,
                position=position,
                **values,
            )
        )
    db.session.flush()


@atomic
def create_campaign(data: dict) -> Campaign:
    """A draft campaign with its variants (each the current version of a template)."""
    clean, cleaned = _clean(data)
    campaign = Campaign(
        organization_id=current_organization_id(),
        created_by_id=current_tenant().user_id,
        status="draft",
        **clean,
    )
    db.session.add(campaign)
    db.session.flush()
    _write_variants(campaign, cleaned)
    return campaign


@atomic
def update_campaign(campaign_id: int, data: dict) -> Campaign:
    """Change a draft (a scheduled one goes back to draft first by cancelling its schedule)."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(_("Only a draft can be changed."))
    clean, cleaned = _clean(data)
    for name, value in clean.items():
        setattr(campaign, name, value)
    _write_variants(campaign, cleaned)
    return campaign


# -- scheduling and starting --------------------------------------------------------------------


def _organization_zone(organization_id: int) -> str:
    name = db.session.scalar(
        select(Organization.timezone).where(Organization.id == organization_id)
    )
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name or "UTC"


@atomic
def schedule_campaign(
    campaign_id: int,
    *,
    mode: str = "now",
    send_at: dt.datetime | None = None,
    local_date: dt.date | None = None,
    local_time: dt.time | None = None,
) -> Campaign:
    """Schedule a draft: now (it starts in this transaction), at a moment, or at a local time
    in each recipient's timezone (their own, else the organization's)."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(_("Only a draft can be scheduled."))
    if campaign.channel == "email" and not variants(campaign):
        raise ValidationError(
            _("Add a template first."), {"variants": _("Give one to four variants.")}
        )
    now = _now()
    if mode not in SCHEDULE_MODES:
        raise ValidationError(_("Choose when to send."), {"mode": _("Choose now, at or local.")})
    if mode == "at":
        if send_at is None or send_at.tzinfo is None:
            raise ValidationError(
                _("Choose when to send."), {"send_at": _("Give a date and time.")}
            )
        starts_at = max(send_at, now)
    elif mode == "local":
        if local_date is None or local_time is None:
            raise ValidationError(
                _("Choose the day and the local time."),
                {"local_date": _("Give a date and a time.")},
            )
        earliest = dt.datetime.combine(local_date, local_time, dt.UTC) - EARLIEST_OFFSET
        latest = dt.datetime.combine(local_date, local_time, dt.UTC) + dt.timedelta(hours=12)
        if latest < now:
            raise ValidationError(
                _("That time has passed everywhere."), {"local_date": _("Choose a later day.")}
            )
        starts_at = max(earliest, now)
    else:
        starts_at = now
    _take_current_versions(campaign)
    campaign.schedule_mode = mode
    campaign.send_at = send_at if mode == "at" else None
    campaign.local_date = local_date if mode == "local" else None
    campaign.local_time = local_time if mode == "local" else None
    campaign.starts_at = starts_at
    campaign.status = "scheduled"
    db.session.flush()
    if starts_at <= now:
        _start(campaign)
    return campaign


def _take_current_versions(campaign: Campaign) -> None:
    """A campaign sends the template versions it was scheduled with: the current ones now."""
    db.session.execute(
        text(
            """
            UPDATE campaign_variants v SET version_id = current.id
              FROM email_template_versions old
              JOIN email_templates t ON t.organization_id = old.organization_id
                                    AND t.id = old.template_id
              JOIN email_template_versions current
                ON current.organization_id = t.organization_id AND current.template_id = t.id
               AND current.version = t.current_version
             WHERE v.organization_id = :org AND v.campaign_id = :campaign
               AND old.organization_id = v.organization_id AND old.id = v.version_id
            """
        ),
        {"org": campaign.organization_id, "campaign": campaign.id},
    )


# The ledger in one statement. The segments' members, the suppressed addresses and the topic's
# fans are each read once (MATERIALIZED: row-level security keeps lower() and the join keys of
# a correlated subquery from the indexes, and a planner without fresh statistics for a segment
# refreshed a moment ago once chose a nested loop over all members per customer); customers
# are then read by primary key. The parts that cost a sort or a join over the whole audience
# (the A/B split, each recipient's timezone, the throttle's spacing) are only written into the
# statement when the campaign uses them; values are always bound.
_AUDIENCE = """
WITH members AS MATERIALIZED (
    SELECT m.customer_id FROM segment_members m
     WHERE m.organization_id = CAST(:org AS bigint) AND m.segment_id = ANY(CAST(:include AS bigint[]))
       AND m.left_at IS NULL
    EXCEPT
    SELECT m.customer_id FROM segment_members m
     WHERE m.organization_id = CAST(:org AS bigint) AND m.segment_id = ANY(CAST(:exclude AS bigint[]))
       AND m.left_at IS NULL
), suppressed AS MATERIALIZED (
    SELECT lower(s.address) AS address FROM suppressions s
     WHERE s.organization_id = CAST(:org AS bigint) AND s.channel = :channel
), wanting AS MATERIALIZED (
    SELECT p.customer_id FROM customer_campaign_preferences p
     WHERE p.organization_id = CAST(:org AS bigint) AND p.campaign_type = :topic
), audience AS (
    SELECT c.id, c.primary_email, c.primary_phone, c.timezone
      FROM members
      JOIN customers c ON c.organization_id = CAST(:org AS bigint) AND c.id = members.customer_id
     WHERE c.is_active AND {consent} AND NOT c.do_not_contact AND {address} <> ''
       AND NOT EXISTS (SELECT 1 FROM suppressed WHERE suppressed.address = lower({address}))
       AND (:topic = '' OR EXISTS (SELECT 1 FROM wanting WHERE wanting.customer_id = c.id))
)"""
# The consent and the address each channel's audience needs.
_CHANNEL_AUDIENCE = {
    "email": {"consent": "c.email_opt_in", "address": "c.primary_email"},
    "sms": {"consent": "c.sms_opt_in", "address": "c.primary_phone"},
}
_LEDGER = (
    _AUDIENCE
    + """, ranked AS (
    SELECT a.*, {variant} FROM audience a {window}
), written AS (
    INSERT INTO campaign_recipients (organization_id, campaign_id, customer_id, email, phone,
                                     variant, status, due_at)
    SELECT CAST(:org AS bigint), CAST(:campaign AS bigint), r.id, r.primary_email,
           r.primary_phone, r.variant,
           CASE WHEN r.variant IS NULL THEN 'held' ELSE 'queued' END, {due}
      FROM ranked r {zones}
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM written
"""
)


def reachable(channel: str, include: list[int], exclude: list[int], topic: str = "") -> int:
    """How many customers of the segments a campaign on `channel` would reach now (the
    ledger's own consent rules): the form's live count."""
    if not include:
        return 0
    statement = _AUDIENCE.format(**_CHANNEL_AUDIENCE[channel]) + " SELECT count(*) FROM audience"
    return db.session.scalar(
        text(statement),
        {
            "org": current_organization_id(),
            "include": include,
            "exclude": exclude,
            "topic": topic,
            "channel": channel,
        },
    )


_NO_TEST = "CAST(0 AS smallint) AS variant"
# The test share, split evenly over the variants, in an order fixed by the campaign.
_TEST_SPLIT = (
    "CAST(CASE WHEN row_number() OVER w <= ceil(count(*) OVER () * :test_percent / 100.0) "
    "THEN (row_number() OVER w - 1) % :variants END AS smallint) AS variant"
)
_TEST_ORDER = "WINDOW w AS (ORDER BY md5(CAST(:campaign AS text) || '.' || a.id::text), a.id)"
_LOCAL_DUE = (
    "greatest(:now, (CAST(:local_date AS date) + CAST(:local_time AS time)) "
    "AT TIME ZONE coalesce(z.name, :zone))"
)
_ZONES = "LEFT JOIN pg_timezone_names z ON z.name = nullif(r.timezone, '')"

_QUEUE = """
SELECT CAST(:campaign AS bigint) AS source_id,
       jsonb_build_object('recipient', r.id) AS context,
       'campaign:' || CAST(:campaign AS text) || ':' || r.customer_id AS dedupe_key,
       r.customer_id, {address} AS to_address,
       btrim(c.first_name || ' ' || c.last_name) AS to_name, '' AS language,
       {due} AS next_attempt_at, c.timezone
  FROM campaign_recipients r
  JOIN customers c ON c.organization_id = r.organization_id AND c.id = r.customer_id
 WHERE r.organization_id = :org AND r.campaign_id = :campaign AND r.status = 'queued'
"""
_DUE_NOW = "greatest(r.due_at, :now)"
# A throttled campaign's messages one gap apart, in the order they are due.
_DUE_SPACED = (
    "greatest(r.due_at, :now + make_interval(secs => CAST(:gap AS float8) "
    "* (row_number() OVER (ORDER BY r.due_at, r.id) - 1)))"
)


def _gap(campaign: Campaign) -> float | None:
    """Seconds between two messages of a throttled campaign."""
    return 60.0 / campaign.throttle_per_minute if campaign.throttle_per_minute else None


def _start(campaign: Campaign) -> None:
    """Write the ledger and queue what is due (the caller holds the campaign's row lock)."""
    now = _now()
    params = {
        "org": campaign.organization_id,
        "campaign": campaign.id,
        "include": campaign.include_segment_ids or [],
        "exclude": campaign.exclude_segment_ids or [],
        "topic": campaign.topic or "",
        "now": now,
        "local_date": campaign.local_date,
        "local_time": campaign.local_time,
        "zone": _organization_zone(campaign.organization_id),
        "test_percent": campaign.ab_test_percent if len(variants(campaign)) > 1 else 0,
        "variants": max(len(variants(campaign)), 1),
        "channel": campaign.channel,
    }
    local = campaign.schedule_mode == "local"
    statement = _LEDGER.format(
        **_CHANNEL_AUDIENCE[campaign.channel],
        variant=_TEST_SPLIT if params["test_percent"] else _NO_TEST,
        window=_TEST_ORDER if params["test_percent"] else "",
        due=_LOCAL_DUE if local else ":now",
        zones=_ZONES if local else "",
    )
    with _bulk_plans():
        written = db.session.scalar(text(statement), params)
    campaign.recipient_count = written
    if campaign.survey_id is not None:
        invitations.invite_campaign(
            campaign.organization_id, campaign.id, campaign.survey_id, campaign.channel
        )
    campaign.status = "sending"
    campaign.started_at = now
    if params["test_percent"]:
        campaign.ab_decide_at = now + dt.timedelta(minutes=campaign.ab_wait_minutes)
    db.session.flush()
    _queue(campaign, now)
    _finish_if_done([campaign.id])


def _queue(campaign: Campaign, now: dt.datetime) -> int:
    gap = _gap(campaign)
    select = _QUEUE.format(
        due=_DUE_SPACED if gap else _DUE_NOW,
        address="r.phone" if campaign.channel == "sms" else "r.email",
    )
    params = {"campaign": campaign.id, "now": now, "gap": gap}
    quiet = sms.quiet_hours(campaign.organization_id) if campaign.channel == "sms" else None
    if quiet is not None:
        # Messages due inside the quiet hours are written due at their end (the kind checks
        # again when it sends, so a message held by a pause or a retry waits too).
        select = sms.QUIET_QUEUE.format(select=select)
        params.update(
            quiet_start=quiet.start,
            quiet_end=quiet.end,
            zone=_organization_zone(campaign.organization_id),
        )
    with _bulk_plans():
        written = outbox.queue_select(kind_of(campaign), select, params)
    # The workers start at the commit, before autovacuum (if it runs at all) would gather
    # statistics of the rows just written; so misinformed, the planner marked 50 sent
    # messages by scanning all 100,000 of the organization's (7 s a mark, where a primary
    # key lookup takes a millisecond). Analyzed here, before the commit: the statistics are
    # there when the first worker plans (ANALYZE counts this transaction's own rows).
    analyze_loaded(("campaign_recipients", "outbox_messages"), written)
    return written


@contextmanager
def _bulk_plans():
    """Plan the next statements without nested loops. They read rows written a moment ago (a
    segment just refreshed, the ledger just written) whose statistics autovacuum has not
    gathered yet; so misinformed, the planner chose a nested loop over every member per
    customer: 52 s for 20,000 recipients, against 0.4 s hashed."""
    previous = db.session.scalar(text("SELECT current_setting('enable_nestloop')"))
    db.session.execute(text("SELECT set_config('enable_nestloop', 'off', true)"))
    try:
        yield
    finally:
        db.session.execute(text("SELECT set_config('enable_nestloop', :v, true)"), {"v": previous})


@atomic
def start_due(campaign_id: int, *, now: dt.datetime | None = None) -> bool:
    """Start a scheduled campaign whose time came; False if another scheduler did (or it is
    not due): the row lock makes two schedulers start it once."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status != "scheduled" or campaign.starts_at > (now or _now()):
        return False
    _start(campaign)
    return True


# -- pause, resume, cancel ----------------------------------------------------------------------

_HOLD_QUEUED = """
UPDATE outbox_messages SET next_attempt_at = :until, updated_at = now()
 WHERE organization_id = :org AND kind = :kind AND source_id = :campaign AND status = 'queued'
"""
_RELEASE = """
UPDATE outbox_messages o SET next_attempt_at = q.next_attempt_at, updated_at = now()
  FROM (SELECT m.id, CASE WHEN CAST(:gap AS float8) IS NULL THEN greatest(r.due_at, :now)
                      ELSE greatest(r.due_at, :now + make_interval(secs => CAST(:gap AS float8)
                            * (row_number() OVER (ORDER BY r.due_at, m.id) - 1))) END
                 AS next_attempt_at
          FROM outbox_messages m
          JOIN campaign_recipients r ON r.organization_id = m.organization_id
                                    AND r.id = (m.context ->> 'recipient')::bigint
         WHERE m.organization_id = :org AND m.kind = :kind AND m.source_id = :campaign
           AND m.status = 'queued') AS q
 WHERE o.id = q.id
"""


@atomic
def pause_campaign(campaign_id: int) -> Campaign:
    """Stop sending: queued messages wait, those a worker holds are put back by the kind."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status != "sending":
        raise Conflict(_("Only a sending campaign can be paused."))
    campaign.status = "paused"
    campaign.paused_at = _now()
    db.session.flush()
    db.session.execute(
        text(_HOLD_QUEUED),
        {
            "org": campaign.organization_id,
            "kind": kind_of(campaign),
            "campaign": campaign.id,
            "until": PAUSED_UNTIL,
        },
    )
    return campaign


@atomic
def resume_campaign(campaign_id: int) -> Campaign:
    """Send the rest: each waiting message gets its time again (throttle from now)."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status != "paused":
        raise Conflict(_("Only a paused campaign can be resumed."))
    campaign.status = "sending"
    campaign.paused_at = None
    db.session.flush()
    now = _now()
    db.session.execute(
        text(_RELEASE),
        {
            "org": campaign.organization_id,
            "kind": kind_of(campaign),
            "campaign": campaign.id,
            "now": now,
            "gap": _gap(campaign),
        },
    )
    outbox.nudge(campaign.channel, campaign.recipient_count)
    _finish_if_done([campaign.id])
    return campaign


@atomic
def cancel_campaign(campaign_id: int) -> Campaign:
    """Stop for good: what is queued is cancelled (what went out stays sent)."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.status in ("sent", "cancelled"):
        raise Conflict(_("This campaign is finished."))
    campaign.status = "cancelled"
    campaign.finished_at = _now()
    db.session.flush()
    db.session.execute(
        text(
            "UPDATE outbox_messages SET status = 'cancelled', last_error = 'The campaign was cancelled.', "
            "updated_at = now() WHERE organization_id = :org AND kind = :kind AND source_id = :campaign "
            "AND status = 'queued'"
        ),
        {"org": campaign.organization_id, "kind": kind_of(campaign), "campaign": campaign.id},
    )
    db.session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.organization_id == campaign.organization_id,
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status.in_(("queued", "held")),
        )
        .values(status="skipped", error="The campaign was cancelled.")
    )
    return campaign


def _finish_if_done(campaign_ids: list[int]) -> None:
    """Mark sending campaigns with nothing left to send (or to decide) as sent."""
    db.session.execute(
        text(
            """
            UPDATE campaigns c SET status = 'sent', finished_at = now(), updated_at = now()
             WHERE c.organization_id = :org AND c.id = ANY(:ids) AND c.status = 'sending'
               AND NOT EXISTS (SELECT 1 FROM campaign_recipients r
                                WHERE r.organization_id = c.organization_id
                                  AND r.campaign_id = c.id AND r.status IN ('queued', 'held'))
            """
        ),
        {"org": current_organization_id(), "ids": campaign_ids},
    )


def record_sends(rows: list[tuple[int, str, str]]) -> None:
    """The outbox's outcomes on the ledger: (recipient id, status, error); then finish
    campaigns that have nothing left (called in the transaction that marks the batch)."""
    if not rows:
        return
    result = db.session.execute(
        text(
            """
            UPDATE campaign_recipients r
               SET status = v.status, error = left(v.error, 300),
                   sent_at = CASE WHEN v.status = 'sent' THEN now() ELSE r.sent_at END
              FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:errors AS text[]))
                   AS v(id, status, error)
             WHERE r.organization_id = :org AND r.id = v.id
            RETURNING r.campaign_id
            """
        ),
        {
            "org": current_organization_id(),
            "ids": [row[0] for row in rows],
            "statuses": [row[1] for row in rows],
            "errors": [row[2] for row in rows],
        },
    )
    _finish_if_done(sorted(set(result.scalars())))


# -- A/B ----------------------------------------------------------------------------------------


@atomic
def choose_winner(campaign_id: int, position: int | None = None) -> Campaign:
    """Send the rest of an A/B test's audience the winning variant (by `position`, or the best
    by the campaign's metric): once, whoever asks first."""
    campaign = get_campaign(campaign_id, lock=True)
    if campaign.winner_variant is not None or not campaign.ab_test_percent:
        raise Conflict(_("This campaign has no A/B test waiting for a winner."))
    if campaign.status not in ("sending", "paused"):
        raise Conflict(_("This campaign is not sending."))
    results = variant_results(campaign)
    if position is None:
        position = max(results, key=lambda r: (r.rate(campaign.ab_metric), -r.position)).position
    if position not in {r.position for r in results}:
        raise ValidationError(_("Choose one of the variants."), {"variant": _("No such variant.")})
    campaign.winner_variant = position
    db.session.flush()
    db.session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.organization_id == campaign.organization_id,
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status == "held",
        )
        .values(variant=position, status="queued", due_at=_now())
    )
    if campaign.status == "sending":
        _queue(campaign, _now())
    return campaign


# -- the scheduler's sweep ----------------------------------------------------------------------


def sweep(*, now: dt.datetime | None = None) -> int:
    """Enqueue the start of each scheduled campaign that is due and the decision of each A/B
    test whose wait is over (a worker writes the ledger, not the scheduler); returns how many.
    Two schedulers at once enqueue twice, and the job does it once (`run_due`)."""
    now = now or _now()
    due = db.session.execute(
        text("SELECT organization_id, id, action FROM campaigns_due(:now)"), {"now": now}
    ).all()
    db.session.commit()
    for organization_id, campaign_id, action in due:
        jobs.enqueue(jobs.RUN_DUE_CAMPAIGN, organization_id, campaign_id, action)
    return len(due)


def run_due(campaign_id: int, action: str, *, now: dt.datetime | None = None) -> bool:
    """What the sweep found due: "start" a scheduled campaign, or choose the "winner" of its
    A/B test. False when it was done already (the campaign's row lock decides who does it)."""
    if action == "start":
        return start_due(campaign_id, now=now)
    try:
        choose_winner(campaign_id)
    except Conflict:
        return False
    return True
