"""Customers: the list's filters and search, create/edit with validation, consent, bulk actions, merge.

Over 600 lines for now: the list's filters, create and edit, bulk actions and merge (its
sections) all work on the same filters and validation; bulk actions and merge are the seams
to split along when the segments issue extends the filters.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    and_,
    any_,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import joinedload

from crm_web import formatting
from crm_web.accounts.models import Organization, User
from crm_web.customers.fields import NAMES
from crm_web.customers.models import (
    CONSENT_SOURCES,
    CUSTOMER_SEARCH_KEYS,
    CUSTOMER_TYPES,
    LIFECYCLE_STAGES,
    ConsentEvent,
    Customer,
    display_name,
)
from crm_web.customers.validation import FieldError, clean_customer, normalize_tags
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, PermissionDenied, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pagination import Page, cursor_key, keyset_page, page_of
from crm_web.privacy.audit import record
from crm_web.sequences import allocate, document_number, document_number_sql
from crm_web.timezones import acting_organization

_ID, _SORT_NAME, _UPDATED_AT = CUSTOMER_SEARCH_KEYS
# sort name -> its keyset columns (customer_search_page orders by them, each with an index
# leading with organization_id).
SORTS = {
    "-created": (_ID,),
    "created": (_ID,),
    "name": (_SORT_NAME, _ID),
    "-name": (_SORT_NAME, _ID),
    "-updated": (_UPDATED_AT, _ID),
}
SORT_LABELS = {
    "-created": _l("Newest first"),
    "created": _l("Oldest first"),
    "name": _l("Name A–Z"),
    "-name": _l("Name Z–A"),
    "-updated": _l("Recently updated"),
}
ACTIVE_CHOICES = {"yes": True, "no": False, "all": None}
MAX_PAGE_SIZE = 200
MIN_SEARCH_LENGTH = 2
COUNT_CAP = 1_000
PHONE_QUERY = re.compile(r"^[+\d][\d\s().-]*$")


@dataclass(frozen=True)
class CustomerFilters:
    """What the customer list shows: a search term, filters and a sort (the URL's query string)."""

    q: str = ""
    customer_type: str = ""
    lifecycle_stage: str = ""
    owner_id: int | None = None
    unassigned: bool = False
    tag: str = ""
    city: str = ""
    is_active: bool | None = True
    sort: str = "-created"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "CustomerFilters":
        """Read request.args (or any mapping of strings); unknown values are a ValidationError."""
        errors = {}
        customer_type = (args.get("type") or args.get("customer_type") or "").strip()
        if customer_type and customer_type not in CUSTOMER_TYPES:
            errors["type"] = _("Choose one of: %(values)s.", values=", ".join(CUSTOMER_TYPES))
        lifecycle = (args.get("lifecycle") or args.get("lifecycle_stage") or "").strip()
        if lifecycle and lifecycle not in LIFECYCLE_STAGES:
            errors["lifecycle"] = _(
                "Choose one of: %(values)s.", values=", ".join(LIFECYCLE_STAGES)
            )
        owner = (args.get("owner") or args.get("owner_id") or "").strip()
        owner_id, unassigned = None, False
        if owner == "none":
            unassigned = True
        elif owner:
            owner_id = whole_number(owner)
            if owner_id is None:
                errors["owner"] = _("Give a user id, or 'none' for customers without an owner.")
        active = (args.get("active") or "yes").strip()
        if active not in ACTIVE_CHOICES:
            errors["active"] = _("Choose yes, no or all.")
        sort = (args.get("sort") or "-created").strip()
        if sort not in SORTS:
            errors["sort"] = _("Choose one of: %(values)s.", values=", ".join(SORTS))
        if errors:
            raise ValidationError(_("The list filters are not valid."), errors)
        return cls(
            q=" ".join((args.get("q") or "").split())[:100],
            customer_type=customer_type,
            lifecycle_stage=lifecycle,
            owner_id=owner_id,
            unassigned=unassigned,
            tag=(args.get("tag") or "").strip().lower()[:40],
            city=(args.get("city") or "").strip()[:100],
            is_active=ACTIVE_CHOICES[active],
            sort=sort,
        )

    def to_args(self) -> dict[str, str]:
        """The query-string form of the filters that differ from the defaults (for URLs)."""
        args = {}
        if self.q:
            args["q"] = self.q
        if self.customer_type:
            args["type"] = self.customer_type
        if self.lifecycle_stage:
            args["lifecycle"] = self.lifecycle_stage
        if self.unassigned:
            args["owner"] = "none"
        elif self.owner_id is not None:
            args["owner"] = str(self.owner_id)
        if self.tag:
            args["tag"] = self.tag
        if self.city:
            args["city"] = self.city
        if self.is_active is not True:
            args["active"] = "all" if self.is_active is None else "no"
        if self.sort != "-created":
            args["sort"] = self.sort
        return args

    def without(self, *names: str) -> "CustomerFilters":
        """A copy with these fields back at their defaults."""
        defaults = {f.name: f.default for f in fields(self) if f.name in names}
        return replace(self, **defaults)

    @property
    def is_default(self) -> bool:
        return asdict(self) == asdict(CustomerFilters())


def search_pattern(term: str):
    """The LIKE pattern for a search term, folded by crm_fold() as Customer.search_text is."""
    term = " ".join(term.split())
    if PHONE_QUERY.match(term) and sum(ch.isdigit() for ch in term) >= 3:
        # Phones are stored in E.164: "0532 123 45 67" must find "+905321234567".
        digits = re.sub(r"\D", "", term)
        term = ("+" if term.startswith("+") else "") + (
            digits[1:] if digits.startswith("0") else digits
        )
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(term) < 3:
        # Too short for a trigram: match the start of a word instead (" ng" is a trigram the
        # index has), or a rare pair of letters would scan every customer.
        escaped = f" {escaped}"
    return func.crm_fold(literal(f"%{escaped}%", Text))


def _organization_locale() -> str:
    # The signed-in snapshot's, so usually no query.
    return acting_organization().locale


def _matches(
    filters: CustomerFilters, *, sort: str | None, after: dict | None = None, limit: int
) -> Select:
    """The customers the filters match, as customer_search_page's rows (ids and sort keys):
    at most `limit`, in `sort`'s order after its key `after` (by column name), or in any
    order (sort None)."""
    after = after or {}
    if sort in ("name", "-name") and _organization_locale() == "tr":
        # Turkish alphabetical order (ç after c, ı before i) where the server has ICU; the
        # function sorts as "name" elsewhere (migration 0026).
        sort = f"{sort}_tr"
    page = func.customer_search_page(
        search_pattern(filters.q) if len(filters.q) >= MIN_SEARCH_LENGTH else None,
        filters.customer_type or None,
        filters.lifecycle_stage or None,
        filters.owner_id,
        filters.unassigned,
        filters.tag or None,
        filters.city or None,
        filters.is_active,
        sort,
        after.get("sort_name"),
        after.get("updated_at"),
        after.get("id"),
        limit,
    ).table_valued(*CUSTOMER_SEARCH_KEYS)
    return select(page)


def first_matching_ids(filters: CustomerFilters, limit: int) -> list[int]:
    """Up to `limit` ids of customers the filters match, in no order: the search's cheapest
    read, which stops at the first matches its index gives (suggestions as one types)."""
    return [row.id for row in db.session.execute(_matches(filters, sort=None, limit=limit))]


def matching_customer_ids(filters: CustomerFilters, batch: int) -> Iterator[list[int]]:
    """The ids of every customer the filters match, in the list's order, `batch` at a time
    (for streaming exports)."""
    columns = SORTS[filters.sort]
    after = None
    while True:
        rows = db.session.execute(_matches(filters, sort=filters.sort, after=after, limit=batch))
        rows = rows.all()
        if rows:
            yield [row.id for row in rows]
        if len(rows) < batch:
            return
        after = {column.key: getattr(rows[-1], column.key) for column in columns}


def _page_of_ids(filters: CustomerFilters, cursor: str | None, limit: int) -> Page:
    """One keyset page of the ids the filters match, in the list's order."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            _("The page size is not valid."),
            {"limit": _("Use 1 to %(most)s.", most=MAX_PAGE_SIZE)},
        )
    columns = SORTS[filters.sort]
    after = cursor_key(cursor, columns)
    rows = db.session.execute(_matches(filters, sort=filters.sort, after=after, limit=limit + 1))
    page = page_of(rows.all(), columns, limit)
    page.items = [row.id for row in page.items]
    return page


def _in_order(ids: list[int], rows) -> list:
    by_id = {row.id: row for row in rows}
    return [by_id[id_] for id_ in ids if id_ in by_id]


def _with_ids(statement: Select, ids: list[int]) -> Select:
    # One array parameter, not one per id: the driver reuses the statement's parsed form.
    return statement.where(
        Customer.organization_id == current_organization_id(),
        Customer.id == any_(cast(ids, ARRAY(BigInteger))),
    )


def search_customers(filters: CustomerFilters, cursor: str | None = None, limit: int = 50) -> Page:
    """One keyset page of the customer list, as Customer rows (the API, the merge picker)."""
    page = _page_of_ids(filters, cursor, limit)
    customers = db.session.scalars(
        _with_ids(select(Customer).options(joinedload(Customer.owner)), page.items)
    )
    page.items = _in_order(page.items, customers)
    return page


class ListedCustomer(NamedTuple):
    """What a row of the customer list shows: read as plain columns, which costs a fraction of
    loading Customer rows (the list is the app's most used page)."""

    id: int
    customer_code: str
    customer_type: str
    company_name: str
    first_name: str
    last_name: str
    is_active: bool
    primary_email: str
    primary_phone: str
    city: str
    lifecycle_stage: str
    tags: list[str]
    owner_name: str | None

    @property
    def display_name(self) -> str:
        return display_name(self.customer_type, self.company_name, self.first_name, self.last_name)


_LISTED = select(
    *(getattr(Customer, name) for name in ListedCustomer._fields[:-1]),
    User.name.label("owner_name"),
).outerjoin(User, User.id == Customer.owner_id)


def list_customers(filters: CustomerFilters, cursor: str | None = None, limit: int = 50) -> Page:
    """One keyset page of the customer list, as the list's rows (ListedCustomer)."""
    page = _page_of_ids(filters, cursor, limit)
    rows = db.session.execute(_with_ids(_LISTED, page.items))
    page.items = _in_order(page.items, (ListedCustomer(*row) for row in rows))
    return page


def get_customer(customer_id: int) -> Customer:
    """This organization's customer, or NotFound (other tenants' ids included)."""
    customer = db.session.scalar(
        select(Customer).where(
            Customer.id == customer_id, Customer.organization_id == current_organization_id()
        )
    )
    if customer is None:
        raise NotFound(_("No such customer."))
    return customer


def count_customers(filters: CustomerFilters, cap: int = COUNT_CAP) -> int:
    """How many customers match, counting at most `cap` + 1 (the list says "more than 1,000")."""
    matches = _matches(filters, sort=None, limit=cap + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(matches))


# --- Customer codes -------------------------------------------------------------------------


def customer_code(number: int) -> str:
    """The code of the organization's n-th customer: CUS-000042 (more digits past a million)."""
    return document_number("CUS", number)


def customer_code_sql(number):
    """customer_code() as SQL, for set-based inserts."""
    return document_number_sql("CUS", number)


def allocate_customer_codes(count: int = 1) -> int:
    """Reserve `count` customer numbers in this organization; returns the first."""
    return allocate(current_organization_id(), "customer", count)


# --- Merging: every table that points at a customer -------------------------------------------


@dataclass(frozen=True)
class CustomerReference:
    table: str
    column: str
    unique_with: tuple[str, ...]


_references: dict[tuple[str, str], CustomerReference] = {}


def register_customer_reference(
    table: str, column: str = "customer_id", *, unique_with: tuple[str, ...] = ()
) -> None:
    """Declare that `table.column` points at customers.id, so merging two customers moves its rows.

    Call it next to the model (the module crm_web.models imports). `unique_with` names the
    columns that are unique together with this one (an attendee per event and customer):
    where both customers have a row, the merged-away customer's row is dropped, not moved.
    The table must have organization_id. A merge refuses to run while any foreign key to
    customers.id is undeclared, because deleting the merged customer would cascade its rows away.
    """
    _references[(table, column)] = CustomerReference(table, column, tuple(unique_with))


def customer_references() -> list[CustomerReference]:
    """Every declared reference to customers.id."""
    return list(_references.values())


def undeclared_customer_references() -> list[str]:
    """Foreign keys to customers.id that no domain declared ("table.column")."""
    missing = []
    for table in db.metadata.tables.values():
        for key in table.foreign_keys:
            if key.column.table.name == "customers" and key.column.name == "id":
                if (table.name, key.parent.name) not in _references:
                    missing.append(f"{table.name}.{key.parent.name}")
    return sorted(missing)


register_customer_reference("customer_consent_events")


def _quoted(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return name


def _move_references(organization_id: int, winner_id: int, loser_id: int) -> dict[str, int]:
    moved = {}
    params = {"org": organization_id, "winner": winner_id, "loser": loser_id}
    for ref in customer_references():
        table, column = _quoted(ref.table), _quoted(ref.column)
        if ref.unique_with:
            same = " AND ".join(
                f"w.{_quoted(c)} IS NOT DISTINCT FROM l.{c}" for c in ref.unique_with
            )
            db.session.execute(
                text(
                    f"DELETE FROM {table} l WHERE l.organization_id = :org AND l.{column} = :loser "
                    f"AND EXISTS (SELECT 1 FROM {table} w WHERE w.organization_id = :org "
                    f"AND w.{column} = :winner AND {same})"
                ),
                params,
            )
        result = db.session.execute(
            text(
                f"UPDATE {table} SET {column} = :winner "
                f"WHERE organization_id = :org AND {column} = :loser"
            ),
            params,
        )
        if result.rowcount:
            moved[f"{ref.table}.{ref.column}"] = result.rowcount
    return moved


# --- Create and edit ----------------------------------------------------------------------------

CONSENT_FIELDS = {"email": "email_opt_in", "sms": "sms_opt_in", "all": "do_not_contact"}
NEW_CUSTOMER = {"customer_type": "person", "first_name": "", "last_name": "", "company_name": ""}


class DuplicateCustomer(Conflict):
    """Another customer of the organization has this email or phone; `duplicates` says who."""

    def __init__(self, duplicates: list[Customer], fields: dict[str, str]):
        super().__init__("A customer with this email or phone already exists.", fields)
        self.duplicates = duplicates


def find_duplicates(
    emails: list[str], phones: list[str], *, exclude_id: int | None = None, limit: int = 5
) -> list[Customer]:
    """Customers of this organization whose main email or phone is one of these."""
    emails, phones = [e for e in emails if e], [p for p in phones if p]
    matches = []
    if emails:
        matches.append(and_(Customer.primary_email != "", Customer.primary_email.in_(emails)))
    if phones:
        matches.append(and_(Customer.primary_phone != "", Customer.primary_phone.in_(phones)))
    if not matches:
        return []
    stmt = select(Customer).where(
        Customer.organization_id == current_organization_id(), or_(*matches)
    )
    if exclude_id is not None:
        stmt = stmt.where(Customer.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(Customer.id).limit(limit)))


def _check_duplicates(clean: dict[str, Any], exclude_id: int | None) -> None:
    emails = [clean.get("primary_email", ""), clean.get("secondary_email", "")]
    phones = [clean.get("primary_phone", ""), clean.get("secondary_phone", "")]
    duplicates = find_duplicates(emails, phones, exclude_id=exclude_id)
    if not duplicates:
        return
    fields = {}
    for other in duplicates:
        for name in ("primary_email", "secondary_email"):
            if clean.get(name) and clean[name] == other.primary_email:
                fields.setdefault(
                    name, f"{other.display_name} ({other.customer_code}) has this email."
                )
        for name in ("primary_phone", "secondary_phone"):
            if clean.get(name) and clean[name] == other.primary_phone:
                fields.setdefault(
                    name, f"{other.display_name} ({other.customer_code}) has this phone."
                )
    raise DuplicateCustomer(duplicates, fields)


def _organization_timezone() -> str:
    return (
        db.session.scalar(
            select(Organization.timezone).where(Organization.id == current_organization_id())
        )
        or ""
    )


def _check_owner(owner_id: Any, errors: dict[str, str]) -> int | None:
    if owner_id in (None, ""):
        return None
    try:
        if isinstance(owner_id, bool):
            raise TypeError
        owner_id = int(owner_id)
    except (TypeError, ValueError):
        errors["owner_id"] = _("Choose a user.")
        return None
    exists = db.session.scalar(
        select(User.id).where(
            User.id == owner_id,
            User.organization_id == current_organization_id(),
            User.is_active,
        )
    )
    if exists is None:
        errors["owner_id"] = _("Choose an active user of this organization.")
    return owner_id


def _record_consent(
    customer: Customer, before: dict[str, bool | None], source: str, note: str = ""
) -> None:
    for channel, name in CONSENT_FIELDS.items():
        old, new = before.get(name), getattr(customer, name)
        # A new customer's "no" is the default, not a decision worth a history line.
        if old == new or (old is None and not new):
            continue
        db.session.add(
            ConsentEvent(
                organization_id=customer.organization_id,
                customer_id=customer.id,
                channel=channel,
                old_value=old,
                new_value=new,
                source=source,
                user_id=current_tenant().user_id,
                note=note[:200],
            )
        )


def _validated(
    data: Mapping[str, Any], current_owner_id: int | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    clean, errors = clean_customer(data, organization_timezone=_organization_timezone())
    if "owner_id" in data:
        owner_id = data["owner_id"]
        if owner_id is not None and str(owner_id) == str(current_owner_id):
            clean["owner_id"] = current_owner_id  # unchanged, even if that user has left
        else:
            clean["owner_id"] = _check_owner(owner_id, errors)
    return clean, errors


@atomic
def create_customer(
    data: Mapping[str, Any], *, source: str = "form", allow_duplicate: bool = False
) -> Customer:
    """Add a customer (fields as in customers.fields); codes come from the counter."""
    clean, errors = _validated({**NEW_CUSTOMER, **data})
    check_fields(errors)
    if not allow_duplicate:
        _check_duplicates(clean, exclude_id=None)
    if clean.get("customer_since") is None:
        clean.pop("customer_since", None)
    customer = Customer(
        organization_id=current_organization_id(),
        customer_code=customer_code(allocate_customer_codes()),
        **clean,
    )
    db.session.add(customer)
    db.session.flush()
    _record_consent(customer, {}, source)
    db.session.flush()
    return customer


def editable_values(customer: Customer) -> dict[str, Any]:
    """The customer's current values of every field a person may change."""
    return {name: getattr(customer, name) for name in NAMES}


@atomic
def update_customer(
    customer_id: int,
    changes: Mapping[str, Any],
    *,
    source: str = "form",
    allow_duplicate: bool = False,
) -> Customer:
    """Change some fields of a customer; the whole record is validated again."""
    customer = get_customer(customer_id)
    unknown = set(changes) - set(NAMES)
    if unknown:
        raise ValidationError(
            _("Unknown fields."),
            {name: _("This field cannot be changed.") for name in sorted(unknown)},
        )
    clean, errors = _validated({**editable_values(customer), **changes}, customer.owner_id)
    check_fields(errors)
    contact = ("primary_email", "secondary_email", "primary_phone", "secondary_phone")
    if not allow_duplicate and any(clean[name] != getattr(customer, name) for name in contact):
        _check_duplicates(clean, exclude_id=customer.id)
    before = {name: getattr(customer, name) for name in CONSENT_FIELDS.values()}
    for name, value in clean.items():
        if name == "customer_since" and value is None:
            continue
        if getattr(customer, name) != value:
            setattr(customer, name, value)
    db.session.flush()
    _record_consent(customer, before, source)
    db.session.flush()
    return customer


@atomic
def set_consent(
    customer_id: int,
    *,
    source: str,
    note: str = "",
    email_opt_in: bool | None = None,
    sms_opt_in: bool | None = None,
    do_not_contact: bool | None = None,
) -> Customer:
    """Change a customer's consent (None leaves a channel alone) and write its history."""
    if source not in CONSENT_SOURCES:
        raise ValidationError(
            _("Unknown consent source."),
            {"source": _("Use one of: %(values)s.", values=", ".join(CONSENT_SOURCES))},
        )
    customer = get_customer(customer_id)
    before = {name: getattr(customer, name) for name in CONSENT_FIELDS.values()}
    for name, value in (
        ("email_opt_in", email_opt_in),
        ("sms_opt_in", sms_opt_in),
        ("do_not_contact", do_not_contact),
    ):
        if value is not None:
            setattr(customer, name, bool(value))
    db.session.flush()
    _record_consent(customer, before, source, note)
    db.session.flush()
    return customer


def consent_history(customer_id: int, cursor: str | None = None, limit: int = 20) -> Page:
    """The customer's consent changes, newest first."""
    customer = get_customer(customer_id)
    stmt = select(ConsentEvent).where(
        ConsentEvent.organization_id == customer.organization_id,
        ConsentEvent.customer_id == customer.id,
    )
    return keyset_page(stmt, (ConsentEvent.created_at, ConsentEvent.id), cursor=cursor, limit=limit)


# --- Bulk actions -------------------------------------------------------------------------------

# action -> (label, the capability it needs); each is one set-based UPDATE plus one audit row
# per customer.
BULK_ACTIONS = {
    "assign_owner": (_l("Assign owner"), "assign customer owners"),
    "add_tag": (_l("Add tag"), "tag customers"),
    "deactivate": (_l("Deactivate"), "deactivate customers"),
}
MAX_BULK = 50_000

# action -> (the rows it would change, the old value, the SET clause, the audited column)
_BULK_SQL = {
    "assign_owner": (
        "owner_id IS DISTINCT FROM :value",
        "owner_id",
        "owner_id = :value",
        "owner_id",
    ),
    "add_tag": (
        "NOT (tags @> ARRAY[:value]::text[])",
        "tags",
        "tags = array_append(c.tags, :value)",
        "tags",
    ),
    "deactivate": ("is_active", "is_active", "is_active = false", "is_active"),
}


def _bulk_ids(ids: list | None, filters: CustomerFilters | None) -> list[int]:
    if filters is not None:
        matching = list(db.session.scalars(_matches(filters, sort=None, limit=MAX_BULK + 1)))
    else:
        try:
            matching = sorted({int(value) for value in ids or []})
        except (TypeError, ValueError):
            raise ValidationError(
                _("Choose customers from the list."), {"ids": _("Not a customer id.")}
            ) from None
    if not matching:
        raise ValidationError(
            _("Choose at least one customer."), {"ids": _("Nothing is selected.")}
        )
    if len(matching) > MAX_BULK:
        raise ValidationError(
            _(
                "A bulk action changes at most %(most)s customers; narrow the filter.",
                most=formatting.number(MAX_BULK),
            ),
            {"ids": _("Too many customers.")},
        )
    return matching


@atomic
def bulk_update(
    action: str,
    *,
    acting_user: User,
    ids: list | None = None,
    filters: CustomerFilters | None = None,
    value: Any = None,
) -> int:
    """Apply a bulk action to the chosen customers (ids, or all that match `filters`); returns how many changed."""
    if action not in BULK_ACTIONS:
        raise ValidationError(
            _("Unknown bulk action."),
            {"action": _("Use one of: %(values)s.", values=", ".join(BULK_ACTIONS))},
        )
    label, capability = BULK_ACTIONS[action]
    if not acting_user.can(capability):
        raise PermissionDenied(_("Your role cannot use “%(action)s”.", action=label))
    errors: dict[str, str] = {}
    if action == "assign_owner":
        value = _check_owner(value, errors)
    elif action == "add_tag":
        try:
            tags = normalize_tags([value or ""])
        except FieldError as exc:
            errors["value"] = str(exc)
        else:
            if not tags:
                errors["value"] = _("Write the tag to add.")
            value = tags[0] if tags else ""
    if errors:
        raise ValidationError(
            _("Please correct the bulk action."), {"value": next(iter(errors.values()))}
        )
    target_ids = _bulk_ids(ids, filters)
    condition, old_column, assignment, audited = _BULK_SQL[action]
    organization_id = current_organization_id()
    result = db.session.execute(
        text(
            f"""
            WITH target AS (
                SELECT id, {old_column} AS old FROM customers
                WHERE organization_id = :org AND id = ANY(:ids) AND {condition}
                FOR UPDATE
            ), changed AS (
                UPDATE customers c SET {assignment}, updated_at = now()
                FROM target t WHERE c.id = t.id
                RETURNING c.id, t.old, c.{audited} AS new
            )
            INSERT INTO audit_log (organization_id, user_id, action, table_name, row_id, old_values, new_values)
            SELECT :org, :user, 'update', 'customers', id::text,
                   jsonb_build_object('{audited}', old), jsonb_build_object('{audited}', new)
            FROM changed
            """
        ),
        {"org": organization_id, "user": acting_user.id, "ids": target_ids, "value": value},
    )
    return result.rowcount


# --- Merge --------------------------------------------------------------------------------------

# The funnel, in order: a merged customer keeps the further stage of the two.
FUNNEL = LIFECYCLE_STAGES[:-1]
FILLABLE = tuple(
    name
    for name in NAMES
    if name not in CONSENT_FIELDS.values()
    and name not in ("primary_email", "secondary_email", "primary_phone", "secondary_phone")
)


def _combine_contacts(winner: Customer, loser: Customer, first: str, second: str) -> None:
    have = {getattr(winner, first), getattr(winner, second)} - {""}
    for value in (getattr(loser, first), getattr(loser, second)):
        if not value or value in have:
            continue
        if not getattr(winner, first):
            setattr(winner, first, value)
        elif not getattr(winner, second):
            setattr(winner, second, value)
        have.add(value)


def _latest_consent(customer_id: int) -> dict[str, bool]:
    rows = db.session.execute(
        select(ConsentEvent.channel, ConsentEvent.new_value)
        .where(
            ConsentEvent.organization_id == current_organization_id(),
            ConsentEvent.customer_id == customer_id,
        )
        .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())
    )
    latest: dict[str, bool] = {}
    for channel, value in rows:
        latest.setdefault(CONSENT_FIELDS[channel], value)
    return latest


@atomic
def merge_customers(winner_id: int, loser_id: int) -> Customer:
    """Fold the loser into the winner: every referencing row moves, blanks are filled from the
    loser, tags and contacts are combined, consent follows the latest recorded decision (do not
    contact if either says so); the loser is deleted. One transaction, audited."""
    if winner_id == loser_id:
        raise ValidationError(
            _("Choose two different customers."), {"other": _("This is the same customer.")}
        )
    undeclared = undeclared_customer_references()
    if undeclared:
        # Deleting the loser would cascade these rows away: refuse rather than lose data.
        raise RuntimeError(f"Undeclared references to customers: {', '.join(undeclared)}")
    organization_id = current_organization_id()
    pair = {
        customer.id: customer
        for customer in db.session.scalars(
            select(Customer)
            .where(
                Customer.organization_id == organization_id, Customer.id.in_((winner_id, loser_id))
            )
            .order_by(Customer.id)
            .with_for_update()
        )
    }
    if len(pair) != 2:
        raise NotFound(_("No such customer."))
    winner, loser = pair[winner_id], pair[loser_id]
    loser_summary = {
        "id": loser.id,
        "customer_code": loser.customer_code,
        "name": loser.display_name,
    }
    before = {name: getattr(winner, name) for name in CONSENT_FIELDS.values()}
    ors = {name: getattr(winner, name) or getattr(loser, name) for name in CONSENT_FIELDS.values()}

    moved = _move_references(organization_id, winner.id, loser.id)

    for name in FILLABLE:
        if getattr(winner, name) in ("", None, []) and getattr(loser, name) not in ("", None, []):
            setattr(winner, name, getattr(loser, name))
    _combine_contacts(winner, loser, "primary_email", "secondary_email")
    _combine_contacts(winner, loser, "primary_phone", "secondary_phone")
    winner.tags = [*winner.tags, *(tag for tag in loser.tags if tag not in winner.tags)]
    if loser.customer_since and (
        not winner.customer_since or loser.customer_since < winner.customer_since
    ):
        winner.customer_since = loser.customer_since
    winner.is_active = winner.is_active or loser.is_active
    if (
        winner.lifecycle_stage in FUNNEL
        and loser.lifecycle_stage in FUNNEL
        and FUNNEL.index(loser.lifecycle_stage) > FUNNEL.index(winner.lifecycle_stage)
    ):
        winner.lifecycle_stage = loser.lifecycle_stage
    # The loser's history now belongs to the winner: the latest decision per channel wins.
    latest = _latest_consent(winner.id)
    for name in ("email_opt_in", "sms_opt_in"):
        setattr(winner, name, latest.get(name, ors[name]))
    winner.do_not_contact = ors["do_not_contact"]

    db.session.delete(loser)
    db.session.flush()
    _record_consent(winner, before, "merge", note=f"Merged with {loser_summary['customer_code']}")
    record(
        db.session,
        organization_id=organization_id,
        action="merge",
        table_name="customers",
        row_id=winner.id,
        old={"merged_customer": loser_summary},
        new={"moved_rows": moved},
    )
    db.session.flush()
    return winner
