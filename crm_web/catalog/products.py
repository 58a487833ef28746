"""Products and categories: checks, the list with its search and filters, create and edit.

Stock is not changed here (see crm_web.catalog.stock): a new product's opening stock is its
first receipt.
"""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crm_web.catalog import stock
from crm_web.catalog.fields import BY_NAME, NAMES
from crm_web.catalog.models import Product, ProductCategory
from crm_web.customers.validation import FieldError, parse_bool
from crm_web.db import atomic, current_organization_id, flush_unique
from crm_web.errors import NotFound, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.pagination import Page, keyset_page

MAX_PRICE = Decimal("9999999999999.99")
MAX_COUNT = 1_000_000_000
SKU = re.compile(r"^[^\W_][\w./-]*$")
SORTS = ("name", "-created", "stock")
ACTIVE = ("yes", "no", "all")
STOCK_FILTERS = ("", "low", "out")
CENT = Decimal("0.01")


# Field checks


# "120,50" and "1.234,50" (Turkish), "1,234.50" (English): the last separator followed by one
# or two digits is the decimal one; the others group thousands.
DECIMAL_COMMA = re.compile(r"^[+-]?[\d.]*,\d{1,2}$")


def parse_decimal(value, *, low: Decimal, high: Decimal, places: int = 2) -> Decimal:
    """A decimal from `low` to `high` with at most `places` decimals, or FieldError; a decimal
    comma is read as such (see DECIMAL_COMMA)."""
    text = str(value if value is not None else "").strip().replace(" ", "")
    if DECIMAL_COMMA.match(text):
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    if isinstance(value, bool) or not text:
        raise FieldError(_("Enter a number."))
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FieldError(_("Enter a number such as 12.50.")) from None
    if not number.is_finite() or not low <= number <= high:
        raise FieldError(_("Enter a number from %(low)s to %(high)s.", low=low, high=high))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise FieldError(_("Use at most %(places)s decimals.", places=places))
    return number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def parse_count(value, *, low: int = 0, high: int = MAX_COUNT) -> int:
    """A whole number from `low` to `high` (a JSON number or text), or FieldError."""
    if isinstance(value, bool):
        raise FieldError(_("Enter a whole number."))
    if isinstance(value, int):
        number = value
    else:
        text = str(value if value is not None else "").strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise FieldError(_("Enter a whole number."))
        number = int(text)
    if not low <= number <= high:
        raise FieldError(_("Enter a whole number from %(low)s to %(high)s.", low=low, high=high))
    return number


def check_field(name: str, value):
    """One product field (a name in NAMES) checked and normalised, or FieldError."""
    field = BY_NAME[name]
    if field.kind == "amount":
        return parse_decimal(value, low=Decimal("0"), high=MAX_PRICE)
    if field.kind == "percent":
        return parse_decimal(
            "0" if value in (None, "") else value, low=Decimal("0"), high=Decimal("100")
        )
    if field.kind == "count":
        return parse_count("0" if value in (None, "") else value)
    if field.kind == "bool":
        return field.default if value in (None, "") else parse_bool(value)
    if field.kind == "category":
        if value in (None, ""):
            return None
        category_id = value if isinstance(value, int) else whole_number(str(value))
        if isinstance(value, bool) or category_id is None or not _category_exists(category_id):
            raise FieldError(_("Choose one of the categories."))
        return category_id
    if not isinstance(value, str | type(None)):
        raise FieldError(_("Send text."))
    text = (value or "").strip()
    if field.max_length and len(text) > field.max_length:
        raise FieldError(_("Keep this under %(n)s characters.", n=field.max_length))
    if name == "sku":
        if not text:
            raise FieldError(_("Give the product a SKU."))
        if not SKU.match(text):
            raise FieldError(_("Use letters, digits and . _ / - only, no spaces."))
    if name == "name" and not text:
        raise FieldError(_("Give the product a name."))
    return text


def _clean(values: dict, names) -> dict:
    """The given fields checked; one ValidationError names every problem."""
    cleaned, errors = {}, {}
    for name in names:
        try:
            cleaned[name] = check_field(name, values.get(name))
        except FieldError as exc:
            errors[name] = str(exc)
    check_fields(errors)
    return cleaned


