"""Ready-made question sets (CSAT, NPS, product feedback, event feedback, contact details): a new
survey starts from one, or the builder drops one's questions where the marketer wants them.

Each template is a function that writes its document in the current locale, so a survey gets its
questions in its own language (the caller wraps it in `force_locale`). Ids are fresh every time:
the same template may be added twice to one survey.
"""

from collections.abc import Callable

from flask_babel import lazy_gettext as _l

from crm_web.surveys.definition import default_page, new_id


def _options(*labels) -> list[dict]:
    return [{"id": new_id("o"), "label": str(label)} for label in labels]


def _question(kind: str, title, *, required: bool = False, help_text="", **extra) -> dict:
    return {
        "id": new_id("q"),
        "type": kind,
        "title": str(title),
        "help": str(help_text),
        "required": required,
        "display": None,
        **extra,
    }


def _when(question: dict, op: str, value=None) -> dict:
    return {"match": "all", "conditions": [{"question": question["id"], "op": op, "value": value}]}


def _page(*questions, rules=None) -> dict:
    page = default_page()
    page["questions"] = list(questions)
    page["rules"] = rules or []
    return page


def csat() -> dict:
    """Customer satisfaction: a 1–5 rating, and what went wrong when it was low."""
    rating = _question(
        "rating", _l("How satisfied are you with our service?"), required=True, scale=5
    )
    why = _question(
        "long_text",
        _l("What could we have done better?"),
        min_length=None,
        max_length=2000,
        display=_when(rating, "lte", 3),
    )
    return {"pages": [_page(rating, why)]}


def nps() -> dict:
    """Net Promoter Score, the reason for the score, and a follow-up for detractors."""
    score = _question(
        "nps", _l("How likely are you to recommend us to a friend or colleague?"), required=True
    )
    reason = _question(
        "long_text", _l("What is the main reason for your score?"), min_length=None, max_length=2000
    )
    contact = _question(
        "single",
        _l("May we contact you about your answer?"),
        options=_options(_l("Yes"), _l("No")),
        display=_when(score, "lte", 6),
    )
    return {"pages": [_page(score, reason, contact)]}


def product_feedback() -> dict:
    """How a product is used and liked, on two pages; unhappy users skip to the last one."""
    often = _question(
        "single",
        _l("How often do you use the product?"),
        required=True,
        options=_options(_l("Every day"), _l("Every week"), _l("Every month"), _l("Less often")),
    )
    rating = _question(
        "rating", _l("How would you rate the product overall?"), required=True, scale=5
    )
    features = _question(
        "multiple",
        _l("Which features do you use?"),
        options=_options(_l("Reports"), _l("Integrations"), _l("Mobile app"), _l("Notifications")),
        min_choices=None,
        max_choices=None,
    )
    quality = _question(
        "matrix",
        _l("How do you rate each of these?"),
        rows=_options(_l("Ease of use"), _l("Speed"), _l("Reliability")),
        columns=_options(_l("Poor"), _l("Fair"), _l("Good"), _l("Excellent")),
        multiple=False,
    )
    wish = _question(
        "long_text", _l("What would you like us to improve?"), min_length=None, max_length=2000
    )
    last = _page(wish)
    first = _page(often, rating, rules=[{"when": _when(rating, "lte", 2), "goto": last["id"]}])
    return {"pages": [first, _page(features, quality), last]}


def event_feedback() -> dict:
    """After an event: overall rating, the sessions liked most, coming again."""
    overall = _question("rating", _l("How would you rate the event?"), required=True, scale=5)
    sessions = _question(
        "ranking",
        _l("Rank the parts of the event you liked most"),
        options=_options(_l("Talks"), _l("Workshops"), _l("Networking"), _l("Venue")),
    )
    again = _question(
        "single",
        _l("Would you attend again?"),
        required=True,
        options=_options(_l("Yes"), _l("Maybe"), _l("No")),
    )
    comment = _question(
        "long_text",
        _l("Anything else you would like to tell us?"),
        min_length=None,
        max_length=2000,
    )
    return {"pages": [_page(overall, sessions, again, comment)]}


def contact_details() -> dict:
    """Who is answering: name, email, phone, company."""
    return {
        "pages": [
            _page(
                _question(
                    "short_text",
                    _l("Your name"),
                    required=True,
                    min_length=None,
                    max_length=200,
                    pattern="",
                ),
                _question(
                    "email",
                    _l("Your email address"),
                    required=True,
                    min_length=None,
                    max_length=254,
                ),
                _question(
                    "short_text",
                    _l("Your phone number"),
                    min_length=None,
                    max_length=40,
                    pattern=r"^[0-9 +()-]*$",
                ),
                _question(
                    "short_text", _l("Your company"), min_length=None, max_length=200, pattern=""
                ),
            )
        ]
    }


# key -> (label, what it asks, builder)
TEMPLATES: dict[str, tuple[object, object, Callable[[], dict]]] = {
    "csat": (_l("Customer satisfaction (CSAT)"), _l("A 1–5 rating and what went wrong"), csat),
    "nps": (_l("Net Promoter Score (NPS)"), _l("0–10 score, its reason, a follow-up"), nps),
    "product": (
        _l("Product feedback"),
        _l("Use, rating, features and a matrix, on three pages"),
        product_feedback,
    ),
    "event": (_l("Event feedback"), _l("Rating, favourite parts, coming again"), event_feedback),
    "contact": (_l("Contact details"), _l("Name, email, phone and company"), contact_details),
}


def document(key: str) -> dict:
    """A fresh document of the template `key` (KeyError when there is none)."""
    return TEMPLATES[key][2]()


def template_questions(key: str) -> list[dict]:
    """The template's questions in order, to drop into a survey: their display conditions only
    name each other, so they hold wherever the block goes; the page rules stay behind."""
    return [question for page in document(key)["pages"] for question in page["questions"]]
