"""How long free text may be: forms, API bodies and services share these caps, so a request
can never store a megabyte where a sentence belongs."""

from flask_babel import gettext as _

from crm_web.formatting import number

NAME_MAX = 200  # one line: names, subjects, titles, places
LIST_MAX = 1_000  # comma-separated tags, skills, codes; an address
TEXT_MAX = 20_000  # descriptions, notes, message bodies


def too_long_texts(value, limit: int = TEXT_MAX, path: str = "") -> dict[str, str]:
    """Field messages for every string in a JSON value longer than `limit`, named by path."""
    if isinstance(value, str):
        if len(value) <= limit:
            return {}
        return {path or "body": _("Use at most %(count)s characters.", count=number(limit))}
    if isinstance(value, dict):
        # A file sent inline (`content_base64`) is not text: its own size limit applies.
        items = (
            (f"{path}.{key}" if path else str(key), item)
            for key, item in value.items()
            if not str(key).endswith("_base64")
        )
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return {}
    found: dict[str, str] = {}
    for item_path, item in items:
        found.update(too_long_texts(item, limit, item_path))
    return found
