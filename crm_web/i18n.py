"""Languages: which one a request speaks, and the message catalogs behind it.

English is the source language; Turkish is translated in `crm_web/translations/tr/`. Mark text
with `gettext as _` (Python, evaluated per request) or `lazy_gettext as _l` (module-level labels,
form fields), and with `{{ _("...") }}` / `{% trans %}` in templates. `make translations` extracts
and merges the catalogs; the compiled `.mo` files are built from the `.po` files on start, so a
fresh clone needs no extra step.
"""

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("en", "tr")
DEFAULT_LANGUAGE = "en"

babel = Babel()


def supported(language: str | None) -> str | None:
    """`language` (e.g. "tr-TR", "TR") as one of LANGUAGES, or None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def select_locale() -> str:
    """The language of this request: one set for the request (a public page that speaks the
    customer's language), else the user's, else the organization's, else the browser's."""
    chosen = g.get("language")
    if chosen:
        return chosen
    if current_user and current_user.is_authenticated:
        for preference in (getattr(current_user, "locale", None), current_user.organization.locale):
            if supported(preference):
                return supported(preference)
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


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
    compile_catalogs()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
