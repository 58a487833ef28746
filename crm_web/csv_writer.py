"""The one way the app writes CSV: streamed in chunks, UTF-8 with a byte order mark (so Excel
reads the accents), and every cell that a spreadsheet would run as a formula disarmed.

Every CSV the app produces (the customer export, an import's left-out rows) goes through
`stream_csv`, so a value a customer or an uploaded file chose ("=HYPERLINK(...)") never comes
back out as a live formula.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence

# A spreadsheet runs a cell starting like this as a formula ("CSV injection"), unless it is
# a plain number such as a phone in E.164; the import strips the quote that disarms it.
FORMULA_START = re.compile(r"^[=@\t\r]|^[+-](?![\d\s().]*$)")
FLUSH_BYTES = 64 * 1024


def disarm(text: str) -> str:
    """`text`, with a leading quote when a spreadsheet would take it for a formula."""
    return "'" + text if FORMULA_START.match(text) else text


def _cells(row: Sequence) -> list:
    return [
        "" if value is None else disarm(value) if isinstance(value, str) else value for value in row
    ]


def stream_csv(
    header: Sequence[str], rows: Iterable[Sequence], *, flush_bytes: int = FLUSH_BYTES
) -> Iterator[str]:
    """CSV text of `header` and `rows`, a chunk at a time (about `flush_bytes` each)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(_cells(header))
    yield "\ufeff" + taken()
    for row in rows:
        writer.writerow(_cells(row))
        if buffer.tell() >= flush_bytes:
            yield taken()
    yield taken()
