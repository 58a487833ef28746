"""The outbox's one failure classification, and the backoff of its retries.

A connection error, a timeout or a 4xx reply is retried with exponential backoff and jitter, up
to MAX_ATTEMPTS; a 5xx is permanent; a 5xx at RCPT (a hard bounce) also rules the address out;
a message that cannot be built (its template, a header with a line break, an address the server
cannot take) fails at once.
"""

import random
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from crm_web.messaging import sms
from crm_web.messaging.mime import UndeliverableAddress

MAX_ATTEMPTS = 8
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class Failure:
    retry: bool
    reason: str
    bounce: bool = False
    # The connection is no use any more: open a new one for the next message.
    broken_connection: bool = False


class Unbuildable(Exception):
    """The message cannot be made from its template and data: trying again will not help."""


def classify(exc: BaseException) -> Failure:
    """What a failed send means for the message: the one classification of the outbox."""
    if isinstance(exc, Unbuildable | UndeliverableAddress):
        return Failure(retry=False, reason=str(exc))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, answer = min(exc.recipients.values(), key=lambda refusal: refusal[0])
        reason = f"SMTP {code} at RCPT: {_text(answer)}"
        return Failure(retry=code < 500, reason=reason, bounce=code >= 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        return Failure(
            retry=exc.smtp_code < 500, reason=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | TimeoutError):
        # OSError covers refused and reset connections and socket timeouts.
        return Failure(retry=True, reason=f"{type(exc).__name__}: {exc}", broken_connection=True)
    if isinstance(exc, sms.SmsNotSent):
        return Failure(retry=exc.retryable, reason=str(exc))
    if isinstance(exc, sms.SmsUncertain):
        # At least once: the gateway may have it, but a message lost is worse than one twice.
        return Failure(retry=True, reason=str(exc))
    if isinstance(exc, sms.SmsError):
        return Failure(retry=False, reason=str(exc))
    return Failure(retry=True, reason=f"{type(exc).__name__}: {exc}")


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: about 30 s, 1 min, 2 min, ... at most an hour."""
    delay = min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)
    return delay * random.uniform(0.5, 1.5)
