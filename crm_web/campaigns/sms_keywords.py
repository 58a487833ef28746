"""Keywords customers text to our number: STOP (DUR, IPTAL, RET) opts them out of SMS, START
(BASLA) back in. The lists are the organization's settings, else the configuration's defaults
(SMS_OPT_OUT_KEYWORDS, SMS_OPT_IN_KEYWORDS).

The first word of the text decides, folded as people type it on any phone: Turkish letters to
their ASCII look-alikes and upper case, so "İptal", "iptal" and "IPTAL" are one word, as are
"Başla" and "BASLA". Every customer of the organization with that phone number changes, each
change written in the consent history (source `sms_keyword`), and the number gets one
confirmation SMS (the template sms/campaigns/keyword_reply) through the outbox. A text that is
no keyword changes nothing.
"""

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.accounts.models import Organization
from crm_web.campaigns.sms import record_sms_opt_out
from crm_web.customers import services as customers
from crm_web.customers.models import Customer
from crm_web.customers.validation import FieldError, normalize_phone
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.outbox import services as outbox
from crm_web.outbox.kinds import MessageKind, Pending, register

REPLY_KIND = "sms_keyword_reply"
_FOLD = str.maketrans("çğıöşüâîûÇĞİÖŞÜÂÎÛ", "CGIOSUAIUCGIOSUAIU")


def fold(word: str) -> str:
    """A keyword as compared: Turkish letters to ASCII, upper case, no punctuation around."""
    return word.translate(_FOLD).upper().strip(" .!?,;:'\"")


def keywords(setting: str, organization: Organization | None = None) -> list[str]:
    """The organization's list for SMS_OPT_OUT_KEYWORDS or SMS_OPT_IN_KEYWORDS, folded."""
    own = getattr(organization, setting.lower(), "") if organization is not None else ""
    source = own or current_app.config[setting]
    return [fold(word) for word in source.split(",") if word.strip()]


def clean_keywords(value: str) -> str:
    """A list as typed ("stop, Dur,iptal") as stored: folded words, comma-separated."""
    return ", ".join(dict.fromkeys(fold(word) for word in value.split(",") if fold(word)))


@dataclass(frozen=True)
class KeywordOutcome:
    """What a text did: `opted_in` True/False for a keyword (None: not one), the customers."""

    opted_in: bool | None
    customer_ids: tuple[int, ...] = ()


@atomic
def handle_inbound(sender: str, body: str) -> KeywordOutcome:
    """Act on a text from `sender` to the current organization's number."""
    words = body.split()
    word = fold(words[0]) if words else ""
    organization = db.session.get(Organization, current_organization_id())
    stop_words = keywords("SMS_OPT_OUT_KEYWORDS", organization)
    start_words = keywords("SMS_OPT_IN_KEYWORDS", organization)
    if word in stop_words:
        opted_in = False
    elif word in start_words:
        opted_in = True
    else:
        return KeywordOutcome(None)
    try:
        phone = normalize_phone(sender, None)
    except FieldError:
        return KeywordOutcome(None)
    found = db.session.scalars(
        select(Customer.id).where(
            Customer.organization_id == current_organization_id(),
            Customer.primary_phone == phone,
        )
    ).all()
    for customer_id in found:
        customers.set_consent(
            customer_id, source="sms_keyword", note=words[0][:40], sms_opt_in=opted_in
        )
    if found and not opted_in:
        record_sms_opt_out(list(found))
    if found:
        outbox.queue(
            REPLY_KIND,
            [outbox.Recipient(address=phone, customer_id=found[0])],
            context={
                "opted_in": opted_in,
                "organization_name": organization.name,
                "stop_word": stop_words[0],
                "start_word": start_words[0] if start_words else "",
            },
        )
        outbox.nudge("sms")
    return KeywordOutcome(opted_in, tuple(found))


def _load(messages: list[Pending]) -> dict:
    return {message.id: message.context for message in messages}


def _sample() -> dict:
    return {
        "opted_in": False,
        "organization_name": "Demo Kozmetik",
        "stop_word": "STOP",
        "start_word": "BASLA",
    }


register(
    MessageKind(
        name=REPLY_KIND,
        title=_l("SMS keyword confirmation"),
        channel="sms",
        template="campaigns/keyword_reply",
        description=_l("The answer to a customer who texted STOP or START (or their Turkish)."),
        load=_load,
        sample=_sample,
    )
)
