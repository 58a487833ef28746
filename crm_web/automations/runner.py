"""The scheduler's work for one organization: enroll whoever the active journeys' triggers name,
then advance the enrollments that are due, in batches.

Crash-safe and idempotent: a batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED (a second
worker takes other rows), each enrollment's steps run in a savepoint of the batch's transaction,
and each step run is a row unique per (enrollment, step): a batch lost to a crash rolls back
whole (its messages were only written to the outbox, which sends after the commit), and a step
is never run twice. An enrollment runs its steps until a wait puts it to sleep or it ends.
"""

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from crm_web.accounts.models import Organization
from crm_web.activities import services as activities
from crm_web.automations import definition, messages, triggers
from crm_web.automations.models import Automation, Enrollment, StepRun
from crm_web.campaigns import library
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.errors import ServiceError
from crm_web.extensions import db
from crm_web.i18n import supported
from crm_web.outbox import services as outbox
from crm_web.surveys import invitations
from crm_web.timezones import zone

log = logging.getLogger("crm.automations")

BATCH = 200
# Steps one enrollment may run in one go (a journey without waits ends well within it).
MAX_STEPS_AT_ONCE = 60


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(now: dt.datetime | None = None, *, batch: int = BATCH) -> dict[str, int]:
    """Enroll, then advance every due enrollment of the current organization; one log line."""
    now = now or _now()
    organization_id = current_organization_id()
    organization = db.session.get(Organization, organization_id)
    enrolled = 0
    for automation in db.session.scalars(
        select(Automation).where(
            Automation.organization_id == organization_id, Automation.status == "active"
        )
    ):
        enrolled += triggers.enroll(automation, now, organization.timezone)
    db.session.commit()
    advanced = steps = 0
    while True:
        done, ran = advance_batch(now, batch)
        db.session.commit()
        advanced += done
        steps += ran
        if done < batch:
            break
    log.info(
        "automations run org=%s enrolled=%d advanced=%d steps=%d",
        organization_id,
        enrolled,
        advanced,
        steps,
    )
    return {"enrolled": enrolled, "advanced": advanced, "steps": steps}


_DUE = """
SELECT e.id FROM automation_enrollments e
  JOIN automations a ON a.organization_id = e.organization_id AND a.id = e.automation_id
 WHERE e.organization_id = :org AND e.state = 'active' AND e.next_run_at <= :now
   AND a.status = 'active'
 ORDER BY e.next_run_at, e.id
 LIMIT :limit
 FOR UPDATE OF e SKIP LOCKED
"""


def advance_batch(now: dt.datetime, batch: int = BATCH) -> tuple[int, int]:
    """Claim up to `batch` due enrollments and run their steps (the caller commits)."""
    ids = list(
        db.session.scalars(
            text(_DUE), {"org": current_organization_id(), "now": now, "limit": batch}
        )
    )
    if not ids:
        return 0, 0
    enrollments = db.session.scalars(
        select(Enrollment).where(Enrollment.id.in_(ids)).order_by(Enrollment.id)
    ).all()
    automations = {
        a.id: a
        for a in db.session.scalars(
            select(Automation).where(Automation.id.in_({e.automation_id for e in enrollments}))
        )
    }
    customers = {
        c.id: c
        for c in db.session.scalars(
            select(Customer).where(Customer.id.in_({e.customer_id for e in enrollments}))
        )
    }
    organization = db.session.get(Organization, current_organization_id())
    ran = 0
    for enrollment in enrollments:
        try:
            with db.session.begin_nested():
                ran += _advance(
                    enrollment,
                    automations[enrollment.automation_id],
                    customers[enrollment.customer_id],
                    now,
                    organization.timezone,
                )
        except Exception:
            # One broken enrollment (a template since deleted) must not hold up the batch.
            log.exception("automation enrollment %s failed; it is stopped", enrollment.id)
            db.session.refresh(enrollment)
            _finish(enrollment, now, "exited", "error")
    return len(enrollments), ran


def _finish(enrollment: Enrollment, now: dt.datetime, state: str, reason: str = "") -> None:
    enrollment.state = state
    enrollment.exited_reason = reason
    enrollment.step_id = None
    enrollment.next_run_at = None
    enrollment.finished_at = now


