"""The minimum-speed guard (curl's --speed-limit/--speed-time) on a fake clock, and its limits."""

from __future__ import annotations

import pytest

from netwarden.collect.speed import SpeedGuard, TooSlowError
from netwarden.errors import NetwardenError, ScopeError
from netwarden.scope import Limits


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def guard(min_speed: int = 1024, seconds: float = 60.0) -> tuple[SpeedGuard, FakeClock]:
    clock = FakeClock()
    return SpeedGuard(min_speed, seconds, clock), clock


def test_slow_drip_is_abandoned_once_a_whole_window_is_too_slow() -> None:
    # (steps of 0.25 s: exact in binary, so the window ends exactly at 60 s)
    speed, clock = guard()
    speed.feed(100)
    for _ in range(239):  # one byte every 0.25 s: under a minute, never judged
        clock.advance(0.25)
        speed.feed(1)
    clock.advance(0.25)  # 60 s since the start: 340 B < 1024 B/s × 60 s
    with pytest.raises(TooSlowError) as info:
        speed.feed(1)
    assert str(info.value) == ("transfer slower than 1024 B/s for 60 s (340 B in the last "
                               "60 s); abandoned")
    assert info.value.received == 340 and info.value.window == 60.0
    assert isinstance(info.value, NetwardenError)


def test_nothing_is_judged_before_the_first_window_ends() -> None:
    speed, clock = guard(min_speed=1000, seconds=1.5)
    clock.advance(1.25)
    speed.feed(0)
    speed.check()  # 0 bytes, but only 1.25 s: not judged yet
    clock.advance(0.25)
    with pytest.raises(TooSlowError, match=r"\(0 B in the last 1\.5 s\)"):
        speed.check()


def test_fast_enough_transfers_pass_every_window() -> None:
    speed, clock = guard(min_speed=1000, seconds=2.0)
    for _ in range(100):  # 10 s at 1200 B/s in 0.5 s steps: five windows, all judged
        clock.advance(0.5)
        speed.feed(600)
    assert speed.total == 60_000


def test_windows_are_consecutive_so_a_fast_start_does_not_excuse_a_later_drip() -> None:
    speed, clock = guard(min_speed=1000, seconds=2.0)
    clock.advance(1.0)
    speed.feed(50_000)  # a fast burst
    clock.advance(1.0)
    speed.feed(10)  # the first window (2 s) is judged on 50,010 B: fine, a new one starts
    for _ in range(7):
        clock.advance(0.25)
        speed.feed(1)
    clock.advance(0.25)
    with pytest.raises(TooSlowError, match=r"\(8 B in the last 2 s\)"):
        speed.feed(1)  # the overall average is high; the last window's is not


def test_a_window_stretched_by_a_long_read_is_judged_on_its_whole_length() -> None:
    speed, clock = guard(min_speed=1000, seconds=2.0)
    clock.advance(2.5)  # one read blocked 2.5 s and then brought 2,400 B: < 1000 B/s × 2.5 s
    with pytest.raises(TooSlowError, match=r"\(2400 B in the last 2\.5 s\)"):
        speed.feed(2400)
    speed, clock = guard(min_speed=1000, seconds=2.0)
    clock.advance(2.5)
    speed.feed(2600)  # 1040 B/s over the stretched window: fine


def test_check_without_data_catches_a_peer_that_sends_nothing() -> None:
    speed, clock = guard(min_speed=1, seconds=5.0)
    for _ in range(4):
        clock.advance(1.0)
        speed.check()
    clock.advance(1.0)
    with pytest.raises(TooSlowError, match="slower than 1 B/s for 5 s"):
        speed.check()


def test_from_limits_uses_the_scope_limits_and_injected_clock() -> None:
    clock = FakeClock()
    speed = SpeedGuard.from_limits(Limits(min_speed=10, min_speed_seconds=0.5), clock)
    assert (speed.min_speed, speed.seconds) == (10, 0.5)
    clock.advance(0.5)
    with pytest.raises(TooSlowError, match=r"slower than 10 B/s for 0\.5 s"):
        speed.feed(4)


def test_bad_guard_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        SpeedGuard(1024, 0)


def test_limits_defaults_and_scope_table() -> None:
    assert (Limits().min_speed, Limits().min_speed_seconds) == (1024, 60.0)
    limits = Limits.from_table({"min_speed": 2048, "min_speed_seconds": 30}, "scope.toml")
    assert limits.min_speed == 2048 and isinstance(limits.min_speed, int)
    assert limits.min_speed_seconds == 30.0 and isinstance(limits.min_speed_seconds, float)
    assert Limits.from_table({"min_speed": 1000.0}, "scope.toml").min_speed == 1000


@pytest.mark.parametrize(("table", "words"), [
    ({"min_speed": 0}, "must be a positive number, got 0"),
    ({"min_speed_seconds": -1.0}, "must be a positive number, got -1.0"),
    ({"min_speed": "1k"}, "must be a positive number, got '1k'"),
    ({"min_speed": 1.5}, "must be a whole number, got 1.5"),
])
def test_bad_speed_limits_name_the_key(table: dict[str, object], words: str) -> None:
    with pytest.raises(ScopeError) as info:
        Limits.from_table(table, "scope.toml")
    message = str(info.value)
    assert "scope.toml" in message and f"limits.{next(iter(table))}" in message
    assert words in message
