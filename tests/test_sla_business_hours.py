"""Business-hours arithmetic: weekends, overnight windows, holidays, DST changes, pause/resume."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_web.sla.business_hours import (
    Calendar,
    Clock,
    Window,
    add_business_time,
    add_business_times,
    business_seconds_between,
    format_windows,
    parse_windows,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def office(*, holidays=(), timezone="Europe/Berlin", hours="09:00-17:00") -> Calendar:
    """Monday to Friday, 09:00-17:00 in Berlin unless told otherwise."""
    weekday = parse_windows(hours)
    return Calendar(timezone, (weekday,) * 5 + ((), ()), frozenset(holidays))


def night_shift(**kwargs) -> Calendar:
    """Monday to Friday nights, 22:00 to 06:00 the next morning."""
    night = (Window(time(22), time(6)),)
    return Calendar("Europe/Berlin", (night,) * 5 + ((), ()), **kwargs)


def test_time_within_one_working_day():
    assert add_business_time(local(2025, 6, 2, 9), 3 * HOUR, office()) == local(2025, 6, 2, 12)
    # Ending exactly at closing time stays on that day.
    assert add_business_time(local(2025, 6, 2, 9), 8 * HOUR, office()) == local(2025, 6, 2, 17)


def test_the_weekend_is_skipped():
    friday_4pm = local(2025, 6, 6, 16)
    assert add_business_time(friday_4pm, 2 * HOUR, office()) == local(2025, 6, 9, 10)
    # Starting on a Saturday, the clock starts on Monday morning.
    assert add_business_time(local(2025, 6, 7, 12), 30 * 60, office()) == local(2025, 6, 9, 9, 30)
    assert business_seconds_between(friday_4pm, local(2025, 6, 9, 10), office()) == 2 * HOUR


def test_before_opening_and_after_closing():
    assert add_business_time(local(2025, 6, 3, 6), HOUR, office()) == local(2025, 6, 3, 10)
    assert add_business_time(local(2025, 6, 3, 20), HOUR, office()) == local(2025, 6, 4, 10)
    assert business_seconds_between(local(2025, 6, 3, 6), local(2025, 6, 3, 20), office()) == (
        8 * HOUR
    )


def test_several_windows_a_day():
    split = office(hours="09:00-12:00, 13:00-17:00")
    assert add_business_time(local(2025, 6, 2, 11), 2 * HOUR, split) == local(2025, 6, 2, 14)
    assert business_seconds_between(local(2025, 6, 2, 0), local(2025, 6, 3, 0), split) == 7 * HOUR


def test_overnight_windows_run_past_midnight():
    nights = night_shift()
    # Tuesday 05:00 is still Monday's shift: one hour left, then Tuesday 22:00.
    assert add_business_time(local(2025, 6, 3, 5), 2 * HOUR, nights) == local(2025, 6, 3, 23)
    # Saturday 03:00 is Friday night's shift; Saturday night has none, so Monday 22:00 is next.
    assert add_business_time(local(2025, 6, 7, 3), 4 * HOUR, nights) == local(2025, 6, 9, 23)
    week = business_seconds_between(local(2025, 6, 2, 0), local(2025, 6, 9, 0), nights)
    assert week == 5 * 8 * HOUR


def test_overlapping_windows_count_once():
    # Monday's night runs to 06:00 on Tuesday, when Tuesday's early window has already begun.
    weekly = ((Window(time(22), time(6)),), (Window(time(4), time(8)),)) + ((),) * 5
    calendar = Calendar("UTC", weekly)
    start = datetime(2025, 6, 2, 22, tzinfo=UTC)
    assert business_seconds_between(start, start + timedelta(days=1), calendar) == 10 * HOUR
    assert add_business_time(start, 9 * HOUR, calendar) == datetime(2025, 6, 3, 7, tzinfo=UTC)


def test_holidays_are_skipped():
    # Whit Monday 2025 is 9 June: Friday 16:00 + 2 h lands on Tuesday.
    calendar = office(holidays={date(2025, 6, 9)})
    assert add_business_time(local(2025, 6, 6, 16), 2 * HOUR, calendar) == local(2025, 6, 10, 10)
    assert business_seconds_between(local(2025, 6, 6, 0), local(2025, 6, 11, 0), calendar) == (
        16 * HOUR
    )


def test_a_holiday_drops_the_windows_that_start_on_it_only():
    # Tuesday is a holiday: Monday night's shift still runs into Tuesday morning.
    nights = night_shift(holidays=frozenset({date(2025, 6, 3)}))
    assert add_business_time(local(2025, 6, 3, 5), 2 * HOUR, nights) == local(2025, 6, 4, 23)
    monday_night = business_seconds_between(local(2025, 6, 2, 12), local(2025, 6, 4, 12), nights)
    assert monday_night == 8 * HOUR


def test_spring_forward_day():
    # Berlin skips 02:00-03:00 on 30 March 2025: an all-day window is 23 real hours.
    always = Calendar.always_open("Europe/Berlin")
    saturday_noon = local(2025, 3, 29, 12)
    assert add_business_time(saturday_noon, 24 * HOUR, always) == local(2025, 3, 30, 13)
    sunday = business_seconds_between(local(2025, 3, 30, 0), local(2025, 3, 31, 0), always)
    assert sunday == 23 * HOUR
    # Office hours stay 8 real hours; a night window across the gap is an hour shorter.
    weekend_work = (parse_windows("09:00-17:00"),) * 7
    sunday_office = Calendar("Europe/Berlin", weekend_work)
    assert add_business_time(local(2025, 3, 30, 9), 8 * HOUR, sunday_office) == local(
        2025, 3, 30, 17
    )
    early = Calendar("Europe/Berlin", (parse_windows("01:00-05:00"),) * 7)
    assert business_seconds_between(local(2025, 3, 30, 0), local(2025, 3, 30, 12), early) == (
        3 * HOUR
    )


def test_fall_back_day():
    # On 26 October 2025 Berlin lives 02:00-03:00 twice: 01:00-05:00 is 5 real hours.
    early = Calendar("Europe/Berlin", (parse_windows("01:00-05:00"),) * 7)
    assert business_seconds_between(local(2025, 10, 26, 0), local(2025, 10, 26, 12), early) == (
        5 * HOUR
    )
    # 4.5 working hours after 01:00 is 04:30 local (the clock went back once on the way).
    assert add_business_time(local(2025, 10, 26, 1), 4.5 * HOUR, early) == local(
        2025, 10, 26, 4, 30
    )
    always = Calendar.always_open("Europe/Berlin")
    assert business_seconds_between(local(2025, 10, 26), local(2025, 10, 27), always) == 25 * HOUR


def test_a_window_starting_in_the_spring_forward_gap_opens_after_it():
    gap = Calendar("Europe/Berlin", (parse_windows("02:30-04:00"),) * 7)
    # 02:30 does not exist that night: the window opens at 03:30 CEST, half an hour long.
    seconds = business_seconds_between(local(2025, 3, 30, 0), local(2025, 3, 30, 12), gap)
    assert seconds == 30 * 60
    assert add_business_time(local(2025, 3, 30, 0), 60, gap) == local(2025, 3, 30, 3, 31)


def test_other_timezones_and_results_in_utc():
    new_york = office(timezone="America/New_York")
    due = add_business_time(datetime(2025, 6, 2, 12, tzinfo=UTC), HOUR, new_york)
    assert due == datetime(2025, 6, 2, 14, tzinfo=UTC)  # 09:00 EDT + 1 h
    assert due.tzinfo == UTC


def test_adding_and_measuring_agree():
    calendars = [office(holidays={date(2025, 3, 31)}), night_shift(), Calendar.always_open()]
    starts = [local(2025, 3, 28, 7, 13), local(2025, 3, 29, 23), local(2025, 10, 24, 16, 59)]
    for calendar in calendars:
        for start in starts:
            for seconds in (1, 59 * 60, 7 * HOUR + 17, 40 * HOUR, 200 * HOUR):
                due = add_business_time(start, seconds, calendar)
                assert business_seconds_between(start, due, calendar) == seconds, (
                    calendar,
                    start,
                    seconds,
                )


def test_several_amounts_in_one_walk_match_one_at_a_time():
    # In any order, repeated, zero or negative: a ticket's warning points and deadlines.
    amounts = [200 * HOUR, 1, 0, 7 * HOUR + 17, -10, 40 * HOUR, 59 * 60, 7 * HOUR + 17]
    for calendar in (office(holidays={date(2025, 3, 31)}), night_shift()):
        start = local(2025, 3, 28, 7, 13)
        assert add_business_times(start, amounts, calendar) == [
            add_business_time(start, amount, calendar) for amount in amounts
        ]
    clock = Clock(elapsed_seconds=HOUR, running_since=local(2025, 6, 2, 16))
    assert clock.dues([HOUR, 2 * HOUR, 9 * HOUR], office()) == [
        local(2025, 6, 2, 16),
        local(2025, 6, 2, 17),
        local(2025, 6, 3, 16),
    ]
    assert Clock(HOUR).dues([2 * HOUR, 3 * HOUR], office()) == [None, None]


def test_zero_and_negative_amounts():
    start = local(2025, 6, 7, 12)  # a Saturday
    assert add_business_time(start, 0, office()) == start
    assert add_business_time(start, -10, office()) == start
    assert business_seconds_between(start, start - timedelta(hours=1), office()) == 0


def test_the_clock_pauses_and_resumes():
    calendar = office()
    clock = Clock().resume(local(2025, 6, 2, 9))  # Monday 09:00, target 8 working hours
    assert clock.due(8 * HOUR, calendar) == local(2025, 6, 2, 17)

    # Waiting on the customer from 11:00: two hours used, no deadline while paused.
    paused = clock.pause(local(2025, 6, 2, 11), calendar)
    assert paused.elapsed_seconds == 2 * HOUR
    assert paused.due(8 * HOUR, calendar) is None
    assert paused.pause(local(2025, 6, 3, 11), calendar) == paused  # pausing again changes nothing
    assert paused.elapsed(local(2025, 6, 4, 12), calendar) == 2 * HOUR

    # The customer answers on Wednesday at 10:00: six hours left, due at 16:00.
    resumed = paused.resume(local(2025, 6, 4, 10))
    assert resumed.due(8 * HOUR, calendar) == local(2025, 6, 4, 16)
    assert resumed.resume(local(2025, 6, 5, 10)) == resumed
    assert resumed.elapsed(local(2025, 6, 4, 12), calendar) == 4 * HOUR

    # A second pause adds up: Wednesday 10:00-15:00 is five more hours.
    again = resumed.pause(local(2025, 6, 4, 15), calendar)
    assert again.elapsed_seconds == 7 * HOUR
    assert again.resume(local(2025, 6, 6, 16, 30)).due(8 * HOUR, calendar) == local(
        2025, 6, 9, 9, 30
    )


def test_a_used_up_target_is_due_when_the_clock_last_started():
    clock = Clock(elapsed_seconds=5 * HOUR, running_since=local(2025, 6, 3, 10))
    assert clock.due(4 * HOUR, office()) == local(2025, 6, 3, 10)


def test_parse_and_format_windows():
    assert parse_windows("") == ()
    assert parse_windows(" 13:00-17:00 , 9:00-12:30") == (
        Window(time(9), time(12, 30)),
        Window(time(13), time(17)),
    )
    assert parse_windows("22:00-06:00") == (Window(time(22), time(6)),)
    assert parse_windows("00:00-24:00") == (Window(time(0), time(0)),)
    assert format_windows(parse_windows("9:00-12:00,13:00-17:00")) == "09:00-12:00, 13:00-17:00"
    for bad in ("9-17", "09:00-25:00", "09:60-10:00", "24:00-01:00", "09:00-24:30", "nine to five"):
        with pytest.raises(ValueError):
            parse_windows(bad)


def test_bad_calendars_and_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="at least one working window"):
        Calendar("UTC", ((),) * 7)
    with pytest.raises(ValueError):
        Calendar("Mars/Olympus", ((Window(time(9), time(17)),),) * 7)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(datetime(2025, 6, 2, 9), HOUR, office())
    # A calendar whose only working day is always a holiday has no working time to find.
    monday_only = Calendar("UTC", ((Window(time(9), time(17)),),) + ((),) * 6)
    every_monday = frozenset(date(2025, 6, 2) + timedelta(weeks=n) for n in range(200))
    with pytest.raises(ValueError, match="No working time"):
        add_business_time(
            datetime(2025, 6, 2, tzinfo=UTC),
            HOUR,
            Calendar("UTC", monday_only.weekly, every_monday),
        )
