"""Every word a person reads is marked for translation, and the Turkish catalog keeps up.

- Templates: a checker over each template's text nodes and the attributes people read
  (placeholder, title, aria-label, alt, a submit input's value, confirmation prompts). Text
  outside `{{ }}` / `{% %}` that has letters and is not inside `{% trans %}` is unmarked. One
  test per template, so a failing file is its own test id.
- The catalog: no untranslated or fuzzy Turkish entry (tests/test_languages.py), and every
  message the sources hold is in it (extracted afresh into a temporary .pot).
- Python: flash messages, form field labels, validator messages and ValidationErrors are not
  bare string literals (an AST walk over crm_web).
"""

import ast
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
PACKAGE = ROOT / "crm_web"
TURKISH_PO = PACKAGE / "translations" / "tr" / "LC_MESSAGES" / "messages.po"

# Text with letters that is the same in every language. Each entry says why.
NOT_WORDS = {
    "CRM": "the product's name",
    "₺": "the lira sign",
    "Ctrl K": "a keyboard shortcut",
    "⌘K": "a keyboard shortcut",
    "Esc": "a keyboard key",
    "TRY": "an ISO currency code",
    "CSV": "a file format's name",
    "JSON": "a file format's name",
    "API": "the name of the programming interface",
    "SMS": "the same word in Turkish",
    "VIP": "the same word in Turkish",
    "Redis": "a program's name",
    "p90": "the 90th percentile's usual notation",
    "BANT": "the lead qualification framework's name, used as is in Turkish",
    "Authorization: Bearer crm_…": "an HTTP header, as a program sends it",
    "CUS-000001": "an example customer code",
    "ORD-000042": "an example order number",
    "LOY-000001": "an example loyalty card number",
    "me@example.com, boss@example.com": "example addresses",
    "/invite/": "a link's path",
    "/login": "a link's path",
    "/activities/": "a link's path",
    "/tickets/": "a link's path",
}
# Attributes a person reads or hears (a screen reader reads aria-label and alt).
READ_ATTRIBUTES = {
    "placeholder",
    "title",
    "aria-label",
    "alt",
    "hx-confirm",
    "data-confirm",
    "hx-prompt",
    "label",
}
# What stands for a Jinja expression and for a tag in the text the HTML parser sees: not letters.
EXPRESSION = "\ue000"
TAG = "\ue001"
# Not text to translate: code, and what a person types or copies (an embed snippet, a
# message's body as sent).
SKIPPED_ELEMENTS = {"script", "style", "textarea", "pre"}
PUNCTUATION = " \t\n·•|–—:;,.()[]"


def _words(text: str) -> list[tuple[int, str]]:
    """The pieces of `text` between expressions and tags that have letters and are not one of
    NOT_WORDS, each with the number of lines before its first letter."""
    found = []
    lines = 0
    for piece in text.replace(TAG, EXPRESSION).split(EXPRESSION):
        if any(character.isalpha() for character in piece) and (
            piece.strip(PUNCTUATION) not in NOT_WORDS
        ):
            leading = piece[: len(piece) - len(piece.lstrip())]
            found.append((lines + leading.count("\n"), " ".join(piece.split())))
        lines += piece.count("\n")
    return found


def _visible_source(source: str) -> str:
    """The template's text with every `{{ }}` and `{% %}` replaced by EXPRESSION (or a space
    between tags) and every `{% trans %}` body by EXPRESSION; comments dropped. Line numbers
    stay those of the template."""
    out: list[str] = []
    line = 1
    in_trans = False
    tag_name: str | None = None
    expecting_tag = False
    for lineno, kind, value in Environment().lex(source):
        if kind == "data":
            while line < lineno:
                out.append("\n")
                line += 1
            if in_trans:
                out.append(EXPRESSION)
                out.append("\n" * value.count("\n"))
            else:
                out.append(value)
            line += value.count("\n")
            continue
        if kind == "block_begin":
            expecting_tag = True
            continue
        if expecting_tag and kind == "name":
            tag_name = value
            expecting_tag = False
            if tag_name == "trans":
                in_trans = True
            elif tag_name == "endtrans":
                in_trans = False
            continue
        if kind == "block_end":
            out.append(TAG)
        elif kind == "variable_end":
            out.append(EXPRESSION)
    return "".join(out)


