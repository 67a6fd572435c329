"""Peak memory (RSS) of the digest engine over a 4 GiB stream, against the ``rhash`` CLI.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_digest_rss.py              # 4 GiB, pieces of 256 KiB
    .venv/bin/python benchmarks/bench_digest_rss.py --gib 1

The stream is generated on the fly (no file on disk): 1 MiB blocks cut from a 16 MiB pool of
seeded random bytes at shifting offsets. netwarden hashes it in a child process (``hash_stream``
with BitTorrent piece SHA-1s, so the piece list is counted too); the baseline is ``rhash --md5
--sha1 --sha256 --ed2k --tth -`` reading the very same bytes from a pipe, in the same run. Peak
RSS of each child comes from ``wait4`` (``ru_maxrss``). The child also reports its peak RSS
just before hashing (interpreter plus imports), so the growth caused by hashing is visible.
Target: netwarden peak <= 100 MiB. The digests of both must be equal (a cross-check of sizes
beyond 2**32 bytes too).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time

from _measure import parse_args

BLOCK = 1 << 20
POOL = 16 << 20


class SyntheticStream(io.RawIOBase):
    """``size`` deterministic pseudo-random bytes, produced as they are read."""

    def __init__(self, size: int, seed: int = 2026) -> None:
        rng = random.Random(seed)
        pool = bytearray()
        while len(pool) < POOL:  # in 1 MiB steps: no transient 2x copy of the pool
            pool += rng.randbytes(BLOCK)
        self._view = memoryview(pool)
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        k, off = divmod(self._pos, BLOCK)
        start = (k * 1_048_583) % (POOL - BLOCK)  # a different slice of the pool per block
        n = min(len(b), BLOCK - off, self._size - self._pos)
        b[:n] = self._view[start + off:start + off + n]
        self._pos += n
        return n


def _vm(field: str) -> int:
    """A ``VmHWM``/``VmRSS`` line of /proc/self/status, in KiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def child(size: int, piece_length: int) -> None:
    from netwarden.digest import hash_stream

    stream = SyntheticStream(size)  # the generator's pool counts in "before", not in hashing
    before = _vm("VmHWM")
    rss_before = _vm("VmRSS")
    start = time.perf_counter()
    result = hash_stream(stream, piece_length)
    elapsed = time.perf_counter() - start
    assert result.pieces is not None
    print(json.dumps({"digests": result.as_dict(), "hwm_before_kib": before,
                      "rss_before_kib": rss_before, "seconds": elapsed,
                      "pieces": len(result.pieces)}))


def wait_rss(proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Wait for ``proc``; its exit status and peak RSS in KiB."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="stream size in GiB")
    parser.add_argument("--piece-length", type=int, default=262_144)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parse_args(parser, {"gib": 0.01})
    size = int(args.gib * (1 << 30))
    if args.child:
        child(size, args.piece_length)
        return

    print(f"stream: {size} bytes ({args.gib} GiB), generated on the fly; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--gib", str(args.gib),
                             "--piece-length", str(args.piece_length)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    rc, nw_peak = wait_rss(proc)
    if rc != 0:
        sys.exit(f"netwarden child failed with {rc}")
    report = json.loads(out)

    start = time.perf_counter()
    rhash = subprocess.Popen(["rhash", "--md5", "--sha1", "--sha256", "--ed2k", "--tth", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert rhash.stdin is not None and rhash.stdout is not None
    stream = SyntheticStream(size)
    buf = bytearray(BLOCK)
    while n := stream.readinto(buf):
        rhash.stdin.write(buf[:n])
    rhash.stdin.close()
    rhash_out = rhash.stdout.read().decode()
    rc, rhash_peak = wait_rss(rhash)
    rhash_seconds = time.perf_counter() - start
    if rc != 0:
        sys.exit(f"rhash failed with {rc}")

    theirs = {f.lower() for f in rhash_out.split()[1:]}
    ours = {str(report["digests"][k]).lower() for k in ("md5", "sha1", "sha256", "ed2k", "tth")}
    if ours != theirs:
        sys.exit(f"MISMATCH: netwarden {sorted(ours)} != rhash {sorted(theirs)}")

    mib = 1024
    print(f"{'what':46} {'peak RSS MiB':>12} {'seconds':>8}")
    print(f"{'netwarden hash_stream (child process)':46} {nw_peak / mib:12.1f} "
          f"{report['seconds']:8.1f}")
    print(f"{'  peak before hashing (python, imports, pool)':46} "
          f"{report['hwm_before_kib'] / mib:12.1f}")
    print(f"{'  RSS just before hashing':46} {report['rss_before_kib'] / mib:12.1f}")
    print(f"{'rhash ... - (baseline, stdin pipe)':46} {rhash_peak / mib:12.1f} "
          f"{rhash_seconds:8.1f}")
    print(f"digests equal rhash's; {report['pieces']} piece SHA-1s kept")
    growth = (nw_peak - report["rss_before_kib"]) / mib
    verdict = "OK" if nw_peak / mib <= 100 else "OVER TARGET"
    print(f"RESULT peak {nw_peak / mib:.1f} MiB (target <= 100 MiB: {verdict}); growth over "
          f"the RSS before hashing {growth:.1f} MiB; ratio netwarden/rhash peak RSS = "
          f"{nw_peak / rhash_peak:.1f}")


if __name__ == "__main__":
    main()