def _advance(
    enrollment: Enrollment,
    automation: Automation,
    customer: Customer,
    now: dt.datetime,
    organization_timezone: str,
) -> int:
    following = definition.successors(automation.steps)
    ran = 0
    while enrollment.state == "active" and ran < MAX_STEPS_AT_ONCE:
        if automation.goal and goal_reached(automation.goal, customer, enrollment):
            enrollment.goal_reached = True
            _finish(enrollment, now, "exited", "goal")
            break
        found = definition.find(automation.steps, enrollment.step_id or "")
        if found is None:
            # The step was deleted from the journey while the customer waited on it.
            _finish(enrollment, now, "completed")
            break
        step = found[0]
        run = _record(enrollment, step, now)
        ran += 1
        if run is None:
            # Already run (a crashed batch's twin went first): move on as it did.
            nxt = following.get(step["id"])
        else:
            nxt, wake = _execute(step, run, enrollment, customer, now, organization_timezone)
            if step["type"] == "exit":
                _finish(enrollment, now, "exited", "exit_step")
                break
            if nxt is None:
                nxt = following.get(step["id"])
            if wake is not None:
                if nxt is None:
                    _finish(enrollment, now, "completed")
                else:
                    enrollment.step_id, enrollment.next_run_at = nxt, wake
                break
        if nxt is None:
            _finish(enrollment, now, "completed")
            break
        enrollment.step_id = nxt
        enrollment.next_run_at = now
    db.session.flush()
    return ran


def _record(enrollment: Enrollment, step: dict, now: dt.datetime) -> StepRun | None:
    """The step's run row, or None when this enrollment has already run the step."""
    run_id = db.session.scalar(
        insert(StepRun)
        .values(
            organization_id=enrollment.organization_id,
            automation_id=enrollment.automation_id,
            enrollment_id=enrollment.id,
            step_id=step["id"],
            step_type=step["type"],
            outcome="done",
            ran_at=now,
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "enrollment_id", "step_id"])
        .returning(StepRun.id)
    )
    return db.session.get(StepRun, run_id) if run_id is not None else None


def local_zone(customer: Customer, organization_timezone: str) -> ZoneInfo:
    return zone(customer.timezone or organization_timezone)


def wait_until(step: dict, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """When a wait step ends: after its days and hours, then (if set) at the next given weekday
    and local time in the customer's timezone."""
    due = now + dt.timedelta(days=step.get("days") or 0, hours=step.get("hours") or 0)
    weekday, at = step.get("weekday"), step.get("at")
    if weekday is None and not at:
        return due
    local = due.astimezone(tz)
    clock = dt.time.fromisoformat(at) if at else local.time().replace(microsecond=0)
    candidate = local.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
    if candidate < local:
        candidate += dt.timedelta(days=1)
    if weekday is not None:
        candidate += dt.timedelta(days=(weekday - candidate.weekday()) % 7)
    # Built as a wall-clock time of that day, so a DST change in between keeps 09:00 at 09:00.
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=tz).astimezone(dt.UTC)


def _execute(step, run, enrollment, customer, now, organization_timezone):
    """Run one step; returns (the next step id or None for "the usual next", and when to wake
    up if the journey now waits)."""
    kind = step["type"]
    if kind == "wait":
        return None, wait_until(step, now, local_zone(customer, organization_timezone))
    if kind in ("email", "sms", "survey"):
        run.outcome = _send(step, run, customer)
        # A branch on "opened" or "clicked" asks of the last email or SMS (an invitation's
        # opens are not tracked).
        if run.outcome == "sent" and kind != "survey":
            enrollment.last_message_run_id = run.id
        return None, None
    if kind == "branch":
        answer = condition_holds(step, customer, enrollment)
        run.outcome = "yes" if answer else "no"
        arm = step.get("yes" if answer else "no") or []
        return (arm[0]["id"] if arm else None), None
    if kind == "tag":
        tags = list(customer.tags or [])
        if step["action"] == "add" and step["tag"] not in tags:
            customer.tags = [*tags, step["tag"]]
        elif step["action"] == "remove" and step["tag"] in tags:
            customer.tags = [tag for tag in tags if tag != step["tag"]]
        return None, None
    if kind == "task":
        run.outcome = _task(step, customer, now)
        return None, None
    if kind == "field":
        setattr(customer, step["field"], step["value"])
        return None, None
    return None, None  # exit


