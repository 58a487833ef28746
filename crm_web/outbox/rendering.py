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


class EmailTemplate:
    """An email template's text and HTML parts, looked up once and rendered for many messages."""

    def __init__(self, name: str):
        env = current_app.jinja_env
        self.text = env.get_template(f"emails/{name}.txt")
        try:
            self.html = env.get_template(f"emails/{name}.html")
        except TemplateNotFound:
            self.html = None
        # Template.render copies the template's globals (a ChainMap over the environment's)
        # into a new dict for every render; a batch copies them once.
        self._globals = {
            template: dict(template.globals) for template in (self.text, self.html) if template
        }

    def _render(self, template, context: dict, block: str | None = None) -> str:
        values = template.new_context({**self._globals[template], **context}, shared=True)
        render = template.blocks[block] if block else template.root_render_func
        return template.environment.concat(render(values))

    def render(self, context: dict) -> RenderedEmail:
        """Subject, text and (when the template has one) HTML of one message."""
        context = _context(context)
        subject = _SPACES.sub(" ", self._render(self.text, context, "subject")).strip()
        text = self._render(self.text, context).strip() + "\n"
        html = self._render(self.html, context) if self.html else None
        return RenderedEmail(subject=subject[:300], text=text, html=html)


def render_email(template: str, context: dict) -> RenderedEmail:
    """Subject, text and (when the template has one) HTML of an email."""
    return EmailTemplate(template).render(context)


def render_sms(template: str, context: dict) -> str:
    """The text of an SMS, on one line."""
    template = current_app.jinja_env.get_template(f"sms/{template}.txt")
    return _SPACES.sub(" ", template.render(_context(context))).strip()
