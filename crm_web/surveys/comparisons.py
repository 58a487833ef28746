"""Survey figures side by side, asked live: one question's answers by a customer attribute or
by membership of a segment (cross-tab), and the survey's headline figures against an earlier
survey or the organization's other surveys (benchmark)."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from crm_web.db import current_organization_id
from crm_web.errors import invalid
from crm_web.extensions import db
from crm_web.labels import label
from crm_web.segments.models import Segment
from crm_web.surveys.analytics import CHOICES, DETRACTOR, PROMOTER, document_of, share
from crm_web.surveys.definition import NUMERIC_TYPES, question_index
from crm_web.surveys.models import Survey
from crm_web.surveys.response_list import CHANNEL_LABELS

# attribute -> (its label, the SQL of its value for a response `r` and its customer `c`, the
# vocabulary of crm_web.labels or the names its values read as, if any). Only these reach the
# SQL.
ATTRIBUTES = {
    "customer_type": (_l("Customer type"), "c.customer_type", "customer_type"),
    "lifecycle_stage": (_l("Lifecycle stage"), "c.lifecycle_stage", "lifecycle_stage"),
    "city": (_l("City"), "nullif(c.city, '')", None),
    "country": (_l("Country"), "nullif(c.country, '')", None),
    "language": (_l("Language"), "nullif(c.language, '')", None),
    "channel": (_l("Channel"), "r.channel", CHANNEL_LABELS),
}
SEGMENT = "segment:"
GROUPS = 12
CROSS_TYPES = CHOICES + NUMERIC_TYPES


def crosstab_choices(survey: Survey) -> dict:
    """What a cross-tab can take: the questions, the attributes and the segments."""
    document = document_of(survey)
    segments = db.session.execute(
        select(Segment.id, Segment.segment_name)
        .where(Segment.organization_id == current_organization_id(), Segment.is_active)
        .order_by(Segment.segment_name)
    ).all()
    return {
        "questions": [
            (question_id, found[2]["title"])
            for question_id, found in question_index(document).items()
            if found[2]["type"] in CROSS_TYPES
        ],
        "attributes": [(key, str(spec[0])) for key, spec in ATTRIBUTES.items()]
        + [(f"{SEGMENT}{segment_id}", name) for segment_id, name in segments],
    }


def _group_sql(by: str) -> tuple[str, dict, str, str | dict | None]:
    """The SQL of the group a response falls in, its parameters, the grouping's name and the
    label family of its values."""
    if by in ATTRIBUTES:
        title, sql, family = ATTRIBUTES[by]
        return sql, {}, str(title), family
    if by.startswith(SEGMENT) and by[len(SEGMENT) :].isdigit():
        segment = db.session.scalar(
            select(Segment).where(
                Segment.id == int(by[len(SEGMENT) :]),
                Segment.organization_id == current_organization_id(),
            )
        )
        if segment is not None:
            sql = (
                "EXISTS (SELECT 1 FROM segment_members m WHERE m.organization_id = r.organization_id"
                " AND m.segment_id = :segment AND m.customer_id = r.customer_id"
                " AND m.left_at IS NULL)"
            )
            return sql, {"segment": segment.id}, segment.segment_name, None
    raise invalid({"by": _("Choose a customer attribute or a segment.")})


def _group_label(value, family: str | dict | None) -> str:
    if value is None:
        return _("No customer")
    if value is True:
        return _("In the segment")
    if value is False:
        return _("Not in the segment")
    if isinstance(family, dict):
        return str(family.get(value, value))
    return label(value, family) if family else str(value)


def crosstab(survey: Survey, question_id: str, by: str) -> dict:
    """One question's answers by `by` (an attribute of ATTRIBUTES or "segment:<id>"): for a
    choice, each group's count per option; for a number, each group's count and mean (and NPS
    for an NPS question). The groups answering most come first, GROUPS of them."""
    found = question_index(document_of(survey)).get(question_id)
    if found is None or found[2]["type"] not in CROSS_TYPES:
        raise invalid({"question": _("Choose a question with choices or numbers.")})
    question = found[2]
    group, params, title, family = _group_sql(by)
    params.update(org=survey.organization_id, survey=survey.id, q=question_id)
    source = (
        "FROM survey_responses r LEFT JOIN customers c "
        "ON c.id = r.customer_id AND c.organization_id = r.organization_id "
    )
    where = "WHERE r.organization_id = :org AND r.survey_id = :survey AND r.answers ? :q "
    if question["type"] in NUMERIC_TYPES:
        rows = db.session.execute(
            text(
                f"SELECT {group} AS grp, count(*) AS n, avg((r.answers->>:q)::numeric) AS mean, "
                f"count(*) FILTER (WHERE (r.answers->>:q)::numeric >= {PROMOTER}) AS promoters, "
                f"count(*) FILTER (WHERE (r.answers->>:q)::numeric <= {DETRACTOR}) AS detractors "
                f"{source}{where}GROUP BY 1 ORDER BY n DESC LIMIT {GROUPS}"
            ),
            params,
        ).all()
        groups = [
            {
                "label": _group_label(row.grp, family),
                "responses": row.n,
                "mean": round(float(row.mean), 2),
                "nps": round(100 * (row.promoters - row.detractors) / row.n, 1)
                if question["type"] == "nps"
                else None,
            }
            for row in rows
        ]
        return {"question": question, "by": title, "numeric": True, "groups": groups}
    chosen = (
        "jsonb_array_elements_text(r.answers->:q)"
        if question["type"] == "multiple"
        else "(SELECT r.answers->>:q)"
    )
    # Each group's count per option, and (the grouping set without the answer) how many of
    # the group answered: a respondent may tick several options of a multiple choice.
    rows = db.session.execute(
        text(
            "SELECT grp, answer, GROUPING(answer) = 1 AS whole, count(DISTINCT id) AS n "
            f"FROM (SELECT {group} AS grp, r.id, a.answer "
            f"{source}CROSS JOIN LATERAL {chosen} AS a(answer) {where}) answered "
            "GROUP BY GROUPING SETS ((grp, answer), (grp))"
        ),
        params,
    ).all()
    totals = {row.grp: row.n for row in rows if row.whole}
    kept = sorted(totals, key=lambda grp: (-totals[grp], str(grp)))[:GROUPS]
    counts = {(row.grp, row.answer): row.n for row in rows if not row.whole}
    options = question["options"]
    table = [
        {
            "label": _group_label(grp, family),
            "responses": totals[grp],
            "cells": [
                {
                    "count": counts.get((grp, o["id"]), 0),
                    "percent": share(counts.get((grp, o["id"]), 0), totals[grp]),
                }
                for o in options
            ],
        }
        for grp in kept
    ]
    return {
        "question": question,
        "by": title,
        "numeric": False,
        "columns": [o["label"] for o in options],
        "groups": table,
    }


def benchmark_choices(survey: Survey) -> list[tuple[int, str]]:
    """The organization's other surveys, newest first."""
    return db.session.execute(
        select(Survey.id, Survey.name)
        .where(Survey.organization_id == survey.organization_id, Survey.id != survey.id)
        .order_by(Survey.id.desc())
    ).all()


