"""What a journey is made of: the triggers, steps, branch conditions and goals it may use, how a
definition is checked (field-level messages, keyed like `steps.2.yes.0.days`), and how the step
tree is walked."""

import datetime as dt
import uuid
from collections.abc import Hashable, Iterator

from flask_babel import lazy_gettext as _l

from crm_web.i18n import LANGUAGES

# trigger -> (label, group, default re-entry)
TRIGGERS = {
    "birthday": (_l("Birthday"), "date", "yearly"),
    "anniversary": (_l("Anniversary of a customer date"), "date", "yearly"),
    "holiday": (_l("Holiday from the calendar"), "date", "every"),
    "fixed_date": (_l("A fixed date"), "date", "once"),
    "no_contact": (_l("No contact for N days"), "date", "every"),
    "no_purchase": (_l("No purchase for N days"), "date", "every"),
    "no_open": (_l("Opened no email for N days"), "date", "every"),
    "customer_created": (_l("Customer created"), "event", "once"),
    "lead_converted": (_l("Lead converted"), "event", "once"),
    "tag_added": (_l("Tag added"), "event", "every"),
    "segment_entered": (_l("Entered a segment"), "event", "every"),
    "segment_left": (_l("Left a segment"), "event", "every"),
    "deal_won": (_l("Deal won"), "event", "every"),
    "ticket_resolved": (_l("Ticket resolved"), "event", "every"),
    "campaign_clicked": (_l("Clicked a campaign"), "event", "every"),
    "loyalty_joined": (_l("Joined the loyalty program"), "event", "once"),
    "tier_upgraded": (_l("Loyalty tier upgraded"), "event", "every"),
    "points_expiring": (_l("Points expiring in 30 days"), "event", "every"),
    "reward_redeemed": (_l("Reward redeemed"), "event", "every"),
    "survey_completed": (_l("Survey completed"), "event", "every"),
    "nps_detractor": (_l("Gave an NPS of 6 or less (detractor)"), "event", "every"),
}
# Triggers that may name one survey (none: any survey).
SURVEY_TRIGGERS = ("survey_completed", "nps_detractor")
# How a "send survey" step invites: by email or by SMS.
SURVEY_CHANNELS = {"email": _l("Email"), "sms": _l("SMS")}
REENTRY = {
    "once": _l("Once ever"),
    "yearly": _l("Once a year"),
    "every": _l("Every time"),
}
# Where a 29 February date falls in other years (birthday and anniversary triggers).
LEAP_DAYS = {"feb28": _l("On 28 February"), "mar1": _l("On 1 March")}
ANNIVERSARY_FIELDS = {"customer_since": _l("Customer since"), "first_order": _l("First order")}

STEPS = {
    "wait": _l("Wait"),
    "email": _l("Send email"),
    "sms": _l("Send SMS"),
    "branch": _l("Branch"),
    "tag": _l("Add or remove a tag"),
    "survey": _l("Send a survey"),
    "task": _l("Create a task for the owner"),
    "field": _l("Update a field"),
    "exit": _l("Exit"),
}
CONDITIONS = {
    "opened": _l("Opened the previous message"),
    "clicked": _l("Clicked the previous message"),
    "segment": _l("Is in a segment"),
    "tag": _l("Has a tag"),
    "field": _l("Field condition"),
}
GOALS = {
    "": _l("No goal"),
    "purchase": _l("Made a purchase"),
    "tag": _l("Has a tag"),
    "segment": _l("Entered a segment"),
}
WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
# Customer fields a step may set or a branch may test (plain text columns).
FIELDS = {
    "lifecycle_stage": _l("Lifecycle stage"),
    "lead_source": _l("Lead source"),
    "industry": _l("Industry"),
    "city": _l("City"),
    "language": _l("Language"),
}
FIELD_OPERATORS = {"equals": _l("equals"), "not_equals": _l("does not equal")}
MAX_STEPS = 50


