"""Demo surveys: an NPS survey with a few hundred responses from the demo's customers (a reason
asked of detractors only), and a product feedback survey whose logic sends unhappy users to a
page of their own. Responses are written as a finished respondent leaves them: answers on the
path the logic takes, scored, with the running tallies moved in the same transaction."""

import datetime as dt
import random

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.surveys import logic, scoring, services, tallies
from crm_web.surveys.models import Survey, SurveyResponse, SurveyVersion

# What the demo loads (analyzed after it commits).
TABLES = ("surveys", "survey_versions", "survey_responses", "survey_tallies")
NPS_REASONS = {
    "detractor": ("Kargo çok geç geldi.", "Delivery was late and support did not answer."),
    "passive": ("Fena değil, fiyatlar biraz yüksek.", "Fine, a little expensive."),
    "promoter": ("Harika hizmet, teşekkürler!", "Great service, thank you!"),
}


def nps_document() -> dict:
    """One page: the NPS question, and a reason asked of those who gave 6 or less."""
    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {
                        "id": "nps",
                        "type": "nps",
                        "title": _("How likely are you to recommend us to a friend?"),
                        "required": True,
                    },
                    {
                        "id": "why",
                        "type": "long_text",
                        "title": _("What should we do better?"),
                        "display": {
                            "match": "all",
                            "conditions": [{"question": "nps", "op": "lte", "value": 6}],
                        },
                    },
                ],
            }
        ]
    }


def product_document() -> dict:
    """Three pages: a rating and the features used; those who rate 2 or less skip to a page
    asking what went wrong, the others see a page about what to build next."""
    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {
                        "id": "rate",
                        "type": "rating",
                        "scale": 5,
                        "required": True,
                        "title": _("How do you rate the product?"),
                    },
                    {
                        "id": "used",
                        "type": "multiple",
                        "title": _("Which parts do you use?"),
                        "options": [
                            {"id": "app", "label": _("Mobile app")},
                            {"id": "web", "label": _("Web store")},
                            {"id": "shop", "label": _("Shops")},
                        ],
                    },
                ],  # fmt: skip
                "rules": [
                    {
                        "when": {
                            "match": "all",
                            "conditions": [{"question": "rate", "op": "lte", "value": 2}],
                        },
                        "goto": "p3",
                    }
                ],
            },
            {
                "id": "p2",
                "questions": [
                    {
                        "id": "next",
                        "type": "single",
                        "title": _("What should we build next?"),
                        "options": [
                            {"id": "fast", "label": _("Faster delivery")},
                            {"id": "pay", "label": _("More ways to pay")},
                        ],
                    },
                ],  # fmt: skip
                "rules": [{"when": None, "goto": "end"}],
            },
            {
                "id": "p3",
                "questions": [
                    {
                        "id": "wrong",
                        "type": "long_text",
                        "required": True,
                        "title": _("What went wrong?"),
                    },
                ],  # fmt: skip
            },
        ]
    }


def record_completed(
    survey: Survey,
    version: SurveyVersion,
    answers: dict,
    *,
    customer_id: int | None,
    completed_at: dt.datetime,
    channel: str = "email",
    invitation_id: int | None = None,
    duration_seconds: int = 90,
) -> SurveyResponse:
    """A finished response as the respondent's pages would have left it: the answers on its
    path, its pages, its NPS, the tallies moved and the survey's count raised."""
    kept = logic.answers_on_path(version.definition, answers)
    pages = logic.path(version.definition, kept)
    response = SurveyResponse(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        version_id=version.id,
        invitation_id=invitation_id,
        customer_id=None if survey.anonymous else customer_id,
        channel=channel,
        state="completed",
        answers=kept,
        page=pages[-1],
        pages_seen=pages,
        completion=100,
        started_at=completed_at - dt.timedelta(seconds=duration_seconds),
        updated_at=completed_at,
        completed_at=completed_at,
        duration_seconds=duration_seconds,
        sentiment_label="",
    )
    scoring.score_response(response, version.definition)
    db.session.add(response)
    db.session.flush()
    tallies.record(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        response_id=response.id,
        definition=version.definition,
        before={},
        after=kept,
    )
    survey.completed_count += 1
    return response


def _nps_answers(rng: random.Random, language: str) -> dict:
    score = rng.choices(range(11), weights=(1, 1, 1, 2, 2, 3, 4, 8, 10, 14, 12))[0]
    group = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
    answers: dict = {"nps": score}
    if group == "detractor" or rng.random() < 0.3:
        answers["why"] = NPS_REASONS[group][0 if language == "tr" else 1]
    return answers


def _product_answers(rng: random.Random) -> dict:
    rate = rng.choices(range(1, 6), weights=(1, 2, 4, 6, 4))[0]
    answers: dict = {"rate": rate, "used": rng.sample(["app", "web", "shop"], rng.randint(1, 3))}
    if rate <= 2:
        answers["wrong"] = "Uygulama sık sık donuyor."
    else:
        answers["next"] = rng.choice(["fast", "pay"])
    return answers


def seed_surveys(
    responses: int = 300, *, seed: int = 1, language: str = "en", now: dt.datetime | None = None
) -> dict:
    """The two demo surveys in `language`, launched, with `responses` NPS answers (and a third
    as many product answers) from the organization's customers over the last 90 days."""
    language = "tr" if language.startswith("tr") else "en"
    with force_locale(language):
        nps = services.create_survey(
            {"name": _("Customer loyalty (NPS)"), "language": language}, nps_document()
        )
        product = services.create_survey(
            {"name": _("Product feedback"), "language": language}, product_document()
        )
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    customers = list(
        db.session.execute(
            select(Customer.id, Customer.language)
            .where(Customer.organization_id == current_organization_id(), Customer.is_active)
            .order_by(Customer.id)
        )
    )
    made = {}
    for survey, count, answer in (
        (nps, responses, lambda language: _nps_answers(rng, language)),
        (product, responses // 3, lambda language: _product_answers(rng)),
    ):
        services.launch(survey.id)
        version = services.get_version(survey)
        chosen = rng.sample(customers, min(count, len(customers))) if customers else []
        for customer_id, language in chosen:
            completed_at = now - dt.timedelta(minutes=rng.randint(5, 90 * 24 * 60))
            record_completed(
                survey,
                version,
                answer(language),
                customer_id=customer_id,
                completed_at=completed_at,
                channel=rng.choice(("email", "email", "sms", "ticket")),
                duration_seconds=rng.randint(20, 400),
            )
        made[survey.name] = len(chosen)
    db.session.flush()
    return made
