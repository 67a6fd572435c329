"""Which clock stamped our records, and whether it was synchronised (for each run's metadata).

A court weighs a timestamp by the clock behind it: the kernel clock source, whether NTP (or
PTP) disciplines it, and the kernel's own error estimate. We read these without privileges:
``/sys/devices/system/clocksource``, ``adjtimex(2)`` in read-only mode via ctypes, and
``timedatectl show`` where systemd is present.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_CLOCKSOURCE = Path("/sys/devices/system/clocksource/clocksource0")
_STA_UNSYNC = 0x0040
_TIME_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT",
                5: "TIME_ERROR"}


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux, 64-bit longs); padding per the kernel ABI.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _adjtimex() -> dict[str, Any]:
    name = ctypes.util.find_library("c")
    if not name:
        return {"error": "libc not found"}
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()  # modes = 0: read only, needs no privilege
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError) as exc:
        return {"error": str(exc)}
    if state < 0:
        return {"error": f"adjtimex failed, errno {ctypes.get_errno()}"}
    return {
        "state": _TIME_STATES.get(state, str(state)),
        "synchronized": not (tx.status & _STA_UNSYNC) and state != 5,
        "status_flags": tx.status,
        "max_error_us": tx.maxerror,
        "est_error_us": tx.esterror,
        "tai_offset_s": tx.tai,
    }


def _timedatectl() -> dict[str, str] | None:
    exe = shutil.which("timedatectl")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "show"], capture_output=True, text=True, timeout=3,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    wanted = {"NTP", "NTPSynchronized", "Timezone", "LocalRTC", "CanNTP"}
    return {k: v for k, v in (line.split("=", 1) for line in out.stdout.splitlines()
                              if "=" in line) if k in wanted}


def clock_info() -> dict[str, Any]:
    """The clock source and synchronisation state of this machine, now, as plain JSON."""
    return {
        "read_at": datetime.now(UTC).isoformat(),
        "clock_source": _read(_CLOCKSOURCE / "current_clocksource"),
        "available_clock_sources": (_read(_CLOCKSOURCE / "available_clocksource") or "").split(),
        "kernel": _adjtimex(),
        "timedatectl": _timedatectl(),
        "clock_resolution_ns": int(time.clock_getres(time.CLOCK_REALTIME) * 1e9),
    }
