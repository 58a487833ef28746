"""Leads as an import target: their fields, checks, dedupe keys and set-based upsert.

Cells are checked column by column with the lead services' own field checks (check_field),
each distinct value once where values repeat; the rules that span fields (a name, an email or
a phone, a reason for a disqualified lead) run on each row's typed values.

New leads are captured as any other lead is: numbered, routed by the assignment rules (the
whole file at once, as if its leads came in one after another, see assignment.route_many) and
scored, in one INSERT that scores each row on its way in, followed by their assignment history
and its audit entries. Matched leads are updated with their audit entries and rescored; a
converted lead is left alone (its customer is what changes now).
"""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import literal_column, text
from sqlalchemy.dialects import postgresql

from crm_web.customers.bulk_phones import normalize_phones
from crm_web.customers.validation import FieldError
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.imports import writing
from crm_web.imports.targets import (
    CleanBatch,
    ImportTarget,
    active_users_by_email,
    per_distinct,
    per_value,
    register,
    user_by_email,
)
from crm_web.leads import assignment, scoring, services
from crm_web.leads.fields import IMPORT_FIELDS
from crm_web.leads.models import OPEN_STATUSES
from crm_web.sequences import allocate, document_number_sql

# The statuses a new lead may start in: "converted" comes only with its customer.
STATUSES = tuple(status for status in services.STATUS_LABELS if status != "converted")
# Words people write for the choices, folded (lower case, single spaces), Turkish too.
SYNONYMS = {f.name: f.synonyms for f in IMPORT_FIELDS}
# Choices written as identifiers, which people write as words ("Web form", "decision-maker").
WORD_CHOICES = ("source", "authority")
# Where the file's cell is empty, a new lead gets the model's default, as a capture does;
# the budget is typed even when unmapped: the scoring of the new row reads it.
NEW_DEFAULTS = {"budget": "NULL::numeric"}
# The fields the rules that span a row read.
FIELDS_SPANNED = ("first_name", "last_name", "email", "phone", "status", "disqualified_reason")
# What routing reads of a new lead.
ROUTED = ("source", "industry", "country", "city", "status")


@dataclass(frozen=True)
class Context:
    users: dict[str, int]


@dataclass(frozen=True)
class NewLead:
    """A new lead as the assignment rules see it."""

    source: str
    industry: str
    country: str
    city: str


def _fold(name: str, value: str) -> str:
    word = " ".join(value.lower().split())
    word = SYNONYMS[name].get(word, word)
    return word.replace(" ", "_").replace("-", "_") if name in WORD_CHOICES else word


def _choice(name: str, allowed: tuple[str, ...]):
    """A parser for a choice cell: the lead's own check, on the word folded, with the choices
    spelled out (a file has no list to pick from)."""

    def parse(value: str) -> str:
        word = _fold(name, value)
        if word not in allowed:
            if name == "status" and word == "converted":
                raise FieldError(_("A lead is converted from its page; import it as qualified."))
            raise FieldError(
                _("Use one of: %(choices)s.", choices=", ".join(c for c in allowed if c))
            )
        return word if name == "status" else services.check_field(name, word)

    return parse


def _text_column(cells: list[str], parse, limit: int) -> tuple[list, dict[int, str]]:
    """Free-text cells (already stripped): parsed one by one only in a column holding a cell
    past the limit, for its message."""
    if max(map(len, cells), default=0) <= limit:
        return [value or None for value in cells], {}
    return per_value(cells, parse)


def _reason(value: str) -> str:
    """A disqualification reason, within the limit the workflow sets."""
    if len(value) > services.MAX_REASON:
        raise FieldError(_("Keep it under %(num)s characters.", num=services.MAX_REASON))
    return value


