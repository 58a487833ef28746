"""How numbers, money, dates and times read, in the reader's language and time zone (Babel).

Every figure a person reads goes through here, as the templates' filters (`money`, `number`,
`percent`, `local`, `relative`; registered by `init_app`) or these functions: `₺60.000,00` and
`6 Ara 2026 09:30` in Turkish, `TRY 60,000.00` and `Dec 6, 2026, 09:30` in English. The
language is the request's (crm_web.i18n) or, for a message, its recipient's (`flask_babel.
force_locale` around the rendering); the zone is `timezones.user_timezone()`. Machine formats
stay ISO and never come here: date inputs, CSV exports and the API.

A document made for someone else (a quote's PDF, an email) names its language instead: the
`format_*` functions take it (`format_money(value, "TRY", "tr")`), and the filters are those
functions in the reader's language. Quantities drop trailing zeros (200, 2.5: never Decimal's
"2E+2"); money always has its cents.

`parse_decimal` reads what a person types in a money field the other way round (`1.234,50` in
Turkish, `1,234.50` in English; plain `1234.50` in either).
"""

import functools
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from babel import Locale, dates, lists, numbers
from flask import Flask
from flask_babel import get_locale

from crm_web.timezones import acting_organization, user_timezone

# Skeletons (CLDR), so each language orders day, month and year its own way; times are 24-hour.
DATE_STYLES = {
    "date": "yMMMd",  # 6 Ara 2026 / Dec 6, 2026
    "day": "MMMEd",  # 6 Ara Paz / Sun, Dec 6 (the week's and month's own day)
    "weekday": "yMMMEd",  # 6 Ara 2026 Paz / Sun, Dec 6, 2026
    "month": "yMMM",  # Ara 2026 / Dec 2026
    "full_month": "yMMMM",  # Aralık 2026 / December 2026
    "full_date": "long",  # 6 Aralık 2026 / December 6, 2026 (the language's long date)
    "short": "MMMd",  # 6 Ara / Dec 6
}
TIME_SKELETON = "Hm"
# A plain number as a machine writes it: what an API client or a pasted figure gives.
PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


def locale() -> Locale:
    """The reader's language (English outside a request or a forced one)."""
    return get_locale() or Locale("en")


def organization_currency() -> str:
    """The current organization's currency (from the signed-in snapshot: no query)."""
    organization = acting_organization()
    return organization.currency if organization else "USD"


@functools.cache
def _currency_format(language: str, currency: str) -> tuple[numbers.NumberPattern, str, list]:
    """The language's currency pattern, the currency's symbol in it, and the spacing to add:
    parsed once per language and currency (the board formats a hundred cards at a time)."""
    reader = Locale.parse(language)
    symbol = numbers.get_currency_symbol(currency, locale=reader)
    spacing = []
    if symbol.isalpha():
        # CLDR's currency spacing, which Babel leaves out: a code such as TRY never touches
        # the digits ("TRY 60,000.00"), where a sign such as ₺ does ("₺60.000,00").
        escaped = re.escape(symbol)
        spacing = [
            (re.compile(rf"{escaped}(?=\d)"), f"{symbol}\u00a0"),
            (re.compile(rf"(?<=\d){escaped}"), f"\u00a0{symbol}"),
        ]
    return reader.currency_formats["standard"], symbol, spacing


def format_money(value, currency: str, language: str) -> str:
    """An amount in `currency` by `language`'s rules: ₺60.000,00 (tr), TRY 60,000.00 (en)."""
    pattern, _symbol, spacing = _currency_format(language, currency)
    text = pattern.apply(Decimal(value or 0), Locale.parse(language), currency=currency)
    for spaced, replacement in spacing:
        text = spaced.sub(replacement, text)
    return text


def money(value, currency: str = "") -> str:
    """An amount in `currency` (the organization's by default) by the reader's rules."""
    if value is None:
        return ""
    return format_money(value, currency or organization_currency(), str(locale()))


def plain_number(value) -> str:
    """A decimal as an input field takes it back, without exponent or trailing zeros:
    Decimal("100.00") -> "100", Decimal("2.50") -> "2.5"."""
    return f"{Decimal(value or 0).normalize():f}"


def format_quantity(value, language: str) -> str:
    """A quantity with only the decimals it has: 200, 2.5, 1,000 (en), 1.000,25 (tr)."""
    return numbers.format_decimal(Decimal(value or 0), "#,##0.##", locale=language)


