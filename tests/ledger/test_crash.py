"""kill -9 mid-append leaves a ledger that verifies and keeps every acknowledged append."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netwarden.ledger import Ledger
from netwarden.store import open_store

#: what both writers start with: a store, a ledger and a small record type
START = """
import sys
from pathlib import Path
from typing import Literal
from netwarden.ledger import Ledger
from netwarden.records import Record
from netwarden.store import open_store
class Note(Record):
    record_type: Literal["note"] = "note"
    n: int
ledger = Ledger.open(open_store(sys.argv[1]), Path(sys.argv[2]))
"""

WRITER = START + """for i in range(100000):
    refs = ledger.append_many([Note(id=f"{i}-{j}", n=j) for j in range(1 + i % 7)])
    if i % 25 == 0:
        ledger.checkpoint()
    print(refs[-1].index, flush=True)  # acknowledged: durable from here on
"""


#: bulk appends (append_canonical, with the WAL checkpoint on a second thread): a kill can
#: land while that thread copies the WAL into the database file
BULK_WRITER = START + """for i in range(100000):
    taken = ledger.append_canonical([Ledger.prepare(Note(n=j)).data
                                     for j in range(1024 + 97 * (i % 11))])
    if i % 5 == 0:
        ledger.checkpoint()
    print(taken[-1], flush=True)  # acknowledged: durable from here on
"""


@pytest.mark.slow
@pytest.mark.parametrize(("writer", "kill_after"), [(WRITER, 40), (WRITER, 211),
                                                    (BULK_WRITER, 3), (BULK_WRITER, 12)])
def test_kill_9_mid_append(tmp_path: Path, key_dir: Path, writer: str,
                           kill_after: int) -> None:
    url = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    open_store(url).close()
    proc = subprocess.Popen([sys.executable, "-c", writer, url, str(key_dir)],
                            stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for count, line in enumerate(proc.stdout, 1):
        acknowledged = int(line)
        if count >= kill_after or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = open_store(url)
    try:
        report = Ledger.open(store, require_key=False).verify()
    finally:
        store.close()
    assert report.ok, report.problems
    assert report.size >= acknowledged + 1  # every acknowledged append survived
    assert report.checkpoints >= 1
    assert report.signed_size <= report.size
    if report.unsigned_tail:
        assert any("not yet covered by a checkpoint" in n for n in report.notes)
