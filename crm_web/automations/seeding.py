"""Demo automations: starter email templates (Turkish and English, from templates/automations/
starters/), the holiday calendar, and the starter journeys (birthday greeting, welcome series,
win-back, and the loyalty messages: welcome to the program, tier upgraded, points expiring,
reward redeemed), active, with some history written set-based."""

import datetime as dt

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import text

from crm_web.automations import ready_made, services
from crm_web.db import current_organization_id
from crm_web.extensions import db

STARTER_EMAILS = ("birthday", "welcome", "win_back", "tier_upgraded")


def journeys(language: str) -> list[dict]:
    """The starter journeys; each email step has its Turkish and English templates, `language`
    speaking to customers of neither."""
    language = "tr" if language.startswith("tr") else "en"
    emails = {name: ready_made.starter_emails(name) for name in STARTER_EMAILS}

    def email(name: str) -> dict:
        return {"type": "email", "template_id": emails[name][language], "languages": emails[name]}

    return [
        {
            "name": _("Birthday greeting"),
            "trigger_kind": "birthday",
            "steps": [
                email("birthday"),
                {"type": "sms", "template": "birthday"},
            ],
        },
        {
            "name": _("Welcome series"),
            "trigger_kind": "customer_created",
            "goal": {"kind": "purchase"},
            "steps": [
                email("welcome"),
                {"type": "wait", "days": 3, "at": "10:00"},
                {
                    "type": "branch",
                    "condition": "opened",
                    "yes": [{"type": "tag", "action": "add", "tag": "engaged"}],
                    "no": [{"type": "sms", "template": "welcome"}],
                },
            ],
        },
        {
            "name": _("Win-back after 90 days"),
            "trigger_kind": "no_purchase",
            "trigger_config": {"days": 90},
            "goal": {"kind": "purchase"},
            "steps": [
                email("win_back"),
                {"type": "wait", "days": 7},
                {"type": "task", "subject": "Call to win the customer back", "due_days": 2},
            ],
        },
        {
            "name": _("Loyalty tier upgrade"),
            "trigger_kind": "tier_upgraded",
            "steps": [
                email("tier_upgraded"),
                {"type": "sms", "template": "tier_upgraded"},
            ],
        },
        {
            "name": _("Welcome to the loyalty program"),
            "trigger_kind": "loyalty_joined",
            "steps": [{"type": "sms", "template": "loyalty_welcome"}],
        },
        {
            "name": _("Points expiring in 30 days"),
            "trigger_kind": "points_expiring",
            "steps": [{"type": "sms", "template": "points_expiring"}],
        },
        {
            "name": _("Reward redeemed"),
            "trigger_kind": "reward_redeemed",
            "steps": [{"type": "sms", "template": "reward_redeemed"}],
        },
    ]


# Past journeys for some customers: completed enrollments, with their message steps' runs
# sent and, deterministically, some opened and clicked.
_HISTORY_ENROLLMENTS = """
INSERT INTO automation_enrollments (organization_id, automation_id, customer_id, occurrence,
                                    step_id, next_run_at, state, exited_reason, goal_reached,
                                    enrolled_at, finished_at)
SELECT c.organization_id, :automation, c.id, 'demo', NULL, NULL,
       CASE WHEN c.id % 5 = 0 THEN 'exited' ELSE 'completed' END,
       CASE WHEN c.id % 5 = 0 THEN 'goal' ELSE '' END, c.id % 5 = 0,
       :now - make_interval(days => 10 + (c.id % 60)::int),
       :now - make_interval(days => (c.id % 10)::int)
  FROM customers c
 WHERE c.organization_id = :org AND c.is_active AND abs(hashtext(c.id::text || :salt)) % 100 < 8
ON CONFLICT DO NOTHING
"""
_HISTORY_RUNS = """
INSERT INTO automation_step_runs (organization_id, automation_id, enrollment_id, step_id,
                                  step_type, outcome, ran_at, opened_at, clicked_at)
SELECT e.organization_id, e.automation_id, e.id, :step, CAST(:type AS varchar), 'sent', e.enrolled_at,
       CASE WHEN CAST(:type AS varchar) = 'email' AND e.id % 100 < 45 THEN e.enrolled_at + interval '3 hours' END,
       CASE WHEN CAST(:type AS varchar) = 'email' AND e.id % 100 < 12 THEN e.enrolled_at + interval '4 hours' END
  FROM automation_enrollments e
 WHERE e.organization_id = :org AND e.automation_id = :automation AND e.occurrence = 'demo'
ON CONFLICT DO NOTHING
"""


def seed_automations(language: str = "en", now: dt.datetime | None = None) -> int:
    """Starter journeys, active, with history; how many were made (none if any exist)."""
    if services.list_automations(limit=1).items:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    services.prefill_holidays(services.DEFAULT_COUNTRY)
    made = 0
    # The starters are named in the organization's language, like its other set-up rows.
    with force_locale("tr" if language.startswith("tr") else "en"):
        starters = journeys(language)
    for data in starters:
        automation = services.create_automation(data)
        services.activate(automation.id)
        made += 1
        if data["trigger_kind"] in ("birthday", "customer_created", "no_purchase"):
            params = {"org": current_organization_id(), "automation": automation.id, "now": now}
            db.session.execute(text(_HISTORY_ENROLLMENTS), {**params, "salt": automation.name})
            for step in automation.steps:
                if step["type"] in ("email", "sms"):
                    db.session.execute(
                        text(_HISTORY_RUNS), {**params, "step": step["id"], "type": step["type"]}
                    )
    return made
