"""What a response is worth to the rest of the CRM, read without opening its answers: its NPS
(segments, automations, dashboards) and, for open text, its sentiment."""

from collections.abc import Mapping

from crm_web.extensions import db
from crm_web.surveys import sentiment
from crm_web.surveys.definition import question_index, questions
from crm_web.surveys.models import Survey, SurveyResponse

# The answers whose words carry an opinion (an email address or a pattern-checked code do not).
OPEN_TEXT = ("short_text", "long_text")
SENTIMENT_KEY = "sentiment:"


def nps_answer(document: dict, answers: dict) -> int | None:
    """The answer to the survey's first NPS question, if given."""
    for question in questions(document):
        if question["type"] == "nps" and answers.get(question["id"]) is not None:
            return int(answers[question["id"]])
    return None


def survey_language(survey_id: int) -> str:
    """The language a survey's open answers are scored in (the survey is already in the
    session wherever a page is saved, so this asks the database nothing)."""
    survey = db.session.get(Survey, survey_id)
    return survey.language if survey is not None else "en"


def open_texts(document: dict, answers: Mapping) -> dict[str, str]:
    """question id -> the open-text answers among `answers`."""
    index = question_index(document)
    return {
        question_id: value
        for question_id, value in answers.items()
        if question_id in index and index[question_id][2]["type"] in OPEN_TEXT and value
    }


def label(compound: float) -> str:
    """The label of a mean compound score, by the thresholds each answer's label uses."""
    if compound >= sentiment.THRESHOLD:
        return sentiment.POSITIVE
    if compound <= -sentiment.THRESHOLD:
        return sentiment.NEGATIVE
    return sentiment.NEUTRAL


def sentiment_keys(texts: Mapping[str, str], language: str) -> dict[str, list[str]]:
    """The extra tally keys ("sentiment:<label>") of open-text answers, by question id."""
    return {
        question_id: [SENTIMENT_KEY + sentiment.score(value, language).label]
        for question_id, value in texts.items()
    }


def score_response(response: SurveyResponse, document: dict) -> None:
    """Set the response's NPS and sentiment from its answers (called whenever a page is saved):
    the sentiment is the mean compound score of its open-text answers, labelled like one."""
    response.nps = nps_answer(document, response.answers)
    texts = open_texts(document, response.answers)
    if not texts:
        response.sentiment, response.sentiment_label = None, ""
        return
    language = survey_language(response.survey_id)
    scores = [sentiment.score(value, language).compound for value in texts.values()]
    response.sentiment = round(sum(scores) / len(scores), 4)
    response.sentiment_label = label(response.sentiment)
