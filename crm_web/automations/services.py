"""Automations: creating and changing journeys, activating and pausing them, their counts and
report, enrollments, the holiday calendar, and the opens and clicks of their emails."""

import datetime as dt

import holidays as holiday_data
from flask_babel import gettext as _
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from crm_web import jobs
from crm_web.automations import definition
from crm_web.automations.messages import SMS_TEMPLATES
from crm_web.automations.models import Automation, Enrollment, Holiday, StepRun
from crm_web.campaigns.models import EmailTemplate
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, check_fields
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page
from crm_web.segments.models import Segment
from crm_web.surveys.models import Survey

DEFAULT_COUNTRY = "TR"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_automation(automation_id: int, *, for_update: bool = False) -> Automation:
    """This organization's automation, or NotFound."""
    stmt = select(Automation).where(
        Automation.id == automation_id, Automation.organization_id == current_organization_id()
    )
    automation = db.session.scalar(stmt.with_for_update() if for_update else stmt)
    if automation is None:
        raise NotFound(_("No such automation."))
    return automation


def list_automations(cursor: str | None = None, limit: int = 50) -> Page:
    """Journeys, newest first; keyset by id."""
    stmt = select(Automation).where(Automation.organization_id == current_organization_id())
    return keyset_page(stmt, (Automation.id,), cursor=cursor, limit=limit, descending=True)


def choices() -> dict[str, set]:
    """What a definition may refer to: this organization's templates, segments and active
    surveys."""
    org = current_organization_id()
    return {
        "templates": set(
            db.session.scalars(select(EmailTemplate.id).where(EmailTemplate.organization_id == org))
        ),
        "segments": set(
            db.session.scalars(select(Segment.id).where(Segment.organization_id == org))
        ),
        "sms": set(SMS_TEMPLATES),
        "surveys": set(
            db.session.scalars(
                select(Survey.id).where(Survey.organization_id == org, Survey.status == "active")
            )
        ),
    }


def _text(raw) -> str:
    """`raw` if it is text, else nothing (a list or a number where a code belongs)."""
    return raw if isinstance(raw, str) else ""


def clean(data: dict, *, partial_of: Automation | None = None, strict: bool = True):
    """A journey's fields checked together; a ValidationError names each wrong field (not
    strict: the cleaned fields and the errors, for a draft the editor keeps as it grows)."""
    known = choices()
    errors: dict[str, str] = {}

    def value(key, default):
        if key in data:
            return data[key]
        return getattr(partial_of, key) if partial_of is not None else default

    out: dict = {}
    out["name"] = str(value("name", "") or "").strip()
    if not out["name"]:
        errors["name"] = _("Give the automation a name.")
    elif len(out["name"]) > 200:
        errors["name"] = _("At most 200 characters.")
    out["description"] = str(value("description", "") or "")[:2000]
    # A JSON body may hold anything: a kind that is not text is no known kind.
    out["trigger_kind"] = _text(value("trigger_kind", ""))
    out["trigger_config"] = definition.clean_trigger(
        out["trigger_kind"], value("trigger_config", {}), errors, known["segments"],
        known["surveys"],
    )  # fmt: skip
    out["steps"] = definition.clean_steps(
        value("steps", []), errors, templates=known["templates"], sms=known["sms"],
        segments=known["segments"], surveys=known["surveys"],
    )  # fmt: skip
    if sum(1 for _ in definition.walk(out["steps"])) > definition.MAX_STEPS:
        errors["steps"] = _("At most %(count)d steps.", count=definition.MAX_STEPS)
    out["goal"] = definition.clean_goal(value("goal", {}), errors, known["segments"])
    default_reentry = definition.TRIGGERS.get(out["trigger_kind"], ("", "", "once"))[2]
    out["reentry"] = value("reentry", None) or default_reentry
    if not isinstance(out["reentry"], str) or out["reentry"] not in definition.REENTRY:
        errors["reentry"] = _("Choose once, once a year or every time.")
    try:
        out["send_hour"] = int(value("send_hour", 9))
        if not 0 <= out["send_hour"] <= 23:
            raise ValueError
    except (TypeError, ValueError):
        errors["send_hour"] = _("Give an hour from 0 to 23.")
        out["send_hour"] = 9
    if not strict:
        return out, errors
    check_fields(errors)
    return out


