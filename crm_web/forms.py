"""Form helpers shared by the domains."""

from flask_wtf import FlaskForm

from crm_web.errors import ServiceError


def show_service_error(form: FlaskForm, exc: ServiceError) -> None:
    """Put a service's field errors on the form's fields; the rest becomes a form-level error."""
    unplaced = []
    for name, message in exc.fields.items():
        field = getattr(form, name, None)
        if field is None:
            unplaced.append(message)
        else:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
    form.form_errors.extend(unplaced or ([] if exc.fields else [exc.message]))


def form_status(form: FlaskForm) -> int:
    """422 for a form shown again with errors, so HTMX and API clients can tell."""
    return 422 if form.errors or form.form_errors else 200
