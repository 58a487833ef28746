"""Numbers and dates as people read them, in a language's own separators and month names.

A `Decimal` read from a NUMERIC column prints its scale ("200.00"), and `normalize()` turns
it into an exponent ("2E+2"): every number shown to a person goes through these instead.
Quantities drop trailing zeros (200, 2.5); money always has its cents (1,234.50).
"""

from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal, get_currency_symbol
from babel.numbers import format_percent as babel_format_percent

QUANTITY_PATTERN = "#,##0.##"
MONEY_PATTERN = "#,##0.00"


def plain_number(value) -> str:
    """A decimal without exponent or trailing zeros, as an input field takes it back:
    Decimal("100.00") -> "100", Decimal("2.50") -> "2.5"."""
    number = Decimal(value or 0).normalize()
    return f"{number:f}"


def format_quantity(value, locale: str) -> str:
    """A quantity with the locale's separators and only the decimals it has: 200, 2.5, 1,000."""
    return format_decimal(Decimal(value or 0), QUANTITY_PATTERN, locale=locale)


def format_amount(value, locale: str) -> str:
    """An amount with its cents and the locale's separators: 1,234.50 (en), 1.234,50 (tr)."""
    return format_decimal(Decimal(value or 0), MONEY_PATTERN, locale=locale)


def format_money(value, currency: str, locale: str) -> str:
    """An amount in a currency: with its symbol where the locale has one (₺1.234,50 in
    Turkish, €1,234.50), else the amount and the code (1,234.50 TRY in English)."""
    value = Decimal(value or 0)
    if get_currency_symbol(currency, locale=locale) == currency:
        return f"{format_amount(value, locale)} {currency}"
    return format_currency(value, currency, format=None, locale=locale)


def format_percent(value, locale: str) -> str:
    """A percentage (20 -> 20% in English, %20 in Turkish) with up to two decimals (7.5%)."""
    pattern = Locale.parse(locale).percent_formats[None].pattern.replace("#,##0", "#,##0.##", 1)
    return babel_format_percent(Decimal(value or 0) / 100, pattern, locale=locale)


def format_long_date(value: date | None, locale: str) -> str:
    """A date with its month spelt out (6 December 2026, 6 Aralık 2026); "" for none."""
    return babel_format_date(value, format="long", locale=locale) if value else ""
