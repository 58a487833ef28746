"""Quiet hours in each recipient's zone, and what an SMS costs with or without the Turkish
single shift table (pure functions: no database)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm_web.messaging import sms
from crm_web.messaging.quiet_hours import QuietHours, parse_window

ISTANBUL, NEW_YORK = ZoneInfo("Europe/Istanbul"), ZoneInfo("America/New_York")
NIGHT = parse_window("21:00-09:00")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("due", "zone", "released"),
    [
        # 12:00 in Istanbul (UTC+3): outside the window, goes at once.
        (utc(2027, 3, 1, 9, 0), ISTANBUL, utc(2027, 3, 1, 9, 0)),
        # 22:30 in Istanbul: waits for 09:00 local the next day.
        (utc(2027, 3, 1, 19, 30), ISTANBUL, utc(2027, 3, 2, 6, 0)),
        # 03:00 in Istanbul: waits for 09:00 the same day.
        (utc(2027, 3, 2, 0, 0), ISTANBUL, utc(2027, 3, 2, 6, 0)),
        # 21:00 sharp is inside, 09:00 sharp is outside.
        (utc(2027, 3, 1, 18, 0), ISTANBUL, utc(2027, 3, 2, 6, 0)),
        (utc(2027, 3, 2, 6, 0), ISTANBUL, utc(2027, 3, 2, 6, 0)),
        # The same instant, 22:30 in Istanbul, is 14:30 in New York: it goes.
        (utc(2027, 3, 1, 19, 30), NEW_YORK, utc(2027, 3, 1, 19, 30)),
        # 23:00 in New York on the night DST starts (14 March 2027): 09:00 EDT is 13:00 UTC.
        (utc(2027, 3, 14, 4, 0), NEW_YORK, utc(2027, 3, 14, 13, 0)),
        # ...and the night it ends (7 November 2027): 09:00 EST is 14:00 UTC.
        (utc(2027, 11, 7, 4, 0), NEW_YORK, utc(2027, 11, 7, 14, 0)),
    ],
)
def test_a_message_due_inside_the_window_waits_for_its_end_in_local_time(due, zone, released):
    assert NIGHT.release(due, zone) == released


def test_a_window_ending_in_a_dst_gap_ends_when_the_clocks_jump():
    window = QuietHours(dt.time(1, 0), dt.time(2, 30))  # 02:30 does not exist on 14 March
    # 01:30 EST = 06:30 UTC; the clocks jump from 02:00 EST to 03:00 EDT at 07:00 UTC.
    assert window.release(utc(2027, 3, 14, 6, 30), NEW_YORK) == utc(2027, 3, 14, 7, 0)


def test_a_same_day_window_and_no_window():
    lunch = parse_window("12:00–13:30")
    assert lunch.release(utc(2027, 3, 1, 9, 15), ISTANBUL) == utc(2027, 3, 1, 10, 30)
    assert lunch.release(utc(2027, 3, 1, 11, 0), ISTANBUL) == utc(2027, 3, 1, 11, 0)
    assert parse_window("").release(utc(2027, 3, 1, 20, 0), ISTANBUL) == utc(2027, 3, 1, 20, 0)
    with pytest.raises(ValueError):
        parse_window("21:00")


@pytest.mark.parametrize(
    ("body", "plain", "shifted"),
    [
        ("Istanbul", ("GSM-7", 1, 8), ("GSM-7", 1, 8)),
        ("İstanbul", ("UCS-2", 1, 8), ("GSM-7 TR", 1, 9)),
        ("ş" * 70, ("UCS-2", 1, 70), ("GSM-7 TR", 1, 140)),
        ("ı" * 77, ("UCS-2", 2, 77), ("GSM-7 TR", 1, 154)),
        ("a" * 155, ("GSM-7", 1, 155), ("GSM-7", 1, 155)),
        ("ğ" + "a" * 154, ("UCS-2", 3, 155), ("GSM-7 TR", 2, 156)),
        # A letter the table lacks (the typographic apostrophe) still forces UCS-2.
        ("Şubat’ta", ("UCS-2", 1, 8), ("UCS-2", 1, 8)),
    ],
)
def test_turkish_letters_cost_ucs2_unless_the_single_shift_table_is_used(body, plain, shifted):
    assert sms.segments(body) == sms.SmsSegments(*plain)
    assert sms.segments(body, turkish_shift=True) == sms.SmsSegments(*shifted)
