"""A survey's live analytics as one JSON-ready dict: what the analytics page draws and the API
answers (`summary`).

Per-question figures come from the running tallies (crm_web/surveys/tallies.py: a few hundred
rows, however many responses); counts over time, the NPS trend and the sentiment split from
one pass over the survey's responses, grouped by day in the database; the most frequent words
from the latest open answers only (see TOP_WORDS_SAMPLE).
"""

import datetime as dt
from collections import Counter
from collections.abc import Mapping

from sqlalchemy import text

from crm_web.dashboard.figures import organization_zone
from crm_web.extensions import db
from crm_web.surveys import scoring, sentiment, services, tallies
from crm_web.surveys.definition import NUMERIC_TYPES, question_index, questions
from crm_web.surveys.models import Survey

# Word counts are made at read time from the latest answers: counting every answer's words
# on each view would make the page as slow as the survey is popular, and keeping word tallies
# as answers are saved would cost every submission; the latest few hundred answers say what
# respondents talk about now, which is what the list is read for.
TOP_WORDS_SAMPLE = 500
TOP_WORDS = 20
# Over a quarter of days, responses over time are counted by week so the chart stays readable.
DAILY_SPAN = 92
PROMOTER, DETRACTOR = 9, 6
LABELS = (sentiment.POSITIVE, sentiment.NEUTRAL, sentiment.NEGATIVE)
CHOICES = ("single", "dropdown", "multiple")


def document_of(survey: Survey) -> dict:
    """The structure the responses answer: the launched version's, else the draft."""
    version = services.get_version(survey)
    return version.definition if version is not None else survey.definition


def share(part: int, whole: int) -> float:
    """`part` of `whole` as a percentage with one decimal (0 when there is no whole)."""
    return round(100 * part / whole, 1) if whole else 0.0


def numeric_stats(counts: Mapping[str, int]) -> dict:
    """Count, mean, median, lowest and highest, and the distribution of the numbers given
    (tally keys such as "7" or "2.5", each with how many gave it)."""
    values = sorted(
        (float(key), count) for key, count in counts.items() if _is_number(key) and count > 0
    )
    total = sum(count for _value, count in values)
    if not total:
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None, "values": []}

    def nth(position: int) -> float:
        seen = 0
        for value, count in values:
            seen += count
            if position < seen:
                return value
        raise IndexError(position)

    middle = total // 2
    median = nth(middle) if total % 2 else (nth(middle - 1) + nth(middle)) / 2
    return {
        "count": total,
        "mean": round(sum(value * count for value, count in values) / total, 2),
        "median": _plain(median),
        "min": _plain(values[0][0]),
        "max": _plain(values[-1][0]),
        "values": [{"value": _plain(value), "count": count} for value, count in values],
    }


def _is_number(key: str) -> bool:
    try:
        float(key)
    except ValueError:
        return False
    return True


def _plain(number: float) -> int | float:
    return int(number) if number == int(number) else number


def nps_from_counts(counts: Mapping[int, int]) -> dict:
    """Promoters (9–10), passives (7–8), detractors (0–6) and the score: the percentage of
    promoters less the percentage of detractors, from -100 to 100."""
    total = sum(counts.values())
    promoters = sum(c for score, c in counts.items() if score >= PROMOTER)
    detractors = sum(c for score, c in counts.items() if score <= DETRACTOR)
    passives = total - promoters - detractors
    return {
        "responses": total,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "promoters_percent": share(promoters, total),
        "passives_percent": share(passives, total),
        "detractors_percent": share(detractors, total),
        "score": round(100 * (promoters - detractors) / total, 1) if total else None,
    }


def _options(question: dict, counts: Mapping[str, int], answered: int) -> list[dict]:
    return [
        {
            "id": option["id"],
            "label": option["label"],
            "count": counts.get(option["id"], 0),
            "percent": share(counts.get(option["id"], 0), answered),
        }
        for option in question["options"]
    ]


def _ranking(question: dict, counts: Mapping[str, int]) -> list[dict]:
    """Each option's mean place (1 = first) and how often it took each place, best first."""
    places = len(question["options"])
    ranked = []
    for option in question["options"]:
        taken = [counts.get(f"{option['id']}:{place}", 0) for place in range(1, places + 1)]
        total = sum(taken)
        mean = sum(place * n for place, n in enumerate(taken, start=1)) / total if total else None
        ranked.append(
            {
                "id": option["id"],
                "label": option["label"],
                "places": taken,
                "mean_place": round(mean, 2) if mean is not None else None,
            }
        )
    return sorted(ranked, key=lambda r: (r["mean_place"] is None, r["mean_place"] or 0))


def _matrix(question: dict, counts: Mapping[str, int]) -> dict:
    """The heat map: how many chose each column in each row."""
    cells = [
        [counts.get(f"{row['id']}:{column['id']}", 0) for column in question["columns"]]
        for row in question["rows"]
    ]
    return {
        "rows": [{"id": row["id"], "label": row["label"]} for row in question["rows"]],
        "columns": [{"id": col["id"], "label": col["label"]} for col in question["columns"]],
        "cells": cells,
        "highest": max((n for row in cells for n in row), default=0),
    }