def _send(step: dict, run: StepRun, customer: Customer) -> str:
    """Write the step's message to the outbox, when the customer agrees to it. A survey step
    invites the customer (a personal link) by email or SMS."""
    channel = step["channel"] if step["type"] == "survey" else step["type"]
    recipient = outbox.Recipient(
        customer.primary_email if channel == "email" else customer.primary_phone,
        customer.display_name,
        customer_id=customer.id,
        language=customer.language,
    )
    if not customer.is_active or customer.do_not_contact or not recipient.address:
        return "skipped"
    if not (customer.email_opt_in if channel == "email" else customer.sms_opt_in):
        return "skipped"
    if step["type"] == "survey":
        ids = invitations.send(
            step["survey_id"], recipient, channel, dedupe_key=f"automation:{run.id}"
        )
        run.outbox_id = ids[0] if ids else None
        return "sent" if ids else "skipped"
    if step["type"] == "email":
        try:
            template = library.get_template(_template_for(step, customer))
        except ServiceError:
            return "skipped"
        version = library.current_version(template)
        kind, context = messages.EMAIL_KIND, {"version_id": version.id}
    else:
        kind, context = messages.sms_kind(step["template"]), {}
    ids = outbox.queue(
        kind, [recipient], context=context, source_id=run.id, dedupe_key=f"automation:{run.id}"
    )
    run.outbox_id = ids[0] if ids else None
    return "sent" if ids else "skipped"


def _template_for(step: dict, customer: Customer) -> int:
    """The email step's template in the customer's language (theirs, else the organization's),
    or its template for everyone. The outbox renders the message in that same language."""
    by_language = step.get("languages") or {}
    if not by_language:
        return step["template_id"]
    language = supported(customer.language) or supported(
        db.session.get(Organization, customer.organization_id).locale
    )
    return by_language.get(language) or step["template_id"]


def _task(step: dict, customer: Customer, now: dt.datetime) -> str:
    if customer.owner_id is None:
        return "skipped"
    due = now + dt.timedelta(days=step.get("due_days") or 0)
    activities.create_activity(
        now=now,
        activity_type="follow_up",
        subject=step["subject"],
        description=_("Created by an automation."),
        due_at=due.astimezone(zone(None)).strftime("%Y-%m-%dT%H:%M"),
        assigned_to_id=customer.owner_id,
        customer_id=customer.id,
    )
    return "done"


def _previous_run(enrollment: Enrollment) -> StepRun | None:
    if enrollment.last_message_run_id is None:
        return None
    return db.session.get(StepRun, enrollment.last_message_run_id)


def _in_segment(segment_id, customer_id: int) -> bool:
    return bool(
        db.session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM segment_members WHERE organization_id = :org "
                "AND segment_id = :segment AND customer_id = :customer AND left_at IS NULL)"
            ),
            {"org": current_organization_id(), "segment": segment_id, "customer": customer_id},
        )
    )


def condition_holds(step: dict, customer: Customer, enrollment: Enrollment) -> bool:
    """Whether a branch's condition holds for this customer now."""
    condition = step.get("condition")
    if condition in ("opened", "clicked"):
        previous = _previous_run(enrollment)
        if previous is None:
            return False
        # A click without the pixel loading (images off) still shows the email was opened.
        if condition == "opened":
            return previous.opened_at is not None or previous.clicked_at is not None
        return previous.clicked_at is not None
    if condition == "segment":
        return _in_segment(step.get("segment_id"), customer.id)
    if condition == "tag":
        return step.get("tag") in (customer.tags or [])
    if condition == "field":
        equal = str(getattr(customer, step["field"]) or "") == step.get("value", "")
        return equal if step.get("operator") == "equals" else not equal
    return False


def goal_reached(goal: dict, customer: Customer, enrollment: Enrollment) -> bool:
    """Whether the customer reached the journey's goal since they enrolled."""
    kind = goal.get("kind")
    if kind == "purchase":
        return bool(
            db.session.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM orders WHERE organization_id = :org "
                    "AND customer_id = :customer AND ordered_at >= :since "
                    "AND status NOT IN ('cancelled'))"
                ),
                {
                    "org": current_organization_id(),
                    "customer": customer.id,
                    "since": enrollment.enrolled_at,
                },
            )
        )
    if kind == "tag":
        return goal.get("tag") in (customer.tags or [])
    if kind == "segment":
        return _in_segment(goal.get("segment_id"), customer.id)
    return False
