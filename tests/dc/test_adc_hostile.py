"""Hostile ADC hubs and peers written for the tests: floods, nick collision, a bzip2 bomb, XML
entities, a wrong TTH leaf stream, wrong segment bytes, a segment dripped a byte at a time, a
10k-file share. Each must end in a recorded, bounded outcome (never a crash or a hang) while
the auditor's real client code runs over real loopback sockets."""

from __future__ import annotations

import asyncio
import bz2
import os
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from dc_helpers import Refs, dc_scope  # type: ignore[import-not-found]

from netwarden.collect.base import CollectContext, collector_for
from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.tth_verify import tth_of
from netwarden.records import EvidenceLevel, Observation, Outcome

HUB, PEER = "127.77.6.40", "127.77.6.41"
PEER_SID, OUR_SID = "BBBB", "AAAB"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def tth(data: bytes) -> str:
    return ap.b32(tth_of(data))


def leaves_of(data: bytes, block: int) -> bytes:
    """The leaf stream at ``block`` granularity: each block's own Tiger tree root."""
    return b"".join(tth_of(data[i:i + block]) for i in range(0, max(len(data), 1), block))


def files_xml(files: list[tuple[str, bytes | int, str | None]], prolog: str = "") -> bytes:
    rows = []
    for name, body, root in files:
        size = body if isinstance(body, int) else len(body)
        ttha = f" TTH={quoteattr(root)}" if root else ""
        rows.append(f"<File Name={quoteattr(name)} Size=\"{size}\"{ttha}/>")
    return (f'<?xml version="1.0" encoding="utf-8" standalone="yes"?>{prolog}\n'
            '<FileListing Version="1" CID="PEERCID" Base="/" Generator="fake">'
            f'<Directory Name="share">{"".join(rows)}</Directory></FileListing>').encode()


@dataclass
class FakePeer:
    """An ADC client that serves what the test says: a list blob, leaves, file bytes."""

    filelist: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)  # root -> bytes served
    leaves: dict[str, bytes] = field(default_factory=dict)  # root -> tthl body served
    drip: bool = False  # file segments: announce them, send 100 bytes, then 1 byte / 0.1 s
    gets: list[str] = field(default_factory=list)
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\n")  # CSUP
            writer.write(b"CSUP ADBASE ADTIGR ADBZIP\n"
                         b"CINF IDPEERCIDPEERCIDPEERCIDPEERCIDPEERCIDA\n")
            await reader.readuntil(b"\n")  # CINF
            for _ in range(50):
                msg = ap.parse(await reader.readuntil(b"\n"))
                kind, ident, start, length = msg.params[:4]
                self.gets.append(f"{kind} {ident} {start} {length}")
                start_i, length_i = int(start), int(length)
                if kind == "file" and ident == "files.xml.bz2":
                    body = self.filelist
                elif kind == "tthl":
                    body = self.leaves.get(ident[4:], b"")
                else:
                    data = self.files.get(ident[4:], b"")
                    body = data[start_i:start_i + length_i if length_i >= 0 else None]
                if self.drip and kind == "file" and ident.startswith("TTH/"):
                    await drip(reader, writer, ap.Message(
                        "C", "SND", (kind, ident, start, str(len(body)))).encode(), body)
                    return
                writer.write(ap.Message("C", "SND", (kind, ident, start, str(len(body)))).encode()
                             + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ap.ProtocolError):
            pass
        finally:
            writer.close()


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, header: bytes,
               body: bytes, interval: float = 0.1, most: float = 60.0) -> None:
    """A tarpit: ``header`` and 100 bytes of ``body``, then one byte every ``interval`` s, never
    quiet long enough for a read timeout, until the client hangs up (or ``most`` s)."""
    writer.write(header + body[:100])
    for i in range(100, min(len(body), 100 + int(most / interval))):
        await writer.drain()
        await asyncio.sleep(interval)
        if writer.is_closing() or reader.at_eof():
            return
        writer.write(body[i:i + 1])


