"""Activity reminders through the outbox (DESIGN.md, "Messages: nothing lost, nothing sent twice").

1. A reminder that comes due is written as an `activity_reminders` row, unique per activity
   and reminder time, in the same statement that disarms it on the activity; writing twice
   inserts nothing.
2. Rows are claimed one at a time with FOR UPDATE SKIP LOCKED, sent over one SMTP connection
   per batch, and marked sent with their Message-ID in the claiming transaction. A second
   sender skips a claimed row; a sender that dies before its commit releases the row, still
   pending, for the next sweep; a row marked sent is never claimed again.
A sender that dies after the SMTP server accepted a message but before its commit sends it
again on the next sweep, with the same Message-ID (derived from the row), so mail clients
can tell it is the same message.
"""

import smtplib
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.orm import joinedload

from crm_web.accounts.models import Organization, User
from crm_web.activities.models import ActivityReminder
from crm_web.activities.services import LINKS
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.messaging.email import SmtpTransport, build_email
from crm_web.privacy.audit import record

MAX_ATTEMPTS = 5
BATCH_LIMIT = 500
TOO_LATE = timedelta(hours=1)


def due_organizations() -> list[int]:
    """Organizations with a reminder that came due or a delivery waiting (any tenant may ask)."""
    return sorted(db.session.scalars(text("SELECT activity_reminder_organizations()")))


def sweep() -> list[int]:
    """Enqueue the reminder work of every organization that has some; returns their ids."""
    from worker.actors.activities import process_activity_reminders

    organization_ids = due_organizations()
    for organization_id in organization_ids:
        process_activity_reminders.send(organization_id)
    return organization_ids


@atomic
def write_due_reminders() -> list[int]:
    """Write an outbox row for each armed reminder of this organization that came due."""
    rows = db.session.execute(
        text(
            """
            WITH due AS (
                UPDATE activities SET reminder_armed = false
                WHERE organization_id = :organization_id AND reminder_armed
                  AND reminder_at <= now()
                RETURNING id, assigned_to_id, reminder_at, status
            )
            INSERT INTO activity_reminders (organization_id, activity_id, user_id, remind_at,
                status, attempts, next_attempt_at, last_error, message_id)
            SELECT :organization_id, id, assigned_to_id, reminder_at, 'pending', 0, reminder_at, '', ''
            FROM due WHERE status IN ('planned', 'in_progress')
            ON CONFLICT (organization_id, activity_id, remind_at) DO NOTHING
            RETURNING id, activity_id
            """
        ),
        {"organization_id": current_organization_id()},
    ).all()
    if rows:
        ids = sorted(row.id for row in rows)
        record(
            db.session,
            organization_id=current_organization_id(),
            action="create",
            table_name="activity_reminders",
            row_id=str(ids[0]) if len(ids) == 1 else f"{ids[0]}..{ids[-1]}",
            new={"count": len(ids), "activity_ids": sorted(row.activity_id for row in rows)[:100]},
        )
    return [row.id for row in rows]


def claim_next_reminder() -> ActivityReminder | None:
    """Lock the next pending reminder no other sender holds (the caller's transaction keeps it)."""
    return db.session.scalar(
        select(ActivityReminder)
        .where(
            ActivityReminder.organization_id == current_organization_id(),
            ActivityReminder.status == "pending",
            ActivityReminder.next_attempt_at <= func.now(),
        )
        .order_by(ActivityReminder.next_attempt_at, ActivityReminder.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=ActivityReminder)
        # The email needs the activity, what it is about and its recipient: one round trip.
        .options(
            joinedload(ActivityReminder.activity).options(*LINKS),
            joinedload(ActivityReminder.user).lazyload(User.organization),
        )
    )


def _why_not(reminder: ActivityReminder, now: datetime) -> str:
    activity = reminder.activity
    if not activity.is_open:
        return f"Not sent: the activity was {activity.status} first."
    if activity.reminder_at != reminder.remind_at:
        return "Not sent: the reminder was moved."
    if not reminder.user.is_active:
        return "Not sent: the assignee is inactive."
    # Catching up after downtime: a reminder for something long past due helps nobody.
    if activity.due_at < now - TOO_LATE:
        return "Not sent: it was due over an hour before the reminder could go out."
    return ""


