"""The running tallies: as a response's answers change, the counts of each answer to each
question move with them, in the same transaction. Analytics reads a few hundred tally rows
instead of every response's answers.

Keys (`survey_tallies.answer`): "" counts responses that answered the question at all (the
drop-off funnel); then per type an option id (single, dropdown, multiple), the number given
(rating, nps, number), "option:place" (ranking), "row:column" (matrix), and
"sentiment:<label>" for open text (added here from crm_web/surveys/scoring.py, so every caller
counts it the same way).
"""

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import text

from crm_web.extensions import db
from crm_web.surveys import scoring
from crm_web.surveys.definition import NUMERIC_TYPES, question_index
from crm_web.surveys.models import TALLY_SHARDS

ANSWERED = ""
KEY_LIMIT = 40


def number_key(value) -> str:
    """A number as a tally key: 7 and 7.0 are one answer."""
    number = float(value)
    return str(int(number)) if number == int(number) else repr(number)[:KEY_LIMIT]


def answer_keys(question: dict, value) -> list[str]:
    """The tally keys one answer counts under."""
    kind = question["type"]
    keys = [ANSWERED]
    if kind in ("single", "dropdown"):
        keys.append(value)
    elif kind == "multiple":
        keys.extend(value)
    elif kind in NUMERIC_TYPES:
        keys.append(number_key(value))
    elif kind == "ranking":
        keys.extend(f"{option}:{place}" for place, option in enumerate(value, start=1))
    elif kind == "matrix":
        for row, columns in value.items():
            for column in columns if isinstance(columns, list) else [columns]:
                keys.append(f"{row}:{column}")
    return keys


def _counts(definition: dict, answers: Mapping, extra: Mapping[str, list[str]]) -> Counter:
    index = question_index(definition)
    counts: Counter = Counter()
    for question_id, value in answers.items():
        found = index.get(question_id)
        if found is None:
            continue
        for key in answer_keys(found[2], value) + list(extra.get(question_id, ())):
            counts[(question_id, key[:KEY_LIMIT])] += 1
    return counts


def _with_sentiment(
    extra: Mapping[str, list[str]] | None, texts: Mapping[str, str], language: str
) -> dict[str, list[str]]:
    merged = {question_id: list(keys) for question_id, keys in (extra or {}).items()}
    for question_id, keys in scoring.sentiment_keys(texts, language).items():
        merged.setdefault(question_id, []).extend(keys)
    return merged


def record(
    *,
    organization_id: int,
    survey_id: int,
    response_id: int,
    definition: dict,
    before: Mapping,
    after: Mapping,
    extra_before: Mapping[str, list[str]] | None = None,
    extra_after: Mapping[str, list[str]] | None = None,
    language: str | None = None,
) -> None:
    """Move the tallies from the answers `before` to the answers `after` (of one response).
    Rows are touched in key order, so two responses on the same shard never deadlock.

    Open-text answers also count under their sentiment's label, in the survey's `language`
    (read from the survey when not given). Only the texts that changed are scored: an unchanged
    one would add and take away the same key."""
    texts_before = scoring.open_texts(definition, before)
    texts_after = scoring.open_texts(definition, after)
    changed = {
        question_id
        for question_id in texts_before.keys() | texts_after.keys()
        if texts_before.get(question_id) != texts_after.get(question_id)
    }
    if changed:
        language = language or scoring.survey_language(survey_id)
        extra_before = _with_sentiment(
            extra_before, {q: t for q, t in texts_before.items() if q in changed}, language
        )
        extra_after = _with_sentiment(
            extra_after, {q: t for q, t in texts_after.items() if q in changed}, language
        )
    delta = _counts(definition, after, extra_after or {})
    delta.subtract(_counts(definition, before, extra_before or {}))
    changes = sorted((key, count) for key, count in delta.items() if count)
    if not changes:
        return
    shard = response_id % TALLY_SHARDS
    db.session.execute(
        text(
            "INSERT INTO survey_tallies AS t "
            "(organization_id, survey_id, question_id, answer, shard, count) "
            "SELECT :org, :survey, q, a, :shard, c "
            "FROM unnest(CAST(:questions AS text[]), CAST(:answers AS text[]), "
            "CAST(:counts AS int[])) AS d(q, a, c) "
            "ON CONFLICT (survey_id, question_id, answer, shard) "
            "DO UPDATE SET count = t.count + EXCLUDED.count"
        ),
        {
            "org": organization_id,
            "survey": survey_id,
            "shard": shard,
            "questions": [question for (question, _answer), _count in changes],
            "answers": [answer for (_question, answer), _count in changes],
            "counts": [count for _key, count in changes],
        },
    )


def read(survey_id: int, organization_id: int) -> dict[str, Counter]:
    """question id -> Counter of answer key -> responses (shards added up)."""
    rows = db.session.execute(
        text(
            "SELECT question_id, answer, sum(count)::int FROM survey_tallies "
            "WHERE survey_id = :survey AND organization_id = :org "
            "GROUP BY question_id, answer"
        ),
        {"survey": survey_id, "org": organization_id},
    )
    tallies: dict[str, Counter] = {}
    for question_id, answer, count in rows:
        if count:
            tallies.setdefault(question_id, Counter())[answer] = count
    return tallies
