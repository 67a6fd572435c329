"""A minimum transfer speed, as curl's ``--speed-limit``/``--speed-time``.

Why: the read timeout only bounds the wait for *one* byte. A hostile peer that announces
gigabytes and then sends a byte every few seconds (a slow drip, a tarpit) never trips it and
would keep a transfer, a connection slot and so the whole run alive for days. A
:class:`SpeedGuard` is fed the size of every read of one transfer; once
``min_speed_seconds`` have passed since the transfer started, a window in which the transfer
averaged less than ``min_speed`` bytes/s ends it with :class:`TooSlowError`, which each
collector records as it records a stall.

Memory is O(1): the guard keeps one checkpoint (the start of the current window and the bytes
received since) and starts a new window each time one is judged, so the windows are
consecutive, each at least ``min_speed_seconds`` long. A window can be longer when no read
returned for a while (the read timeout bounds that); the rate is then judged over the whole
window, so a peer is never judged on a shorter span than promised.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netwarden.errors import NetwardenError
from netwarden.scope import Limits


class TooSlowError(NetwardenError):
    """A transfer averaged less than the minimum speed over a whole window: abandoned."""

    def __init__(self, min_speed: int, seconds: float, received: int, window: float) -> None:
        self.min_speed, self.seconds = min_speed, seconds
        self.received, self.window = received, window
        super().__init__(f"transfer slower than {min_speed} B/s for {_secs(seconds)} s "
                         f"({received} B in the last {_secs(window)} s); abandoned")


def _secs(value: float) -> str:
    """Seconds in words: ``60``, ``1.5``, ``61.2`` (one decimal at most)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


class SpeedGuard:
    """Judges one transfer's speed; feed it every read, call :meth:`check` on idle wake-ups.

    ``clock`` returns seconds (``time.monotonic`` by default; tests pass a fake clock).
    """

    def __init__(self, min_speed: int, seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if min_speed < 0 or seconds <= 0:
            raise ValueError(f"a speed guard needs min_speed >= 0 and seconds > 0, got "
                             f"{min_speed} B/s over {seconds} s")
        self.min_speed, self.seconds, self.clock = min_speed, seconds, clock
        self.window_start = clock()
        self.window_bytes = 0
        self.total = 0

    @classmethod
    def from_limits(cls, limits: Limits,
                    clock: Callable[[], float] = time.monotonic) -> SpeedGuard:
        """The guard of the scope's ``min_speed`` / ``min_speed_seconds``, started now."""
        return cls(limits.min_speed, limits.min_speed_seconds, clock)

    def feed(self, nbytes: int) -> None:
        """Count ``nbytes`` just received; raise :class:`TooSlowError` when too slow."""
        self.window_bytes += nbytes
        self.total += nbytes
        self.check()

    def check(self) -> None:
        """Judge the current window if it is complete; :class:`TooSlowError` when too slow.

        For loops that also wake without data (a poll, a keep-alive): time passes even when
        nothing arrives, and a peer that sends nothing at all is as slow as it gets.
        """
        now = self.clock()
        window = now - self.window_start
        if window < self.seconds:
            return
        if self.window_bytes < self.min_speed * window:
            raise TooSlowError(self.min_speed, self.seconds, self.window_bytes, window)
        self.window_start, self.window_bytes = now, 0
