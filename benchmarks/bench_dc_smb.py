"""Direct Connect file-list rate and SMB crawl+hash cost, each against a baseline in the same run.

1. DC: a loopback ADC hub (scripted here) with ``--users`` simulated users, each sharing a
   ``files.xml.bz2`` of ``--files`` entries served over real sockets; netwarden's collector logs
   in, brokers a connection to every user (RCM/CTM), fetches and parses every list. Reported:
   files/s, lists/s and peak RSS. Baseline: decompress + parse of the same lists in-process
   (no network, no protocol) — the ratio shows what the protocol work costs.
2. SMB: a real ``smbd`` on loopback serving a generated share; netwarden's SMB collector walks
   and digests it (no bytes stored) vs ``smbclient -c 'recurse; mget *'`` to a copy followed by
   ``rhash`` (MD5, SHA-1, SHA-256, ED2K, TTH) on the copy. Reported: both times and the ratio
   (target ≤ 1.2).

Run by hand (Debian ``samba``, ``smbclient``, ``rhash``):

    .venv/bin/python benchmarks/bench_dc_smb.py --users 50 --files 2000 --smb-files 100 --smb-mb 200
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _measure import parse_args

from netwarden.collect import CollectContext, collector_for
from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.filelist import parse_file_list
from netwarden.records import Observation
from netwarden.scope import parse_scope

HUB = "127.77.9.1"
SMB_HOST = "127.0.0.1"  # smbd binds only to addresses it sees on an interface
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def scope(url: str, **limits: Any) -> Any:
    now = datetime.now(UTC)
    return parse_scope({
        "check": {"id": "BENCH", "authorization": "benchmark", "jurisdiction": "ru",
                  "not_before": now - timedelta(hours=1), "not_after": now + timedelta(hours=2)},
        "operator": {"name": "Bench", "prefixes": ["127.77.0.0/16", "127.0.0.1/32"]},
        "auditor": {"nick": "Auditor"}, "services": [{"url": url}],
        "limits": {"read_timeout": 30, "per_host_concurrency": 8, "total_concurrency": 16,
                   **limits}}, "bench")


def make_list(user: int, files: int) -> bytes:
    rows = "".join(
        f'<File Name="film {user}-{i}.mkv" Size="{i * 1000 + 7}" '
        f'TTH="{ap.b32(os.urandom(24))}"/>' for i in range(files))
    xml = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?><FileListing Version="1" '
           f'CID="X" Base="/" Generator="bench"><Directory Name="films">{rows}</Directory>'
           "</FileListing>")
    return bz2.compress(xml.encode(), 6)


async def dc_run(users: int, files: int) -> dict[str, float]:
    lists = [make_list(u, files) for u in range(users)]
    peer_port: dict[int, int] = {}

    async def peer(u: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\n")
            writer.write(f"CSUP ADBASE ADTIGR ADBZIP\nCINF ID{'P' * 39}\n".encode())
            await reader.readuntil(b"\n")
            msg = ap.parse(await reader.readuntil(b"\n"))
            body = lists[u]
            writer.write(ap.Message("C", "SND", (*msg.params[:3], str(len(body)))).encode()
                         + body)
            await writer.drain()
            await reader.read(1)
        finally:
            writer.close()

    def sid(i: int) -> str:
        return "".join(B32[((i + 100) >> (5 * k)) & 31] for k in range(4))

    async def hub(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\n")
            writer.write(b"ISUP ADBASE ADTIGR\nISID AAAB\nIINF NIBench\n")
            inf = await reader.readuntil(b"\n")
            for u in range(users):
                writer.write(f"BINF {sid(u)} ID{'U' * 39} NIuser{u} I4127.77.9.{10 + u} "
                             f"SUTCP4 SS{files * 1000}\n".encode())
            writer.write(inf)
            await writer.drain()
            while True:
                msg = ap.parse(await reader.readuntil(b"\n"))
                if msg.cmd == "RCM":
                    u = next(i for i in range(users) if sid(i) == msg.dst)
                    writer.write(f"DCTM {msg.dst} AAAB ADC/1.0 {peer_port[u]} "
                                 f"{msg.params[1]}\n".encode())
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = []
    for u in range(users):
        srv = await asyncio.start_server(lambda r, w, u=u: peer(u, r, w), f"127.77.9.{10 + u}", 0)
        peer_port[u] = srv.sockets[0].getsockname()[1]
        servers.append(srv)
    srv = await asyncio.start_server(hub, HUB, 0)
    servers.append(srv)
    sc = scope(f"adc://{HUB}:{srv.sockets[0].getsockname()[1]}",
               max_listing_entries=max(100_000, files + 1))
    ctx = CollectContext(scope=sc, run_id="bench", limits=sc.limits)
    service = sc.services[0]
    t0 = time.perf_counter()
    seen = 0
    async for rec in collector_for(service)(service, ctx).collect():
        if isinstance(rec, Observation) and rec.method == "adc-filelist" and rec.name:
            seen += 1
    elapsed = time.perf_counter() - t0
    for s in servers:
        s.close()
    t1 = time.perf_counter()
    parsed = sum(len(parse_file_list(b).files) for b in lists)
    base = time.perf_counter() - t1
    assert seen == parsed == users * files, (seen, parsed)
    return {"files": seen, "seconds": elapsed, "baseline_s": base}


SMB_CONF = """[global]
  server role = standalone server
  interfaces = {host}
  bind interfaces only = yes
  smb ports = {port}
  private dir = {b}/private
  lock directory = {b}/lock
  state directory = {b}/state
  cache directory = {b}/cache
  pid directory = {b}/pid
  ncalrpc dir = {b}/ncalrpc
  log file = {b}/log.%m
  map to guest = Bad User
  guest account = root
  disable spoolss = yes
  load printers = no
  printcap name = /dev/null
  disable netbios = yes
  server min protocol = SMB2_02
