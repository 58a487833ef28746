"""Languages: which one a request speaks, and the message catalogs behind it.

English is the source language; Turkish is translated in `crm_web/translations/tr/`. Mark text
with `gettext as _` (Python, evaluated per request) or `lazy_gettext as _l` (module-level labels,
form fields), and with `{{ _("...") }}` / `{% trans %}` in templates. `make translations` extracts
and merges the catalogs; the compiled `.mo` files are built from the `.po` files on start, so a
fresh clone needs no extra step.

Which language: a request's is chosen by `select_locale` (the user's, the organization's, the
browser's; an API client's Accept-Language first); a public page calls `speak` (the customer's
or the browser's); a message is rendered inside `speaking` (its recipient's language and time
zone, crm_web.outbox.audience). Numbers, money and dates follow it through crm_web.formatting.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, get_translations, refresh
from flask_babel import _get_current_context as babel_context
from flask_login import current_user

from crm_web.accounts.models import Organization
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.timezones import reading_in

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("en", "tr")
DEFAULT_LANGUAGE = "en"
# As each language calls itself, for the choices on settings and profile pages.
LANGUAGE_NAMES = {"en": "English", "tr": "Türkçe"}

babel = Babel()


def supported(language: str | None) -> str | None:
    """`language` (e.g. "tr-TR", "TR") as one of LANGUAGES, or None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def select_locale() -> str:
    """The language of this request: one set for the request (a public page that speaks the
    customer's language), else the user's, else the organization's, else the browser's. An API
    client's Accept-Language comes first: it asks per request, as a program can."""
    chosen = g.get("language")
    if chosen or not has_request_context():
        return chosen or DEFAULT_LANGUAGE
    if request.path.startswith("/api/") and (asked := browser_language()):
        return asked
    if current_user and current_user.is_authenticated:
        for preference in (current_user.locale, current_user.organization.locale):
            if supported(preference):
                return supported(preference)
    return browser_language() or DEFAULT_LANGUAGE


def browser_language() -> str | None:
    """The best of LANGUAGES the browser asks for (Accept-Language), or None."""
    if not has_request_context():
        return None
    return request.accept_languages.best_match(LANGUAGES)


def switch_to(*preferences: str | None) -> None:
    """Speak the first supported of `preferences` for the rest of this request: right after a
    person changed their language, before the session's snapshot of them has caught up."""
    g.language = next(filter(None, map(supported, preferences)), DEFAULT_LANGUAGE)
    refresh()


def speak(preferred: str | None = None) -> str:
    """Make this request speak `preferred` (a customer's language) when it is supported, else
    the browser's, else the current organization's: public pages, which nobody signs in to
    (call it once the organization is the tenant). Returns the language chosen."""
    organization_id = current_organization_id()
    organization = (
        None if organization_id is None else db.session.get(Organization, organization_id)
    )
    language = (
        supported(preferred)
        or browser_language()
        or supported(organization.locale if organization else None)
        or DEFAULT_LANGUAGE
    )
    g.language = language
    refresh()  # anything translated before this point of the request was in another language
    return language


@contextmanager
def speaking(language: str | None, timezone: str | None) -> Iterator[None]:
    """Render in `language` and show times in `timezone` inside the block, whatever the request
    or worker speaks: what a message's recipient reads (crm_web.outbox.audience)."""
    with force_locale(supported(language) or DEFAULT_LANGUAGE), reading_in(timezone):
        yield


@contextmanager
def organization_language(organization_id: int | None = None) -> Iterator[None]:
    """Speak the organization's language (the current one by default) inside the block: what
    a background job writes for people to read later (a ticket's events, why a message was not
    sent), and the rows a new organization starts with (its stages, its scoring rules)."""
    organization = db.session.get(Organization, organization_id or current_organization_id())
    with force_locale(supported(organization.locale if organization else None) or DEFAULT_LANGUAGE):
        yield


def compile_catalogs(directory: Path = TRANSLATIONS) -> None:
    """Build each `.mo` whose `.po` is newer. The write is atomic: processes that start at once
    (test workers, gunicorn) never read a half-written catalog."""
    for po_path in directory.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        handle, temporary = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as mo_file:
            write_mo(mo_file, catalog)
        os.replace(temporary, mo_path)


def init_app(app: Flask) -> None:
    """Compile the catalogs and install Flask-Babel (`_` and `get_language` in templates)."""
    compile_catalogs()
    app.jinja_env.globals["get_language"] = lambda: str(get_locale() or DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(
        gettext=lambda message: _translations().ugettext(message),
        ngettext=lambda singular, plural, n: _translations().ungettext(singular, plural, n),
        pgettext=lambda context, message: _translations().upgettext(context, message),
        npgettext=lambda context, singular, plural, n: _translations().unpgettext(
            context, singular, plural, n
        ),
        newstyle=True,
    )


def _translations():
    """The catalog of the language being spoken, kept on the context for as long as that
    language is. Flask-Babel looks up the context, the locale and the domain again on every
    string, and a list of 50 rows translates about 70: a tenth of the page's CPU time.
    `force_locale` and `refresh` replace the context's locale, so the catalog is looked up
    again whenever the locale object is not the one it was kept for."""
    context = babel_context()
    if context is None:
        return get_translations()
    kept = getattr(context, "crm_translations", None)
    locale = getattr(context, "babel_locale", None)
    if kept is not None and locale is not None and kept[0] is locale:
        return kept[1]
    translations = get_translations()  # sets the context's locale when it had none
    context.crm_translations = (getattr(context, "babel_locale", None), translations)
    return translations
