"""The testbed's Gate: listings pass, file transfers wait until the test releases them.

The campaign fault tests rely on this to kill a worker or the coordinator while an audit is
certainly running; if the gate let a file through early, those tests would race again.
"""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

from netwarden.testbed import Gate, serve_http


def test_gate_holds_files_not_listings_until_released(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    gate = Gate(max_hold=60)
    server = serve_http(tmp_path, "127.78.9.1", gate=gate)
    try:
        base = f"http://127.78.9.1:{server.port}/"
        with urllib.request.urlopen(base, timeout=10) as listing:
            assert b"a.bin" in listing.read()
        assert not gate.entered.is_set()  # a listing is never held

        got: list[bytes] = []
        fetch = threading.Thread(
            target=lambda: got.append(urllib.request.urlopen(base + "a.bin", timeout=60).read()))
        fetch.start()
        assert gate.entered.wait(10)
        fetch.join(1.0)
        assert fetch.is_alive() and not got  # held: no byte before the release
        gate.release()
        fetch.join(10)
        assert got == [b"x" * 100]

        gate.close()  # re-armed: the next transfer is held again
        assert not gate.released and not gate.entered.is_set()
        gate.release()
        with urllib.request.urlopen(base + "a.bin", timeout=10) as again:
            assert again.read() == b"x" * 100
    finally:
        gate.release()
        server.stop()
