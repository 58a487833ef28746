"""A survey's responses: the filtered list (keyset pages, newest first), its CSV export through
the one CSV writer, and one response's answers as the reader sees them."""

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from crm_web.customers.models import Customer
from crm_web.db import current_tenant, tenant_scope
from crm_web.errors import NotFound, check_fields
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page
from crm_web.surveys import sentiment, services
from crm_web.surveys.analytics import DETRACTOR, PROMOTER, document_of
from crm_web.surveys.definition import questions
from crm_web.surveys.models import CHANNELS, RESPONSE_STATES, Survey, SurveyResponse

NPS_GROUPS = {
    "promoter": _l("Promoters"),
    "passive": _l("Passives"),
    "detractor": _l("Detractors"),
}
SENTIMENTS = {
    sentiment.POSITIVE: _l("Positive"),
    sentiment.NEUTRAL: _l("Neutral"),
    sentiment.NEGATIVE: _l("Negative"),
}
CHANNEL_LABELS = {
    "public": _l("Public link"),
    "email": _l("Email"),
    "sms": _l("SMS"),
    "ticket": _l("After a ticket"),
    "automation": _l("Automation"),
}
STATES = {"in_progress": _l("In progress"), "completed": _l("Completed")}
STREAM_ROWS = 2000
CSV_HEADER = (
    "response_id",
    "started_at",
    "completed_at",
    "state",
    "channel",
    "customer_code",
    "completion",
    "duration_seconds",
    "nps",
    "sentiment",
    "sentiment_label",
)


@dataclass(frozen=True)
class Filters:
    """What the list shows: every value optional ("" means any)."""

    state: str = ""
    channel: str = ""
    nps: str = ""
    sentiment: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def query(self) -> dict:
        """The filters as URL parameters (for the next page's and the CSV's links)."""
        values = {
            "state": self.state,
            "channel": self.channel,
            "nps": self.nps,
            "sentiment": self.sentiment,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def parse_filters(args: Mapping) -> Filters:
    """The filters in a request's arguments; a field-level message for what is not valid."""
    errors: dict[str, str] = {}
    choices = {
        "state": RESPONSE_STATES,
        "channel": CHANNELS,
        "nps": tuple(NPS_GROUPS),
        "sentiment": tuple(SENTIMENTS),
    }
    values: dict = {}
    for name, allowed in choices.items():
        values[name] = (args.get(name) or "").strip()
        if values[name] and values[name] not in allowed:
            errors[name] = _("Choose one of the options.")
            values[name] = ""
    for name in ("since", "until"):
        raw = (args.get(name) or "").strip()
        values[name] = None
        if raw:
            try:
                values[name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[name] = _("Use a date such as 2026-11-21.")
    check_fields(errors)
    return Filters(**values)


def _filtered(survey: Survey, filters: Filters) -> Select:
    stmt = select(SurveyResponse).where(
        SurveyResponse.organization_id == survey.organization_id,
        SurveyResponse.survey_id == survey.id,
    )
    if filters.state:
        stmt = stmt.where(SurveyResponse.state == filters.state)
    if filters.channel:
        stmt = stmt.where(SurveyResponse.channel == filters.channel)
    if filters.nps == "promoter":
        stmt = stmt.where(SurveyResponse.nps >= PROMOTER)
    elif filters.nps == "passive":
        stmt = stmt.where(SurveyResponse.nps.between(DETRACTOR + 1, PROMOTER - 1))
    elif filters.nps == "detractor":
        stmt = stmt.where(SurveyResponse.nps <= DETRACTOR)
    if filters.sentiment:
        stmt = stmt.where(SurveyResponse.sentiment_label == filters.sentiment)
    # Dates are whole days in UTC, as the CSV writes the times; compared as moments, so the
    # index on start time serves them.
    if filters.since:
        since = dt.datetime.combine(filters.since, dt.time(), dt.UTC)
        stmt = stmt.where(SurveyResponse.started_at >= since)
    if filters.until:
        until = dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        stmt = stmt.where(SurveyResponse.started_at < until)
    return stmt


def list_responses(survey: Survey, filters: Filters, cursor: str | None = None) -> Page:
    """A page of the survey's responses matching `filters`, newest first."""
    return keyset_page(_filtered(survey, filters), (SurveyResponse.id,), cursor=cursor, limit=50)


def customer_names(responses: list[SurveyResponse]) -> dict[int, str]:
    """customer id -> name, for the customers of a page of responses (one query)."""
    ids = {r.customer_id for r in responses if r.customer_id is not None}
    if not ids:
        return {}
    found = db.session.scalars(
        select(Customer).where(
            Customer.id.in_(ids), Customer.organization_id == current_tenant().organization_id
        )
    )
    return {customer.id: customer.display_name for customer in found}


def get_response(survey: Survey, response_id: int) -> SurveyResponse:
    """One of the survey's responses, or NotFound."""
    response = db.session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.id == response_id,
            SurveyResponse.survey_id == survey.id,
            SurveyResponse.organization_id == survey.organization_id,
        )
    )
    if response is None:
        raise NotFound(_("No such response."))
    return response


