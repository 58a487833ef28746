"""Customers as an import target: their fields, checks, dedupe keys and set-based upsert.

Cells are checked column by column with the validators of customers.validation: a value that
repeats (a city, "yes", a stage) is parsed once per batch, and the rules that span fields run
on each row's already-typed values. The write is three statements whatever the row count:
changes of matched customers (with their audit entries and consent history), then the new
customers (with theirs).
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import literal_column, select, text
from sqlalchemy.dialects import postgresql

from crm_web.accounts.models import Organization
from crm_web.customers import validation
from crm_web.customers.bulk_phones import normalize_phones
from crm_web.customers.fields import BY_NAME, FIELDS, NAMES, of_kind
from crm_web.customers.services import (
    CONSENT_FIELDS,
    allocate_customer_codes,
    customer_code,
    customer_code_sql,
)
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.fields import Field
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

NAME_FIELDS = ("first_name", "last_name", "company_name")
# Runs of white space, or any but the plain space, that the form's tidying would change.
INNER_SPACE = re.compile(r"\s\s|[^\S \x1f]")
EMAILS = of_kind("email")
PHONES = of_kind("phone")
# The cross-field rules that only a new customer must meet (an update keeps the stored name).
NEW_ONLY_ERRORS = {"first_name", "company_name"}


@dataclass(frozen=True)
class Context:
    organization_timezone: str
    users: dict[str, int]
    today: date


def _choice_word(field: Field, value: str) -> str:
    word = value.strip().lower()
    return field.synonyms.get(word, word)


def _single(name: str, timezone: str):
    """A parser for one field's cell, by the same rules as a form (clean_customer)."""
    field = BY_NAME[name]

    def parse(value: str) -> Any:
        if field.kind == "choice":
            value = _choice_word(field, value)
        elif name == "tags":
            value = value.replace(";", ",")
        clean, errors = validation.clean_customer({name: value}, organization_timezone=timezone)
        if name in errors:
            raise validation.FieldError(errors[name])
        return clean[name]

    return parse


def _text_column(cells: list[str], name: str, timezone: str) -> tuple[list, dict[int, str]]:
    """Free-text cells with their spaces tidied (as the form does); only a cell too long goes
    through the full rules, for its message."""
    limit = BY_NAME[name].max_length
    if INNER_SPACE.search("\x1f".join(cells)):
        cells = [" ".join(value.split()) for value in cells]
    values = [value or None for value in cells]
    if max(map(len, cells), default=0) <= limit:
        return values, {}
    errors = {}
    slow = _single(name, timezone)
    for index, value in enumerate(cells):
        if len(value) > limit:
            try:
                values[index] = slow(value)
            except validation.FieldError as exc:
                values[index] = None
                errors[index] = str(exc)
    return values, errors


