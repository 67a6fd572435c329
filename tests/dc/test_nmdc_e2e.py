"""NMDC end to end: REAL eiskaltdcpp-daemon clients (NMDC mode) behind a scripted NMDC hub.

No maintained NMDC hub is packaged for Debian or PyPI, so the hub is tests/dc/nmdc_hub.py (a
switchboard written from the protocol documentation). What is real: the clients' login
($Lock/$Key checked both ways), their $MyINFO, their answer to our $RevConnectToMe
($ConnectToMe), the client-client handshake, the XmlBZList file list and $ADCGET tthl/file
segments they serve. The auditor's verdicts rest on those bytes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dc_helpers import (  # type: ignore[import-not-found]
    AUDITOR_NICK,
    AUDITOR_PASS,
    Client,
    _stop,
    client_factory,
    dc_scope,
    needs_dc,
    run_dc,
)
from nmdc_hub import ScriptedNmdcHub  # type: ignore[import-not-found]

from netwarden.digest import MultiDigest
from netwarden.records import EvidenceLevel, Observation, Outcome

pytestmark = [pytest.mark.slow, needs_dc]
NMDC_HOST = "127.77.6.2"
OP = "NmdcOwner"


def tth(data: bytes) -> str:
    m = MultiDigest()
    m.update(data)
    return m.finalize().tth or ""


@pytest.fixture
def nmdc_hub() -> Iterator[ScriptedNmdcHub]:
    hub = ScriptedNmdcHub(NMDC_HOST, passwords={OP: "op-pw", AUDITOR_NICK: AUDITOR_PASS},
                          ops={OP}).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def nmdc_clients(tmp_path: Path, nmdc_hub: ScriptedNmdcHub) -> Iterator[Any]:
    started: list[Client] = []
    try:
        yield client_factory(tmp_path, nmdc_hub.url, started)
    finally:
        for client in started:
            _stop(client.proc)


def wait_nmdc(hub: ScriptedNmdcHub, clients: list[Client], timeout: float = 60) -> None:
    want = {c.nick: sum(len(d) for d in c.files.values()) for c in clients}
    deadline = time.monotonic() + timeout
    seen: dict[str, int | None] = {}
    while time.monotonic() < deadline:
        seen = hub.share_sizes()
        if all(seen.get(n) == size for n, size in want.items()):
            return
        for client in clients:
            client.rpc("share.refresh")
        time.sleep(1)
    raise RuntimeError(f"NMDC clients did not hash/join: want {want}, hub says {seen}")


def test_nmdc_real_clients_serve_planted_files(nmdc_hub: ScriptedNmdcHub,
                                               nmdc_clients: Any) -> None:
    planted = os.urandom(2 * 1024 * 1024 + 77)
    small = os.urandom(30_000)
    decoy = os.urandom(200_000)
    erin = nmdc_clients("erin", "127.77.6.21", {"films/Planted.mkv": planted,
                                                 "films/decoy.mkv": decoy})
    owner = nmdc_clients(OP, NMDC_HOST, {"promo/small.avi": small}, password="op-pw")
    frank = nmdc_clients("frank", "127.77.6.22", {"other.bin": os.urandom(5000)})
    wait_nmdc(nmdc_hub, [erin, owner, frank])
    scope = dc_scope([{"url": nmdc_hub.url, "password": AUDITOR_PASS, "encoding": "utf-8",
                       "settle_s": 1.0}], infrastructure=(NMDC_HOST,))
    records = run_dc(scope, {tth(planted), tth(small), "B" * 39})
    obs = [r for r in records if isinstance(r, Observation)]
    # eiskaltdcpp computed $Key from our hub's $Lock exactly as our lock_to_key does
    assert nmdc_hub.keys == {"erin": True, OP: True, "frank": True, AUDITOR_NICK: True}
    served = [o for o in obs if o.level is EvidenceLevel.SERVED]
    assert {(o.details["nick"], o.digests["tth"], o.endpoint.host) for o in served} == {
        ("erin", tth(planted), "127.77.6.21"), (OP, tth(small), NMDC_HOST)}
    for o in served:
        assert o.method == "nmdc-segment" and o.endpoint.protocol == "nmdc"
        assert o.protocol_check and o.protocol_check.verdict == "verified"
    listed = {(o.details["nick"], o.name) for o in obs
              if o.method == "nmdc-filelist" and o.name}
    assert {("erin", "decoy.mkv"), ("frank", "other.bin")} <= listed
    hub = next(o for o in obs if o.method == "dc-hub-info")
    assert hub.outcome is Outcome.OK
    assert hub.details["hub_name"] == "Scripted NMDC" and hub.details["topic"] == "NMDC films"
    assert hub.details["password_challenged"] is True
    assert [u["nick"] for u in hub.details["operators"]] == [OP]
    assert [u["nick"] for u in hub.details["infrastructure_users_sharing_bank_content"]] == [OP]
    assert hub.operator_infrastructure is True
    assert any(m["text"] == "Welcome to the NMDC hub" for m in hub.details["hub_messages"])
    # the auditor only ever asked for connections; the peers' answers were relayed
    assert all(r.startswith(("$RevConnectToMe Auditor ", "$ConnectToMe Auditor "))
               for r in nmdc_hub.relayed)