def new_step_id() -> str:
    return uuid.uuid4().hex[:8]


def default_step(step_type: str) -> dict:
    """A new step of `step_type` with its defaults."""
    step = {"id": new_step_id(), "type": step_type}
    defaults = {
        "wait": {"days": 1, "hours": 0, "weekday": None, "at": ""},
        # template_id speaks to everyone; `languages` may name one per language (tr, en).
        "email": {"template_id": None, "languages": {}},
        "sms": {"template": ""},
        "survey": {"survey_id": None, "channel": "email"},
        "branch": {"condition": "opened", "yes": [], "no": []},
        "tag": {"action": "add", "tag": ""},
        "task": {"subject": "", "due_days": 1},
        "field": {"field": "lifecycle_stage", "value": ""},
        "exit": {},
    }
    step.update(defaults[step_type])
    return step


def walk(steps: list, prefix: str = "steps") -> Iterator[tuple[str, dict, list, int]]:
    """Every step in order, with its error key, its list and its place in that list."""
    for index, step in enumerate(steps):
        yield f"{prefix}.{index}", step, steps, index
        if step.get("type") == "branch":
            yield from walk(step.get("yes") or [], f"{prefix}.{index}.yes")
            yield from walk(step.get("no") or [], f"{prefix}.{index}.no")


def find(steps: list, step_id: str) -> tuple[dict, list, int] | None:
    """The step with this id, its list and place."""
    for _key, step, siblings, index in walk(steps):
        if step.get("id") == step_id:
            return step, siblings, index
    return None


def first_id(steps: list) -> str | None:
    return steps[0]["id"] if steps else None


def successors(steps: list, after: str | None = None) -> dict[str, str | None]:
    """For each step id, the step that follows it when it does not branch: its next sibling,
    or, at the end of a branch's list, the step after that branch (None: the journey ends)."""
    out: dict[str, str | None] = {}
    for index, step in enumerate(steps):
        following = steps[index + 1]["id"] if index + 1 < len(steps) else after
        out[step["id"]] = following
        if step.get("type") == "branch":
            out.update(successors(step.get("yes") or [], following))
            out.update(successors(step.get("no") or [], following))
    return out


def _known(value, vocabulary) -> bool:
    """Whether `value` is one of `vocabulary`'s: a list or an object from a JSON body never is
    (and cannot even be looked up)."""
    return isinstance(value, Hashable) and value in vocabulary


