"""Where attempts run: local worker processes (default) or tasks on a Ray cluster.

Both call :func:`netwarden.campaign.worker.execute_attempt`; the coordinator only submits an
attempt id and later asks whether it ended and how. A worker that crashes (kill -9, out of
memory, lost node) ends "not ok" like one whose audit failed; the coordinator then closes the
attempt from the database's point of view, so the executors need no recovery logic of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from netwarden.errors import InputError


@dataclass
class Ended:
    """How a submitted attempt ended: ``ok`` and, if not, why (in words)."""

    ok: bool
    error: str | None = None


class Executor(Protocol):
    name: str

    def submit(self, attempt_id: int, log_path: Path) -> Any: ...

    def poll(self, handle: Any) -> Ended | None: ...

    def wait(self, handles: list[Any], timeout: float) -> None:
        """Return when one of ``handles`` may have ended, or after ``timeout`` seconds."""
        ...

    def cancel(self, handle: Any) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """One OS process per attempt: a crash or kill -9 takes only that audit down."""

    name = "local"

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def submit(self, attempt_id: int, log_path: Path) -> subprocess.Popen[bytes]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "netwarden.campaign.worker", self.db_url,
                 str(attempt_id)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=dict(os.environ))

    def poll(self, handle: subprocess.Popen[bytes]) -> Ended | None:
        code = handle.poll()
        if code is None:
            return None
        if code == 0:
            return Ended(True)
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return Ended(False, f"worker process {handle.pid} ended: {how}")

    def wait(self, handles: list[subprocess.Popen[bytes]], timeout: float) -> None:
        # a worker's exit is seen within 20 ms: one waitpid() per worker, no busy loop
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(h.poll() is not None for h in handles):
                return
            time.sleep(min(0.02, max(0.0, end - time.monotonic())))

    def cancel(self, handle: subprocess.Popen[bytes]) -> None:
        if handle.poll() is None:
            handle.terminate()
            try:
                handle.wait(10)
            except subprocess.TimeoutExpired:
                handle.kill()
                handle.wait(10)

    def close(self) -> None:
        pass


def make_executor(kind: str, db_url: str, address: str | None = None) -> Executor:
    """The executor named by ``--executor`` (``local`` or ``ray``)."""
    if kind == "local":
        return LocalExecutor(db_url)
    if kind == "ray":
        from netwarden.campaign.ray_executor import RayExecutor

        return RayExecutor(db_url, address)
    raise InputError("--executor", f"unknown executor {kind!r} (use local or ray)")
