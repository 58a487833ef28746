"""Errors that services raise and every front end (pages, API, CLI) turns into a clear message.

Messages are marked for translation and translated when raised, in the language of whoever
will read them (the request's, crm_web.i18n).
"""

from flask_babel import gettext as _


class ServiceError(Exception):
    """A request the rules refuse; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationError(ServiceError):
    status = 422


def invalid(fields: dict[str, str]) -> ValidationError:
    """The ValidationError for `fields` (name → what is wrong), ready to raise: the one sentence
    above a form (or in an API answer) whose fields say what is wrong."""
    return ValidationError(_("Please correct the highlighted fields."), fields)


def check_fields(errors: dict[str, str]) -> None:
    """Raise `invalid(errors)` when the errors collected so far name any field."""
    if errors:
        raise invalid(errors)


class Unauthorized(ServiceError):
    status = 401


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PermissionDenied(ServiceError):
    status = 403


class Throttled(ServiceError):
    """Too many attempts; `retry_after` is how many seconds to wait, when known."""

    status = 429

    def __init__(self, message: str, fields: dict[str, str] | None = None, *, retry_after=None):
        super().__init__(message, fields)
        self.retry_after: int | None = retry_after
