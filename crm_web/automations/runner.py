"""The scheduler's work for one organization: enroll whoever the active journeys' triggers name,
then advance the enrollments that are due, a batch at a time and set-based.

Crash-safe and idempotent: a batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED on the
indexed next-run time (a second scheduler takes other rows) and committed whole, so a batch lost
to a crash rolls back with its messages (only written to the outbox, which sends after the
commit). Each step run is a row unique per (enrollment, step): a step is never run twice.

Within a batch the enrollments move together: those at the same step of the same journey form
a group, and a group's step runs, messages and answers are written and read with a statement or
two whatever its size (see steps.py). An enrollment runs its steps until a wait puts it to sleep
or it ends; the whole batch's moves are written back with one UPDATE.
"""

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from crm_web.automations import definition, steps, triggers
from crm_web.automations.models import Automation
from crm_web.db import current_organization_id
from crm_web.extensions import db

log = logging.getLogger("crm.automations")

BATCH = 1000
# Steps one enrollment may run in one go (a journey without waits ends well within it).
MAX_STEPS_AT_ONCE = 60


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(now: dt.datetime | None = None, *, batch: int = BATCH) -> dict[str, int]:
    """Enroll, then advance every due enrollment of the current organization; one log line."""
    now = now or _now()
    organization_id = current_organization_id()
    enrolled = 0
    automations = db.session.scalars(
        select(Automation).where(
            Automation.organization_id == organization_id, Automation.status == "active"
        )
    ).all()
    if automations:
        timezone = steps.organization().timezone
        for automation in automations:
            enrolled += triggers.enroll(automation, now, timezone)
    db.session.commit()
    advanced = ran = 0
    while True:
        done, batch_ran = advance_batch(now, batch)
        db.session.commit()
        advanced += done
        ran += batch_ran
        if done < batch:
            break
    log.info(
        "automations run org=%s enrolled=%d advanced=%d steps=%d",
        organization_id,
        enrolled,
        advanced,
        ran,
    )
    return {"enrolled": enrolled, "advanced": advanced, "steps": ran}


@dataclasses.dataclass
class Walker:
    """A claimed enrollment as the batch moves it (written back at the end of the batch)."""

    id: int
    automation_id: int
    customer_id: int
    step_id: str | None
    next_run_at: dt.datetime | None
    state: str
    exited_reason: str
    goal_reached: bool
    last_message_run_id: int | None
    enrolled_at: dt.datetime
    finished_at: dt.datetime | None
    # Steps run in this batch, and whether it goes on to its next step now.
    ran: int = 0
    awake: bool = True

    def finish(self, now: dt.datetime, state: str, reason: str = "") -> None:
        self.state, self.exited_reason, self.finished_at = state, reason, now
        self.step_id = self.next_run_at = None
        self.awake = False

    def move(self, step_id: str | None, now: dt.datetime, wake: dt.datetime | None = None) -> None:
        """On to `step_id` (None: the journey is done), now or, after a wait, at `wake`."""
        if step_id is None:
            self.finish(now, "completed")
            return
        self.step_id, self.next_run_at = step_id, wake or now
        self.awake = wake is None


_COLUMNS = [
    field.name for field in dataclasses.fields(Walker) if field.name not in ("ran", "awake")
]

# The active journeys' ids are given, not joined: the planner cannot tell how many due rows a
# join keeps, and sorted every due row to take the first batch; this way it walks the due index
# (next_run_at, id) and stops after `limit` rows.
_DUE = f"""
SELECT {", ".join(_COLUMNS)}
  FROM automation_enrollments
 WHERE organization_id = :org AND state = 'active' AND next_run_at <= :now
   AND automation_id = ANY(CAST(:automations AS bigint[]))
 ORDER BY next_run_at, id
 LIMIT :limit
 FOR UPDATE SKIP LOCKED
"""

# What a batch did to its enrollments, in one statement (columns as Walker's, minus the ids).
_MOVED = [c for c in _COLUMNS if c not in ("id", "automation_id", "customer_id", "enrolled_at")]
_TYPES = {"next_run_at": "timestamptz", "finished_at": "timestamptz", "goal_reached": "boolean",
          "last_message_run_id": "bigint"}  # fmt: skip
