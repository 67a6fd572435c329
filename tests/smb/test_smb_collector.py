"""SMB collector against a real smbd: guest and user shares, loops, odd names, denials, limits."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from netwarden.collect.base import location_url
from netwarden.errors import InputError
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal

pytestmark = pytest.mark.slow


def _write(path: Any, data: bytes) -> bytes:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return data


def _served(records: list[Any]) -> dict[str, Observation]:
    return {r.location: r for r in records
            if isinstance(r, Observation) and r.level is EvidenceLevel.SERVED}


def test_guest_share_every_file_digested_with_exact_locations(smbd: Any, scope_for: Any,
                                                               collect_smb: Any) -> None:
    pub = smbd.root / "pub"
    files = {
        "films/Брат 2.mkv": _write(pub / "films" / "Брат 2.mkv", os.urandom(3_000_000)),
        "a b/c%d#e.bin": _write(pub / "a b" / "c%d#e.bin", os.urandom(70_000)),
        "empty.bin": _write(pub / "empty.bin", b""),
        "x/y/z/deep.bin": _write(pub / "x" / "y" / "z" / "deep.bin", os.urandom(10)),
    }
    records = collect_smb(scope_for([{"url": smbd.url("pub")}]))
    served = _served(records)
    assert len(served) == len(files), [r.reason for r in records if r.outcome is not Outcome.OK]
    for rel, data in files.items():
        url = location_url("smb", smbd.host, smbd.port, f"/pub/{rel}".encode())
        obs = served[url]
        assert obs.size == len(data)
        assert obs.digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert obs.digests["sha1"] == hashlib.sha1(data).hexdigest()
        assert "tth" in obs.digests and obs.bytes_from_endpoint
        assert obs.details["user"] == "guest"
    assert not [r for r in records if isinstance(r, Observation) and r.outcome is Outcome.ERROR]


def test_credentials_from_service_and_guest_denied(smbd: Any, scope_for: Any,
                                                  collect_smb: Any) -> None:
    USER, PASSWORD = smbd.user, smbd.password
    data = _write(smbd.root / "priv" / "secret.bin", os.urandom(12345))
    scope = scope_for([{"url": smbd.url("priv"), "username": USER, "password": PASSWORD}])
    served = _served(collect_smb(scope))
    assert [o.digests["sha256"] for o in served.values()] == [hashlib.sha256(data).hexdigest()]
    # the same share as guest: a denied outcome, recorded, not a crash
    records = collect_smb(scope_for([{"url": smbd.url("priv")}]))
    assert not _served(records)
    assert any(isinstance(r, Observation) and r.outcome is Outcome.DENIED for r in records)
    # a wrong password: denied too
    bad = scope_for([{"url": smbd.url("priv"), "username": USER, "password": "wrong"}])
    records = collect_smb(bad)
    assert [r.outcome for r in records if isinstance(r, Observation)] == [Outcome.DENIED]


def test_symlink_loops_are_recorded_not_followed_forever(smbd: Any, scope_for: Any,
                                                         collect_smb: Any) -> None:
    pub = smbd.root / "pub"
    data = _write(pub / "sub" / "f.bin", os.urandom(1000))
    os.symlink("..", pub / "sub" / "up")  # sub/up -> pub: a loop
    os.symlink(".", pub / "sub" / "self")  # sub/self -> sub
    os.mkdir(pub / "a")
    os.symlink("../a", pub / "a" / "again")  # a/again -> a
    records = collect_smb(scope_for([{"url": smbd.url("pub")}]), timeout=30)
    served = _served(records)
    assert [o.digests["sha256"] for o in served.values()] == [hashlib.sha256(data).hexdigest()]
    loops = [r for r in records if isinstance(r, Observation) and r.outcome is Outcome.SKIPPED
             and "already walked" in (r.reason or "")]
    assert {r.name for r in loops} == {"up", "self", "again"}


def test_odd_encodings_in_names(smbd: Any, scope_for: Any, collect_smb: Any) -> None:
    pub = os.fsencode(smbd.root / "pub")
    cp1251 = "Сталкер.avi".encode("cp1251")  # not valid UTF-8 on the server's disk
    odd = {cp1251: os.urandom(5000), "日本語 ファイル.bin".encode(): os.urandom(4000),
           b"tab\there.bin": os.urandom(3000)}
    for raw, data in odd.items():
        with open(pub + b"/" + raw, "wb") as handle:
            handle.write(data)
    records = collect_smb(scope_for([{"url": smbd.url("pub")}]))
    observations = [r for r in records if isinstance(r, Observation) and r.details.get("path")]
    served = {o.digests["sha256"]: o for o in _served(records).values()}
    # UTF-8 names arrive intact; a name with a control character is served under the 8.3
    # name Samba mangles it to; a name that is not valid in the server's unix charset
    # (UTF-8) is hidden by Samba itself: no client can see it, and nothing breaks.
    japanese = served[hashlib.sha256(odd["日本語 ファイル.bin".encode()]).hexdigest()]
    assert japanese.name == "日本語 ファイル.bin"
    assert "%E6%97%A5" in japanese.location
    tab = served[hashlib.sha256(odd[b"tab\there.bin"]).hexdigest()]
    assert "~" in (tab.name or "")
    assert hashlib.sha256(odd[cp1251]).hexdigest() not in served
    assert len(observations) == 2
    assert all(o.outcome is Outcome.OK for o in observations)


def test_limits_depth_size_and_count(smbd: Any, scope_for: Any, collect_smb: Any) -> None:
    pub = smbd.root / "pub"
    _write(pub / "big.bin", os.urandom(200_000))
    _write(pub / "d1" / "d2" / "d3" / "deep.bin", os.urandom(10))
    for i in range(30):
        _write(pub / "many" / f"f{i:03}.bin", os.urandom(10))
    scope = scope_for([{"url": smbd.url("pub")}], max_file_size=100_000, max_depth=2,
                      max_listing_entries=20)
    records = collect_smb(scope)
    skipped = {r.name: r.reason for r in records
               if isinstance(r, Observation) and r.outcome is Outcome.SKIPPED}
    assert "larger than the limit" in skipped["big.bin"]
    assert "depth limit" in skipped["d3"]
    assert any("more than 20 entries" in (reason or "") for reason in skipped.values())
    assert len(_served(records)) == 20


def test_out_of_scope_and_bad_urls(smbd: Any, scope_for: Any, collect_smb: Any) -> None:
    from netwarden.collect.base import CollectContext
    from netwarden.collect.smb import SmbCollector

    scope = scope_for([{"url": smbd.url("pub")}])
    service = scope.services[0]
    ctx = CollectContext(scope=scope, run_id="r", limits=scope.limits)
    with pytest.raises(InputError, match="must name a share"):
        SmbCollector(type(service)(**{**service.__dict__, "path": "/"}), ctx)
    # a service whose host has left the scope is refused, never contacted
    narrow = scope_for([{"url": smbd.url("pub")}])
    object.__setattr__(narrow, "prefixes", ())
    records = collect_smb(narrow)
    assert len(records) == 1 and isinstance(records[0], Refusal)
