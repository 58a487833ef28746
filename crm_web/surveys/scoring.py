"""What a response is worth to the rest of the CRM, read without opening its answers: its NPS
(segments, automations, dashboards) and, for open text, its sentiment."""

from crm_web.surveys.definition import questions
from crm_web.surveys.models import SurveyResponse


def nps_answer(document: dict, answers: dict) -> int | None:
    """The answer to the survey's first NPS question, if given."""
    for question in questions(document):
        if question["type"] == "nps" and answers.get(question["id"]) is not None:
            return int(answers[question["id"]])
    return None


def score_response(response: SurveyResponse, document: dict) -> None:
    """Set the response's NPS from its answers (called whenever a page is saved)."""
    response.nps = nps_answer(document, response.answers)
