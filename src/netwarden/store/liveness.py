"""Is a run still running? A lock its process holds, so a run killed -9 is not left `running`.

A run marks itself ``interrupted`` on Ctrl-C, SIGTERM, SIGHUP or an error, but nothing runs
after SIGKILL or a power cut: its row would say ``running`` for ever and a reader (web UI,
campaign report) would take a dead run for a live one. While :func:`hold` is in effect the
run's process holds an exclusive ``flock`` on ``<run dir>/.run.lock``; the operating system
drops that lock when the process ends, however it ends. :func:`close_stale_runs` marks a
``running`` row ``interrupted`` when its lock file is on this machine and nobody holds it.

A row whose run directory is not on this machine (a campaign worker elsewhere, a directory
moved away) is left alone: its liveness cannot be known from here.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from netwarden.store.base import Store
from netwarden.store.models_runs import RunRow

LOCK_NAME = ".run.lock"
STALE_STATUS = "interrupted"

log = logging.getLogger(__name__)


@contextmanager
def hold(out_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock while the block runs; remove the file after."""
    path = Path(out_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{out_dir}: another process is running an audit into this "
                               "directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def is_abandoned(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a run lock that no process holds (its process ended)."""
    path = Path(out_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # no lock file here: finished cleanly, or not on this machine
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # held: the run's process is alive
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def close_stale_runs(store: Store) -> list[str]:
    """Mark ``interrupted`` every ``running`` run whose process ended without closing it.

    Returns their ids. Called when an audit starts, so the next run on a machine tidies up
    after a killed one; the run's ledger keeps no ``run_end`` leaf, which is the truth.
    """
    closed: list[str] = []
    with store.session() as session:
        for row in session.scalars(select(RunRow).where(RunRow.status == "running")):
            if row.out_dir and is_abandoned(Path(row.out_dir)):
                row.status = STALE_STATUS
                row.finished_at = row.finished_at or datetime.now(UTC)
                closed.append(row.id)
                log.warning("run %s (%s) ended without closing (killed?): marked %s", row.id,
                            row.out_dir, STALE_STATUS)
    return closed