_WRITE_BACK = f"""
UPDATE automation_enrollments e
   SET {", ".join(f"{column} = v.{column}" for column in _MOVED)}
  FROM unnest(CAST(:id AS bigint[]),
              {", ".join(f"CAST(:{c} AS {_TYPES.get(c, 'text')}[])" for c in _MOVED)})
       AS v (id, {", ".join(_MOVED)})
 WHERE e.organization_id = :org AND e.id = v.id
"""


def advance_batch(now: dt.datetime, batch: int = BATCH) -> tuple[int, int]:
    """Claim up to `batch` due enrollments and run their steps (the caller commits); how many
    were claimed and how many steps ran."""
    organization_id = current_organization_id()
    automations = {
        automation.id: automation
        for automation in db.session.scalars(
            select(Automation).where(
                Automation.organization_id == organization_id, Automation.status == "active"
            )
        )
    }
    if not automations:
        return 0, 0
    walkers = [
        Walker(**row._mapping)
        for row in db.session.execute(
            text(_DUE),
            {"org": organization_id, "now": now, "limit": batch, "automations": list(automations)},
        )
    ]
    if not walkers:
        return 0, 0
    tick = steps.Tick.load(now, automations, walkers)
    ran = 0
    awake = walkers
    while awake:
        groups = defaultdict(list)
        for walker in awake:
            groups[(walker.automation_id, walker.step_id)].append(walker)
        for (automation_id, step_id), group in groups.items():
            ran += _advance_group(tick, tick.automations[automation_id], step_id, group)
        awake = [w for w in awake if w.awake and w.ran < MAX_STEPS_AT_ONCE]
    db.session.execute(
        text(_WRITE_BACK),
        {
            "org": organization_id,
            "id": [w.id for w in walkers],
            **{column: [getattr(w, column) for w in walkers] for column in _MOVED},
        },
    )
    return len(walkers), ran


def _advance_group(tick: steps.Tick, automation: Automation, step_id, group: list) -> int:
    """Run one step for a group, in a savepoint; a group that fails is run again one
    enrollment at a time, so one broken enrollment (a template since deleted) is stopped and
    does not hold up the rest."""
    before = [dataclasses.replace(walker) for walker in group]
    try:
        with db.session.begin_nested():
            return _step(tick, automation, step_id, group)
    except Exception:
        for walker, saved in zip(group, before, strict=True):
            vars(walker).update(vars(saved))
        if len(group) > 1:
            return sum(_advance_group(tick, automation, step_id, [walker]) for walker in group)
        log.exception("automation enrollment %s failed; it is stopped", group[0].id)
        group[0].finish(tick.now, "exited", "error")
        return 0


def _step(tick: steps.Tick, automation: Automation, step_id: str | None, group: list) -> int:
    now = tick.now
    if automation.goal:
        reached = steps.goal_reached(automation.goal, group, tick)
        for walker in group:
            if walker.id in reached:
                walker.goal_reached = True
                walker.finish(now, "exited", "goal")
        group = [walker for walker in group if walker.awake]
    found = definition.find(automation.steps, step_id or "")
    if found is None:
        # The step was deleted from the journey while the customers waited on it.
        for walker in group:
            walker.finish(now, "completed")
        return 0
    if not group:
        return 0
    step = found[0]
    following = tick.following(automation).get(step["id"])
    plan = steps.prepare(step, group, tick)
    runs = steps.record(automation, step, group, plan, tick)
    arms = steps.execute(step, [w for w in group if w.id in runs], runs, plan, tick)
    for walker in group:
        walker.ran += 1
        if walker.id not in runs:
            # Already run (a crashed batch's twin went first): move on as it did.
            walker.move(following, now)
        elif step["type"] == "exit":
            walker.finish(now, "exited", "exit_step")
        elif step["type"] == "wait":
            customer = tick.customers[walker.customer_id]
            walker.move(following, now, wait_until(step, now, tick.zone(customer)))
        else:
            walker.move(arms.get(walker.id) or following, now)
    return len(group)


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