def _figures(row) -> dict:
    if row is None:
        return {"responses": 0, "completion_rate": 0.0, "nps": None, "sentiment": None}
    return {
        "responses": row.started,
        "completion_rate": share(row.completed, row.started),
        "nps": round(100 * (row.promoters - row.detractors) / row.nps, 1) if row.nps else None,
        "sentiment": round(float(row.sentiment), 3) if row.sentiment is not None else None,
    }


def benchmark(survey: Survey, against: str = "") -> dict:
    """This survey's responses, completion rate, NPS and mean sentiment beside another survey's
    (`against` its id) or, by default, all the organization's other surveys' responses pooled."""
    other = None
    if against:
        other = next((s for s in benchmark_choices(survey) if str(s.id) == against), None)
        if other is None:
            raise invalid({"against": _("Choose one of the organization's surveys.")})
    rows = db.session.execute(
        text(
            "SELECT survey_id = :survey AS this, count(*) AS started, "
            "count(*) FILTER (WHERE state = 'completed') AS completed, count(nps) AS nps, "
            f"count(*) FILTER (WHERE nps >= {PROMOTER}) AS promoters, "
            f"count(*) FILTER (WHERE nps <= {DETRACTOR}) AS detractors, "
            "avg(sentiment) AS sentiment FROM survey_responses "
            "WHERE organization_id = :org"
            + (" AND survey_id IN (:survey, :other)" if other else "")
            + " GROUP BY 1"
        ),
        {"org": survey.organization_id, "survey": survey.id, "other": other and other.id},
    ).all()
    found = {row.this: row for row in rows}
    return {
        "this": _figures(found.get(True)),
        "other": _figures(found.get(False)),
        "other_name": other.name if other else _("The organization's other surveys"),
    }
