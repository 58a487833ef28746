"""What a marketer writes, made safe and fast to send: sandboxed merge fields, inlined CSS, a
text part, tracked links, and the signed tokens of tracking and unsubscribe links.

Templates render in Jinja's immutable sandbox: a template sees plain values only (the
customer's fields as a dict of strings, the organization's name, the links) and cannot reach
Python objects, attributes starting with "_", or methods that change anything. HTML is
autoescaped. A customer's empty field is left out of `customer`, so `default("there")` fills
it. Each version is prepared once per process (CSS inlined, links numbered, templates
compiled) and rendered for thousands of recipients.
"""

import base64
import functools
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

import css_inline
import html2text
from flask import current_app
from flask_babel import gettext as _
from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from crm_web.errors import invalid
from crm_web.outbox.rendering import RenderedEmail

_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True)
_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False)
# What a template may call besides its context (range, dict, cycler...): the same in both.
_GLOBALS = dict(_HTML_ENV.globals)
# Links a click can be tracked through: absolute http(s) URLs without merge fields.
_HREF = re.compile(r'href\s*=\s*"(https?://[^"{}<>\s]+)"', re.IGNORECASE)
_SPACES = re.compile(r"\s+")

# Merge fields a template may use, with what the preview shows.
MERGE_FIELDS = {
    "customer.first_name": "Ayşe",
    "customer.last_name": "Yılmaz",
    "customer.name": "Ayşe Yılmaz",
    "customer.company": "Yılmaz Tekstil",
    "customer.city": "İzmir",
    "customer.email": "ayse@example.com",
    "organization_name": "",
    "unsubscribe_url": "",
    "preferences_url": "",
    # A campaign that carries a survey: the recipient's personal link to it.
    # As long as a real one (a 52-character token), so an SMS's cost counts it right.
    "survey_url": "https://crm.example/s/i/" + "x" * 52,
}


def check_syntax(subject: str, html: str, text: str) -> None:
    """Refuse a template Jinja cannot compile, naming the part."""
    errors = {}
    for name, source, env in (
        ("subject", subject, _TEXT_ENV),
        ("html", html, _HTML_ENV),
        ("text", text, _TEXT_ENV),
    ):
        try:
            env.from_string(source)
        except TemplateError as exc:
            errors[name] = _("The merge fields cannot be read: %(error)s", error=str(exc))
    if errors:
        raise invalid(errors)


def sms_syntax_problem(body: str) -> str:
    """Why Jinja cannot compile an SMS text ("" when it can)."""
    try:
        _TEXT_ENV.from_string(body)
    except TemplateError as exc:
        return _("The merge fields cannot be read: %(error)s", error=str(exc))
    return ""


@functools.lru_cache(maxsize=64)
def prepare_sms(body: str):
    """An SMS campaign's text compiled once per process."""
    return _TEXT_ENV.from_string(body)


def render_sms(body: str, context: dict) -> str:
    """The SMS for one recipient, on one line (a template error propagates)."""
    return _SPACES.sub(" ", _render(prepare_sms(body), {**_GLOBALS, **context})).strip()


def sample_customer() -> dict:
    """The customer the previews and the cost count render with."""
    return {
        key.split(".", 1)[1]: value
        for key, value in MERGE_FIELDS.items()
        if key.startswith("customer.")
    }


def trackable_links(html: str) -> list[str]:
    """The HTML's absolute links, in order, each once: a tracked click names its index."""
    return list(dict.fromkeys(_HREF.findall(html)))