@dataclass
class FakeHub:
    """An ADC hub that can flood users and chat, refuse the first nick, and relay our RCM."""

    peer: FakePeer | None = None
    flood_users: int = 0
    flood_chat: int = 0
    nick_taken_first: bool = False
    logins: int = 0
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.logins += 1
        try:
            await reader.readuntil(b"\n")  # HSUP
            writer.write(f"ISUP ADBASE ADTIGR\nISID {OUR_SID}\nIINF NIFake\\sHub DEtopic"
                         f"\\smagnet:?xt=urn:tree:tiger:{'C' * 39} VEfakehub\n".encode())
            inf = ap.parse(await reader.readuntil(b"\n"))
            if self.nick_taken_first and self.logins == 1:
                writer.write(b"ISTA 222 Nick\\staken\n")
                await writer.drain()
                return
            for i in range(self.flood_users):
                sid = "".join(_B32[((i + 2000) >> (5 * k)) & 31] for k in range(4))
                writer.write(f"BINF {sid} IDX{i} NIflood{i} SS0\n".encode())
            if self.peer is not None:
                writer.write(f"BINF {PEER_SID} ID{'P' * 39} NIpeer I4{PEER} SUTCP4 SS1000 "
                             "CT4\n".encode())
            for i in range(self.flood_chat):
                writer.write(f"IMSG spam\\s{i}\n".encode())
            writer.write(b"garbage line that is not ADC\n")
            writer.write(inf.encode())  # our own INF last: the list is complete
            await writer.drain()
            for _ in range(1000):
                msg = ap.parse(await reader.readuntil(b"\n"))
                if msg.cmd == "RCM" and self.peer is not None:
                    token = msg.params[1]
                    writer.write(f"DCTM {PEER_SID} {OUR_SID} ADC/1.0 {self.peer.port} "
                                 f"{token}\n".encode())
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ap.ProtocolError):
            pass
        finally:
            writer.close()


def audit(hub: FakeHub, bank: set[str], **options: Any) -> list[Any]:
    """Start the fake hub (and peer) and run the real collector against them."""
    import netwarden.collect.dc.collector  # noqa: F401

    async def main() -> list[Any]:
        servers = []
        if hub.peer is not None:
            srv = await asyncio.start_server(hub.peer.serve, PEER, 0)
            hub.peer.port = srv.sockets[0].getsockname()[1]
            servers.append(srv)
        srv = await asyncio.start_server(hub.serve, HUB, 0, limit=1 << 20)
        hub.port = srv.sockets[0].getsockname()[1]
        servers.append(srv)
        limits = options.pop("limits", {"read_timeout": 5, "connect_timeout": 3})
        scope = dc_scope([{"url": f"adc://{HUB}:{hub.port}", **options}], **limits)
        ctx = CollectContext(scope=scope, run_id="t", limits=scope.limits,
                             references=Refs(bank))
        service = scope.services[0]
        out = [r async for r in collector_for(service)(service, ctx).collect()]
        for s in servers:
            s.close()
        return out

    return asyncio.run(asyncio.wait_for(main(), 60))


def hub_info(records: list[Any]) -> Observation:
    return next(r for r in records if isinstance(r, Observation) and r.method == "dc-hub-info")


def test_user_and_chat_flood_are_capped_and_recorded() -> None:
    records = audit(FakeHub(flood_users=3000, flood_chat=1000),
                    set(), limits={"max_listing_entries": 500, "read_timeout": 5})
    info = hub_info(records)
    assert info.outcome is Outcome.OK
    assert info.details["users"] == 500 and info.details["users_dropped"] == 2500
    assert info.details["messages_dropped"] == 1000 - 200
    assert len(info.details["hub_messages"]) == 50  # what the record keeps
    assert info.details["protocol_errors"] >= 1
    assert sum(1 for r in records if isinstance(r, Observation) and r.method == "dc-user") == 500
    # a bank TTH named in the topic is recorded as a hub fact
    assert info.details["bank_links_in_topic_or_messages"] == []


def test_bank_link_in_topic_is_a_hub_fact() -> None:
    info = hub_info(audit(FakeHub(), {"C" * 39}))
    assert info.details["bank_links_in_topic_or_messages"] == ["C" * 39]


def test_nick_collision_retries_with_a_suffix() -> None:
    hub = FakeHub(nick_taken_first=True)
    info = hub_info(audit(hub, set()))
    assert info.outcome is Outcome.OK and hub.logins == 2
    assert info.details["auditor_nick"] == "Auditor_2"
    assert info.details["nick_collisions"] == ["Auditor: Nick taken"]


def _one_file_peer(data: bytes, *, listing: bytes | None = None,
                   leaves: bytes | None = None, served: bytes | None = None) -> FakePeer:
    root = tth(data)
    return FakePeer(filelist=bz2.compress(listing or files_xml([("film.mkv", data, root)])),
                    files={root: served if served is not None else data},
                    leaves={root: leaves if leaves is not None else leaves_of(data, 1024 * 64)})


