"""Signed cookie sessions, sign-in checks, and the security headers every response carries."""

import re

from flask import current_app, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from crm_web.rendering import request_header

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)

# A public form any site may frame (the lead and support forms): they hold no one's session.
EMBEDDABLE_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "frame-ancestors 'none'", "frame-ancestors *"
)


def embeddable(response):
    """Let any site show this response in a frame (a public form that sets no cookie)."""
    response.headers["Content-Security-Policy"] = EMBEDDABLE_CONTENT_SECURITY_POLICY
    return response


class CookieSessionInterface(SecureCookieSessionInterface):
    """Sessions in a cookie signed with SECRET_KEY (itsdangerous), as Flask keeps them.

    Whether a sign-in still holds is PostgreSQL's to say (the user_sessions row the cookie
    names, see accounts.services.load_user), never Redis's: losing or restarting Redis signs
    nobody out and takes no page down.
    """

    def open_session(self, app, request):
        # The API is sessionless: a cookie must never authenticate a CSRF-exempt endpoint.
        if request.path.startswith("/api/"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith("/api/"):
            return
        super().save_session(app, session, response)


# Browsers drop tabs and line breaks anywhere in a URL before they parse it.
_URL_IGNORED = re.compile(r"[\t\r\n]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_redirect_target(target: str | None, default: str) -> str:
    """`target` when it is a path on this site, as the browser will read it; else `default`."""
    path = _URL_IGNORED.sub("", target or "").replace("\\", "/")
    # A browser reads a backslash as a slash, so `/\evil` and `\/evil` mean `//evil`: another
    # host. Other control characters have no place in a path we link to ourselves.
    if not path.startswith("/") or path.startswith("//") or _CONTROL.search(path):
        return default
    return path


def public(view):
    """Mark a view as reachable without signing in."""
    view.is_public = True
    return view


def require_login():
    """Before every request: scope it to the signed-in user's organization; anonymous users may
    only reach views marked public."""
    from crm_web.db import Tenant, current_tenant, set_tenant

    if request.endpoint == "static":
        return None
    if current_user.is_authenticated:
        # The user loader has scoped the request; a user cached by login_user may not have.
        tenant = Tenant(current_user.organization_id, current_user.id)
        if current_tenant() != tenant:
            set_tenant(tenant.organization_id, tenant.user_id)
        return None
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if "api" in request.blueprints or view is None or getattr(view, "is_public", False):
        return None
    if request_header("HX-Request") == "true":
        response = current_app.make_response(("", 401))
        response.headers["HX-Redirect"] = url_for("accounts.login")
        return response
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


# Every response's security headers, unless the view set its own.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def add_security_headers(response):
    # One pass over the response's headers (a lookup of each that is missing costs Werkzeug an
    # exception).
    present = {name.lower(): value for name, value in response.headers.items()}
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            response.headers.add(name, value)
    policy = present.get("content-security-policy", CONTENT_SECURITY_POLICY)
    # A page that sets its own frame-ancestors (the embeddable lead form) decides who may frame it.
    if "frame-ancestors 'none'" in policy and "x-frame-options" not in present:
        response.headers.add("X-Frame-Options", "DENY")
    if current_app.config["SESSION_COOKIE_SECURE"] and HSTS[0].lower() not in present:
        response.headers.add(*HSTS)
    return response
