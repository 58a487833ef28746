"""Phone numbers by the column, for imports: validation.normalize_phone's answers, faster.

phonenumbers.parse costs about 20 µs a number, a third of a minute per million rows. Most
numbers in a file take the same road through it: a "+" and a country code that belongs to one
country, or a national number of the file's country with its trunk prefix ("0532 ..."). For
those, the library's own metadata (the patterns and lengths each number type allows) is
compiled here into one regular expression per country, and a number that matches gets the
E.164 form phonenumbers gives it. Anything else — shared country codes (+1, +44, +7),
prefixes the library rewrites, a number that does not match — goes to normalize_phone, which
stays the authority for every error message. The tests compare both on many numbers.
"""

import functools
import re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from crm_web.customers import validation

# The number types phonenumbers tries before calling a number valid (_number_type_helper).
NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
# Separators phonenumbers ignores, in the everyday subset people type.
PLAIN_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-/]*")
SEPARATORS = re.compile(r"[ ().\-/]")


def _desc_pattern(desc) -> str | None:
    """A regex for "matches this description" (its pattern and, if given, its lengths)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = [length for length in desc.possible_length if length > 0]
    if desc.possible_length and not lengths:
        return None  # a type this country does not have
    pattern = f"(?:{desc.national_number_pattern})"
    if lengths:
        pattern = "(?=(?:" + "|".join(rf"\d{{{n}}}" for n in lengths) + ")$)" + pattern
    return pattern


@functools.cache
def _country(country_code: int) -> tuple[re.Pattern, str | None, str | None] | None:
    """(valid national number, literal trunk prefix, international prefix) for a country code
    that belongs to one region; None where the fast road does not apply."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return None
    metadata = PhoneMetadata.metadata_for_region(regions[0])
    if metadata is None:
        return None
    general = _desc_pattern(metadata.general_desc)
    types = [p for p in (_desc_pattern(getattr(metadata, name)) for name in NUMBER_TYPES) if p]
    if general is None or not types:
        return None
    valid = re.compile(f"(?={general}$)(?:{'|'.join(types)})")
    prefix = metadata.national_prefix_for_parsing
    if prefix and not (
        prefix.isdigit()
        and prefix == metadata.national_prefix
        and not metadata.national_prefix_transform_rule
    ):
        return None  # a prefix the library rewrites (carrier codes and the like)
    return valid, prefix or None, metadata.international_prefix


@functools.cache
def _region_code(region: str | None) -> int | None:
    if not region:
        return None
    metadata = PhoneMetadata.metadata_for_region(region)
    return metadata.country_code if metadata else None


def _split_country_code(digits: str) -> tuple[int, str] | None:
    # Country codes are prefix-free: at most one of the first 1-3 digits is one.
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[length:]
    return None


def fast_e164(value: str, region: str | None) -> str | None:
    """The E.164 form normalize_phone would give, or None when only it can tell."""
    if not PLAIN_NUMBER.fullmatch(value):
        return None
    digits = SEPARATORS.sub("", value)
    if digits.startswith("+"):
        split = _split_country_code(digits[1:]) if digits[1:2] not in ("", "0") else None
        if split is None:
            return None
        country_code, national = split
        rules = _country(country_code)
        if rules is None:
            return None
        valid, prefix, _ = rules
        if national.startswith("0") or (prefix and national.startswith(prefix)):
            return None
    else:
        country_code = _region_code(region)
        rules = _country(country_code) if country_code else None
        if rules is None:
            return None
        valid, prefix, international = rules
        if digits.startswith(str(country_code)) or (
            international and re.match(international, digits)
        ):
            return None  # the library may read these as international numbers
        national = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
        if national.startswith("0"):
            return None
    if not valid.fullmatch(national):
        return None
    return f"+{country_code}{national}"


def normalize_phones(
    cells: list[str], regions: list[str | None]
) -> tuple[list[str | None], dict[int, str]]:
    """E.164 numbers for a column of cells (None where empty) and an error by row index."""
    parsed: list[str | None] = []
    errors: dict[int, str] = {}
    for index, (cell, region) in enumerate(zip(cells, regions, strict=True)):
        if not cell:
            parsed.append(None)
            continue
        number = fast_e164(cell, region)
        if number is None:
            try:
                number = validation.normalize_phone(cell, region)
            except validation.FieldError as exc:
                errors[index] = str(exc)
        parsed.append(number)
    return parsed, errors
