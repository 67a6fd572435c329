"""Witness cosignatures on checkpoints: C2SP ``tlog-cosignature`` (``cosignature/v1``, Ed25519).

A witness that has checked a checkpoint is consistent with everything it saw of the log before
signs::

    cosignature/v1\\n
    time <POSIX seconds>\\n
    <checkpoint body: origin, size, root, extension lines>

and returns a signed-note line ``— <witness name> base64(key id ‖ u64 BE time ‖ signature)``
whose key id is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ Ed25519 public key)[:4] (0x04: timestamped
Ed25519 cosignature). The log appends the line to its checkpoint; any verifier that pins the
witness key can then check that the witness saw this very tree, which is what defeats a split
view (showing a court one tree and everyone else another).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from netwarden.errors import InputError
from netwarden.ledger.checkpoint import SIG_PREFIX, Checkpoint
from netwarden.ledger.keys import check_name

COSIGNATURE_V1 = 0x04
HEADER = b"cosignature/v1\n"
WITNESS_KEY_FILE = "witness.key"
WITNESS_VKEY_FILE = "witness.vkey"


class CosignatureError(ValueError):
    """A cosignature line or witness key is malformed; the message says which part."""


def cosigner_key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public).digest()[:4]


def signed_message(body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, ``time`` line, then the checkpoint body."""
    return HEADER + b"time %d\n" % timestamp + body


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key, named as the witness names itself."""

    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public)

    @property
    def vkey(self) -> str:
        blob = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


def parse_cosigner_vkey(text: str, source: str = "witness key") -> CosignerKey:
    """Parse ``name+hexid+base64(0x04 ‖ key)`` and check that the id matches the key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InputError(source, "a witness key is name+keyid+base64key")
    name, hex_id, blob = parts
    try:
        raw = base64.b64decode(blob, validate=True)
        wanted = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise InputError(source, f"witness key is not valid hex/base64: {exc}") from exc
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise InputError(source, "witness key is not a cosignature/v1 Ed25519 key (0x04 + 32 "
                         "bytes)")
    key = CosignerKey(check_name(name), raw[1:])
    if key.key_id != wanted:
        raise InputError(source, f"key id {hex_id} does not match the key (computed "
                         f"{key.key_id.hex()})")
    return key


@dataclass(frozen=True)
class WitnessSigner:
    """A witness's private key."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> CosignerKey:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
        return CosignerKey(self.name, raw)

    def cosign(self, body: bytes, timestamp: int | None = None) -> str:
        """The signature line (newline-terminated) cosigning a checkpoint ``body``."""
        ts = int(time.time()) if timestamp is None else timestamp
        if not 0 < ts < 1 << 63:
            raise CosignatureError(f"timestamp {ts} is not in 1..2^63-1")
        sig = self.private.sign(signed_message(body, ts))
        blob = base64.b64encode(self.public.key_id + ts.to_bytes(8, "big") + sig).decode()
        return f"{SIG_PREFIX}{self.name} {blob}\n"


def init_witness_key(key_dir: Path, name: str) -> WitnessSigner:
    """Create the witness key in ``key_dir`` (mode 0600); refuses to overwrite one."""
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    signer = WitnessSigner(check_name(name), Ed25519PrivateKey.generate())
    pem = signer.private.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    try:
        fd = os.open(key_dir / WITNESS_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InputError(str(key_dir / WITNESS_KEY_FILE), "a witness key exists already") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    (key_dir / WITNESS_VKEY_FILE).write_text(signer.public.vkey + "\n")
    return signer


def load_witness_key(key_dir: Path) -> WitnessSigner:
    """Load the witness key written by :func:`init_witness_key`."""
    vkey = parse_cosigner_vkey((key_dir / WITNESS_VKEY_FILE).read_text(),
                               str(key_dir / WITNESS_VKEY_FILE))
    private = serialization.load_pem_private_key((key_dir / WITNESS_KEY_FILE).read_bytes(),
                                                 password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise InputError(str(key_dir / WITNESS_KEY_FILE), "the witness key must be Ed25519")
    signer = WitnessSigner(vkey.name, private)
    if signer.public.public != vkey.public:
        raise InputError(str(key_dir / WITNESS_VKEY_FILE), "does not belong to the private key")
    return signer


def cosignature_timestamp(blob: bytes) -> int:
    """The time a cosignature (``key id ‖ u64 time ‖ Ed25519 signature``) claims."""
    if len(blob) != 4 + 8 + 64:
        raise CosignatureError(f"a cosignature/v1 is 76 bytes, this one {len(blob)}")
    ts = int.from_bytes(blob[4:12], "big")
    if ts == 0 or ts >= 1 << 63:
        raise CosignatureError(f"cosignature timestamp {ts} is outside 1..2^63-1")
    return ts


def verify_cosignature(key: CosignerKey, body: bytes, blob: bytes) -> int:
    """Check one cosignature (``key id ‖ time ‖ signature``); return its timestamp."""
    ts = cosignature_timestamp(blob)
    if blob[:4] != key.key_id:
        raise CosignatureError(f"cosignature key id {blob[:4].hex()} is not {key.name}'s "
                               f"{key.key_id.hex()}")
    try:
        Ed25519PublicKey.from_public_bytes(key.public).verify(blob[12:],
                                                               signed_message(body, ts))
    except InvalidSignature as exc:
        raise CosignatureError(f"cosignature by {key.name} ({key.key_id.hex()}) does not "
                               "verify over this checkpoint") from exc
    return ts


@dataclass
class CosignatureReport:
    """Which pinned witnesses cosigned a checkpoint, when, and what failed."""

    valid: list[tuple[str, str, int]] = field(default_factory=list)  # name, key id, time
    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # lines by keys nobody pinned

    def as_dict(self) -> dict[str, object]:
        return {"valid": [{"witness": n, "key_id": k, "time": t} for n, k, t in self.valid],
                "problems": self.problems, "unverified": self.unverified}

    def lines(self) -> list[str]:
        from datetime import UTC, datetime

        out = [f"cosigned by witness {n} ({k}) at "
               f"{datetime.fromtimestamp(t, UTC).isoformat()}" for n, k, t in self.valid]
        out += [f"signature by {n} not checked (no such witness key given)"
                for n in self.unverified]
        return out


def check_cosignatures(cp: Checkpoint, witnesses: list[CosignerKey] | tuple[CosignerKey, ...],
                       now: float | None = None) -> CosignatureReport:
    """Check every signature line of ``cp`` made by a pinned witness key.

    As signed-note requires, a line matching a pinned key's name *and* id must verify (a bad
    one is a problem); lines by other keys (the log's own, unpinned witnesses) are listed as
    unverified. A timestamp more than a minute in the future is a problem.
    """
    report = CosignatureReport()
    by_id = {(w.name, w.key_id): w for w in witnesses}
    now = time.time() if now is None else now
    for name, kid, sig in cp.signatures:
        key = by_id.get((name, kid))
        if key is None:
            if len(sig) == 8 + 64:  # shaped like a cosignature: report it, unchecked
                report.unverified.append(name)
            continue
        try:
            ts = verify_cosignature(key, cp.body, kid + sig)
        except CosignatureError as exc:
            report.problems.append(str(exc))
            continue
        if ts > now + 60:
            report.problems.append(f"cosignature by {name} is dated {ts}, in the future")
            continue
        report.valid.append((name, kid.hex(), ts))
    return report