[pub]
  path = {b}/pub
  guest ok = yes
  read only = yes
"""


def smb_run(n_files: int, total_mb: int, work: Path) -> dict[str, float]:
    base = work / "samba"
    for d in ("private", "lock", "state", "cache", "pid", "ncalrpc", "pub"):
        (base / d).mkdir(parents=True, exist_ok=True)
    size = total_mb * 1024 * 1024 // n_files
    for i in range(n_files):
        sub = base / "pub" / f"d{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(os.urandom(size))
    with socket.socket() as s:
        s.bind((SMB_HOST, 0))
        port = s.getsockname()[1]
    (base / "smb.conf").write_text(SMB_CONF.format(host=SMB_HOST, port=port, b=base))
    log = open(base / "smbd.out", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(["smbd", "-F", "--debug-stdout", "-s", str(base / "smb.conf")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((SMB_HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    print((base / "smbd.out").read_text()[-2000:], file=sys.stderr)
                    raise
                time.sleep(0.2)
        sc = scope(f"smb://{SMB_HOST}:{port}/pub")
        ctx = CollectContext(scope=sc, run_id="bench", limits=sc.limits)
        service = sc.services[0]

        async def crawl() -> int:
            n = 0
            async for rec in collector_for(service)(service, ctx).collect():
                if isinstance(rec, Observation) and rec.digests.get("sha256"):
                    n += 1
            return n

        t0 = time.perf_counter()
        got = asyncio.run(crawl())
        ours = time.perf_counter() - t0
        copy = work / "copy"
        copy.mkdir()
        t1 = time.perf_counter()
        subprocess.run(["smbclient", f"//{SMB_HOST}/pub", "-p", str(port), "-N", "-c",
                        f"prompt OFF; recurse ON; lcd {copy}; mget *"], check=True,
                       capture_output=True)
        t2 = time.perf_counter()
        subprocess.run(["rhash", "-r", "--md5", "--sha1", "--sha256", "--ed2k", "--tth",
                        str(copy)], check=True, capture_output=True)
        t3 = time.perf_counter()
        copied = sum(1 for p in copy.rglob("*") if p.is_file())
        assert got == copied == n_files, (got, copied, n_files)
        return {"ours_s": ours, "smbclient_s": t2 - t1, "rhash_s": t3 - t2, "files": got}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def main() -> int:
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap_.add_argument("--users", type=int, default=50)
    ap_.add_argument("--files", type=int, default=2000)
    ap_.add_argument("--smb-files", type=int, default=100)
    ap_.add_argument("--smb-mb", type=int, default=200)
    ap_.add_argument("--workdir", type=Path, default=None)
    args = parse_args(ap_, {"users": 3, "files": 50, "smb_files": 4, "smb_mb": 1})
    dc = asyncio.run(dc_run(args.users, args.files))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"DC file lists: {args.users} users x {args.files} files = {dc['files']} entries in "
          f"{dc['seconds']:.2f} s -> {dc['files'] / dc['seconds']:,.0f} files/s, "
          f"{args.users / dc['seconds']:.1f} lists/s; peak RSS {rss:.0f} MiB")
    print(f"  baseline (decompress+parse only, no network): {dc['baseline_s']:.2f} s -> "
          f"{dc['files'] / dc['baseline_s']:,.0f} files/s; ratio "
          f"{dc['seconds'] / dc['baseline_s']:.2f}")
    if not all(shutil.which(t) for t in ("smbd", "smbclient", "rhash")):
        print("SMB part skipped: smbd/smbclient/rhash not installed")
        return 0
    work = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        smb = smb_run(args.smb_files, args.smb_mb, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = smb["smbclient_s"] + smb["rhash_s"]
    print(f"SMB: {smb['files']:.0f} files, {args.smb_mb} MiB: netwarden crawl+hash "
          f"{smb['ours_s']:.2f} s; smbclient mget {smb['smbclient_s']:.2f} s + rhash "
          f"{smb['rhash_s']:.2f} s = {base:.2f} s; ratio {smb['ours_s'] / base:.2f} "
          "(target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
