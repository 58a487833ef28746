"""Message text from templates: `templates/emails/<name>.txt` and `.html`, `templates/sms/<name>.txt`.

An email template extends the shared layout (`emails/_layout.txt`, `emails/_layout.html`:
organization name, footer) and fills its `subject` and `body` blocks; the subject is read from
the text template. Services hand over ids and data; every word a recipient reads is here.
"""

import re
from dataclasses import dataclass

from flask import current_app
from jinja2 import TemplateNotFound

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


def _context(context: dict) -> dict:
    config = current_app.config
    return {"base_url": config["BASE_URL"], **context}


def _render_block(template, block: str, context: dict) -> str:
    return "".join(template.blocks[block](template.new_context(context)))


def render_email(template: str, context: dict) -> RenderedEmail:
    """Subject, text and (when the template has one) HTML of an email."""
    env = current_app.jinja_env
    context = _context(context)
    text_template = env.get_template(f"emails/{template}.txt")
    subject = _SPACES.sub(" ", _render_block(text_template, "subject", context)).strip()
    text = text_template.render(context).strip() + "\n"
    try:
        html_template = env.get_template(f"emails/{template}.html")
    except TemplateNotFound:
        html = None
    else:
        html = html_template.render(context)
    return RenderedEmail(subject=subject[:300], text=text, html=html)


def render_sms(template: str, context: dict) -> str:
    """The text of an SMS, on one line."""
    template = current_app.jinja_env.get_template(f"sms/{template}.txt")
    return _SPACES.sub(" ", template.render(_context(context))).strip()
