"""Products as an import target: their fields, checks, dedupe key (the SKU) and set-based upsert.

Cells are checked with the catalog's own field checks (products.check_field), each distinct
value once where values repeat. SKUs match regardless of case, as the catalog's unique index
does: each is written as the stored product spells it (or as the file first spells a new one),
so the machinery's exact match and duplicate search find what the index would refuse. A
category is named; an unknown one is the row's reason (categories are added on their page).

New products are inserted in one statement; their opening stock (`stock_on_hand`, new products
only) is booked as receipts in a second, through the stock trigger like any receipt. An update
changes the fields the file gives and never the stock, which moves only through movements.
"""

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text

from crm_web.catalog import products
from crm_web.catalog.fields import IMPORT_FIELDS, NAMES
from crm_web.catalog.models import Product, ProductCategory
from crm_web.customers.validation import FieldError, parse_bool
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.imports import writing
from crm_web.imports.targets import CleanBatch, ImportTarget, per_distinct, per_value, register

# What a new product needs that an update does not.
NEW_ONLY = ("name", "price")


@dataclass
class Context:
    """The run's SKUs (lower-cased -> as written) and categories (lower-cased name -> id)."""

    skus: dict[str, str] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)


def _check(name: str):
    return lambda value: products.check_field(name, value)


def _category(categories: dict[str, int]):
    def parse(value: str) -> int:
        category_id = categories.get(value.strip().lower())
        if category_id is None:
            raise FieldError(_("No category of that name; add it on the Categories page first."))
        return category_id

    return parse


class ProductTarget(ImportTarget):
    name = "products"
    label = _l("Products")
    capability = "manage catalog"
    fields = IMPORT_FIELDS
    dedupe_keys = (("sku", "SKU"),)
    table = "products"
    record_label = "sku"
    list_view = ("catalog.index", {"sort": "-created"})

    def check_mapping(self, mapped: set[str], dedupe_mode: str) -> dict[str, str]:
        if "sku" not in mapped:
            return {"mapping": _("Map a column to SKU: every product has one.")}
        if dedupe_mode != "update" and not set(NEW_ONLY) <= mapped:
            return {
                "mapping": _(
                    "Map columns to Name and Price (or, to update existing products, choose "
                    "“update”)."
                )
            }
        return {}

    def context(self) -> Context:
        organization_id = current_organization_id()
        skus = db.session.scalars(
            select(Product.sku).where(Product.organization_id == organization_id)
        )
        categories = db.session.execute(
            select(func.lower(ProductCategory.name), ProductCategory.id).where(
                ProductCategory.organization_id == organization_id
            )
        )
        return Context({sku.lower(): sku for sku in skus}, dict(categories.all()))

    def clean(
        self, columns: dict[str, list[str]], context: Context, dedupe_mode: str
    ) -> CleanBatch:
        count = len(next(iter(columns.values()))) if columns else 0
        values: dict[str, list] = {}
        errors: dict[int, dict[str, str]] = {}
        for name, cells in columns.items():
            kind = next(f.kind for f in IMPORT_FIELDS if f.name == name)
            if name == "sku":
                parsed, column_errors = per_value(cells, _check(name))
                # One spelling per SKU: the stored product's, else the file's first.
                parsed = [
                    None if sku is None else context.skus.setdefault(sku.lower(), sku)
                    for sku in parsed
                ]
            elif kind == "category":
                parsed, column_errors = per_distinct(cells, _category(context.categories))
            elif kind == "bool":
                parsed, column_errors = per_distinct(cells, parse_bool)
            elif name in ("name", "description"):
                parsed, column_errors = per_value(cells, _check(name))
                parsed = [value or None for value in parsed]
            elif name == "stock_on_hand":
                parsed, column_errors = per_distinct(cells, products.parse_count)
            else:
                parsed, column_errors = per_distinct(cells, _check(name))
            values[name] = parsed
            for index, message in column_errors.items():
                errors.setdefault(index, {})[name] = message
        reasons: list[str | None] = [None] * count
        update_only = [False] * count
        for index in range(count):
            row_errors = errors.get(index, {})
            new_only = {
                name: _("This field is required.")
                for name in NEW_ONLY
                if name not in row_errors and values.get(name, [None] * count)[index] is None
            }
            if row_errors or new_only:
                reasons[index] = self.reason({**row_errors, **new_only})
                update_only[index] = dedupe_mode == "update" and not row_errors
        return CleanBatch(values, reasons, update_only)

    def update(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        """The file's values on the matched products (never their stock)."""
        values = {
            name: f"coalesce(p.{name}, c.{name})"
            for name in mapped
            if name in NAMES and name != "sku"
        }
        if not values:
            return 0
        writing.collect_changes(plan, "products", values, job_id)
        return writing.apply_changes(plan, "products", values, job_id)

    def create(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        """Insert the planned new products, then book their opening stock as receipts."""
        count = writing.planned(plan, "create")
        if not count:
            return 0
        # A new row has its name and price (the others are refused): NULL is never reached.
        values = writing.new_values("products", NAMES, mapped, {"price": "NULL::numeric"})
        db.session.execute(
            text(
                f"""
                INSERT INTO products (organization_id, stock_on_hand, {", ".join(values)})
                SELECT :org, 0, {", ".join(values.values())}
                FROM {plan} p WHERE p.action = 'create' ORDER BY p.row_number
                """
            ),
            writing.params(job_id),
        )
        if "stock_on_hand" in mapped:
            db.session.execute(
                text(
                    f"""
                    INSERT INTO stock_movements
                        (organization_id, product_id, kind, quantity, reason, created_by_id)
                    SELECT :org, t.id, 'receipt', p.stock_on_hand, :reason, :user
                    FROM {plan} p
                    JOIN products t ON t.organization_id = :org AND t.sku = p.sku
                    WHERE p.action = 'create' AND p.stock_on_hand > 0 AND t.track_stock
                    ORDER BY t.id
                    """
                ),
                {
                    **writing.params(job_id),
                    "reason": _("Opening stock (import #%(job)s)", job=job_id),
                },
            )
        first, last = db.session.execute(
            text(f"SELECT min(sku), max(sku) FROM {plan} WHERE action = 'create'")
        ).one()
        writing.record_created("products", first, last, count, job_id)
        return count


register(ProductTarget())