def _int(value, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def clean_steps(
    steps,
    errors: dict[str, str],
    *,
    templates: set[int],
    sms: set[str],
    segments: set[int],
    surveys: set[int] = frozenset(),
    prefix: str = "steps",
) -> list:
    """The steps as stored; what is wrong goes into `errors` by key."""  # fmt: skip
    if not isinstance(steps, list):
        errors[prefix] = str(_l("Give the steps as a list."))
        return []
    clean = []
    for index, raw in enumerate(steps):
        key = f"{prefix}.{index}"
        if not isinstance(raw, dict) or not _known(raw.get("type"), STEPS):
            errors[f"{key}.type"] = str(_l("Choose a kind of step."))
            continue
        step = default_step(raw["type"])
        if isinstance(raw.get("id"), str) and 0 < len(raw["id"]) <= 16:
            step["id"] = raw["id"]
        kind = raw["type"]
        if kind == "wait":
            step["days"] = _int(raw.get("days") or 0, 0, 365)
            step["hours"] = _int(raw.get("hours") or 0, 0, 23)
            weekday = raw.get("weekday")
            step["weekday"] = None if weekday in (None, "") else _int(weekday, 0, 6)
            step["at"] = str(raw.get("at") or "").strip()
            if step["days"] is None:
                errors[f"{key}.days"] = str(_l("Give whole days from 0 to 365."))
            if step["hours"] is None:
                errors[f"{key}.hours"] = str(_l("Give hours from 0 to 23."))
            if weekday not in (None, "") and step["weekday"] is None:
                errors[f"{key}.weekday"] = str(_l("Choose a day of the week."))
            if step["at"]:
                try:
                    dt.time.fromisoformat(step["at"])
                except ValueError:
                    errors[f"{key}.at"] = str(_l("Give a time like 09:30."))
            if not (step["days"] or step["hours"] or step["at"] or step["weekday"] is not None):
                errors.setdefault(f"{key}.days", str(_l("Wait at least an hour, or until a time.")))
        elif kind == "email":
            step["template_id"] = _int(raw.get("template_id"), 1, 2**62)
            if not _known(step["template_id"], templates):
                errors[f"{key}.template_id"] = str(_l("Choose an email template."))
            step["languages"] = _clean_languages(raw, key, errors, templates)
        elif kind == "sms":
            step["template"] = str(raw.get("template") or "")
            if not _known(step["template"], sms):
                errors[f"{key}.template"] = str(_l("Choose an SMS template."))
        elif kind == "survey":
            step["survey_id"] = _int(raw.get("survey_id"), 1, 2**62)
            step["channel"] = raw.get("channel") or "email"
            if not _known(step["survey_id"], surveys):
                errors[f"{key}.survey_id"] = str(_l("Choose a survey that takes responses."))
            if not _known(step["channel"], SURVEY_CHANNELS):
                errors[f"{key}.channel"] = str(_l("Choose email or SMS."))
        elif kind == "branch":
            step.update(_clean_condition(raw, key, errors, segments))
            for arm in ("yes", "no"):
                step[arm] = clean_steps(
                    raw.get(arm) or [], errors, templates=templates, sms=sms, segments=segments,
                    surveys=surveys, prefix=f"{key}.{arm}",
                )  # fmt: skip
        elif kind == "tag":
            step["action"] = raw.get("action") if raw.get("action") in ("add", "remove") else None
            step["tag"] = str(raw.get("tag") or "").strip()[:50]
            if step["action"] is None:
                errors[f"{key}.action"] = str(_l("Choose add or remove."))
            if not step["tag"]:
                errors[f"{key}.tag"] = str(_l("Give the tag."))
        elif kind == "task":
            step["subject"] = str(raw.get("subject") or "").strip()[:200]
            step["due_days"] = _int(raw.get("due_days") or 0, 0, 365)
            if not step["subject"]:
                errors[f"{key}.subject"] = str(_l("Give the task a subject."))
            if step["due_days"] is None:
                errors[f"{key}.due_days"] = str(_l("Give whole days from 0 to 365."))
        elif kind == "field":
            step["field"] = raw.get("field") if _known(raw.get("field"), FIELDS) else None
            step["value"] = str(raw.get("value") or "").strip()[:100]
            if step["field"] is None:
                errors[f"{key}.field"] = str(_l("Choose a field."))
        clean.append(step)
    return clean


def _clean_languages(raw: dict, key: str, errors: dict, templates: set[int]) -> dict:
    """An email step's template per language: `languages` {"tr": id}, or the form's
    template_tr / template_en fields; a language left empty uses the step's template."""
    given = raw.get("languages") if isinstance(raw.get("languages"), dict) else {}
    out = {}
    for language in LANGUAGES:
        value = given.get(language, raw.get(f"template_{language}"))
        if value in (None, ""):
            continue
        out[language] = _int(value, 1, 2**62)
        if not _known(out[language], templates):
            errors[f"{key}.template_{language}"] = str(_l("Choose an email template."))
    return out


def _clean_condition(raw: dict, key: str, errors: dict, segments: set[int]) -> dict:
    condition = raw.get("condition")
    out = {"condition": condition}
    if not _known(condition, CONDITIONS):
        errors[f"{key}.condition"] = str(_l("Choose a condition."))
    elif condition == "segment":
        out["segment_id"] = _int(raw.get("segment_id"), 1, 2**62)
        if not _known(out["segment_id"], segments):
            errors[f"{key}.segment_id"] = str(_l("Choose a segment."))
    elif condition == "tag":
        out["tag"] = str(raw.get("tag") or "").strip()[:50]
        if not out["tag"]:
            errors[f"{key}.tag"] = str(_l("Give the tag."))
    elif condition == "field":
        out["field"] = raw.get("field") if _known(raw.get("field"), FIELDS) else None
        out["operator"] = (
            raw.get("operator") if _known(raw.get("operator"), FIELD_OPERATORS) else None
        )
        out["value"] = str(raw.get("value") or "").strip()[:100]
        if out["field"] is None:
            errors[f"{key}.field"] = str(_l("Choose a field."))
        if out["operator"] is None:
            errors[f"{key}.operator"] = str(_l("Choose a comparison."))
    return out


def clean_trigger(
    kind, config, errors: dict, segments: set[int], surveys: set[int] = frozenset()
) -> dict:
    """The trigger's settings as stored."""
    config = config if isinstance(config, dict) else {}
    if not _known(kind, TRIGGERS):
        errors["trigger_kind"] = str(_l("Choose a trigger."))
        return {}
    out: dict = {}
    if kind in ("birthday", "anniversary"):
        out["leap_day"] = config.get("leap_day") or "feb28"
        if not _known(out["leap_day"], LEAP_DAYS):
            errors["trigger_config.leap_day"] = str(_l("Choose 28 February or 1 March."))
    if kind == "anniversary":
        out["field"] = config.get("field", "customer_since")
        if not _known(out["field"], ANNIVERSARY_FIELDS):
            errors["trigger_config.field"] = str(_l("Choose a date field."))
    elif kind == "fixed_date":
        try:
            out["date"] = dt.date.fromisoformat(str(config.get("date") or "")).isoformat()
        except ValueError:
            errors["trigger_config.date"] = str(_l("Give a date like 2026-12-31."))
    elif kind in ("no_contact", "no_purchase", "no_open"):
        out["days"] = _int(config.get("days"), 1, 3650)
        if out["days"] is None:
            errors["trigger_config.days"] = str(_l("Give whole days from 1 to 3650."))
    elif kind == "tag_added":
        out["tag"] = str(config.get("tag") or "").strip()[:50]
        if not out["tag"]:
            errors["trigger_config.tag"] = str(_l("Give the tag."))
    elif kind in ("segment_entered", "segment_left"):
        out["segment_id"] = _int(config.get("segment_id"), 1, 2**62)
        if not _known(out["segment_id"], segments):
            errors["trigger_config.segment_id"] = str(_l("Choose a segment."))
    elif kind in SURVEY_TRIGGERS and config.get("survey_id") not in (None, ""):
        out["survey_id"] = _int(config.get("survey_id"), 1, 2**62)
        if not _known(out["survey_id"], surveys):
            errors["trigger_config.survey_id"] = str(_l("Choose a survey."))
    elif kind == "campaign_clicked" and config.get("campaign_id") not in (None, ""):
        out["campaign_id"] = _int(config.get("campaign_id"), 1, 2**62)
        if out["campaign_id"] is None:
            errors["trigger_config.campaign_id"] = str(_l("Choose a campaign."))
    return out


def clean_goal(goal, errors: dict, segments: set[int]) -> dict:
    goal = goal if isinstance(goal, dict) else {}
    kind = goal.get("kind") or ""
    if not _known(kind, GOALS):
        errors["goal.kind"] = str(_l("Choose a goal."))
        return {}
    if not kind:
        return {}
    out = {"kind": kind}
    if kind == "tag":
        out["tag"] = str(goal.get("tag") or "").strip()[:50]
        if not out["tag"]:
            errors["goal.tag"] = str(_l("Give the tag."))
    elif kind == "segment":
        out["segment_id"] = _int(goal.get("segment_id"), 1, 2**62)
        if not _known(out["segment_id"], segments):
            errors["goal.segment_id"] = str(_l("Choose a segment."))
    return out
