"""Reading CSV files (encoding, delimiter, header, odd rows), header guessing, and the import's
fast road for phone numbers checked against phonenumbers itself."""

import io
import random

import phonenumbers
import pytest

from crm_web.customers.bulk_phones import fast_e164, normalize_phones
from crm_web.customers.importing import CustomerTarget
from crm_web.customers.validation import FieldError, normalize_phone
from crm_web.errors import ValidationError
from crm_web.imports import csvfile
from crm_web.imports.targets import fold_header, guess_mapping


def sniff(data: bytes) -> csvfile.Sniffed:
    return csvfile.sniff(io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    "text, delimiter",
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2;3\n", ";"),  # a decimal comma does not fool it
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('name,"notes; more"\nx,"y; z"\n', ","),
        ("only\nvalue\n", ","),
    ],
)
def test_the_delimiter_is_the_one_that_splits_consistently(text, delimiter):
    assert sniff(text.encode()).delimiter == delimiter


def test_header_sample_and_row_estimate():
    data = 'Ad,Soyad,\r\n"Ali","Veli, Jr.",\r\n"Ayşe","multi\r\nline"\r\nOld,Mac\r\n'.encode()
    sniffed = sniff(data)
    assert sniffed.headers == ["Ad", "Soyad", "Column 3"]
    assert sniffed.sample == [["Ali", "Veli, Jr.", ""], ["Ayşe", "multi\r\nline"], ["Old", "Mac"]]
    # Line breaks inside quotes make the estimate high; the run counts exactly.
    assert sniffed.rows_estimate == 4


def test_records_number_rows_like_a_spreadsheet_and_skip_blank_lines():
    data = b"h1,h2\r\n\r\nx,1\r\n  \r\ny,2"
    rows = list(csvfile.records(io.BytesIO(data), "utf-8", ","))
    assert rows == [(1, ["h1", "h2"]), (3, ["x", "1"]), (5, ["y", "2"])]


def test_mac_line_endings_and_utf16_big_endian():
    assert sniff(b"a,b\r1,2\r3,4").rows_estimate == 2
    data = "Ad;Soyad\nŞule;Işık\n".encode("utf-16-be")
    sniffed = sniff(data)
    assert (sniffed.encoding, sniffed.delimiter) == ("utf-16-be", ";")
    assert sniffed.sample == [["Şule", "Işık"]]


def test_latin1_when_not_even_cp1254_decodes():
    # 0x81 is undefined in cp1254.
    sniffed = sniff(b"name\ncaf\xe9\x81\n")
    assert sniffed.encoding == "latin-1" and "Latin-1" in sniffed.encoding_note


def test_a_broken_quote_is_a_clear_error():
    data = b'a,b\n1,"2\n' + b"x" * (1024 * 1024 + 10)
    with pytest.raises(ValidationError, match="cannot be read after row"):
        list(csvfile.records(io.BytesIO(data), "utf-8", ","))


def test_formula_quotes_are_undone():
    assert csvfile.unescape_formula("'=SUM(A1)") == "=SUM(A1)"
    assert csvfile.unescape_formula("'-12") == "-12"
    assert csvfile.unescape_formula("'quoted'") == "'quoted'"


def test_headers_in_english_and_turkish_are_guessed():
    assert fold_header("E-posta Adresi") == "epostaadresi"
    headers = ["Adı", "SOYADI", "E-Posta", "Cep", "Şirket", "İl", "Notes", "e-mail"]
    assert guess_mapping(CustomerTarget(), headers) == [
        "first_name",
        "last_name",
        "primary_email",
        "primary_phone",
        "company_name",
        "city",
        "",
        "",  # Email is taken by the first column that means it
    ]


def _variants(region: str, rng: random.Random) -> list[tuple[str, str | None]]:
    values = []
    for kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        for style in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
        ):
            text = phonenumbers.format_number(example, style)
            values.append((text, region))
            for _ in range(25):
                chars = list(text)
                digits = [i for i, ch in enumerate(chars) if ch.isdigit()]
                for _ in range(rng.randint(1, 3)):
                    chars[rng.choice(digits)] = str(rng.randrange(10))
                mutated = "".join(chars)
                if rng.random() < 0.15:
                    mutated += str(rng.randrange(10))
                elif rng.random() < 0.15:
                    mutated = mutated[:-1]
                values.append((mutated, rng.choice([region, "TR", "DE", None])))
    return values


def test_the_fast_phone_road_agrees_with_phonenumbers():
    rng = random.Random(7)
    regions = ["TR", "DE", "FR", "NL", "IT", "ES", "GB", "US", "RU", "AR", "BR", "MX", "IN"]
    regions += ["CN", "AU", "JP", "CH", "AT", "SE", "PL", "GR", "AZ", "SA", "AE", "EG", "ZA"]
    values = [value for region in regions for value in _variants(region, rng)]
    values += [
        ("+90 (0) 532 123 45 67", "TR"),
        ("0090 532 123 45 67", "TR"),
        ("905321234567", "TR"),
    ]
    fast = 0
    for value, region in values:
        try:
            expected = normalize_phone(value, region)
        except FieldError:
            expected = None
        got = fast_e164(value, region)
        if got is not None:
            fast += 1
            assert got == expected, (value, region)
    # It takes the everyday numbers (and leaves the rest to phonenumbers).
    assert fast > len(values) // 5
    assert fast_e164("0532 123 45 67", "TR") == "+905321234567"
    assert fast_e164("+49 30 123456", "DE") == normalize_phone("+49 30 123456", "DE")
    assert fast_e164("+1 212 555 0100", "US") is None  # +1 is shared by many countries


def test_a_column_of_phones_gets_the_same_errors_as_the_form():
    parsed, errors = normalize_phones(
        ["0532 123 45 67", "", "12", "+44 7911 123456"], ["TR", "TR", "TR", "TR"]
    )
    assert parsed == ["+905321234567", None, None, "+447911123456"]
    assert errors == {2: "This phone number is not valid."}