@atomic
def create_automation(data: dict, *, draft: bool = False) -> Automation:
    """A new journey, as a draft; `draft` (the editor's first form) needs only a name and a
    trigger, the rest is filled in before activation."""
    if draft:
        fields, errors = clean(data, strict=False)
        check_fields({k: v for k, v in errors.items() if k in ("name", "trigger_kind")})
    else:
        fields = clean(data)
    automation = Automation(
        organization_id=current_organization_id(),
        status="draft",
        created_by_id=current_tenant().user_id,
        **fields,
    )
    db.session.add(automation)
    db.session.flush()
    return automation


@atomic
def update_automation(automation_id: int, data: dict) -> Automation:
    """Change a journey; fields left out stay as they are."""
    automation = get_automation(automation_id, for_update=True)
    for key, value in clean(data, partial_of=automation).items():
        setattr(automation, key, value)
    db.session.flush()
    return automation


@atomic
def save_draft(automation_id: int, data: dict) -> dict[str, str]:
    """The editor's save: what is well-formed is kept even while other fields are incomplete
    (activation insists on all); returns what is wrong, by field. An active journey is
    checked in full, as the API checks it."""
    automation = get_automation(automation_id, for_update=True)
    if automation.status == "active":
        fields, errors = clean(data, partial_of=automation), {}
    else:
        fields, errors = clean(data, partial_of=automation, strict=False)
    if "name" in errors:
        fields.pop("name")
    for key, value in fields.items():
        setattr(automation, key, value)
    db.session.flush()
    return errors


@atomic
def activate(automation_id: int) -> Automation:
    """Start enrolling customers (a journey needs a step)."""
    automation = get_automation(automation_id, for_update=True)
    if not automation.steps:
        raise Conflict(_("Add a step before activating."), {"steps": _("Add a step.")})
    clean({}, partial_of=automation)  # a template or segment deleted since: say which step
    automation.status = "active"
    automation.activated_at = automation.activated_at or _now()
    db.session.flush()
    jobs.enqueue_after_commit(jobs.RUN_AUTOMATIONS, automation.organization_id)
    return automation


@atomic
def pause(automation_id: int) -> Automation:
    """Stop enrolling and advancing; enrollments wait where they are until it is active again."""
    automation = get_automation(automation_id, for_update=True)
    automation.status = "paused"
    db.session.flush()
    return automation


def counts(automation_ids: list[int]) -> dict[int, dict[str, int]]:
    """Enrolled, in progress, completed, exited and goals reached, per journey."""
    if not automation_ids:
        return {}
    rows = db.session.execute(
        select(
            Enrollment.automation_id,
            func.count(),
            func.count().filter(Enrollment.state == "active"),
            func.count().filter(Enrollment.state == "completed"),
            func.count().filter(Enrollment.state == "exited"),
            func.count().filter(Enrollment.goal_reached),
        )
        .where(
            Enrollment.organization_id == current_organization_id(),
            Enrollment.automation_id.in_(automation_ids),
        )
        .group_by(Enrollment.automation_id)
    )
    out = {
        i: {"enrolled": 0, "active": 0, "completed": 0, "exited": 0, "goals": 0}
        for i in automation_ids
    }
    for automation_id, enrolled, active, completed, exited, goals in rows:
        out[automation_id] = {
            "enrolled": enrolled,
            "active": active,
            "completed": completed,
            "exited": exited,
            "goals": goals,
        }
    return out


def step_report(automation: Automation) -> list[dict]:
    """Per step, in the flow's order: runs, and for messages sent, opened and clicked."""
    rows = {
        row.step_id: row
        for row in db.session.execute(
            select(
                StepRun.step_id,
                func.count().label("runs"),
                func.count().filter(StepRun.outcome == "sent").label("sent"),
                func.count().filter(StepRun.opened_at.is_not(None)).label("opened"),
                func.count().filter(StepRun.clicked_at.is_not(None)).label("clicked"),
                func.count().filter(StepRun.outcome == "yes").label("yes"),
            )
            .where(
                StepRun.organization_id == current_organization_id(),
                StepRun.automation_id == automation.id,
            )
            .group_by(StepRun.step_id)
        )
    }
    report = []
    for key, step, _siblings, _index in definition.walk(automation.steps):
        row = rows.get(step["id"])
        report.append(
            {
                "key": key,
                "depth": key.count(".yes") + key.count(".no"),
                "step": step,
                "runs": row.runs if row else 0,
                "sent": row.sent if row else 0,
                "opened": row.opened if row else 0,
                "clicked": row.clicked if row else 0,
                "yes": row.yes if row else 0,
            }
        )
    return report


