"""Money amounts and percentages as the pipeline takes them from forms and the API."""

from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from crm_web.errors import invalid

MAX_AMOUNT = Decimal("9999999999999.99")


def parse_amount(value, field: str = "amount") -> Decimal:
    """A non-negative money amount with at most two decimals, or a ValidationError on `field`."""
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if value not in (None, "") else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise invalid({field: _("Enter an amount.")})
    if amount < 0 or amount > MAX_AMOUNT:
        raise invalid({field: _("Enter an amount between 0 and 9,999,999,999,999.99.")})
    if amount != amount.quantize(Decimal("0.01")):
        raise invalid({field: _("Use at most two decimals.")})
    return amount
