"""Activity reminders: written to the outbox when they come due, sent by its workers.

A reminder that comes due is written as an outbox message (kind `activity_reminder`) in the
same statement that disarms it on the activity, with a dedupe key per activity and reminder
time, so writing twice writes one message. The outbox sends it (at least once, with a stable
Message-ID); at send time it is cancelled if the activity was done or moved first, its
assignee left, or it is long past (catching up after downtime helps nobody).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from crm_web import jobs, labels
from crm_web.accounts.models import User
from crm_web.activities.models import Activity
from crm_web.activities.services import LINKS
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.formatting import lowercase
from crm_web.outbox import services as outbox
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register, rows_by_id
from crm_web.privacy.audit import record

KIND = "activity_reminder"
TOO_LATE = timedelta(hours=1)


def due_organizations() -> list[int]:
    """Organizations with a reminder that came due (any tenant may ask)."""
    return sorted(db.session.scalars(text("SELECT activity_reminder_organizations()")))


def sweep() -> list[int]:
    """Enqueue the reminder work of every organization that has some; returns their ids."""
    organization_ids = due_organizations()
    db.session.commit()
    for organization_id in organization_ids:
        jobs.enqueue(jobs.PROCESS_ACTIVITY_REMINDERS, organization_id)
    return organization_ids


_WRITE_DUE = text(
    """
    WITH due AS (
        UPDATE activities SET reminder_armed = false
        WHERE organization_id = :org AND reminder_armed AND reminder_at <= now()
        RETURNING id, assigned_to_id, reminder_at, status
    )
    INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context, dedupe_key,
        user_id, to_address, to_name, message_id, next_attempt_at)
    SELECT :org, 'email', :kind, due.id,
           jsonb_build_object('remind_at', due.reminder_at),
           'activity-reminder:' || due.id || ':' || extract(epoch FROM due.reminder_at)::bigint,
           u.id, u.email, u.name,
           '<' || replace(gen_random_uuid()::text, '-', '') || '@' || :domain || '>', now()
      FROM due JOIN users u ON u.id = due.assigned_to_id
     WHERE due.status IN ('planned', 'in_progress')
    ON CONFLICT (organization_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING id, source_id
    """
)


@atomic
def write_due_reminders() -> list[int]:
    """Write an outbox message for each armed reminder of this organization that came due."""
    organization_id = current_organization_id()
    rows = db.session.execute(
        _WRITE_DUE, {"org": organization_id, "kind": KIND, "domain": outbox.mail_domain()}
    ).all()
    if rows:
        ids = sorted(row.id for row in rows)
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name="outbox_messages",
            row_id=str(ids[0]) if len(ids) == 1 else f"{ids[0]}..{ids[-1]}",
            new={
                "kind": KIND,
                "count": len(ids),
                "activity_ids": sorted(r.source_id for r in rows)[:100],
            },
        )
        outbox.nudge("email", len(ids))
    return [row.id for row in rows]


def _why_not(activity: Activity, user: User | None, remind_at: datetime, now: datetime) -> str:
    if not activity.is_open:
        return _(
            "Not sent: the activity was %(status)s first.",
            status=lowercase(labels.label(activity.status, "activity_status")),
        )
    if activity.reminder_at != remind_at:
        return _("Not sent: the reminder was moved.")
    if user is None or not user.is_active:
        return _("Not sent: the assignee is inactive.")
    if activity.due_at < now - TOO_LATE:
        return _("Not sent: it was due over an hour before the reminder could go out.")
    return ""


def _load(messages: list[Pending]) -> dict:
    activities = rows_by_id(Activity, (message.source_id for message in messages), *LINKS)
    users = rows_by_id(User, (message.user_id for message in messages))
    now = datetime.now(UTC)
    contexts = {}
    for message in messages:
        activity = activities.get(message.source_id)
        if activity is None:
            contexts[message.id] = Cancel(_("Not sent: the activity was deleted."))
            continue
        remind_at = datetime.fromisoformat(message.context["remind_at"])
        user = users.get(message.user_id)
        if problem := _why_not(activity, user, remind_at, now):
            contexts[message.id] = Cancel(problem)
            continue
        contexts[message.id] = {
            "activity": activity,
            "user_name": message.to_name,
            # Shown in the assignee's time zone (the outbox renders in it: `timezone`).
            "due": activity.due_at,
        }
    return contexts


def _sample() -> dict:
    return {
        "activity": {
            "id": 7,
            "type_label": labels.ACTIVITY_TYPE["meeting"],
            "subject": "Teklif görüşmesi — Çağlar Tekstil",
            "duration_minutes": 45,
            "location": "Kadıköy ofisi",
            "related_label": "Çağlar Tekstil A.Ş.",
            "description": "Fiyat listesini ve teslim tarihlerini konuşalım.",
        },
        "user_name": "Ayşe Yılmaz",
        "due": datetime(2026, 12, 7, 9, 30, tzinfo=ZoneInfo("Europe/Istanbul")),
        "timezone": "Europe/Istanbul",
    }


register(
    MessageKind(
        name=KIND,
        title=_l("Activity reminder"),
        channel="email",
        template="activities/reminder",
        description=_l("A reminder of a call, meeting or task, to its assignee."),
        load=_load,
        sample=_sample,
        headers=lambda context: {"Auto-Submitted": "auto-generated"},
    )
)