def test_fake_peer_serving_right_bytes_is_served() -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    records = audit(FakeHub(peer=_one_file_peer(data)), {tth(data)})
    served = [r for r in records if isinstance(r, Observation)
              and r.level is EvidenceLevel.SERVED]
    assert len(served) == 1 and served[0].details["segment_length"] == 1024 * 1024


def test_bzip2_bomb_file_list_is_refused() -> None:
    bomb = bz2.compress(b"<" + b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 100_000
    peer = FakePeer(filelist=bomb)
    records = audit(FakeHub(peer=peer), set(), max_filelist_bytes=1024 * 1024)
    bad = [r for r in records if isinstance(r, Observation) and r.method == "adc-get"]
    assert len(bad) == 1 and bad[0].outcome is Outcome.ERROR
    assert "bzip2 bomb" in (bad[0].reason or "")
    assert hub_info(records).outcome is Outcome.OK


def test_file_list_with_entities_is_refused() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><FileListing><File Name="&b;" Size="1"/>'
            b"</FileListing>")
    records = audit(FakeHub(peer=FakePeer(filelist=bz2.compress(evil))), set())
    bad = [r for r in records if isinstance(r, Observation) and r.method == "adc-get"]
    assert len(bad) == 1 and "entities are refused" in (bad[0].reason or "")


def test_wrong_leaf_stream_is_not_served() -> None:
    data = os.urandom(300_000)
    peer = _one_file_peer(data, leaves=os.urandom(24 * 5))
    records = audit(FakeHub(peer=peer), {tth(data)})
    seg = [r for r in records if isinstance(r, Observation) and r.method == "adc-segment"]
    assert len(seg) == 1 and seg[0].outcome is Outcome.ERROR
    assert seg[0].level is EvidenceLevel.CONTACTED
    assert "wrong leaf stream" in (seg[0].reason or "")


def test_wrong_segment_bytes_are_not_served() -> None:
    data = os.urandom(300_000)
    tampered = bytearray(data)
    tampered[70_000] ^= 1
    peer = _one_file_peer(data, served=bytes(tampered))
    records = audit(FakeHub(peer=peer), {tth(data)})
    seg = [r for r in records if isinstance(r, Observation) and r.method == "adc-segment"]
    assert len(seg) == 1 and seg[0].outcome is Outcome.ERROR
    assert "bytes do not match the file" in (seg[0].reason or "")
    assert not any(r.level is EvidenceLevel.SERVED for r in records
                   if isinstance(r, Observation))


def test_ten_thousand_file_share() -> None:
    data = os.urandom(5000)
    listed: list[tuple[str, bytes | int, str | None]] = [
        (f"f{i:05d}.bin", i, ap.b32(i.to_bytes(24, "big"))) for i in range(10_000)]
    listed.append(("bank.bin", data, tth(data)))
    peer = _one_file_peer(data, listing=files_xml(listed), leaves=tth_of(data))
    records = audit(FakeHub(peer=peer), {tth(data)})
    contacted = [r for r in records if isinstance(r, Observation)
                 and r.method == "adc-filelist" and r.name]
    assert len(contacted) == 10_001
    served = [r for r in records if isinstance(r, Observation)
              and r.level is EvidenceLevel.SERVED]
    assert [r.name for r in served] == ["bank.bin"]
    assert peer.gets[-1].startswith(f"file TTH/{tth(data)} 0 5000")


def test_dripped_segment_is_abandoned_for_its_speed_and_the_audit_goes_on() -> None:
    data = os.urandom(300_000)
    peer = _one_file_peer(data)
    peer.drip = True
    records = audit(FakeHub(peer=peer), {tth(data)},
                    limits={"read_timeout": 5, "connect_timeout": 3, "min_speed": 1000,
                            "min_speed_seconds": 1.5})
    seg = [r for r in records if isinstance(r, Observation) and r.method == "adc-segment"]
    assert len(seg) == 1 and seg[0].outcome is Outcome.ERROR, seg
    reason = seg[0].reason or ""
    assert reason.startswith("segment not received: transfer slower than 1000 B/s for 1.5 s ("), \
        reason
    assert "abandoned after" in reason and "of 300000 bytes" in reason
    assert seg[0].level is EvidenceLevel.CONTACTED
    assert not any(r.level is EvidenceLevel.SERVED for r in records
                   if isinstance(r, Observation))
    # the file list before it was read and recorded, and the hub audit finished
    listed = [r for r in records if isinstance(r, Observation) and r.method == "adc-filelist"]
    assert any(r.name == "film.mkv" and r.outcome is Outcome.OK for r in listed)
    assert hub_info(records).outcome is Outcome.OK
