"""A run killed -9 is not left ``running``: the next audit on the machine marks it interrupted.

Real processes hold the run lock (store/liveness.py) and are killed with SIGKILL; nothing is
simulated but the audit work itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from netwarden.store import liveness, open_store
from netwarden.store.models_runs import RunRow

_HOLDER = """
import sys, time
from pathlib import Path
from netwarden.store import liveness
with liveness.hold(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(out_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out_dir)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _running(store, run_id: str, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        session.add(RunRow(id=run_id, check_id="c", operator="o", jurisdiction="RU",
                           scope_sha256="0" * 64, out_dir=str(out_dir),
                           started_at=datetime.now(UTC), status="running"))


def _status(store, run_id: str) -> str:  # type: ignore[no-untyped-def]
    with store.session() as session:
        row = session.get(RunRow, run_id)
        assert row is not None
        return row.status


def test_killed_run_is_marked_interrupted_and_a_live_one_is_not(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'nw.sqlite'}")
    killed_dir, live_dir, elsewhere = (tmp_path / n for n in ("killed", "live", "elsewhere"))
    killed_dir.mkdir()
    live_dir.mkdir()
    killed, live = _holder(killed_dir), _holder(live_dir)
    try:
        _running(store, "killed", killed_dir)
        _running(store, "live", live_dir)
        _running(store, "elsewhere", elsewhere)  # run directory not on this machine
        assert liveness.close_stale_runs(store) == []  # both processes alive: nothing touched
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
        assert (killed_dir / liveness.LOCK_NAME).exists()  # nothing ran after SIGKILL
        assert liveness.close_stale_runs(store) == ["killed"]
        assert [_status(store, r) for r in ("killed", "live", "elsewhere")] == [
            "interrupted", "running", "running"]
    finally:
        for proc in (killed, live):
            proc.kill()
            proc.wait(30)
    store.close()


def test_a_second_audit_into_a_held_directory_is_refused(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        started = time.monotonic()
        try:
            with liveness.hold(tmp_path):
                raise AssertionError("the lock was taken twice")
        except RuntimeError as exc:
            assert "another process" in str(exc) and str(tmp_path) in str(exc)
        assert time.monotonic() - started < 5  # refused at once, never waits
    finally:
        proc.kill()
        proc.wait(30)
    with liveness.hold(tmp_path):  # free again once the holder is gone
        assert (tmp_path / liveness.LOCK_NAME).exists()
    assert not (tmp_path / liveness.LOCK_NAME).exists()
