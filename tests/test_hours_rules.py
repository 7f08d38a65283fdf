"""The opening rule without HTTP: windows, midnight, daylight saving and blacklist hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from server.hours import QueueStatus, Window, status_at

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
MON, TUE, SAT, SUN = 0, 1, 5, 6


def at(text: str) -> datetime:
    """An instant written in UTC, `2026-03-29 01:30`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(weekday: int, opens: str, closes: str, zone: ZoneInfo = LONDON) -> Window:
    return Window(weekday, time.fromisoformat(opens), time.fromisoformat(closes), zone)


def test_no_windows_and_no_blacklist_is_always_open() -> None:
    assert status_at([], [], at("2026-12-04 12:00")) == QueueStatus(True, None, None)


def test_inside_a_window_is_open_until_its_end() -> None:
    office = [window(MON, "09:00", "17:00")]

    found = status_at(office, [], at("2026-12-07 10:00"))

    assert found.is_open
    assert found.closes_at == at("2026-12-07 17:00")
    assert found.opens_at == at("2026-12-14 09:00")


def test_closed_queue_opens_at_its_next_window() -> None:
    office = [window(MON, "09:00", "17:00"), window(TUE, "09:00", "17:00")]

    found = status_at(office, [], at("2026-12-07 18:00"))

    assert not found.is_open
    assert found.opens_at == at("2026-12-08 09:00")
    assert found.closes_at == at("2026-12-08 17:00")


def test_window_across_midnight_is_open_after_midnight() -> None:
    night = [window(SAT, "22:00", "02:00")]

    after_midnight = status_at(night, [], at("2026-12-06 01:00"))
    next_day = status_at(night, [], at("2026-12-06 03:00"))

    assert after_midnight.is_open
    assert after_midnight.closes_at == at("2026-12-06 02:00")
    assert not next_day.is_open
    assert next_day.opens_at == at("2026-12-12 22:00")


def test_adjacent_windows_do_not_close_between_them() -> None:
    day = [window(MON, "09:00", "17:00"), window(MON, "17:00", "20:00")]

    found = status_at(day, [], at("2026-12-07 16:00"))

    assert found.is_open
    assert found.closes_at == at("2026-12-07 20:00")


def test_every_day_all_day_never_closes() -> None:
    always = [window(day, "00:00", "00:00") for day in range(7)]

    assert status_at(always, [], at("2026-12-04 12:00")) == QueueStatus(True, None, None)


def test_spring_forward_window_in_london_opens_at_the_jump() -> None:
    # 29 March 2026: 01:00 GMT becomes 02:00 BST; 01:00 to 03:00 local lasts one real hour.
    early = [window(SUN, "01:00", "03:00")]

    before = status_at(early, [], at("2026-03-29 00:30"))
    during = status_at(early, [], at("2026-03-29 01:30"))
    after = status_at(early, [], at("2026-03-29 02:30"))

    assert not before.is_open
    assert before.opens_at == at("2026-03-29 01:00")
    assert before.closes_at == at("2026-03-29 02:00")
    assert during.is_open
    assert not after.is_open


def test_skipped_opening_time_opens_at_the_jump_in_new_york() -> None:
    # 8 March 2026: 02:00 EST becomes 03:00 EDT, so 02:30 never shows on the wall clock.
    skipped = [window(SUN, "02:30", "04:00", NEW_YORK)]

    found = status_at(skipped, [], at("2026-03-08 06:30"))

    assert not found.is_open
    assert found.opens_at == at("2026-03-08 07:00")
    assert found.closes_at == at("2026-03-08 08:00")


def test_whole_fall_back_day_in_london_lasts_25_hours() -> None:
    # 25 October 2026: 02:00 BST becomes 01:00 GMT.
    sunday = [window(SUN, "00:00", "00:00")]

    found = status_at(sunday, [], at("2026-10-25 12:00"))

    assert found.is_open
    assert found.closes_at == at("2026-10-26 00:00")
    assert found.opens_at == at("2026-11-01 00:00")
    assert status_at(sunday, [], at("2026-10-24 23:00")).is_open
    assert not status_at(sunday, [], at("2026-10-24 22:59")).is_open


def test_repeated_hour_in_new_york_keeps_the_window_open_until_its_last_showing() -> None:
    # 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:30 shows twice.
    morning = [window(SUN, "00:30", "01:30", NEW_YORK)]

    first_pass = status_at(morning, [], at("2026-11-01 05:15"))
    second_pass = status_at(morning, [], at("2026-11-01 06:15"))

    assert first_pass.is_open and second_pass.is_open
    assert second_pass.closes_at == at("2026-11-01 06:30")


def test_office_hours_follow_the_local_clock_across_the_change() -> None:
    weekdays = [window(day, "09:00", "17:00", NEW_YORK) for day in range(5)]

    friday = status_at(weekdays, [], at("2026-10-30 13:30"))
    monday = status_at(weekdays, [], at("2026-11-02 13:30"))

    assert friday.is_open and friday.closes_at == at("2026-10-30 21:00")
    assert not monday.is_open and monday.opens_at == at("2026-11-02 14:00")


def test_blacklist_closes_a_queue_inside_its_window() -> None:
    office = [window(MON, "09:00", "17:00"), window(TUE, "09:00", "17:00")]
    holiday = [(at("2026-12-07 12:00"), at("2026-12-08 10:00"))]

    found = status_at(office, holiday, at("2026-12-07 13:00"))
    morning = status_at(office, holiday, at("2026-12-07 11:00"))

    assert not found.is_open
    assert found.opens_at == at("2026-12-08 10:00")
    assert found.closes_at == at("2026-12-08 17:00")
    assert morning.is_open and morning.closes_at == at("2026-12-07 12:00")


def test_long_closure_reports_the_first_opening_after_it() -> None:
    office = [window(MON, "09:00", "17:00")]
    closure = [(at("2026-12-01 00:00"), at("2027-01-20 00:00"))]

    found = status_at(office, closure, at("2026-12-07 10:00"))

    assert not found.is_open
    assert found.opens_at == at("2027-01-25 09:00")


def test_blacklist_without_windows_closes_an_always_open_queue() -> None:
    closure = [(at("2026-12-24 00:00"), at("2026-12-27 00:00"))]

    during = status_at([], closure, at("2026-12-25 12:00"))
    before = status_at([], closure, at("2026-12-20 12:00"))

    assert during == QueueStatus(False, at("2026-12-27 00:00"), None)
    assert before == QueueStatus(True, at("2026-12-27 00:00"), at("2026-12-24 00:00"))