def _labels(items: list[dict]) -> dict[str, str]:
    return {item["id"]: item["label"] for item in items}


def display_answer(question: dict, value) -> str:
    """An answer as a reader (and the CSV) sees it: option labels rather than ids, a matrix
    as "row: column", a ranking in order, a file by its name."""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    kind = question["type"]
    if kind in ("single", "dropdown"):
        return _labels(question["options"]).get(value, str(value))
    if kind in ("multiple", "ranking"):
        names = _labels(question["options"])
        return (" > " if kind == "ranking" else "; ").join(names.get(v, str(v)) for v in value)
    if kind == "matrix":
        rows, columns = _labels(question["rows"]), _labels(question["columns"])
        return "; ".join(
            f"{rows.get(row, row)}: "
            + ", ".join(
                columns.get(c, c) for c in (picked if isinstance(picked, list) else [picked])
            )
            for row, picked in value.items()
        )
    if kind == "file":
        return str(value.get("name", "")) if isinstance(value, dict) else ""
    return str(value)


def answered_questions(survey: Survey, response: SurveyResponse) -> list[tuple[dict, str]]:
    """The questions of the version a response answered, each with its answer as shown."""
    version = services.get_version(survey, response.version_id) if response.version_id else None
    document = version.definition if version is not None else document_of(survey)
    return [(q, display_answer(q, response.answers.get(q["id"]))) for q in questions(document)]


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def csv_header(survey: Survey) -> list[str]:
    """The CSV's columns: the response's own, then one per question (by its title)."""
    return [*CSV_HEADER, *(q["title"] for q in questions(document_of(survey)))]


def csv_rows(survey: Survey, filters: Filters) -> Iterator[list]:
    """Every response matching `filters`, oldest first, read in batches from a server-side
    cursor; the generator keeps the caller's tenant, as a streamed response outlives the
    request's own scope."""
    tenant = current_tenant()
    document = document_of(survey)
    stmt = (
        _filtered(survey, filters)
        .add_columns(Customer.customer_code)
        .outerjoin(
            Customer,
            (Customer.id == SurveyResponse.customer_id)
            & (Customer.organization_id == SurveyResponse.organization_id),
        )
        .order_by(SurveyResponse.id)
        .execution_options(yield_per=STREAM_ROWS)
    )

    def rows() -> Iterator[list]:
        with tenant_scope(tenant.organization_id, tenant.user_id):
            for response, customer_code in db.session.execute(stmt):
                yield [
                    response.id,
                    _iso(response.started_at),
                    _iso(response.completed_at),
                    response.state,
                    response.channel,
                    customer_code or "",
                    response.completion,
                    response.duration_seconds,
                    response.nps,
                    response.sentiment,
                    response.sentiment_label,
                    *(
                        display_answer(q, response.answers.get(q["id"]))
                        for q in questions(document)
                    ),
                ]

    return rows()
