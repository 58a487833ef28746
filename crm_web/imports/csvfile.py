"""Reading an uploaded CSV whatever made it: encoding, delimiter, header, ragged rows.

Spreadsheets write UTF-8 with or without a byte order mark, UTF-16 ("Unicode text"), or the
Windows code page of the machine (cp1254 in Turkey); they separate with commas, semicolons
(where the comma is the decimal mark) or tabs. Nothing here trusts the file's name or type.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.errors import ValidationError

ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": _l("UTF-8 (with byte order mark)"),
    "utf-16": "UTF-16",
    "utf-16-le": _l("UTF-16 (little-endian, no byte order mark)"),
    "utf-16-be": _l("UTF-16 (big-endian, no byte order mark)"),
    "cp1254": _l("Windows Turkish (cp1254)"),
    "latin-1": _l("Western European (Latin-1)"),
}
# The encodings a person may pick on the mapping screen when the guess was wrong.
CHOOSABLE_ENCODINGS = ("utf-8-sig", "utf-16", "cp1254", "latin-1")
DELIMITERS = {",": _l("comma"), ";": _l("semicolon"), "\t": _l("tab"), "|": _l("vertical bar")}
SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 5
READ_CHUNK = 1024 * 1024
# A UTF-16 file without a byte order mark shows itself by a NUL in every other byte.
NUL_SHARE_FOR_UTF16 = 0.3
SIGNATURES = {
    b"PK\x03\x04": _l(
        "This is an Excel workbook or another zip file: save it as CSV and upload that."
    ),
    b"\xd0\xcf\x11\xe0": _l("This is an old Excel workbook: save it as CSV and upload that."),
    b"%PDF": _l("This is a PDF: upload a CSV file."),
}
csv.field_size_limit(1024 * 1024)


@dataclass(frozen=True)
class Sniffed:
    """What the first look at a file found."""

    encoding: str
    encoding_note: str
    delimiter: str
    headers: list[str]
    sample: list[list[str]]
    rows_estimate: int


def _utf8_valid(stream: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(READ_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decodes(stream: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := stream.read(READ_CHUNK):
            decoder.decode(chunk)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(stream: BinaryIO) -> tuple[str, str]:
    """The file's encoding and, when it had to be guessed, a note saying so."""
    stream.seek(0)
    head = stream.read(SAMPLE_BYTES)
    for signature, message in SIGNATURES.items():
        if head.startswith(signature):
            raise ValidationError(message, {"file": message})
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", ""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", ""
    even, odd = head[0::2], head[1::2]
    if head and odd.count(0) > NUL_SHARE_FOR_UTF16 * len(odd) and not even.count(0):
        return "utf-16-le", ""
    if head and even.count(0) > NUL_SHARE_FOR_UTF16 * len(even) and not odd.count(0):
        return "utf-16-be", ""
    if 0 in head:
        message = _("This is not a text (CSV) file.")
        raise ValidationError(message, {"file": message})
    stream.seek(0)
    if _utf8_valid(stream):
        return "utf-8", ""
    # Not UTF-8: most likely saved by Excel on a Windows machine set to Turkish.
    stream.seek(0)
    encoding = "cp1254" if _decodes(stream, "cp1254") else "latin-1"
    return encoding, (
        _(
            "The file is not UTF-8, so it was read as %(encoding)s. Check that the letters in the "
            "sample below look right; if they do not, choose another encoding or save the file "
            "as “CSV UTF-8” and upload it again.",
            encoding=ENCODING_LABELS[encoding],
        )
    )


def _text(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    stream.seek(0)
    # newline="" lets the csv module see quoted line breaks; a stray bad byte is shown, not fatal.
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")


def detect_delimiter(text: str) -> str:
    """The separator that splits the sample's lines into the most consistent columns."""
    lines = text.splitlines()
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may end in the middle of a line
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for count in counts if count == counts[0]) / len(counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def clean_header(headers: list[str]) -> list[str]:
    """Header names trimmed; blank ones named by position so every column can be mapped."""
    return [
        " ".join(name.replace("\ufeff", "").split()) or _("Column %(number)s", number=index)
        for index, name in enumerate(headers, start=1)
    ]


def sniff(stream: BinaryIO, size: int, encoding: str | None = None) -> Sniffed:
    """Encoding (unless given), delimiter, header and a few sample rows; a ValidationError for a
    file with no rows."""
    if size == 0:
        raise ValidationError(_("The file is empty."), {"file": _("The file is empty.")})
    note = ""
    if encoding is None:
        encoding, note = detect_encoding(stream)
    text = _text(stream, encoding)
    head = text.read(SAMPLE_BYTES)
    text.detach()
    if not head.strip():
        raise ValidationError(_("The file is empty."), {"file": _("The file is empty.")})
    delimiter = detect_delimiter(head)
    rows = records(stream, encoding, delimiter)
    try:
        _row_number, headers = next(rows)
    except StopIteration:
        raise ValidationError(_("The file is empty."), {"file": _("The file is empty.")}) from None
    sample = []
    for _row_number, row in rows:
        sample.append(row)
        if len(sample) == SAMPLE_ROWS:
            break
    rows.close()
    if not sample:
        message = _("The file has a header row but no rows under it.")
        raise ValidationError(message, {"file": message})
    return Sniffed(
        encoding=encoding,
        encoding_note=note,
        delimiter=delimiter,
        headers=clean_header(headers),
        sample=sample,
        rows_estimate=_estimate_rows(stream),
    )


def _estimate_rows(stream: BinaryIO) -> int:
    """Line breaks minus the header: exact unless fields hold line breaks (a progress bar's total)."""
    stream.seek(0)
    newlines = returns = 0
    last = b""
    while chunk := stream.read(READ_CHUNK):
        newlines += chunk.count(b"\n")
        returns += chunk.count(b"\r")
        last = chunk
    # Old Mac files end lines with a bare carriage return.
    lines = newlines or returns
    if last and not last.rstrip(b"\x00").endswith((b"\n", b"\r")):
        lines += 1
    return max(lines - 1, 0)


def records(stream: BinaryIO, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) for every non-blank record; the header is row 1, as in a spreadsheet."""
    text = _text(stream, encoding)
    number = 0
    try:
        for row in csv.reader(text, delimiter=delimiter):
            number += 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            yield number, row
    except csv.Error as exc:
        message = _("The file cannot be read after row %(row)s: %(error)s.", row=number, error=exc)
        raise ValidationError(message, {"file": message}) from None
    finally:
        # The wrapper would close the caller's file when it goes away.
        text.detach()


FORMULA_ESCAPE = re.compile(r"^'(?=[=+\-@\t\r])")


def unescape_formula(value: str) -> str:
    """Undo the quote an export puts before a cell a spreadsheet would run as a formula."""
    return FORMULA_ESCAPE.sub("", value, count=1)