def message_id(reminder: ActivityReminder) -> str:
    """The same Message-ID every time this row is sent."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "crm.localhost"
    return f"<activity-reminder-{reminder.organization_id}-{reminder.id}@{domain}>"


def reminder_email(reminder: ActivityReminder, zone: ZoneInfo):
    """The email telling the assignee what is coming up."""
    activity = reminder.activity
    config = current_app.config
    due = activity.due_at.astimezone(zone)
    lines = [
        f"Hello {reminder.user.name},",
        "",
        f"{activity.type_label}: {activity.subject}",
        f"Due: {due:%A %d %B %Y, %H:%M} ({zone.key})",
    ]
    if activity.duration_minutes:
        lines.append(f"Duration: {activity.duration_minutes} minutes")
    if activity.location:
        lines.append(f"Location: {activity.location}")
    if related := activity.related_label:
        lines.append(f"About: {related}")
    if activity.description:
        lines += ["", activity.description]
    lines += ["", f"Open it: {config['BASE_URL']}/activities/{activity.id}", ""]
    return build_email(
        sender=config["MAIL_FROM"],
        to=(reminder.user.name, reminder.user.email),
        subject=f"Reminder: {activity.subject} at {due:%H:%M}",
        text="\n".join(lines),
        headers={"Message-ID": message_id(reminder), "Auto-Submitted": "auto-generated"},
    )


class _Connection:
    """One SMTP connection for a batch, opened at the first message that needs it."""

    def __init__(self, url: str):
        self.url = url
        self.transport: SmtpTransport | None = None

    def send(self, message) -> str:
        if self.transport is None:
            transport = SmtpTransport(self.url)
            transport.open()
            self.transport = transport
        return self.transport.send(message)

    def close(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            try:
                transport.close()
            except OSError:
                pass  # a dead socket is closed enough; the next message opens a new one


def _permanent(exc: Exception) -> bool:
    """A refusal a retry will not change: every recipient refused, or any 5xx reply."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def _retry_or_fail(reminder: ActivityReminder, exc: Exception, now: datetime) -> None:
    reminder.attempts += 1
    reminder.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
    if _permanent(exc) or reminder.attempts >= MAX_ATTEMPTS:
        reminder.status = "failed"
    else:
        reminder.next_attempt_at = now + timedelta(minutes=2**reminder.attempts)


@atomic
def deliver_next(connection: _Connection, zone: ZoneInfo) -> str | None:
    """Claim, send and mark one reminder in one transaction; its new status, None if none left.

    Anything that escapes (a crash, a lost database) rolls the claim back: the row stays
    pending for the next sweep. SMTP failures are recorded on the row instead.
    """
    reminder = claim_next_reminder()
    if reminder is None:
        return None
    now = datetime.now(UTC)
    if problem := _why_not(reminder, now):
        reminder.status = "cancelled"
        reminder.last_error = problem
        return reminder.status
    try:
        reminder.message_id = connection.send(reminder_email(reminder, zone))
    except (smtplib.SMTPException, OSError) as exc:
        connection.close()
        _retry_or_fail(reminder, exc, now)
        return reminder.status
    reminder.status = "sent"
    reminder.sent_at = now
    reminder.attempts += 1
    reminder.last_error = ""
    return reminder.status


def send_pending_reminders(limit: int = BATCH_LIMIT) -> dict[str, int]:
    """Send this organization's pending reminders over one SMTP connection; counts by outcome."""
    organization = db.session.get(Organization, current_organization_id())
    zone = ZoneInfo(organization.timezone)
    connection = _Connection(current_app.config["SMTP_URL"])
    counts: dict[str, int] = {}
    try:
        for _ in range(limit):
            status = deliver_next(connection, zone)
            if status is None:
                break
            counts[status] = counts.get(status, 0) + 1
            if status == "pending":
                # The server is not answering: leave the rest for the next sweep.
                break
    finally:
        connection.close()
    return counts


def process_due_reminders() -> dict[str, int]:
    """The current organization's reminder work: write what came due, then send what waits."""
    write_due_reminders()
    return send_pending_reminders()
