"""Whom a message speaks to: the language and time zone it is rendered in, found at send time.

A message written for a customer is in the customer's language (or their organization's), one
for a user in the user's (their profile's, or their organization's); a message may also carry
its own (`Recipient.language`: a sign-up link, before any account exists). Times are shown in
the customer's or user's zone, or the organization's. Read when the batch is sent, so a
language changed after the message was queued still applies.
"""

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

from crm_web.extensions import db
from crm_web.i18n import DEFAULT_LANGUAGE, supported
from crm_web.outbox.kinds import Pending

_AUDIENCES = text(
    """
    SELECT m.id,
           coalesce(nullif(c.language, ''), u.locale, o.locale) AS language,
           coalesce(nullif(c.timezone, ''), u.timezone, o.timezone) AS timezone
      FROM unnest(CAST(:ids AS bigint[]), CAST(:customers AS bigint[]), CAST(:users AS bigint[]),
                  CAST(:organizations AS bigint[]))
           AS m(id, customer_id, user_id, organization_id)
      LEFT JOIN customers c ON c.id = m.customer_id
      LEFT JOIN users u ON u.id = m.user_id
      LEFT JOIN organizations o ON o.id = m.organization_id
    """
).bindparams(
    *(
        bindparam(name, type_=ARRAY(BigInteger))
        for name in ("ids", "customers", "users", "organizations")
    )
)


@dataclass(frozen=True)
class Audience:
    language: str = DEFAULT_LANGUAGE
    timezone: str = "UTC"


def audiences(messages: list[Pending]) -> dict[int, Audience]:
    """Each message's language and time zone, in one query for the batch."""
    if not messages:
        return {}
    rows = db.session.execute(
        _AUDIENCES,
        {
            "ids": [message.id for message in messages],
            "customers": [message.customer_id for message in messages],
            "users": [message.user_id for message in messages],
            "organizations": [message.organization_id for message in messages],
        },
    )
    found = {row.id: row for row in rows}
    result = {}
    for message in messages:
        row = found.get(message.id)
        language = supported(message.language) or supported(row.language if row else None)
        result[message.id] = Audience(
            language=language or DEFAULT_LANGUAGE,
            timezone=(row.timezone if row else None) or "UTC",
        )
    return result
