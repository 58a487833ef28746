"""Validation and normalisation of customer fields (no database: the import runs these per row)."""

from datetime import date
from decimal import Decimal

import pytest

from crm_web.customers.validation import (
    FieldError,
    clean_customer,
    default_region,
    normalize_email,
    normalize_phone,
    normalize_tags,
    normalize_website,
    parse_amount,
    parse_bool,
    parse_date,
    region_for_timezone,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ali.Yilmaz@Example.COM ", "ali.yilmaz@example.com"),
        ("first+tag@sub.example.co.uk", "first+tag@sub.example.co.uk"),
        ("Ünal@Örnek.com.tr", "ünal@örnek.com.tr"),
        ("", ""),
    ],
)
def test_emails_are_lower_cased_and_kept_when_valid(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ali@", "@example.com", "ali@@example.com", "ali..veli@example.com", "ali@localhost"]
)
def test_invalid_emails_are_refused_with_a_reason(raw):
    with pytest.raises(FieldError) as error:
        normalize_email(raw)
    assert str(error.value)


def test_the_fast_path_agrees_with_email_validator():
    from email_validator import validate_email

    for address in ("a.b-c_d%e+f@x-y.example.com", "z@q.io", "x.y@a1.b2.museum"):
        slow = validate_email(address, check_deliverability=False).normalized.lower()
        assert normalize_email(address) == slow


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0532 123 45 67", "TR", "+905321234567"),
        ("(0532) 123-4567", "TR", "+905321234567"),
        ("+44 7911 123456", "TR", "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("+1 212 555 0123", None, "+12125550123"),
        ("", "TR", ""),
    ],
)
def test_phones_become_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


def test_a_national_number_without_a_region_asks_for_the_country_code():
    with pytest.raises(FieldError, match=r"Start it with \+"):
        normalize_phone("0532 123 45 67", None)
    with pytest.raises(FieldError, match="not valid"):
        normalize_phone("+90 532", "TR")
    with pytest.raises(FieldError):
        normalize_phone("call me maybe", "TR")


def test_the_default_region_is_the_customers_country_else_the_organizations():
    assert region_for_timezone("Europe/Istanbul") in ("TR", None)  # None only without zone.tab
    assert default_region("gb", "Europe/Istanbul") == "GB"
    assert default_region("", "Europe/Istanbul") == region_for_timezone("Europe/Istanbul")
    assert default_region("", "UTC") is None


def test_small_parsers():
    assert normalize_website("acme.com.tr") == "https://acme.com.tr"
    assert normalize_website("http://acme.example/x") == "http://acme.example/x"
    for bad in ("ftp://acme.com", "not a site", "localhost"):
        with pytest.raises(FieldError):
            normalize_website(bad)
    assert normalize_tags(" VIP, b2b ,vip,, Key  Account") == ["vip", "b2b", "key account"]
    assert normalize_tags(["A", "a"]) == ["a"]
    with pytest.raises(FieldError):
        normalize_tags(["x" * 41])
    with pytest.raises(FieldError):
        normalize_tags([str(n) for n in range(21)])
    assert parse_bool("Evet") is True and parse_bool("no") is False and parse_bool("") is False
    with pytest.raises(FieldError):
        parse_bool("maybe")
    assert parse_date("31.05.1980") == date(1980, 5, 31) == parse_date("1980-05-31")
    with pytest.raises(FieldError):
        parse_date("31/31/1980")
    assert parse_amount("1234,5") == Decimal("1234.50")
    for bad in ("-1", "1.234", "abc", "1e20", "NaN"):
        with pytest.raises(FieldError):
            parse_amount(bad)


def test_clean_customer_normalises_a_whole_record():
    clean, errors = clean_customer(
        {
            "customer_type": "person",
            "first_name": "  Ayşe  ",
            "last_name": "Yılmaz",
            "company_name": "",
            "primary_email": "AYSE@Example.com",
            "primary_phone": "0532 123 45 67",
            "tags": "VIP, b2b",
            "country": "tr",
            "annual_revenue": "",
            "birth_date": "1980-05-31",
            "email_opt_in": "yes",
        }
    )
    assert errors == {}
    assert clean["first_name"] == "Ayşe"
    assert clean["primary_email"] == "ayse@example.com"
    assert clean["primary_phone"] == "+905321234567"
    assert clean["tags"] == ["vip", "b2b"]
    assert clean["country"] == "TR"
    assert clean["annual_revenue"] is None
    assert clean["email_opt_in"] is True


def test_clean_customer_reports_every_bad_field_at_once():
    clean, errors = clean_customer(
        {
            "customer_type": "alien",
            "first_name": "x" * 51,
            "primary_email": "nope",
            "primary_phone": "123",
            "gender": "Q",
            "company_size": "huge",
            "lifecycle_stage": "zombie",
            "country": "XX",
            "timezone": "Mars/Base",
            "tax_number": "12ab",
            "birth_date": date(2999, 1, 1),
        },
        organization_timezone="Europe/Istanbul",
    )
    assert set(errors) == {
        "customer_type",
        "first_name",
        "primary_email",
        "primary_phone",
        "gender",
        "company_size",
        "lifecycle_stage",
        "country",
        "timezone",
        "tax_number",
        "birth_date",
    }


def test_record_rules_span_fields():
    _clean, errors = clean_customer(
        {"customer_type": "company", "company_name": "", "first_name": "A", "last_name": ""}
    )
    assert "company_name" in errors
    _clean, errors = clean_customer(
        {"customer_type": "person", "first_name": "", "last_name": "", "company_name": "Acme"}
    )
    assert "first_name" in errors
    _clean, errors = clean_customer(
        {"primary_email": "a@example.com", "secondary_email": "A@example.com"}
    )
    assert "secondary_email" in errors
    # A lone second address is promoted to the main one.
    clean, errors = clean_customer(
        {"primary_email": "", "secondary_email": "b@example.com", "primary_phone": ""}
    )
    assert errors == {} and clean["primary_email"] == "b@example.com"
    assert clean["secondary_email"] == ""
