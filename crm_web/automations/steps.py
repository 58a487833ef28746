"""What a step does to a group of enrollments at once (the runner's groups: the enrollments of
one batch standing at the same step of the same journey).

A group's step is prepared first (who gets a message and which, which arm of a branch each
takes: pure reads, one query per condition for the whole group), then its runs are recorded
with one INSERT ... ON CONFLICT DO NOTHING (the runs already there belong to a crashed batch's
twin and are not run again), then the new runs' effects are written: the group's messages with
one outbox statement, tags, fields and tasks through their services. A survey step invites
each customer of the group through the surveys' invitations (a personal link each).
"""

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import BigInteger, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from crm_web.accounts.models import Organization
from crm_web.activities import services as activities
from crm_web.automations import definition, messages
from crm_web.automations.models import Automation
from crm_web.campaigns import library
from crm_web.customers.models import Customer, display_name
from crm_web.db import current_organization_id
from crm_web.errors import ServiceError
from crm_web.extensions import db
from crm_web.i18n import supported
from crm_web.outbox import services as outbox
from crm_web.surveys import invitations
from crm_web.timezones import zone


def organization() -> Organization:
    return db.session.get(Organization, current_organization_id())


def _ids(name: str, values) -> object:
    """`name` bound as a bigint array (one parameter, however many ids)."""
    return bindparam(name, sorted(set(values)), type_=ARRAY(BigInteger))


# What the steps read of a customer: a batch reads a thousand, as plain rows (the steps that
# change a customer load the model, so the change is audited like any other).
_CUSTOMER_COLUMNS = sorted(
    {"id", "customer_type", "company_name", "first_name", "last_name", "primary_email",
     "primary_phone", "is_active", "do_not_contact", "email_opt_in", "sms_opt_in", "language",
     "timezone", "tags", "owner_id", *definition.FIELDS}
)  # fmt: skip


@dataclass
class Tick:
    """What a batch reads once: the clock, the organization, the journeys and customers of its
    enrollments, and (as they are first asked for) the journeys' step order and the email
    templates' current versions."""

    now: dt.datetime
    organization: Organization
    automations: dict[int, Automation]
    customers: dict[int, SimpleNamespace]
    _following: dict[int, dict] = field(default_factory=dict)
    _versions: dict[int, int | None] = field(default_factory=dict)

    @classmethod
    def load(cls, now: dt.datetime, automations: dict[int, Automation], walkers: list) -> "Tick":
        org = current_organization_id()
        customers = db.session.execute(
            select(*(getattr(Customer, column) for column in _CUSTOMER_COLUMNS)).where(
                Customer.organization_id == org,
                Customer.id == any_(_ids("c", (w.customer_id for w in walkers))),
            )
        )
        return cls(
            now,
            organization(),
            automations,
            {row.id: SimpleNamespace(**row._mapping) for row in customers},
        )

    def zone(self, customer: SimpleNamespace) -> ZoneInfo:
        """The customer's timezone, else the organization's."""
        return zone(customer.timezone or self.organization.timezone)

    def following(self, automation: Automation) -> dict[str, str | None]:
        if automation.id not in self._following:
            self._following[automation.id] = definition.successors(automation.steps)
        return self._following[automation.id]

    def version(self, template_id: int) -> int | None:
        """The template's current version, None for a template deleted since."""
        if template_id not in self._versions:
            try:
                version = library.current_version(library.get_template(template_id))
            except ServiceError:
                version = None
            self._versions[template_id] = version.id if version is not None else None
        return self._versions[template_id]


@dataclass
class Plan:
    """Per enrollment id: the outcome its run is recorded with, and what its run does (the
    message to write, the branch's next step)."""

    outcomes: dict[int, str] = field(default_factory=dict)
    effects: dict[int, object] = field(default_factory=dict)


def prepare(step: dict, group: list, tick: Tick) -> Plan:
    """What the step will do for each enrollment of the group (reads only)."""
    plan = Plan()
    kind = step["type"]
    if kind in ("email", "sms", "survey"):
        # A survey step invites no one while its survey takes no responses (closed, full).
        inviting = kind != "survey" or invitations.open_survey(step["survey_id"]) is not None
        for walker in group:
            message = inviting and _message(step, tick.customers[walker.customer_id], tick)
            plan.outcomes[walker.id] = "sent" if message else "skipped"
            plan.effects[walker.id] = message
    elif kind == "branch":
        holds = conditions_hold(step, group, tick)
        for walker in group:
            answer = walker.id in holds
            plan.outcomes[walker.id] = "yes" if answer else "no"
            arm = step.get("yes" if answer else "no") or []
            plan.effects[walker.id] = arm[0]["id"] if arm else None
    elif kind == "task":
        for walker in group:
            has_owner = tick.customers[walker.customer_id].owner_id is not None
            plan.outcomes[walker.id] = "done" if has_owner else "skipped"
    return plan


