"""Error responses: JSON under /api/, a page for browsers, an alert for HTMX swaps."""

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from crm_web.errors import ServiceError
from crm_web.rendering import is_htmx, render


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, title: str, message: str, fields: dict | None = None):
    """The one shape every error takes, chosen by who asked."""
    if wants_json():
        response = jsonify({"error": message, "fields": fields or {}})
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
            details.append(f"{name.replace('_', ' ').capitalize()}: {text}")
    return details


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code < 400:
            return exc
        message = exc.description or exc.name
        response = error_response(exc.code or 500, exc.name, message)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        titles = {
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            422: "Please check your input",
            429: "Slow down",
        }
        response = error_response(
            exc.status, titles.get(exc.status, "Bad Request"), exc.message, exc.fields
        )
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        from crm_web.extensions import db

        db.session.rollback()
        return error_response(
            500, InternalServerError.name, "Something went wrong on our side; it has been logged."
        )
