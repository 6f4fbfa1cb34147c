"""The retry schedules: the outbox's, the deliveries' and their shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.engine import backoff

NOW = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)


def test_the_outbox_waits_five_seconds_then_twice_as_long_each_time() -> None:
    waits = [backoff.OUTBOX.delay(attempt) for attempt in (1, 2, 3)]
    assert waits == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]


def test_the_outbox_never_waits_more_than_an_hour_between_attempts() -> None:
    assert backoff.OUTBOX.delay(11) == timedelta(hours=1)


def test_the_outbox_gives_up_after_its_twelfth_attempt() -> None:
    assert backoff.OUTBOX.next_attempt(NOW, 12) is None
    assert backoff.OUTBOX.next_attempt(NOW, 1) == NOW + timedelta(seconds=5)


def test_a_failed_delivery_is_tried_again_after_10_s_1_min_5_min_30_min_and_2_h() -> None:
    waits = [backoff.DELIVERIES.delay(attempt) for attempt in range(1, 7)]
    assert waits == [
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        None,  # then it is dead, kept with its error
    ]


def test_a_long_schedule_stays_at_its_cap_to_the_end() -> None:
    waits = backoff.Backoff.exponential(
        timedelta(seconds=1), cap=timedelta(seconds=10), attempts=5000
    )
    assert waits.delay(4) == timedelta(seconds=8)
    assert waits.delay(4999) == timedelta(seconds=10)