def _sentiment_split(counts: Mapping[str, int]) -> dict:
    found = {name: counts.get(scoring.SENTIMENT_KEY + name, 0) for name in LABELS}
    total = sum(found.values())
    return {
        "scored": total,
        **found,
        **{f"{name}_percent": share(found[name], total) for name in LABELS},
    }


def question_stats(question: dict, page: int, counts: Mapping[str, int], started: int) -> dict:
    """One question's figures from its tallies: answered (and of the responses started), then
    by type the options' shares, the numbers' mean, median and distribution, a ranking's mean
    places, a matrix's cells, or open text's sentiment."""
    kind = question["type"]
    answered = counts.get(tallies.ANSWERED, 0)
    stats = {
        "id": question["id"],
        "type": kind,
        "title": question["title"],
        "page": page + 1,
        "answered": answered,
        "answered_percent": share(answered, started),
    }
    if kind in CHOICES:
        stats["options"] = _options(question, counts, answered)
    elif kind in NUMERIC_TYPES:
        stats.update(numeric_stats(counts))
        if kind == "rating":
            stats["scale"] = question.get("scale", 5)
        if kind == "nps":
            stats["nps"] = nps_from_counts(_nps_counts(counts))
    elif kind == "ranking":
        stats["ranking"] = _ranking(question, counts)
    elif kind == "matrix":
        stats["matrix"] = _matrix(question, counts)
    elif kind in scoring.OPEN_TEXT:
        stats["sentiment"] = _sentiment_split(counts)
    return stats


def _nps_counts(counts: Mapping[str, int]) -> dict[int, int]:
    return {int(key): n for key, n in counts.items() if key.isdigit() and 0 <= int(key) <= 10}


def funnel(document: dict, counted: Mapping[str, Counter], started: int) -> list[dict]:
    """The drop-off per question: how many answered each question, in the survey's order, of
    the responses started, and how many fewer than the last question everyone is shown. A
    question only some are shown (its own or its page's display condition, or a page a rule
    before it can skip) is no step of the funnel: fewer answer it without anyone leaving."""
    steps, before, skipping = [], started, False
    for page in document["pages"]:
        for question in page["questions"]:
            answered = counted.get(question["id"], Counter()).get(tallies.ANSWERED, 0)
            conditional = skipping or bool(page.get("display") or question.get("display"))
            steps.append(
                {
                    "id": question["id"],
                    "title": question["title"],
                    "answered": answered,
                    "percent": share(answered, started),
                    "conditional": conditional,
                    "drop_off": None if conditional else before - answered,
                }
            )
            if not conditional:
                before = answered
        skipping = skipping or bool(page.get("rules"))
    return steps


def _days(survey: Survey) -> list:
    """Per day (the organization's) the responses started and completed, their NPS groups and
    sentiment labels.

    Each day is counted over its range of the index on start time, which carries these columns
    (0042): no response row is read, and nothing sorted, where grouping every response by its
    local day had sorted them all (the planner cannot tell how few days there are). The days'
    bounds are worked out first (MATERIALIZED): row-level security lets only leakproof
    comparisons into an index scan, and turning a local day into a moment is not one.

    JIT is off for the rest of the transaction: the planner guesses a thousand days, which for
    a large survey crosses its threshold, and compiling took longer (0.4 s) than the scans."""
    db.session.execute(text("SELECT set_config('jit', 'off', true)"))
    return db.session.execute(
        text(
            """WITH span AS (
                   SELECT (min(started_at) AT TIME ZONE :zone)::date::timestamp AS first,
                          (max(started_at) AT TIME ZONE :zone)::date::timestamp AS last
                     FROM survey_responses WHERE organization_id = :org AND survey_id = :survey),
               days AS MATERIALIZED (
                   SELECT d.day::date AS day, d.day AT TIME ZONE :zone AS since,
                          (d.day + interval '1 day') AT TIME ZONE :zone AS until
                     FROM span, generate_series(span.first, span.last, interval '1 day') AS d(day))
               SELECT days.day, counted.*
                 FROM days CROSS JOIN LATERAL (
                      SELECT count(*) AS started,
                             count(*) FILTER (WHERE state = 'completed') AS completed,
                             sum(duration_seconds) FILTER (WHERE state = 'completed') AS seconds,
                             count(nps) AS nps,
                             count(*) FILTER (WHERE nps >= :promoter) AS promoters,
                             count(*) FILTER (WHERE nps <= :detractor) AS detractors,
                             count(*) FILTER (WHERE sentiment_label = 'positive') AS positive,
                             count(*) FILTER (WHERE sentiment_label = 'neutral') AS neutral,
                             count(*) FILTER (WHERE sentiment_label = 'negative') AS negative,
                             sum(sentiment) AS sentiment
                        FROM survey_responses
                       WHERE organization_id = :org AND survey_id = :survey
                         AND started_at >= days.since AND started_at < days.until
                 ) counted
                WHERE counted.started > 0
                ORDER BY 1"""
        ),
        {
            "zone": organization_zone().key,
            "org": survey.organization_id,
            "survey": survey.id,
            "promoter": PROMOTER,
            "detractor": DETRACTOR,
        },
    ).all()


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def over_time(days: list) -> dict:
    """Responses started and completed per day, or per week (from Monday) over a long span;
    days without responses count zero so the axis is time."""
    if not days:
        return {"bucket": "day", "points": []}
    first, last = days[0].day, days[-1].day
    weekly = (last - first).days >= DAILY_SPAN
    start = _week if weekly else (lambda day: day)
    step = dt.timedelta(days=7 if weekly else 1)
    buckets: dict[dt.date, list[int]] = {}
    moment = start(first)
    while moment <= last:
        buckets[moment] = [0, 0]
        moment += step
    for row in days:
        bucket = buckets[start(row.day)]
        bucket[0] += row.started
        bucket[1] += row.completed
    return {
        "bucket": "week" if weekly else "day",
        "points": [
            {"start": day.isoformat(), "started": s, "completed": c}
            for day, (s, c) in buckets.items()
        ],
    }