# Categories


def list_categories() -> list[ProductCategory]:
    """The organization's categories by name."""
    return list(
        db.session.scalars(
            select(ProductCategory)
            .where(ProductCategory.organization_id == current_organization_id())
            .order_by(func.lower(ProductCategory.name), ProductCategory.id)
        )
    )


def _category_exists(category_id: int) -> bool:
    return (
        db.session.scalar(
            select(ProductCategory.id).where(
                ProductCategory.id == category_id,
                ProductCategory.organization_id == current_organization_id(),
            )
        )
        is not None
    )


def get_category(category_id: int) -> ProductCategory:
    category = db.session.scalar(
        select(ProductCategory).where(
            ProductCategory.id == category_id,
            ProductCategory.organization_id == current_organization_id(),
        )
    )
    if category is None:
        raise NotFound(_("No such category."))
    return category


def _category_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise invalid({"name": _("Give the category a name.")})
    if len(name) > 100:
        raise invalid({"name": _("Keep this under %(n)s characters.", n=100)})
    return name


def _save_category(category: ProductCategory) -> ProductCategory:
    flush_unique(
        {
            "uq_product_categories_org_name": (
                "name",
                _l("There is a category with this name already."),
            )
        }
    )
    return category


@atomic
def create_category(name: str, description: str = "") -> ProductCategory:
    """A new category; names are unique regardless of case."""
    category = ProductCategory(
        organization_id=current_organization_id(),
        name=_category_name(name),
        description=(description or "").strip()[:10_000],
    )
    db.session.add(category)
    return _save_category(category)


@atomic
def rename_category(category_id: int, name: str, description: str = "") -> ProductCategory:
    category = get_category(category_id)
    category.name = _category_name(name)
    category.description = (description or "").strip()[:10_000]
    return _save_category(category)


@atomic
def delete_category(category_id: int) -> None:
    """Remove a category; its products keep going without one."""
    db.session.delete(get_category(category_id))
    db.session.flush()


# Products


@dataclass(frozen=True)
class ProductFilters:
    """The list's filters as the page and the API take them."""

    q: str = ""
    # A category id, "none" (products without one) or "" (any).
    category: str = ""
    active: str = "yes"
    # "low": at or below the reorder level; "out": none left (tracked products only).
    stock: str = ""
    sort: str = "name"

    @classmethod
    def from_args(cls, args) -> "ProductFilters":
        stock_filter = args.get("stock", "")
        sort = args.get("sort") or ("stock" if stock_filter in ("low", "out") else "name")
        return cls(
            q=args.get("q", "").strip()[:200],
            category=args.get("category", "").strip(),
            active=args.get("active", "yes") if args.get("active") in ACTIVE else "yes",
            stock=stock_filter if stock_filter in STOCK_FILTERS else "",
            sort=sort if sort in SORTS else "name",
        )

    def to_args(self) -> dict[str, str]:
        """The filters that differ from the defaults, for links and the next page."""
        defaults = ProductFilters.from_args({"stock": self.stock})
        return {
            name: getattr(self, name)
            for name in ("q", "category", "active", "stock", "sort")
            if getattr(self, name) != getattr(defaults, name)
        }


def search_products(filters: ProductFilters, *, cursor: str | None = None, limit: int = 50) -> Page:
    """Products matching the filters, one keyset page at a time."""
    stmt = select(Product).where(Product.organization_id == current_organization_id())
    if filters.q:
        # Through the owner's lookup: the app role could not use the trigram index (see 0027).
        stmt = stmt.where(
            Product.id.in_(select(func.product_search_ids(filters.q).column_valued()))
        )
    if filters.category == "none":
        stmt = stmt.where(Product.category_id.is_(None))
    elif (category_id := whole_number(filters.category)) is not None:
        stmt = stmt.where(Product.category_id == category_id)
    if filters.active != "all":
        stmt = stmt.where(Product.is_active.is_(filters.active == "yes"))
    if filters.stock == "low":
        # The predicate of the low-stock index, so the list reads only those rows.
        stmt = stmt.where(
            Product.track_stock,
            Product.is_active,
            Product.stock_on_hand <= Product.reorder_level,
        )
    elif filters.stock == "out":
        stmt = stmt.where(Product.track_stock, Product.stock_on_hand == 0)
    limit = min(max(limit, 1), 200)
    if filters.sort == "-created":
        return keyset_page(stmt, (Product.id,), cursor=cursor, limit=limit)
    columns = (
        (Product.stock_on_hand, Product.id)
        if filters.sort == "stock"
        else (Product.name, Product.id)
    )
    return keyset_page(stmt, columns, cursor=cursor, limit=limit, descending=False)