def number(value, digits: int | None = None) -> str:
    """A number with the language's grouping and decimal sign; `digits` fixes the decimals."""
    if value is None:
        return ""
    if digits is None:
        return numbers.format_decimal(value, locale=locale())
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=locale())


def format_percent(value, language: str, digits: int | None = None) -> str:
    """`value` percent (25 -> "25%", "%25" in Turkish); as many decimals as it has (7.5%, not
    7.50%), or `digits`."""
    fraction = Decimal(str(value or 0)).normalize() / 100
    if digits is not None:
        fraction = round(fraction, digits + 2)
    return numbers.format_percent(fraction, locale=language, decimal_quantization=False)


def percent(value, digits: int | None = None) -> str:
    """`value` percent in the reader's language (see format_percent)."""
    if value is None:
        return ""
    return format_percent(value, str(locale()), digits)


@functools.cache
def _date_pattern(language: str, skeleton: str) -> dates.DateTimePattern:
    """The language's pattern for a CLDR skeleton (the closest it has) or for one of its named
    date formats ("long"), found once."""
    if skeleton in ("short", "medium", "long", "full"):
        return Locale.parse(language).date_formats[skeleton]
    skeletons = Locale.parse(language).datetime_skeletons
    if skeleton not in skeletons:
        skeleton = dates.match_skeleton(skeleton, skeletons)
    return skeletons[skeleton]


def local(value: datetime | date | None, style: str = "datetime") -> str:
    """A stored time (or a date) as the reader reads it: `style` is "datetime" (the default),
    "time", or one of DATE_STYLES, with the time added to a datetime except for "date",
    "month", "full_month", "full_date" and "short"."""
    if value is None:
        return ""
    reader = locale()
    language = str(reader)
    day_pattern = _date_pattern(language, DATE_STYLES.get(style, "yMMMd"))
    if not isinstance(value, datetime):
        return day_pattern.apply(value, reader)
    moment = value.astimezone(user_timezone()) if value.tzinfo else value
    clock = _date_pattern(language, TIME_SKELETON).apply(moment, reader)
    if style == "time":
        return clock
    day = day_pattern.apply(moment, reader)
    if style in ("date", "month", "full_month", "full_date", "short"):
        return day
    return reader.datetime_formats["medium"].format(clock, day)


def format_long_date(value: date | None, language: str) -> str:
    """A date with its month spelt out (6 December 2026, 6 Aralık 2026); "" for none."""
    return dates.format_date(value, format="long", locale=language) if value else ""


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago or from now: "2 hours ago", "2 saat önce", "in 3 days"."""
    if value is None:
        return ""
    delta = value - (now or datetime.now(UTC))
    return dates.format_timedelta(delta, add_direction=True, locale=locale())


def parse_decimal(text: str) -> Decimal:
    """What a person typed as a number, in the reader's language or plain; ValueError if
    neither reads it."""
    text = _SPACES.sub("", text)
    try:
        value = numbers.parse_decimal(text, locale=locale(), strict=True)
    except numbers.NumberFormatError:
        if not PLAIN_DECIMAL.fullmatch(text):
            raise ValueError(f"not a number: {text!r}") from None
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a number: {text!r}")
    return value


def any_of(items: list[str]) -> str:
    """Items as alternatives in the reader's language: "email or phone", "e-posta veya telefon"."""
    return lists.format_list(items, style="or", locale=locale())


def lowercase(text: str) -> str:
    """`text` in lower case by the reader's language's rules: Turkish lowers İ to i and I to ı
    (Python's own lower() gives "i̇" and "i"), for a name set inside a sentence."""
    if locale().language == "tr":
        text = text.replace("İ", "i").replace("I", "ı")
    return text.lower()


def weekday_names() -> list[str]:
    """The days of the week, Monday first, abbreviated as the reader reads them (Mon, Pzt)."""
    names = dates.get_day_names("abbreviated", locale=locale())
    return [names[day] for day in range(7)]


def example_amount() -> str:
    """An amount as the reader types one ("1.234,50"), for hints and error messages."""
    return number(Decimal("1234.50"), 2)


def init_app(app: Flask) -> None:
    """Register the filters every template uses."""
    for name, function in (
        ("money", money),
        ("number", number),
        ("percent", percent),
        ("local", local),
        ("relative", relative),
        ("plain_number", plain_number),
    ):
        app.jinja_env.filters[name] = function