def derived_text(html: str) -> str:
    """A text part made from the HTML (links written out), merge fields kept."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    return converter.handle(html).strip() + "\n"


def inline_css(html: str) -> str:
    """The HTML with its <style> rules moved into style attributes (mail clients drop <style>)."""
    try:
        return css_inline.inline(html)
    except ValueError:
        return html  # CSS the inliner cannot read stays where it is


@dataclass(frozen=True)
class Prepared:
    """A version ready to render many times."""

    subject: object
    html: object
    text: object
    links: tuple[str, ...]


@functools.lru_cache(maxsize=256)
def prepare(
    version_id: int, subject: str, preheader: str, html: str, text: str, links: tuple
) -> Prepared:
    """Compile a version once (keyed by its id: versions never change)."""
    body = inline_css(html)
    for index, url in enumerate(links):
        body = body.replace(f'href="{url}"', f'href="{{{{ links[{index}] }}}}"')
    if preheader:
        hidden = (
            '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
            + str(Markup.escape(preheader))
            + "</div>"
        )
        if "<body" in body:
            body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + hidden, body, count=1)
        else:
            body = hidden + body
    # The open pixel, last in the body (a tracked message has `pixel_url`).
    pixel = '{% if pixel_url %}<img src="{{ pixel_url }}" width="1" height="1" alt="">{% endif %}'
    body = body.replace("</body>", pixel + "</body>", 1) if "</body>" in body else body + pixel
    return Prepared(
        _TEXT_ENV.from_string(subject),
        _HTML_ENV.from_string(body),
        _TEXT_ENV.from_string(text),
        links,
    )


def _render(template, context: dict) -> str:
    # Template.render copies the environment's globals into a new dict for every call; the
    # sandbox's globals are few and fixed, so the context is built without that copy.
    return template.environment.concat(
        template.root_render_func(template.new_context(context, shared=True))
    )


def render(prepared: Prepared, context: dict) -> RenderedEmail:
    """Subject, text and HTML for one recipient; a SecurityError or other template error
    propagates (the outbox fails the message as unbuildable)."""
    context = {**_GLOBALS, **context}
    subject = _SPACES.sub(" ", _render(prepared.subject, context)).strip()[:300]
    html = _render(prepared.html, context)
    text = _render(prepared.text, context).strip() + "\n"
    return RenderedEmail(subject=subject, text=text, html=html)


def customer_fields(first_name: str, last_name: str, company: str, city: str, email: str) -> dict:
    """The `customer` a template sees: strings only, empty ones left out (so defaults apply)."""
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "name": " ".join(part for part in (first_name, last_name) if part) or company,
        "company": company,
        "city": city,
        "email": email,
    }
    return {key: value for key, value in values.items() if value}


# -- signed tokens ---------------------------------------------------------------------------------
# A token carries (purpose, organization, recipient, template version, link index) and an HMAC
# of them: a URL cannot be changed to another recipient or link, and a tampered one is a 404.
# The version lets a click find its link without reading the recipient's row.

# Automation emails sign the step run's id where a campaign signs its recipient's; survey
# links sign the survey (public link), the invitation (personal link) or the response (resume).
_PURPOSES = {
    "open": 1,
    "click": 2,
    "unsubscribe": 3,
    "journey_open": 4,
    "journey_click": 5,
    "journey_unsubscribe": 6,
    "survey": 7,
    "survey_invitation": 8,
    "survey_resume": 9,
}
_LAYOUT = struct.Struct(">BQQQH")
_MAC_BYTES = 12


@functools.lru_cache(maxsize=8)
def _mac(secret: str):
    """An HMAC keyed for `secret` that each token copies (keying it again costs more)."""
    key = hashlib.sha256(b"crm-campaign-tracking:" + secret.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _digest(payload: bytes) -> bytes:
    mac = _mac(current_app.config["SECRET_KEY"]).copy()
    mac.update(payload)
    return mac.digest()


def signer():
    """`sign` with the key looked up once: what a batch of thousands of links uses."""
    keyed = _mac(current_app.config["SECRET_KEY"])
    pack, purposes = _LAYOUT.pack, _PURPOSES

    def sign_one(
        purpose: str, organization_id: int, recipient_id: int, version_id: int = 0, link: int = 0
    ) -> str:
        payload = pack(purposes[purpose], organization_id, recipient_id, version_id, link)
        mac = keyed.copy()
        mac.update(payload)
        token = base64.urlsafe_b64encode(payload + mac.digest()[:_MAC_BYTES])
        return token.decode().rstrip("=")

    return sign_one


def sign(
    purpose: str, organization_id: int, recipient_id: int, version_id: int = 0, link: int = 0
) -> str:
    """A URL-safe signed token (52 characters)."""
    return signer()(purpose, organization_id, recipient_id, version_id, link)


@dataclass(frozen=True)
class Token:
    organization_id: int
    recipient_id: int
    version_id: int
    link: int


def verify(purpose: str, token: str) -> Token | None:
    """The token's contents if it is ours and for `purpose`, else None."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != _LAYOUT.size + _MAC_BYTES:
        return None
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if not hmac.compare_digest(mac, _digest(payload)[:_MAC_BYTES]):
        return None
    kind, organization_id, recipient_id, version_id, link = _LAYOUT.unpack(payload)
    if kind != _PURPOSES[purpose]:
        return None
    return Token(organization_id, recipient_id, version_id, link)