def nps_trend(days: list) -> list[dict]:
    """The NPS of the responses started each week (from Monday), weeks with an NPS answer."""
    weeks: dict[dt.date, list[int]] = {}
    for row in days:
        if row.nps:
            week = weeks.setdefault(_week(row.day), [0, 0, 0])
            week[0] += row.nps
            week[1] += row.promoters
            week[2] += row.detractors
    return [
        {
            "week": week.isoformat(),
            "responses": n,
            "score": round(100 * (promoters - detractors) / n, 1),
        }
        for week, (n, promoters, detractors) in sorted(weeks.items())
    ]


def _latest_texts(survey: Survey, question_ids: list[str]) -> list[str]:
    """The open answers of the latest responses that gave one (TOP_WORDS_SAMPLE of them)."""
    if not question_ids:
        return []
    rows = db.session.execute(
        text(
            """SELECT answers->>q FROM (
                   SELECT answers FROM survey_responses
                    WHERE organization_id = :org AND survey_id = :survey
                      AND sentiment_label <> ''
                    ORDER BY id DESC LIMIT :sample) latest,
                   unnest(CAST(:questions AS text[])) AS q
                WHERE answers ? q"""
        ),
        {
            "org": survey.organization_id,
            "survey": survey.id,
            "sample": TOP_WORDS_SAMPLE,
            "questions": question_ids,
        },
    )
    return [value for (value,) in rows if value]


def sentiment_summary(survey: Survey, document: dict, days: list) -> dict:
    """How many responses with open answers were positive, neutral or negative, their mean
    score, and the most frequent words of the latest answers."""
    found = {name: sum(getattr(row, name) for row in days) for name in LABELS}
    scored = sum(found.values())
    total = sum(row.sentiment or 0 for row in days)
    text_ids = [q["id"] for q in questions(document) if q["type"] in scoring.OPEN_TEXT]
    words = sentiment.top_words(_latest_texts(survey, text_ids), survey.language, TOP_WORDS)
    return {
        "responses": scored,
        **found,
        **{f"{name}_percent": share(found[name], scored) for name in LABELS},
        "mean": round(total / scored, 3) if scored else None,
        "top_words": [{"word": word, "count": count} for word, count in words],
        "top_words_sample": TOP_WORDS_SAMPLE,
    }


def summary(survey: Survey) -> dict:
    """Everything the analytics page shows, JSON-ready: counts and completion rate, responses
    over time, the drop-off funnel, each question's figures, the NPS with its weekly trend,
    and the open answers' sentiment and most frequent words."""
    document = document_of(survey)
    counted = tallies.read(survey.id, survey.organization_id)
    days = _days(survey)
    started = sum(row.started for row in days)
    completed = sum(row.completed for row in days)
    seconds = sum(row.seconds or 0 for row in days)
    index = question_index(document)
    per_question = [
        question_stats(question, page, counted.get(question["id"], Counter()), started)
        for question_id, (page, _place, question) in index.items()
    ]
    nps_question = next((q for q in questions(document) if q["type"] == "nps"), None)
    nps = None
    if nps_question is not None:
        nps = {
            "question_id": nps_question["id"],
            **nps_from_counts(_nps_counts(counted.get(nps_question["id"], Counter()))),
            "trend": nps_trend(days),
        }
    return {
        "survey": {
            "id": survey.id,
            "name": survey.name,
            "status": survey.status,
            "language": survey.language,
        },
        "responses": {
            "started": started,
            "completed": completed,
            "in_progress": started - completed,
            "completion_rate": share(completed, started),
            "mean_seconds": round(seconds / completed) if completed else None,
        },
        "over_time": over_time(days),
        "funnel": funnel(document, counted, started),
        "questions": per_question,
        "nps": nps,
        "sentiment": sentiment_summary(survey, document, days),
    }
