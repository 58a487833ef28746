"""What a kind of record (customers, leads) must tell the import machinery.

The machinery (imports.services) reads the file, maps columns, stages rows with COPY, finds
duplicates, reports progress and rejects; a target says which fields exist, how a batch of
raw values becomes typed values or reasons, which fields identify a record, and how the
staged rows are written (its set-based upsert).
"""

import importlib
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.errors import NotFound
from crm_web.extensions import db
from crm_web.fields import Field

# Target name -> module that defines it; importing the module registers the target.
TARGET_MODULES = {
    "customers": "crm_web.customers.importing",
    "leads": "crm_web.leads.importing",
    "products": "crm_web.catalog.importing",
    "orders": "crm_web.catalog.order_importing",
}
_TARGETS: dict[str, "ImportTarget"] = {}


@dataclass
class CleanBatch:
    """A batch of rows after a target's checks: typed values per field and a reason per row.

    `values[field][i]` is None where the cell was empty, so an update keeps what is stored.
    A row with `update_only[i]` set is incomplete as a new record (reasons[i] says why) but
    may still update an existing one.
    """

    values: dict[str, list[Any]]
    reasons: list[str | None]
    update_only: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    """What a target's write did."""

    created: int
    updated: int
    # Planned rows the write turned away after all, as (row number, 'reject' or 'skip', why):
    # what only writing finds (an order beyond the stock). The write leaves them unwritten.
    refused: list[tuple[int, str, str]] = field(default_factory=list)


class ImportTarget(ABC):
    """The record-type side of an import; subclasses fill in the blanks."""

    name: str
    label: str
    # Who may import this kind of record: a capability of crm_web.permissions.
    capability: str
    # The fields a column can be mapped to (the domain's registry, see crm_web.fields).
    fields: tuple[Field, ...]
    # Fields that identify a record, in order of trust: (field, label for messages). The
    # table has the same column names.
    dedupe_keys: tuple[tuple[str, str], ...]
    table: str
    # A column of `table` that names a record to a person (customer_code).
    record_label: str
    # The list the result page links to, as (endpoint, query arguments): newest first.
    list_view: tuple[str, dict[str, str]]
    # Every table a run writes besides the audit log (`table` first): analyzed after a run
    # that changed enough of them (crm_web.db.analyze_loaded).
    loaded_tables: tuple[str, ...] = ()
    # Stored records a file may match but not change, as (SQL condition on the record `t`,
    # the reason shown for the row): in "update" mode their rows are skipped.
    locked: tuple[str, str] | None = None
    # Whether the dry run writes too and takes it back, so that rows only the write can
    # refuse (Stats.refused) are in its report.
    rehearses: bool = False

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @abstractmethod
    def check_mapping(self, mapped: set[str], dedupe_mode: str) -> dict[str, str]:
        """Field errors for a mapping that cannot make records (e.g. no name column)."""

    def context(self) -> Any:
        """Anything clean() needs that is the same for every row (loaded once per run)."""
        return None

    @abstractmethod
    def clean(self, columns: dict[str, list[str]], context: Any, dedupe_mode: str) -> CleanBatch:
        """Typed values and per-row reasons for a batch of raw (stripped) cells per mapped field."""

    def reason(self, errors: dict[str, str]) -> str:
        """A row's reason from its errors by field, each under the field's label."""
        return " ".join(f"{self.field(name).label}: {message}" for name, message in errors.items())

    def write(self, plan: str, job_id: int, mapped: tuple[str, ...], mode: str) -> Stats:
        """Create and update the records of the planned rows (action 'create' / 'update' in the
        temp table `plan`, which has the staged fields plus match_id and create_seq)."""
        updated = self.update(plan, job_id, mapped) if mode == "update" else 0
        return Stats(created=self.create(plan, job_id, mapped), updated=updated)

    @abstractmethod
    def update(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        """Apply the planned updates to the matched records; how many really changed."""

    @abstractmethod
    def create(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        """Insert the planned new records; how many."""


def register(target: ImportTarget) -> ImportTarget:
    _TARGETS[target.name] = target
    return target


def get_target(name: str) -> ImportTarget:
    """The target called `name`, or NotFound."""
    if name not in _TARGETS and name in TARGET_MODULES:
        importlib.import_module(TARGET_MODULES[name])
    if name not in _TARGETS:
        raise NotFound(_("Nothing of that kind can be imported."))
    return _TARGETS[name]


def active_users_by_email() -> dict[str, int]:
    """The organization's active users by lower-cased email, for a column of owners."""
    rows = db.session.execute(
        select(func.lower(User.email), User.id).where(
            User.organization_id == current_organization_id(), User.is_active
        )
    ).all()
    return dict(rows)


def user_by_email(users: dict[str, int]) -> Callable[[str], int]:
    """A cell parser: the id of the active user with this email (from active_users_by_email)."""

    def parse(email: str) -> int:
        user_id = users.get(email.strip().lower())
        if user_id is None:
            raise ValueError(_("No active user of this organization has this email."))
        return user_id

    return parse


_TURKISH = str.maketrans("çğıöşüÇĞİÖŞÜ", "cgiosuCGIOSU")


def fold_header(text: str) -> str:
    """A header name reduced to lower-case ASCII letters and digits ("E-posta" -> "eposta")."""
    text = text.translate(_TURKISH)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def guess_mapping(target: ImportTarget, headers: list[str]) -> list[str]:
    """The field each header most likely means ("" for none); each field is used once."""
    by_alias = {}
    for f in target.fields:
        for alias in (f.name, f.label, *f.aliases):
            by_alias.setdefault(fold_header(alias), f.name)
    mapping, used = [], set()
    for header in headers:
        name = by_alias.get(fold_header(header), "")
        if name in used:
            name = ""
        used.add(name)
        mapping.append(name)
    return mapping


def per_distinct(values: list[str], parse: Callable[[str], Any]) -> tuple[list, dict[int, str]]:
    """parse() each distinct value once (most columns repeat: cities, yes/no, stages);
    returns the parsed column (None for empty cells) and an error message by row index."""
    results: dict[str, tuple[Any, str | None]] = {}
    for value in set(values):
        if not value:
            results[value] = (None, None)
            continue
        try:
            results[value] = (parse(value), None)
        except ValueError as exc:
            results[value] = (None, str(exc))
    parsed, errors = [], {}
    for index, value in enumerate(values):
        result, error = results[value]
        parsed.append(result)
        if error:
            errors[index] = error
    return parsed, errors


def per_value(values: list[str], parse: Callable[[str], Any]) -> tuple[list, dict[int, str]]:
    """parse() every non-empty value (for columns whose values are all different)."""
    parsed, errors = [], {}
    for index, value in enumerate(values):
        if not value:
            parsed.append(None)
            continue
        try:
            parsed.append(parse(value))
        except ValueError as exc:
            parsed.append(None)
            errors[index] = str(exc)
    return parsed, errors
