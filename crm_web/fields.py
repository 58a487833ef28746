"""Field registries: each model's fields declared once, in its domain's `fields.py`.

A registry is what the form, the API, validation, the CSV import and export and the demo
data all read, so adding a field means adding it there (and to the model, a migration and
the templates). What the model already says is read from its column, never restated: the
length of a String(n), the default, and the type a CSV import stages the column in.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ARRAY, Boolean, Column, Date, Integer, Numeric

# Header names people use for fields most record types have (English and Turkish).
ALIASES = {
    "first_name": ("Given name", "Name", "Ad", "Adı", "İsim"),
    "last_name": ("Surname", "Family name", "Soyad", "Soyadı", "Soyisim"),
    "company": ("Company name", "Organization", "Firma", "Firma adı", "Şirket", "Şirket adı"),
    "job_title": ("Position", "Role", "Pozisyon", "Görev"),
    "email": ("E-mail", "Email address", "Mail", "E-posta", "Eposta", "E-posta adresi"),
    "phone": ("Telephone", "Phone number", "Mobile", "Telefon", "Tel", "Cep", "GSM"),
    "website": ("Web", "URL", "Web sitesi"),
    "industry": ("Sector", "Sektör"),
    "company_size": ("Employees", "Çalışan sayısı"),
    "city": ("Town", "Şehir", "İl"),
    "country": ("Ülke",),
    "owner": ("Owner email", "Assigned to", "Sorumlu", "Temsilci"),
}


@dataclass(frozen=True)
class Field:
    """One field of a model: its column's name (also its name in the API and the form)."""

    name: str
    # The CSV header, in imports and exports alike.
    label: str
    # How its values are checked and shown; each domain's validation knows its own kinds.
    kind: str = "text"
    # Other headers an import maps to it without asking (English and Turkish), compared folded.
    aliases: tuple[str, ...] = ()
    # The allowed values with their labels on screen, for a field with a fixed list.
    choices: tuple[tuple[str, str], ...] = ()
    # Words a file may hold for a choice (lower-cased, Turkish too) -> the value.
    synonyms: Mapping[str, str] = field(default_factory=dict)
    # The form's label, where it says more than the CSV header.
    form_label: str = ""
    # Read from a String(n) column; declared for a Text column that has a cap all the same.
    max_length: int | None = None
    # The rest are read from the model's column by `declare`.
    # What a new record gets when nothing is given (the column's default).
    default: Any = None
    # The PostgreSQL type an import stages the column's values in (and its binary COPY type).
    sql_type: str = "text"

    @property
    def values(self) -> tuple[str, ...]:
        """The allowed values of a choice field."""
        return tuple(value for value, _label in self.choices)

    @property
    def label_on_form(self) -> str:
        return self.form_label or self.label


def column_default(column: Column) -> Any:
    """The value the model gives a new row's column (None where it has no Python default)."""
    if column.default is None:
        return None
    if column.default.is_callable:
        return column.default.arg(None)  # SQLAlchemy wraps a callable to take the context
    return column.default.arg


def _sql_type(column: Column) -> str:
    column_type = column.type
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, Numeric):
        return "numeric"
    if isinstance(column_type, Integer):
        return "bigint"
    if isinstance(column_type, ARRAY):
        return "text[]"
    return "text"


def declare(model: type, *fields: Field) -> tuple[Field, ...]:
    """The model's fields, each completed from its column: length, default, staging type."""
    columns = model.__table__.c
    return tuple(
        replace(
            f,
            max_length=f.max_length or getattr(columns[f.name].type, "length", None),
            default=column_default(columns[f.name]),
            sql_type=_sql_type(columns[f.name]),
        )
        for f in fields
    )


def choices(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Choices labelled with their value, capitalised ("in_progress" -> "In progress")."""
    return tuple((value, value.replace("_", " ").capitalize()) for value in values)
