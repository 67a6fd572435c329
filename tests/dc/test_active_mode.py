"""Active auditor: our CTM / $ConnectToMe, the passive peer connects to our listener.

Real uhub and real eiskaltdcpp-daemon clients configured PASSIVE (IncomingConnections = 3,
firewall-passive). A passive auditor cannot reach them (recorded as skipped); an active one
sends them a connect-to-me and they connect to its listener, which matches the connection by
token + CID (ADC) or nick (NMDC). The listener's own bounds (scope, unexpected tokens) are
tested over real sockets.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest
from dc_helpers import (  # type: ignore[import-not-found]
    AUDITOR_NICK,
    AUDITOR_PASS,
    _stop,
    client_factory,
    dc_scope,
    needs_dc,
    run_dc,
    wait_shared,
)

from netwarden.collect.dc.adc_client import Identity, PeerConnection
from netwarden.collect.dc.listener import PeerListener
from netwarden.digest import MultiDigest
from netwarden.errors import InputError
from netwarden.records import EvidenceLevel, Observation, Outcome

AUDITOR_IP = "127.77.6.3"
NMDC_AUDITOR_IP = "127.77.6.4"


def tth(data: bytes) -> str:
    m = MultiDigest()
    m.update(data)
    return m.finalize().tth or ""


def _served(records: list[Any]) -> set[tuple[str, str, str]]:
    return {(o.details["nick"], o.digests["tth"], o.endpoint.host) for o in records
            if isinstance(o, Observation) and o.level is EvidenceLevel.SERVED}


@pytest.mark.slow
@needs_dc
def test_active_auditor_reaches_passive_adc_users(uhub: Any, dc_clients: Any) -> None:
    planted_a = os.urandom(2 * 1024 * 1024 + 5)
    planted_b = os.urandom(30_000)
    alice = dc_clients("alice", "127.77.6.11", {"films/A.mkv": planted_a})  # active
    bob = dc_clients("bob", "127.77.6.12", {"B.avi": planted_b, "decoy.bin": os.urandom(900)},
                     passive=True)
    wait_shared(uhub, [alice, bob])
    bank = {tth(planted_a), tth(planted_b)}
    service = {"url": uhub.url, "password": AUDITOR_PASS}

    # passive auditor: bob cannot be reached, which is recorded (this is what active fixes)
    records = run_dc(dc_scope([service]), bank)
    assert _served(records) == {("alice", tth(planted_a), "127.77.6.11")}
    skipped = [o for o in records if isinstance(o, Observation) and o.details.get("nick") == "bob"
               and o.outcome is Outcome.SKIPPED]
    assert skipped and "passive" in (skipped[0].reason or "")

    records = run_dc(dc_scope([{**service, "active": True, "listen": AUDITOR_IP}]), bank)
    assert _served(records) == {("alice", tth(planted_a), "127.77.6.11"),
                                ("bob", tth(planted_b), "127.77.6.12")}
    bob_served = next(o for o in records if isinstance(o, Observation)
                      and o.level is EvidenceLevel.SERVED and o.details["nick"] == "bob")
    assert bob_served.details["connection"] == "incoming, after our connect-to-me"
    assert bob_served.details["peer_cid"] == bob.cid
    assert bob_served.protocol_check and bob_served.protocol_check.verdict == "verified"
    listed = {(o.details["nick"], o.name) for o in records if isinstance(o, Observation)
              and o.method == "adc-filelist" and o.name}
    assert ("bob", "decoy.bin") in listed
    hub = next(o for o in records if isinstance(o, Observation) and o.method == "dc-hub-info")
    assert hub.details["auditor_mode"] == "active"
    assert hub.details["listen"].startswith(f"{AUDITOR_IP}:")
    assert hub.details["incoming"]["matched"] == 1
    users = {o.details["nick"]: o for o in records if isinstance(o, Observation)
             and o.method == "dc-user"}
    assert "TCP4" not in users["bob"].details["features"]  # bob really is passive


@pytest.mark.slow
@needs_dc
def test_active_auditor_reaches_passive_nmdc_user(tmp_path: Any) -> None:
    from nmdc_hub import ScriptedNmdcHub  # type: ignore[import-not-found]

    hub = ScriptedNmdcHub("127.77.6.5", passwords={AUDITOR_NICK: AUDITOR_PASS}).start()
    started: list[Any] = []
    try:
        start = client_factory(tmp_path, hub.url, started)
        planted = os.urandom(1024 * 1024 + 3)
        gina = start("gina", "127.77.6.23", {"films/P.mkv": planted}, passive=True)
        want = sum(len(d) for d in gina.files.values())
        for _ in range(60):
            if hub.share_sizes().get("gina") == want:
                break
            gina.rpc("share.refresh")
            time.sleep(1)
        assert "M:P" in hub.infos["gina"]  # gina really is passive
        scope = dc_scope([{"url": hub.url, "password": AUDITOR_PASS, "encoding": "utf-8",
                           "settle_s": 1.0, "active": True, "listen": NMDC_AUDITOR_IP}])
        records = run_dc(scope, {tth(planted)})
    finally:
        for client in started:
            _stop(client.proc)
        hub.stop()
    assert _served(records) == {("gina", tth(planted), "127.77.6.23")}
    assert any(r.startswith(f"$ConnectToMe gina {NMDC_AUDITOR_IP}:") for r in hub.relayed)
    assert not any(r.startswith("$RevConnectToMe") for r in hub.relayed)


def test_listen_address_must_be_inside_the_scope() -> None:
    # checked when the scope is loaded (the collector's check_service), not mid-audit
    with pytest.raises(InputError, match=r"services\[0\]\.listen: 10.1.2.3 is outside the "
                       "authorized prefixes"):
        dc_scope([{"url": "adc://127.77.6.1:4111", "active": True, "listen": "10.1.2.3"}])
    with pytest.raises(InputError, match=r"services\[0\]\.listen: active mode needs"):
        dc_scope([{"url": "adc://127.77.6.1:4111", "active": True}])


def _read_lines(sock: socket.socket, n: int) -> list[bytes]:
    buf = b""
    while buf.count(b"\n") < n:
        data = sock.recv(4096)
        if not data:
            break
        buf += data
    return buf.split(b"\n")


def test_listener_refuses_out_of_scope_and_unexpected_tokens() -> None:
    """Over real sockets: a peer outside the scope is closed unread; a wrong token is refused;
    the right token from the right CID is handed over; the same token from another CID fails."""
    ident = Identity("Auditor", "test")

    async def main() -> dict[str, Any]:
        allowed = {"ok": True}

        class Decision:
            def __init__(self, ok: bool) -> None:
                self.ok, self.reason = ok, "outside the authorized prefixes"

            def __bool__(self) -> bool:
                return self.ok

        async def handshake(line: Any, expected: Any) -> tuple[str, Any]:
            return await PeerConnection.accept(line, ident, expected)

        listener = PeerListener("127.77.6.6", 0, check=lambda h: Decision(allowed["ok"]),
                                handshake=handshake, read_timeout=3)
        await listener.start()
        loop = asyncio.get_running_loop()

        def peer(token: str, cid: str, answer: bool = True) -> list[bytes]:
            with socket.create_connection(("127.77.6.6", listener.port), timeout=5) as s:
                s.sendall(b"CSUP ADBASE ADTIGR\n")
                got = _read_lines(s, 2)
                s.sendall(f"CINF ID{cid} TO{token}\n".encode())
                return got + (_read_lines(s, 1) if answer else [])

        sent = asyncio.Event()

        async def send() -> None:
            sent.set()

        waiting = asyncio.create_task(listener.connection("tok1", send, 5, cid="C" * 39))
        await sent.wait()
        wrong = await loop.run_in_executor(None, peer, "nope", "C" * 39)
        impostor_task = asyncio.create_task(listener.connection("tok2", send, 5, cid="C" * 39))
        right = await loop.run_in_executor(None, peer, "tok1", "C" * 39, False)
        conn = await waiting
        impostor = await loop.run_in_executor(None, peer, "tok2", "D" * 39)
        with pytest.raises(Exception, match="not the user's CID"):
            await impostor_task
        allowed["ok"] = False

        def outsider() -> bytes:
            with socket.create_connection(("127.77.6.6", listener.port), timeout=5) as s:
                s.sendall(b"CSUP ADBASE\n")
                try:
                    return s.recv(100)
                except ConnectionResetError:  # closed with our line unread: also no answer
                    return b""

        closed = await loop.run_in_executor(None, outsider)
        await conn.close()
        stats = listener.stats
        await listener.close()
        return {"wrong": wrong, "right": right, "impostor": impostor, "closed": closed,
                "conn": conn, "stats": stats}

    out = asyncio.run(asyncio.wait_for(main(), 30))
    assert out["wrong"][0].startswith(b"CSUP") and out["wrong"][1].startswith(b"CINF ID")
    assert b"CSTA 240" in b"\n".join(out["wrong"])
    assert out["conn"].peer_cid == "C" * 39 and out["conn"].remote[0] == "127.0.0.1"
    assert out["closed"] == b""  # nothing answered to a peer outside the scope
    stats = out["stats"]
    assert stats.matched == 1 and stats.unexpected == 1 and stats.refused_count == 1
    assert stats.refused[0][2] == "outside the authorized prefixes"



def test_listen_port_taken_is_a_recorded_error_not_a_crash() -> None:
    with socket.socket() as taken:
        taken.bind(("127.77.6.7", 0))
        taken.listen()
        port = taken.getsockname()[1]
        scope = dc_scope([{"url": "adc://127.77.6.1:4111", "active": True,
                           "listen": "127.77.6.7", "listen_port": port}])
        records = run_dc(scope, set(), timeout=20)
    assert [(r.method, r.outcome) for r in records if isinstance(r, Observation)] == [
        ("dc-hub-info", Outcome.ERROR)]
    assert "cannot listen on 127.77.6.7" in (records[0].reason or "")
