"""Forms of the catalog pages: products, categories, stock changes and orders.

Numbers are text fields: the services read them (products.check_field), so a page, the API and
an import refuse the same values with the same words.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length

from crm_web.catalog.fields import BY_NAME, OPENING_STOCK
from crm_web.limits import NAME_MAX

ORDER_BLANK_LINES = 5


def _label(name: str):
    return BY_NAME[name].label_on_form


class ProductForm(FlaskForm):
    sku = StringField(_label("sku"), validators=[Length(max=BY_NAME["sku"].max_length)])
    name = StringField(_label("name"), validators=[Length(max=BY_NAME["name"].max_length)])
    # The service checks the category (it may have gone since the page was shown).
    category_id = SelectField(_label("category_id"), choices=[], validate_choice=False)
    description = TextAreaField(
        _label("description"), validators=[Length(max=BY_NAME["description"].max_length)]
    )
    price = StringField(_label("price"), validators=[Length(max=NAME_MAX)])
    tax_rate = StringField(_label("tax_rate"), default="0", validators=[Length(max=NAME_MAX)])
    reorder_level = StringField(
        _label("reorder_level"), default="0", validators=[Length(max=NAME_MAX)]
    )
    stock_on_hand = StringField(
        OPENING_STOCK.label_on_form, default="0", validators=[Length(max=NAME_MAX)]
    )
    is_active = BooleanField(_label("is_active"), default=True)
    track_stock = BooleanField(_label("track_stock"), default=True)

    def values(self) -> dict:
        """The product's fields as the service takes them (booleans as checked)."""
        names = (*BY_NAME, "stock_on_hand")
        return {name: getattr(self, name).data for name in names if hasattr(self, name)}


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=10_000)])


class StockForm(FlaskForm):
    kind = SelectField(
        _l("What happened"),
        choices=[
            SelectChoice("receipt", _l("Goods received")),
            SelectChoice("adjustment", _l("Count corrected")),
        ],
    )
    quantity = StringField(
        _l("Quantity (an adjustment may be negative)"), validators=[Length(max=NAME_MAX)]
    )
    reason = StringField(_l("Reason"), validators=[Length(max=2000)])


class OrderLineForm(Form):
    """One line of the new-order form: the product by SKU, how many, a discount."""

    sku = StringField(_l("SKU"), validators=[Length(max=64)])
    quantity = StringField(_l("Quantity"), validators=[Length(max=NAME_MAX)])
    discount_percent = StringField(_l("Discount %"), validators=[Length(max=NAME_MAX)])


class OrderForm(FlaskForm):
    customer = StringField(_l("Customer (code or email)"), validators=[Length(max=320)])
    channel = SelectField(_l("Channel"), choices=[])
    status = SelectField(
        _l("Payment"),
        choices=[
            SelectChoice("pending", _l("To be paid")),
            SelectChoice("paid", _l("Paid now")),
        ],
    )
    payment_method = SelectField(_l("Paid by"), choices=[])
    coupon_code = StringField(_l("Coupon code"), validators=[Length(max=40)])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=10_000)])
    lines = FieldList(FormField(OrderLineForm), min_entries=ORDER_BLANK_LINES)


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[], validate_choice=False)
    payment_method = SelectField(_l("Paid by"), choices=[], validate_choice=False)
    reason = StringField(_l("Reason"), validators=[Length(max=2000)])


class ReturnForm(FlaskForm):
    """A return: the reason and whether the goods go back on the shelf; how many of each line
    come back are the fields `return-<line id>`, one per line of the order."""

    reason = StringField(_l("Reason"), validators=[Length(max=2000)])
    restock = BooleanField(_l("Back into stock (not damaged)"), default=True)