def enrollments_page(automation_id: int, cursor: str | None = None, limit: int = 50) -> Page:
    """A journey's enrollments, newest first."""
    automation = get_automation(automation_id)
    stmt = select(Enrollment).where(
        Enrollment.organization_id == automation.organization_id,
        Enrollment.automation_id == automation.id,
    )
    return keyset_page(stmt, (Enrollment.id,), cursor=cursor, limit=limit, descending=True)


def customer_journeys(customer_id: int) -> list[tuple[Enrollment, str]]:
    """A customer's enrollments with their journeys' names, newest first (the 360 page)."""
    rows = db.session.execute(
        select(Enrollment, Automation.name)
        .join(Automation, Automation.id == Enrollment.automation_id)
        .where(
            Enrollment.organization_id == current_organization_id(),
            Enrollment.customer_id == customer_id,
        )
        .order_by(Enrollment.id.desc())
        .limit(20)
    )
    return [(enrollment, name) for enrollment, name in rows]


# -- the holiday calendar --------------------------------------------------------------------


def list_holidays() -> list[Holiday]:
    return list(
        db.session.scalars(
            select(Holiday)
            .where(Holiday.organization_id == current_organization_id())
            .order_by(Holiday.day)
        )
    )


@atomic
def prefill_holidays(country: str = DEFAULT_COUNTRY, years: tuple[int, ...] = ()) -> int:
    """Add the country's public holidays for these years (this and next by default); days
    already in the calendar keep their name. How many were added."""
    country = (country or DEFAULT_COUNTRY).upper()
    years = years or (_now().year, _now().year + 1)
    try:
        days = holiday_data.country_holidays(country, years=years, language="en_US")
    except (NotImplementedError, KeyError):
        check_fields({"country": _("No holiday calendar for this country.")})
    rows = [
        {"organization_id": current_organization_id(), "day": day, "name": name[:200]}
        for day, name in sorted(days.items())
    ]
    if not rows:
        return 0
    added = db.session.scalars(
        insert(Holiday)
        .on_conflict_do_nothing(index_elements=["organization_id", "day"])
        .returning(Holiday.id),
        rows,
    )
    return len(added.all())


@atomic
def add_holiday(day, name: str) -> Holiday:
    """Add a day to the calendar."""
    errors = {}
    try:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    except ValueError:
        errors["day"] = _("Give a date like 2026-12-31.")
    name = (name or "").strip()[:200]
    if not name:
        errors["name"] = _("Give the holiday a name.")
    check_fields(errors)
    if db.session.scalar(
        select(Holiday.id).where(
            Holiday.organization_id == current_organization_id(), Holiday.day == day
        )
    ):
        check_fields({"day": _("This day is already in the calendar.")})
    holiday = Holiday(organization_id=current_organization_id(), day=day, name=name)
    db.session.add(holiday)
    db.session.flush()
    return holiday


@atomic
def delete_holiday(holiday_id: int) -> None:
    holiday = db.session.scalar(
        select(Holiday).where(
            Holiday.organization_id == current_organization_id(), Holiday.id == holiday_id
        )
    )
    if holiday is None:
        raise NotFound(_("No such holiday."))
    db.session.delete(holiday)


# -- what customers did with the emails ------------------------------------------------------


@atomic
def record_hit(kind: str, run_id: int, now: dt.datetime | None = None) -> None:
    """An open or click of an automation email: the first of each is kept on the step run."""
    column = "opened_at" if kind == "open" else "clicked_at"
    db.session.execute(
        text(
            f"UPDATE automation_step_runs SET {column} = coalesce({column}, :now) "
            "WHERE organization_id = :org AND id = :id"
        ),
        {"now": now or _now(), "org": current_organization_id(), "id": run_id},
    )


def run_customer(run_id: int) -> int:
    """The customer an automation email went to, or NotFound."""
    customer_id = db.session.scalar(
        select(Enrollment.customer_id)
        .join(StepRun, StepRun.enrollment_id == Enrollment.id)
        .where(StepRun.organization_id == current_organization_id(), StepRun.id == run_id)
    )
    if customer_id is None:
        raise NotFound(_("No such message."))
    return customer_id


def organizations_with_active() -> list[int]:
    """Every organization with an active journey (before any tenant is set)."""
    return list(db.session.execute(text("SELECT automation_organizations()")).scalars())


def schedule_everywhere() -> int:
    """Enqueue the run for every organization with an active journey."""
    organization_ids = organizations_with_active()
    for organization_id in organization_ids:
        jobs.enqueue(jobs.RUN_AUTOMATIONS, organization_id)
    return len(organization_ids)
