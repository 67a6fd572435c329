"""Attempts as Ray tasks on a cluster (``--executor ray --address HOST:PORT``).

Each task runs :func:`netwarden.campaign.worker.execute_attempt` in a Ray worker process and
talks to the same database as the coordinator (PostgreSQL for a real cluster; a SQLite file
works when every node shares the machine). Ray's own task retries are off (``max_retries=0``):
a retry must first close the cut-short attempt with its ledger leaf, which only the
coordinator does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from netwarden.campaign.executors import Ended
from netwarden.errors import InputError


def _run(db_url: str, attempt_id: int, home: str | None) -> dict[str, Any]:
    from netwarden.campaign.worker import execute_attempt

    return execute_attempt(db_url, attempt_id, home)


class RayExecutor:
    """Submit attempts to a Ray cluster; one CPU per attempt."""

    name = "ray"

    def __init__(self, db_url: str, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray", "Ray is not installed: pip install 'ray[default]'"
                             ) from None
        self.ray = ray
        self.db_url = db_url
        if not ray.is_initialized():
            try:
                ray.init(address=address or os.environ.get("RAY_ADDRESS") or "auto",
                         logging_level=logging.WARNING, log_to_driver=False)
            except ConnectionError as exc:
                raise InputError("--address", f"cannot reach a Ray cluster at "
                                 f"{address or 'auto'}: {exc}") from None
        self._owns = True
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run)
        self.home = os.environ.get("NETWARDEN_HOME")

    def submit(self, attempt_id: int, log_path: Path) -> Any:
        return self._task.remote(self.db_url, attempt_id, self.home)

    def poll(self, handle: Any) -> Ended | None:
        ready, _ = self.ray.wait([handle], timeout=0)
        if not ready:
            return None
        try:
            self.ray.get(handle)
        except Exception as exc:  # task error, worker crash, lost node: all end the attempt
            text = str(exc).strip().splitlines()
            return Ended(False, f"Ray task failed: {type(exc).__name__}: "
                         f"{text[-1] if text else ''}"[:2000])
        return Ended(True)

    def wait(self, handles: list[Any], timeout: float) -> None:
        if handles:
            self.ray.wait(handles, num_returns=1, timeout=timeout)
        else:
            time.sleep(timeout)

    def cancel(self, handle: Any) -> None:
        with contextlib.suppress(Exception):  # already finished
            self.ray.cancel(handle, force=True)

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
