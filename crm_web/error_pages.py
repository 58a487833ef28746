"""Error responses: JSON under /api/, a page for browsers, an alert for HTMX swaps."""

from flask import Flask, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from crm_web.errors import ServiceError
from crm_web.rendering import is_htmx, render

# Werkzeug's names and descriptions of the errors pages and the API answer (in English there).
HTTP_ERRORS = {
    400: (_l("Bad Request"), _l("The request could not be understood.")),
    401: (_l("Unauthorized"), _l("Please sign in to continue.")),
    403: (_l("Forbidden"), _l("You do not have permission to do this.")),
    404: (_l("Not Found"), _l("There is nothing at this address.")),
    405: (_l("Method Not Allowed"), _l("This address does not take that method.")),
    409: (_l("Conflict"), _l("The request conflicts with the current state.")),
    413: (_l("Request Entity Too Large"), _l("What was sent is too large.")),
    415: (_l("Unsupported Media Type"), _l("Send JSON (Content-Type: application/json).")),
    422: (_l("Please check your input"), _l("Please correct the highlighted fields.")),
    429: (_l("Slow down"), _l("Too many requests; try again later.")),
    500: (_l("Internal Server Error"), _l("Something went wrong on our side; it has been logged.")),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, title: str, message: str, fields: dict | None = None):
    """The one shape every error takes, chosen by who asked."""
    message, title = str(message), str(title)
    fields = {name: str(text) for name, text in (fields or {}).items()}
    if wants_json():
        response = jsonify({"error": message, "fields": fields})
        response.status_code = status
        return response
    response = render(
        "errors/error.html",
        block="alert",
        status=status,
        code=status,
        title=title,
        message=message,
        details=_field_details(message, fields or {}),
    )
    if is_htmx():
        # Swap the alert into the page's message area instead of the element that asked.
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "afterbegin"
    return response


def _field_details(message: str, fields: dict) -> list[str]:
    """The fields' own messages, for an error no form shows beside its fields (a hand-edited
    query string, say): each distinct one once, named by its field."""
    details, seen = [], {message}
    for name, text in fields.items():
        if text not in seen:
            seen.add(text)
            details.append(
                _("%(field)s: %(problem)s", field=name.replace("_", " ").capitalize(), problem=text)
            )
    return details


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code < 400:
            return exc
        title, message = exc.name, exc.description or exc.name
        if exc.code in HTTP_ERRORS and exc.description == type(exc).description:
            # Werkzeug's own words: ours, translated. A description given on purpose stays.
            title, message = HTTP_ERRORS[exc.code]
        elif exc.code in HTTP_ERRORS:
            title = HTTP_ERRORS[exc.code][0]
        response = error_response(exc.code or 500, title, message)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        title = HTTP_ERRORS.get(exc.status, HTTP_ERRORS[400])[0]
        response = error_response(exc.status, title, exc.message, exc.fields)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        from crm_web.extensions import db

        db.session.rollback()
        return error_response(500, *HTTP_ERRORS[500])