def low_stock_count() -> int:
    """How many active, tracked products are at or below their reorder level."""
    return db.session.scalar(
        select(func.count()).where(
            Product.organization_id == current_organization_id(),
            Product.track_stock,
            Product.is_active,
            Product.stock_on_hand <= Product.reorder_level,
        )
    )


def get_product(product_id: int) -> Product:
    """This organization's product, or NotFound (other tenants' ids included)."""
    product = db.session.scalar(
        select(Product).where(
            Product.id == product_id, Product.organization_id == current_organization_id()
        )
    )
    if product is None:
        raise NotFound(_("No such product."))
    return product


def products_by_sku(skus) -> dict[str, Product]:
    """The organization's products with these SKUs, by lower-cased SKU."""
    wanted = {sku.strip().lower() for sku in skus if sku and sku.strip()}
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(Product).where(
            Product.organization_id == current_organization_id(),
            func.lower(Product.sku).in_(wanted),
        )
    )
    return {product.sku.lower(): product for product in rows}


def _save_product(product: Product) -> Product:
    flush_unique({"uq_products_org_sku": ("sku", _l("Another product has this SKU."))})
    return product


@atomic
def create_product(values: dict) -> Product:
    """A new product from its fields; `stock_on_hand`, if given, is its opening stock (a receipt)."""
    cleaned = _clean(values, NAMES)
    opening = 0
    if values.get("stock_on_hand") not in (None, ""):
        try:
            opening = parse_count(values["stock_on_hand"])
        except FieldError as exc:
            raise invalid({"stock_on_hand": str(exc)}) from None
        if opening and not cleaned["track_stock"]:
            raise invalid({"stock_on_hand": _("A product without stock tracking has no stock.")})
    product = Product(organization_id=current_organization_id(), stock_on_hand=0, **cleaned)
    db.session.add(product)
    _save_product(product)
    if opening:
        stock.move(product, "receipt", opening, _("Opening stock"))
    return product


@atomic
def update_product(product_id: int, values: dict) -> Product:
    """Change the fields sent (a name missing from `values` is left as it is)."""
    product = get_product(product_id)
    cleaned = _clean(values, [name for name in NAMES if name in values])
    if cleaned.get("track_stock") is False and product.stock_on_hand:
        raise invalid(
            {
                "track_stock": _(
                    "Bring the stock to zero first (an adjustment), then stop tracking it."
                )
            }
        )
    for name, value in cleaned.items():
        setattr(product, name, value)
    return _save_product(product)


# Stock by hand: goods received and counts corrected

MANUAL_MOVES = ("receipt", "adjustment")


@atomic
def change_stock(product_id: int, *, kind: str, quantity, reason: str = ""):
    """Goods received (a positive quantity) or a count corrected (signed, with its reason)."""
    product = get_product(product_id)
    errors = {}
    if kind not in MANUAL_MOVES:
        errors["kind"] = _("Choose a receipt or an adjustment.")
    if not product.track_stock:
        errors["quantity"] = _("This product's stock is not tracked.")
    try:
        low = 1 if kind == "receipt" else -MAX_COUNT
        number = parse_count(quantity, low=low)
        if number == 0:
            raise FieldError(_("An adjustment moves at least one unit, up or down."))
    except FieldError as exc:
        errors.setdefault("quantity", str(exc))
    reason = (reason or "").strip()
    if len(reason) > 2000:
        errors["reason"] = _("Keep this under %(n)s characters.", n=2000)
    elif kind == "adjustment" and not reason:
        errors["reason"] = _("Say why the count changes (a stocktake, damage, loss).")
    check_fields(errors)
    return stock.move(product, kind, number, reason)
