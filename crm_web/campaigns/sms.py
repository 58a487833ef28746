"""What is particular to SMS campaigns (the rest is the campaigns machinery in services.py):
the text and sender id a campaign is saved with, the gateway's delivery reports on the ledger,
STOP replies counted against the SMS campaigns a customer got lately, and the organization's
quiet hours applied as a campaign's SMS are queued."""

import datetime as dt
import re

from flask_babel import gettext as _
from sqlalchemy import text, update

from crm_web.accounts.models import Organization
from crm_web.campaigns import content
from crm_web.campaigns.models import CampaignRecipient
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.messaging.quiet_hours import QuietHours, parse_window

# An alphanumeric sender id (at most 11 characters, as operators allow) or a phone number.
SENDER_ID = re.compile(r"[A-Za-z0-9]{1,11}|\+[0-9]{6,15}")


def clean_sms(data: dict, clean: dict, errors: dict) -> None:
    """The SMS fields of a campaign's input into `clean`, problems into `errors`."""
    for name in ("sms_body", "sender_id"):
        value = data.get(name) or ""
        clean[name] = value.strip() if isinstance(value, str) else ""
    if not clean["sms_body"]:
        errors["sms_body"] = _("Write the text of the SMS.")
    elif len(clean["sms_body"]) > 1000:
        errors["sms_body"] = _("At most %(count)s characters.", count=1000)
    elif problem := content.sms_syntax_problem(clean["sms_body"]):
        errors["sms_body"] = problem
    if clean["sender_id"] and not SENDER_ID.fullmatch(clean["sender_id"]):
        errors["sender_id"] = _(
            "Use at most 11 letters and digits (no spaces), or a phone number such as "
            "+905321234567."
        )
    clean["ab_test_percent"] = 0


def record_delivery(recipient_id: int, delivered: bool, error: str = "") -> None:
    """A gateway's delivery report on the SMS recipient's line of the ledger."""
    db.session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.organization_id == current_organization_id(),
            CampaignRecipient.id == recipient_id,
            CampaignRecipient.status.in_(("sent", "delivered", "failed")),
        )
        .values(status="delivered" if delivered else "failed", error=error[:300])
    )


def record_sms_opt_out(customer_ids: list[int], *, within: dt.timedelta = dt.timedelta(days=30)):
    """A customer who texted STOP opted out after the SMS campaigns they got lately: each
    counts it in its results."""
    db.session.execute(
        text(
            """
            UPDATE campaign_recipients r SET unsubscribed_at = now()
              FROM campaigns c
             WHERE r.organization_id = :org AND r.customer_id = ANY(:ids)
               AND r.unsubscribed_at IS NULL AND r.sent_at >= :since
               AND c.organization_id = r.organization_id AND c.id = r.campaign_id
               AND c.channel = 'sms'
            """
        ),
        {
            "org": current_organization_id(),
            "ids": customer_ids,
            "since": dt.datetime.now(dt.UTC) - within,
        },
    )


def quiet_hours(organization_id: int) -> QuietHours | None:
    """The organization's SMS quiet hours, None for none (or a setting that cannot be read)."""
    setting = db.session.get(Organization, organization_id).sms_quiet_hours
    try:
        window = parse_window(setting or "")
    except ValueError:
        return None
    return None if window.off else window


# A campaign's queue (services._QUEUE) with each message due inside the quiet hours moved to
# their end, in the recipient's time zone (else the organization's): a wall-clock time of the
# day the window ends. (On a DST switch day PostgreSQL reads a time in the gap an hour on; the
# kind's own check at send time, which QuietHours.release makes exact, has the last word.)
QUIET_QUEUE = """
SELECT q.source_id, q.context, q.dedupe_key, q.customer_id, q.to_address, q.to_name, q.language,
       CASE WHEN CAST(:quiet_start AS time) < CAST(:quiet_end AS time)
                 AND l.t >= CAST(:quiet_start AS time) AND l.t < CAST(:quiet_end AS time)
              OR CAST(:quiet_start AS time) > CAST(:quiet_end AS time)
                 AND (l.t >= CAST(:quiet_start AS time) OR l.t < CAST(:quiet_end AS time))
            THEN ((CAST(l.local AS date) + CASE WHEN l.t >= CAST(:quiet_end AS time) THEN 1 ELSE 0 END)
                  + CAST(:quiet_end AS time)) AT TIME ZONE l.zone
            ELSE q.next_attempt_at END AS next_attempt_at
  FROM ({select}) AS q
  LEFT JOIN pg_timezone_names z ON z.name = nullif(q.timezone, '')
 CROSS JOIN LATERAL (SELECT coalesce(z.name, :zone) AS zone) AS named
 CROSS JOIN LATERAL (SELECT q.next_attempt_at AT TIME ZONE named.zone AS local) AS at_home
 CROSS JOIN LATERAL (SELECT at_home.local, CAST(at_home.local AS time) AS t, named.zone) AS l
"""