class CustomerTarget(ImportTarget):
    name = "customers"
    label = "Customers"
    capability = "import customers"
    fields = FIELDS
    dedupe_keys = (("primary_email", "email"), ("primary_phone", "phone"))
    table = "customers"
    loaded_tables = ("customers", "customer_consent_events")
    record_label = "customer_code"
    list_view = ("customers.index", {"sort": "-created"})

    def check_mapping(self, mapped: set[str], dedupe_mode: str) -> dict[str, str]:
        has_name = bool(mapped & set(NAME_FIELDS))
        has_key = bool(mapped & {"primary_email", "primary_phone"})
        if dedupe_mode == "update" and has_key:
            return {}
        if not has_name:
            return {
                "mapping": "Map a column to First name, Last name or Company (or, to update "
                "existing customers, choose “update” and map Email or Phone)."
            }
        if dedupe_mode != "create" and not has_key:
            return {"mapping": "Map Email or Phone so duplicates can be found, or choose “create”."}
        return {}

    def context(self) -> Context:
        timezone = db.session.scalar(
            select(Organization.timezone).where(Organization.id == current_organization_id())
        )
        return Context(timezone or "", active_users_by_email(), date.today())

    def clean(
        self, columns: dict[str, list[str]], context: Context, dedupe_mode: str
    ) -> CleanBatch:
        count = len(next(iter(columns.values()))) if columns else 0
        values: dict[str, list] = {}
        errors: dict[int, dict[str, str]] = {}

        def collect(name: str, column_errors: dict[int, str]) -> None:
            for index, message in column_errors.items():
                errors.setdefault(index, {})[name] = message

        for name, cells in columns.items():
            kind = BY_NAME[name].kind
            if kind == "phone":
                continue
            if kind == "email":
                parsed, column_errors = per_value(cells, validation.normalize_email)
            elif kind in ("text", "multiline"):
                parsed, column_errors = _text_column(cells, name, context.organization_timezone)
            elif kind == "owner":
                parsed, column_errors = per_distinct(cells, user_by_email(context.users))
            else:
                parsed, column_errors = per_distinct(
                    cells, _single(name, context.organization_timezone)
                )
            values[name] = parsed
            collect(name, column_errors)
        if mapped_phones := [name for name in PHONES if name in columns]:
            regions = self._regions(values.get("country"), count, context)
            for name in mapped_phones:
                parsed, column_errors = normalize_phones(columns[name], regions)
                values[name] = parsed
                collect(name, column_errors)
        reasons, update_only = self._check_rows(values, errors, count, context, dedupe_mode)
        return CleanBatch(values, reasons, update_only)

    def _regions(self, countries: list | None, count: int, context: Context) -> list[str | None]:
        if countries is None:
            region = validation.default_region("", context.organization_timezone)
            return [region] * count
        regions = {
            country: validation.default_region(country or "", context.organization_timezone)
            for country in set(countries)
        }
        return [regions[country] for country in countries]

    def _check_rows(
        self,
        values: dict[str, list],
        errors: dict[int, dict[str, str]],
        count: int,
        context: Context,
        dedupe_mode: str,
    ) -> tuple[list[str | None], list[bool]]:
        """The rules that span fields (validation's record check), on each row's typed values."""
        checked = [
            (name, values[name])
            for name in ("birth_date", "customer_since", *EMAILS, *PHONES, "customer_type")
            if name in values
        ]
        contacts = [(name, values[name]) for name in EMAILS + PHONES if name in values]
        names = [values.get(name, [None] * count) for name in NAME_FIELDS]
        types = values.get("customer_type", [None] * count)
        reasons: list[str | None] = [None] * count
        update_only = [False] * count
        rows = enumerate(zip(*names, types, strict=True))
        for index, (first, last, company, customer_type) in rows:
            first, last, company = first or "", last or "", company or ""
            record = {name: column[index] for name, column in checked}
            record.update(first_name=first, last_name=last, company_name=company)
            if not customer_type:
                # No type given: a row with only a company name is a company.
                record["customer_type"] = "company" if company and not (first or last) else "person"
            row_errors = errors.get(index)
            had_errors = bool(row_errors)
            if row_errors is None:
                row_errors = {}
            validation._check_record(record, row_errors, context.today)
            for name, column in contacts:
                if record[name] != column[index]:
                    column[index] = record[name] or None  # moved to the first slot
            if row_errors:
                reasons[index] = self.reason(row_errors)
                # Only a missing name: the row can still update a customer it matches.
                update_only[index] = (
                    dedupe_mode == "update"
                    and not had_errors
                    and set(row_errors) <= NEW_ONLY_ERRORS
                )
        return reasons, update_only

    def update(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return _update(plan, job_id, mapped)

    def create(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return _create(plan, job_id, mapped)


def _new_value(name: str, stored: str, given: str) -> str:
    """SQL for a field's value after an update: the file's, where it has one."""
    if name == "tags":
        # Tags are added to the stored ones, in the file's order, up to the limit.
        return (
            f"CASE WHEN {given} IS NULL THEN {stored} ELSE ({stored} || ARRAY("
            f"SELECT t FROM unnest({given}) WITH ORDINALITY u(t, i) "
            f"WHERE t <> ALL ({stored}) ORDER BY i))[1:{validation.MAX_TAGS}] END"
        )
    return f"coalesce({given}, {stored})"


def _update(plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
    """Apply the file's values to the matched customers; returns how many really changed."""
    values = {name: _new_value(name, f"c.{name}", f"p.{name}") for name in mapped}
    writing.collect_changes(plan, "customers", values, job_id)
    channels = ", ".join(f"('{channel}', '{name}')" for channel, name in CONSENT_FIELDS.items())
    db.session.execute(
        text(
            f"""
            INSERT INTO customer_consent_events
                (organization_id, customer_id, channel, old_value, new_value, source, user_id, note)
            SELECT :org, ch.id, v.channel, (ch.old ->> v.field)::boolean,
                   (ch.new ->> v.field)::boolean, 'import', :user,
                   format('Import #%s, row %s', :job, ch.row_number)
            FROM {writing.CHANGES} ch
            CROSS JOIN LATERAL (VALUES {channels}) v(channel, field)
            WHERE ch.new ? v.field
            """
        ),
        writing.params(job_id),
    )
    return writing.apply_changes(plan, "customers", values, job_id)


def _type_by_names(mapped: tuple[str, ...]) -> str:
    """SQL for the type of a row that gives none: a company if it has only a company name."""
    company = "coalesce(p.company_name, '') <> ''" if "company_name" in mapped else "false"
    person = [
        f"coalesce(p.{name}, '') <> ''" for name in ("first_name", "last_name") if name in mapped
    ]
    return f"CASE WHEN {company} AND NOT ({' OR '.join(person) or 'false'}) THEN 'company' ELSE 'person' END"


def _create(plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
    """Insert the planned new customers with consecutive codes; returns how many."""
    count = writing.planned(plan, "create")
    if not count:
        return 0
    first = allocate_customer_codes(count)
    code = customer_code_sql(literal_column(f"({first} + p.create_seq - 1)")).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    # Where the file's cell is empty, a new customer gets the model's default; its type
    # follows from the names it has.
    defaults = {"customer_type": _type_by_names(mapped)}
    values = writing.new_values("customers", NAMES, mapped, defaults)
    consent = ", ".join(f"('{channel}', c.{name})" for channel, name in CONSENT_FIELDS.items())
    db.session.execute(
        text(
            f"""
            WITH created AS (
                INSERT INTO customers (organization_id, customer_code, {", ".join(values)})
                SELECT :org, {code}, {", ".join(values.values())}
                FROM {plan} p WHERE p.action = 'create' ORDER BY p.row_number
                RETURNING id, {", ".join(CONSENT_FIELDS.values())}
            )
            -- A new customer's "no" is the default, not a decision (as in the form).
            INSERT INTO customer_consent_events
                (organization_id, customer_id, channel, old_value, new_value, source, user_id, note)
            SELECT :org, c.id, v.channel, NULL, true, 'import', :user, :note
            FROM created c CROSS JOIN LATERAL (VALUES {consent}) v(channel, value)
            WHERE v.value
            """
        ),
        {**writing.params(job_id), "note": f"Import #{job_id}"},
    )
    writing.record_created(
        "customers", customer_code(first), customer_code(first + count - 1), count, job_id
    )
    return count


register(CustomerTarget())
