"""Every field of a product a person or a file sets, declared once.

The checks (products.check_field), the API, the CSV import and the forms read FIELDS; lengths
and defaults come from the model's columns. `label` is the CSV header (a file format, the same
in every language); `form_label` is what the screen shows, translated. Stock is not a field a
person edits: it moves through stock movements, so only a new product's opening stock may be
given (the import's and the API's `stock_on_hand`).
"""

from flask_babel import lazy_gettext as _l

from crm_web.catalog.models import Product
from crm_web.fields import Field, declare

F = Field
FIELDS = declare(
    Product,
    F(
        "sku",
        "SKU",
        aliases=("Code", "Product code", "Stok kodu", "Ürün kodu"),
        form_label=_l("SKU"),
    ),
    F(
        "name",
        "Name",
        aliases=("Product", "Product name", "Ürün", "Ürün adı", "Ad"),
        form_label=_l("Name"),
    ),
    F("category_id", "Category", "category", ("Kategori",), form_label=_l("Category")),
    F(
        "description",
        "Description",
        aliases=("Açıklama",),
        max_length=10_000,
        form_label=_l("Description"),
    ),
    F("price", "Price", "amount", ("Unit price", "Fiyat", "Birim fiyat"), form_label=_l("Price")),
    F(
        "tax_rate",
        "Tax rate",
        "percent",
        ("Tax", "VAT", "KDV", "Vergi"),
        form_label=_l("Tax rate %"),
    ),
    F("is_active", "Active", "bool", ("Aktif",), form_label=_l("Active")),
    F("track_stock", "Track stock", "bool", ("Stok takibi",), form_label=_l("Track stock")),
    F(
        "reorder_level",
        "Reorder level",
        "count",
        ("Reorder point", "Minimum stok"),
        form_label=_l("Reorder level"),
    ),
)
BY_NAME = {f.name: f for f in FIELDS}
NAMES = tuple(BY_NAME)
# A new product's opening stock: a receipt movement when the product is made.
OPENING_STOCK = declare(
    Product,
    F(
        "stock_on_hand",
        "Stock (new products)",
        "count",
        ("Stock", "Stock on hand", "Quantity", "Stok", "Miktar", "Adet"),
        form_label=_l("Opening stock"),
    ),
)[0]
IMPORT_FIELDS = FIELDS + (OPENING_STOCK,)