class _TextChecker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.skipping = 0

    def _check(self, text: str, where: str = "") -> None:
        for lines, words in _words(text):
            self.found.append((self.getpos()[0] + lines, f"{where}{words!r}"))

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_ELEMENTS:
            self.skipping += 1
        attributes = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            if name in READ_ATTRIBUTES or (
                name == "value"
                and tag == "input"
                and (attributes.get("type") or "").lower() in {"submit", "button", "reset"}
            ):
                self._check(value, f"<{tag} {name}=…> ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in SKIPPED_ELEMENTS:
            self.skipping -= 1

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self._check(data)


def unmarked_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each piece of text in the template at `path` that a person reads and that
    is not marked for translation."""
    visible = _visible_source(path.read_text(encoding="utf-8"))
    checker = _TextChecker()
    if path.suffix == ".html":
        checker.feed(visible)
        checker.close()
        return checker.found
    # A plain-text template (an email's text part, an SMS) is all text.
    found = []
    for number, text in enumerate(visible.splitlines(), start=1):
        found.extend((number, repr(words)) for _lines, words in _words(text))
    return found


# Content written once per language, not text to translate: each starter email is copied into an
# organization's template library in the organization's language, where marketers edit it.
PER_LANGUAGE_CONTENT = "automations/starters/"
TEMPLATE_FILES = sorted(
    path.relative_to(TEMPLATES).as_posix()
    for path in TEMPLATES.rglob("*")
    if path.suffix in {".html", ".txt"}
    and not path.relative_to(TEMPLATES).as_posix().startswith(PER_LANGUAGE_CONTENT)
)


@pytest.mark.parametrize("template", TEMPLATE_FILES)
def test_template_text_is_marked_for_translation(template):
    found = unmarked_text(TEMPLATES / template)
    assert not found, f"unmarked text in templates/{template}:\n" + "\n".join(
        f"  line {line}: {text}" for line, text in found
    )


def test_the_checker_sees_text_attributes_and_trans_blocks(tmp_path):
    sample = tmp_path / "sample.html"
    sample.write_text(
        "{% block title %}Customers{% endblock %}\n"
        '<p>{{ _("Marked") }} · {{ count }}</p>\n'
        '<input placeholder="Search" value="{{ q }}">\n'
        '<input type="submit" value="Save"><input type="hidden" name="a" value="b">\n'
        '<button hx-confirm="{{ _(\'Sure?\') }}" title="Delete">×</button>\n'
        "{# a comment with words #}<script>let words = 1;</script>\n"
        "{% trans n=count %}{{ n }} customers{% endtrans %} CRM\n"
        "<span>{{ n }} more</span>\n",
        encoding="utf-8",
    )
    assert unmarked_text(sample) == [
        (1, "'Customers'"),
        (3, "<input placeholder=…> 'Search'"),
        (4, "<input value=…> 'Save'"),
        (5, "<button title=…> 'Delete'"),
        (8, "'more'"),
    ]


def _messages(path: Path) -> set[str]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalog
        if message.id
    }


def test_the_turkish_catalog_holds_every_message_of_the_sources(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(PACKAGE / "translations" / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    missing = sorted(_messages(pot) - _messages(TURKISH_PO))
    assert not missing, "run `make translations` and translate:\n" + "\n".join(missing)


# Python: what a person reads from crm_web, as calls whose text must not be a bare literal.
# crm_web's field registries (crm_web.fields, crm_web.segments.registry) take the name first,
# then the label (crm_web.fields: the CSV header, which may stay English beside a form_label).
REGISTRY_FIELDS = {"Field", "SegmentField"}
FORM_MODULES = ("wtforms", "flask_wtf")


def _has_letters(text) -> bool:
    return isinstance(text, str) and any(character.isalpha() for character in text)


def _is_bare_text(node: ast.AST | None) -> bool:
    """A string literal with letters, an f-string with literal words, or literal text formatted
    with `%` or `.format`: text no catalog sees."""
    if isinstance(node, ast.Constant):
        return _has_letters(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and _has_letters(part.value) for part in node.values
        )
    if isinstance(node, ast.BinOp):
        return _is_bare_text(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _is_bare_text(node.func.value)
    return False


def _callee(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return ""


def unmarked_python_text(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    form_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(FORM_MODULES)
        for alias in node.names
    }
    # A registry's field under a short name (`F = Field`).
    registry_names = REGISTRY_FIELDS | {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Name)
        and node.value.id in REGISTRY_FIELDS
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        args = node.args
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        if name == "flash" and args and _is_bare_text(args[0]):
            found.append((node.lineno, "flash"))
        elif (
            name in form_names
            and name.endswith("Field")
            and ((args and _is_bare_text(args[0])) or _is_bare_text(keywords.get("label")))
        ):
            found.append((node.lineno, f"{name} label"))
        elif (
            name in registry_names
            and name not in form_names
            and ((len(args) > 1 and _is_bare_text(args[1])) or _is_bare_text(keywords.get("label")))
            # crm_web.fields keeps the label as the CSV header, in the source language, when the
            # screen has a translated form_label.
            and (keywords.get("form_label") is None or _is_bare_text(keywords["form_label"]))
        ):
            found.append((node.lineno, f"{name} label"))
        elif name == "ValidationError" and args:
            fields = args[1] if len(args) > 1 else None
            if (
                _is_bare_text(args[0])
                or (isinstance(fields, ast.Dict) and any(map(_is_bare_text, fields.values)))
                or (isinstance(fields, ast.DictComp) and _is_bare_text(fields.value))
            ):
                found.append((node.lineno, "ValidationError"))
        if name in form_names and _is_bare_text(keywords.get("message")):
            found.append((node.lineno, f"{name} message="))
    return found


PYTHON_FILES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in PACKAGE.rglob("*.py")
    if any(
        marker in path.read_text(encoding="utf-8")
        for marker in ("flash(", "Field", "message=", "ValidationError(")
    )
)


@pytest.mark.parametrize("module", PYTHON_FILES)
def test_python_text_people_read_is_marked(module):
    found = unmarked_python_text(ROOT / module)
    assert not found, f"bare text in {module}:\n" + "\n".join(
        f"  line {line}: {what}" for line, what in found
    )


def test_customer_api_errors_and_score_breakdowns_speak_the_askers_language(app, client):
    from flask_babel import force_locale

    from crm_web.accounts import services as accounts
    from crm_web.customer360.scores import Activity, engagement_score
    from crm_web.db import clear_tenant, set_tenant
    from tests import factories

    organization, admin = factories.organization("Api Errors", locale="en")
    set_tenant(organization.id, admin.id)
    _token, raw = accounts.create_api_token(admin, "Dil")
    clear_tenant()
    headers = {"Authorization": f"Bearer {raw}", "Accept-Language": "tr"}
    unknown = client.post("/api/v1/crm/customers/", json={"shoe_size": 42}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.get_json()["error"] == "Bilinmeyen ya da salt okunur alanlar."
    assert unknown.get_json()["fields"] == {"shoe_size": "Bu alan ayarlanamaz."}

    with app.test_request_context(), force_locale("tr"):
        score = engagement_score(Activity(interactions_90d=3))
    assert [component.label for component in score.components][:2] == [
        "Etkileşimler (90 gün)",
        "Son etkileşim",
    ]
    assert score.components[0].detail == "3 etkileşim"
    assert score.components[1].detail == "hiç"
