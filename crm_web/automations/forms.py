"""Reading one step's settings from the editor's form (the checks are the definition's)."""

from werkzeug.datastructures import MultiDict

# step type -> the form fields its settings come from
STEP_FIELDS = {
    "wait": ("days", "hours", "weekday", "at"),
    "email": ("template_id", "template_en", "template_tr"),
    "sms": ("template",),
    "survey": ("survey_id", "channel"),
    "branch": ("condition", "segment_id", "tag", "field", "operator", "value"),
    "tag": ("action", "tag"),
    "task": ("subject", "due_days"),
    "field": ("field", "value"),
    "exit": (),
}


def step_from_form(step: dict, form: MultiDict) -> dict:
    """The step with the posted settings (its id, type and branch lists kept)."""
    changed = dict(step)
    for name in STEP_FIELDS[step["type"]]:
        changed[name] = form.get(name, "")
    if step["type"] == "email":
        changed.pop("languages", None)  # the template_<language> fields say it now
    return changed