class LeadTarget(ImportTarget):
    name = "leads"
    label = _l("Leads")
    # Whoever may capture leads by hand.
    capability = "capture leads"
    fields = IMPORT_FIELDS
    dedupe_keys = (("email", "email"), ("phone", "phone"))
    table = "leads"
    loaded_tables = ("leads", "lead_assignments")
    record_label = "lead_number"
    list_view = ("leads.index", {})
    locked = ("t.status = 'converted'", str(services.CONVERTED))

    def check_mapping(self, mapped: set[str], dedupe_mode: str) -> dict[str, str]:
        has_key = bool(mapped & {"email", "phone"})
        if not has_key:
            return {"mapping": _("Map Email or Phone: a lead needs one of them.")}
        if dedupe_mode != "update" and not {"first_name", "last_name"} <= mapped:
            return {
                "mapping": _(
                    "Map columns to First name and Last name (or, to update existing "
                    "leads, choose “update”)."
                )
            }
        return {}

    def context(self) -> Context:
        return Context(active_users_by_email())

    def clean(
        self, columns: dict[str, list[str]], context: Context, dedupe_mode: str
    ) -> CleanBatch:
        count = len(next(iter(columns.values()))) if columns else 0
        values: dict[str, list] = {}
        errors: dict[int, dict[str, str]] = {}
        for name, cells in columns.items():
            if name == "phone":
                continue
            if name in ("email", "website"):
                parsed, column_errors = per_value(cells, services.check_field_of(name))
            elif name in services.TEXT_LIMITS:
                parsed, column_errors = _text_column(
                    cells, services.check_field_of(name), services.TEXT_LIMITS[name]
                )
            elif name == "disqualified_reason":
                parsed, column_errors = _text_column(cells, _reason, services.MAX_REASON)
            elif name in services.CHOICES:
                parsed, column_errors = per_distinct(
                    cells, _choice(name, services.CHOICES[name][0])
                )
            elif name == "status":
                parsed, column_errors = per_distinct(cells, _choice(name, STATUSES))
            elif name == "assigned_to_id":
                parsed, column_errors = per_distinct(cells, user_by_email(context.users))
            else:
                parsed, column_errors = per_distinct(cells, services.check_field_of(name))
            values[name] = parsed
            for index, message in column_errors.items():
                errors.setdefault(index, {})[name] = message
        if "phone" in columns:
            # A number without + is read in the lead's country, as the form reads it.
            regions = values.get("country") or [None] * count
            values["phone"], column_errors = normalize_phones(columns["phone"], regions)
            for index in column_errors:
                errors.setdefault(index, {})["phone"] = str(services.PHONE_ERROR)
        reasons, update_only = self._check_rows(values, errors, count, dedupe_mode)
        return CleanBatch(values, reasons, update_only)

    def _check_rows(
        self,
        values: dict[str, list],
        errors: dict[int, dict[str, str]],
        count: int,
        dedupe_mode: str,
    ) -> tuple[list[str | None], list[bool]]:
        """The rules that span fields, on each row's typed values: what only a new lead must
        meet (a name; a reason when it starts disqualified) may still update a stored one."""
        empty = [None] * count
        column = {name: values.get(name, empty) for name in FIELDS_SPANNED}
        reasons: list[str | None] = [None] * count
        update_only = [False] * count
        for index in range(count):
            row_errors = errors.get(index, {})
            if not (column["email"][index] or column["phone"][index]) and not (
                {"email", "phone"} & set(row_errors)
            ):
                row_errors["email"] = str(services.EMAIL_OR_PHONE)
            new_only = {
                name: str(services.REQUIRED)
                for name in ("first_name", "last_name")
                if not column[name][index] and name not in row_errors
            }
            if column["status"][index] != "disqualified":
                # A reason belongs to a disqualified lead only (as the workflow keeps it).
                column["disqualified_reason"][index] = None
            elif not column["disqualified_reason"][index]:
                new_only["disqualified_reason"] = str(services.DISQUALIFY_REASON)
            if row_errors or new_only:
                reasons[index] = self.reason({**row_errors, **new_only})
                update_only[index] = dedupe_mode == "update" and not row_errors
        return reasons, update_only

    def update(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return _update(plan, job_id, mapped)

    def create(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return _create(plan, job_id, mapped)


def _update(plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
    """Apply the file's values to the matched leads, scored again in the same statement."""
    values = {
        name: f"coalesce(p.{name}, c.{name})" for name in mapped if name in services.LEAD_FIELDS
    }
    if not values:
        return 0
    writing.collect_changes(plan, "leads", values, job_id)
    after = {name: values.get(name, f"c.{name}") for name in ("organization_id", *scoring.FIELDS)}
    row = "(SELECT " + ", ".join(f"{sql} AS {name}" for name, sql in after.items()) + ")"
    return writing.apply_changes(plan, "leads", values, job_id, scoring.scored_columns_sql(row))


def _routes(
    plan: str, values: dict[str, str], mapped: tuple[str, ...], job_id: int
) -> list[tuple[int, int, int | None, str, str]]:
    """Who gets each new lead, as (create_seq, user, rule, method, note): the file's owner,
    else (if the organization assigns automatically) the assignment rules; a lead that starts
    disqualified has nobody to work it."""
    owner = "p.assigned_to_id" if "assigned_to_id" in mapped else "NULL::bigint"
    rows = db.session.execute(
        text(
            f"SELECT p.create_seq, {owner}, {', '.join(values[name] for name in ROUTED)} "
            f"FROM {plan} p WHERE p.action = 'create' ORDER BY p.row_number"
        )
    ).all()
    routes = []
    routed = []
    for seq, owner_id, source, industry, country, city, status in rows:
        if owner_id is not None:
            routes.append((seq, owner_id, None, "manual", f"Chosen in import #{job_id}"))
        elif status in OPEN_STATUSES:
            routed.append((seq, NewLead(source, industry, country, city)))
    if routed and services.get_settings().auto_assign:
        chosen = assignment.route_many([lead for _seq, lead in routed])
        routes += [
            (seq, route.user_id, route.rule_id, route.method, route.note)
            for (seq, _lead), route in zip(routed, chosen, strict=True)
            if route is not None
        ]
    return routes


def _create(plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
    """Insert the planned new leads with consecutive numbers, routed and scored; returns how many."""
    count = writing.planned(plan, "create")
    if not count:
        return 0
    organization_id = current_organization_id()
    first = allocate(organization_id, "lead", count)
    number = document_number_sql("LEAD", literal_column(f"({first} + p.create_seq - 1)")).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    values = writing.new_values(
        "leads", [f.name for f in IMPORT_FIELDS if f.kind != "owner"], mapped, NEW_DEFAULTS
    )
    routes = _routes(plan, values, mapped, job_id)
    # The new lead as a row `l` with every column scoring reads, so it is scored on its way in.
    new_lead = {
        "organization_id": ":org",
        "lead_number": number,
        "captured_via": "'import'",
        **values,
        "status_changed_at": "now()",
        "form_submissions": "0",
        "activity_count": "0",
        "last_activity_at": "NULL::timestamptz",
        "created_by_id": ":user",
        "assigned_to_id": "r.user_id",
        "assigned_at": "CASE WHEN r.user_id IS NOT NULL THEN now() END",
    }
    columns = ", ".join(new_lead)
    db.session.execute(
        text(
            f"""
            WITH routes AS (
                SELECT * FROM unnest(CAST(:seqs AS bigint[]), CAST(:numbers AS text[]),
                                     CAST(:users AS bigint[]), CAST(:rules AS bigint[]),
                                     CAST(:methods AS text[]), CAST(:notes AS text[]))
                    AS r(seq, lead_number, user_id, rule_id, method, note)
            ), created AS (
                INSERT INTO leads ({columns}, lead_score, score_breakdown, recommended_action,
                                   scored_at)
                SELECT {", ".join(f"l.{name}" for name in new_lead)},
                       x.score, x.breakdown, x.action, now()
                FROM (
                    SELECT p.row_number, p.create_seq,
                           {", ".join(f"{sql} AS {name}" for name, sql in new_lead.items())}
                    FROM {plan} p LEFT JOIN routes r ON r.seq = p.create_seq
                    WHERE p.action = 'create'
                ) l
                CROSS JOIN LATERAL ({scoring.SCORE_OF_LEAD}) x
                ORDER BY l.row_number
                RETURNING id, lead_number, assigned_to_id
            ), history AS (
                INSERT INTO lead_assignments
                    (organization_id, lead_id, user_id, rule_id, method, note, assigned_by_id)
                SELECT :org, c.id, c.assigned_to_id, r.rule_id, r.method, r.note, :user
                FROM created c JOIN routes r ON r.lead_number = c.lead_number
                RETURNING *
            )
            -- Every assignment is audited, as the capture of a single lead audits it.
            INSERT INTO audit_log (organization_id, user_id, action, table_name, row_id, new_values)
            SELECT :org, :user, 'create', 'lead_assignments', h.id::text, to_jsonb(h)
            FROM history h
            """
        ),
        {
            **writing.params(job_id),
            "seqs": [route[0] for route in routes],
            "numbers": [services.lead_number(first + route[0] - 1) for route in routes],
            "users": [route[1] for route in routes],
            "rules": [route[2] for route in routes],
            "methods": [route[3] for route in routes],
            "notes": [route[4] for route in routes],
        },
    )
    writing.record_created(
        "leads",
        services.lead_number(first),
        services.lead_number(first + count - 1),
        count,
        job_id,
    )
    return count


register(LeadTarget())