_RECORD = """
INSERT INTO automation_step_runs (organization_id, automation_id, enrollment_id, step_id,
                                  step_type, outcome, ran_at)
SELECT :org, :automation, v.enrollment_id, :step, :type, v.outcome, :now
  FROM unnest(CAST(:enrollments AS bigint[]), CAST(:outcomes AS text[])) AS v (enrollment_id, outcome)
ON CONFLICT (organization_id, enrollment_id, step_id) DO NOTHING
RETURNING enrollment_id, id
"""


def record(automation: Automation, step: dict, group: list, plan: Plan, tick: Tick) -> dict:
    """The group's runs of the step, one statement: {enrollment id: run id} for the runs
    written now (an enrollment that has already run the step is left out)."""
    rows = db.session.execute(
        text(_RECORD),
        {
            "org": automation.organization_id,
            "automation": automation.id,
            "step": step["id"],
            "type": step["type"],
            "now": tick.now,
            "enrollments": [walker.id for walker in group],
            "outcomes": [plan.outcomes.get(walker.id, "done") for walker in group],
        },
    )
    return {enrollment_id: run_id for enrollment_id, run_id in rows}


def execute(step: dict, fresh: list, runs: dict, plan: Plan, tick: Tick) -> dict:
    """The effects of the runs just recorded; {enrollment id: next step id} where a branch
    chose its arm."""
    kind = step["type"]
    if kind in ("email", "sms"):
        _queue([w for w in fresh if plan.effects[w.id]], runs, plan)
    elif kind == "survey":
        invitees = [
            (plan.effects[walker.id][1], f"automation:{runs[walker.id]}")
            for walker in fresh
            if plan.effects[walker.id]
        ]
        invitations.send(step["survey_id"], invitees, step["channel"])
    elif kind == "branch":
        return {walker.id: plan.effects[walker.id] for walker in fresh}
    elif kind in ("tag", "field"):
        models = db.session.scalars(
            select(Customer).where(
                Customer.organization_id == current_organization_id(),
                Customer.id == any_(_ids("c", (w.customer_id for w in fresh))),
            )
        )
        for customer in models:
            _change(step, customer)
            # Later steps of this batch (a branch on the tag, the goal) read the change.
            column = step["field"] if kind == "field" else "tags"
            setattr(tick.customers[customer.id], column, getattr(customer, column))
    elif kind == "task":
        for walker in fresh:
            if plan.outcomes[walker.id] == "done":
                _task(step, tick.customers[walker.customer_id], tick.now)
    return {}


# -- messages -----------------------------------------------------------------------------


def _message(step: dict, customer: SimpleNamespace, tick: Tick) -> tuple | None:
    """(kind, recipient, context) of the step's message to the customer, None when they do
    not agree to it or cannot get it."""
    channel = step["channel"] if step["type"] == "survey" else step["type"]
    email = channel == "email"
    address = customer.primary_email if email else customer.primary_phone
    if not customer.is_active or customer.do_not_contact or not address:
        return None
    if not (customer.email_opt_in if email else customer.sms_opt_in):
        return None
    name = display_name(
        customer.customer_type, customer.company_name, customer.first_name, customer.last_name
    )
    recipient = outbox.Recipient(address, name, customer_id=customer.id, language=customer.language)
    if step["type"] == "survey":
        return "survey", recipient, {}  # the invitation writes its own message
    if not email:
        return messages.sms_kind(step["template"]), recipient, {}
    version = tick.version(_template_for(step, customer, tick.organization))
    if version is None:
        return None
    return messages.EMAIL_KIND, recipient, {"version_id": version}


def _template_for(step: dict, customer: SimpleNamespace, organization: Organization) -> int:
    """The email step's template in the customer's language (theirs, else the organization's),
    or its template for everyone. The outbox renders the message in that same language."""
    by_language = step.get("languages") or {}
    if not by_language:
        return step["template_id"]
    language = supported(customer.language) or supported(organization.locale)
    return by_language.get(language) or step["template_id"]


