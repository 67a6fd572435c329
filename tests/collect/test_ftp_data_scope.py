"""FTP data connections are checked against the scope's ports (issue 14, "one gate").

The PASV reply names the port of the data connection; ftplib already ignores its address (the
control connection's host is used), but the port is the server's choice. With ``ports`` in the
scope, a data connection to any other port must not be made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netwarden.records import Observation, Outcome
from netwarden.scope import parse_scope
from netwarden.testbed.servers import serve_ftp

pytestmark = pytest.mark.slow

HOST = "127.77.3.31"


def _scope(port: int, ports: list[int] | None) -> object:
    now = datetime.now(UTC)
    operator: dict[str, object] = {"name": "T", "prefixes": ["127.77.3.0/24"]}
    if ports is not None:
        operator["ports"] = ports
    return parse_scope({"check": {"id": "pasv", "authorization": "t",
                                  "not_before": now - timedelta(hours=1),
                                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
                        "operator": operator,
                        "services": [{"url": f"ftp://{HOST}:{port}/"}]}, "<pasv-test>")


def test_pasv_port_outside_the_scope_ports_is_not_connected(tmp_path: Path,
                                                            run_collect: Any) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 100)
    server = serve_ftp(tmp_path, HOST)
    try:
        records, _ = run_collect(_scope(server.port, [server.port]))  # control port only
        unrestricted, _ = run_collect(_scope(server.port, None))
    finally:
        server.stop()
    obs = [r for r in records if isinstance(r, Observation)]
    assert obs and all(o.outcome is not Outcome.OK for o in obs), obs
    reasons = " ".join(o.reason or "" for o in obs)
    assert f"data connection to {HOST}:" in reasons
    assert "is not among the authorized ports" in reasons
    # the same server without a ports restriction is walked: the refusal above is the scope's
    assert any(o.name == "f.bin" and o.outcome is Outcome.OK for o in unrestricted
               if isinstance(o, Observation))