def _queue(sending: list, runs: dict, plan: Plan) -> None:
    """The group's messages, written to the outbox with one statement (each keyed by its run,
    so it is written once, and naming its run as its source); each enrollment keeps its last
    message's run."""
    if not sending:
        return
    items = []
    for walker in sending:
        kind, recipient, context = plan.effects[walker.id]
        run_id = runs[walker.id]
        items.append(
            outbox.Item(kind, recipient, run_id, context, dedupe_key=f"automation:{run_id}")
        )
        walker.last_message_run_id = run_id
    outbox.queue_many(items)


# -- conditions and goals -----------------------------------------------------------------


def _in_segment(segment_id, customer_ids) -> set[int]:
    """Which of these customers are in the segment now."""
    return set(
        db.session.scalars(
            text(
                "SELECT customer_id FROM segment_members WHERE organization_id = :org "
                "AND segment_id = :segment AND customer_id = ANY(CAST(:customers AS bigint[])) "
                "AND left_at IS NULL"
            ),
            {
                "org": current_organization_id(),
                "segment": segment_id,
                "customers": sorted(set(customer_ids)),
            },
        )
    )


def _previous_runs(group: list) -> dict:
    """The last message run of each enrollment that has one: {run id: (opened_at, clicked_at)}."""
    wanted = sorted({w.last_message_run_id for w in group} - {None})
    if not wanted:
        return {}
    rows = db.session.execute(
        text(
            "SELECT id, opened_at, clicked_at FROM automation_step_runs "
            "WHERE organization_id = :org AND id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"org": current_organization_id(), "ids": wanted},
    )
    return {row.id: row for row in rows}


def conditions_hold(step: dict, group: list, tick: Tick) -> set[int]:
    """The enrollments of the group for which the branch's condition holds now."""
    condition = step.get("condition")
    customers = tick.customers
    if condition in ("opened", "clicked"):
        previous = _previous_runs(group)
        holds = set()
        for walker in group:
            run = previous.get(walker.last_message_run_id)
            # A click without the pixel loading (images off) still shows the email was opened.
            if run is not None and (
                run.clicked_at is not None or (condition == "opened" and run.opened_at is not None)
            ):
                holds.add(walker.id)
        return holds
    if condition == "segment":
        members = _in_segment(step.get("segment_id"), (w.customer_id for w in group))
        return {w.id for w in group if w.customer_id in members}
    if condition == "tag":
        return {w.id for w in group if step.get("tag") in (customers[w.customer_id].tags or [])}
    if condition == "field":
        wanted = step.get("value", "")
        equals = step.get("operator") == "equals"
        return {
            w.id
            for w in group
            if (str(getattr(customers[w.customer_id], step["field"]) or "") == wanted) == equals
        }
    return set()


_PURCHASED = """
SELECT DISTINCT w.id
  FROM unnest(CAST(:ids AS bigint[]), CAST(:customers AS bigint[]),
              CAST(:since AS timestamptz[])) AS w (id, customer_id, since)
 WHERE EXISTS (SELECT 1 FROM orders o
                WHERE o.organization_id = :org AND o.customer_id = w.customer_id
                  AND o.ordered_at >= w.since AND o.status NOT IN ('cancelled'))
"""


def goal_reached(goal: dict, group: list, tick: Tick) -> set[int]:
    """The enrollments of the group whose customers reached the journey's goal since they
    enrolled."""
    kind = goal.get("kind")
    if kind == "purchase":
        return set(
            db.session.scalars(
                text(_PURCHASED),
                {
                    "org": current_organization_id(),
                    "ids": [w.id for w in group],
                    "customers": [w.customer_id for w in group],
                    "since": [w.enrolled_at for w in group],
                },
            )
        )
    if kind == "tag":
        tag = goal.get("tag")
        return {w.id for w in group if tag in (tick.customers[w.customer_id].tags or [])}
    if kind == "segment":
        members = _in_segment(goal.get("segment_id"), (w.customer_id for w in group))
        return {w.id for w in group if w.customer_id in members}
    return set()


# -- changes to the customer ----------------------------------------------------------------


def _change(step: dict, customer: Customer) -> None:
    """A tag added or removed, or a field set (audited like any change to the customer)."""
    if step["type"] == "field":
        setattr(customer, step["field"], step["value"])
        return
    tags = list(customer.tags or [])
    if step["action"] == "add" and step["tag"] not in tags:
        customer.tags = [*tags, step["tag"]]
    elif step["action"] == "remove" and step["tag"] in tags:
        customer.tags = [tag for tag in tags if tag != step["tag"]]


def _task(step: dict, customer: SimpleNamespace, now: dt.datetime) -> None:
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
