"""Ed25519 signing keys for checkpoints, named and identified as in C2SP signed-note.

A key has a *name* (by convention the ledger's origin line) and a 4-byte *key id*:
SHA-256(name || 0x0A || 0x01 || public key)[:4], where 0x01 is the Ed25519 algorithm byte. The
public half is published as a signed-note verifier key ``name+<hex id>+<base64(0x01||pub)>``,
the string a court or a third party pins. Private keys live in files with mode 0600 under
``$NETWARDEN_HOME/keys``; rotation moves the old key aside and keeps its public half.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from netwarden.errors import InputError
from netwarden.i18n import N_
from netwarden.store.base import default_home

ED25519 = 0x01
PRIVATE_FILE = "ledger.key"
VKEY_FILE = "ledger.vkey"
_NAME = re.compile(r"^[^\s+]+$")


class KeyMissingError(InputError):
    """No ledger key has been created yet (``netwarden key init``)."""


def default_key_dir() -> Path:
    """Where ``netwarden key init`` puts the ledger key: ``$NETWARDEN_HOME/keys``."""
    return default_home() / "keys"


def key_id(name: str, public: bytes) -> bytes:
    """The signed-note key id: first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def check_name(name: str) -> str:
    if not name or not _NAME.match(name) or not name.isprintable():
        raise InputError("key name", f"{name!r} must be non-empty, printable, without spaces "
                         "or '+'")
    return name


@dataclass(frozen=True)
class VerifierKey:
    """A public key as the signed-note spec names it."""

    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    @property
    def vkey(self) -> str:
        blob = base64.b64encode(bytes([ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_vkey(text: str, source: str = "verifier key") -> VerifierKey:
    """Parse ``name+hexid+base64`` and check that the id matches the key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InputError(source, "a verifier key is name+keyid+base64key")
    name, hex_id, blob = parts
    try:
        raw = base64.b64decode(blob, validate=True)
        wanted = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise InputError(source, f"verifier key is not valid hex/base64: {exc}") from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise InputError(source, "verifier key is not an Ed25519 key (0x01 + 32 bytes)")
    key = VerifierKey(check_name(name), raw[1:])
    if key.key_id != wanted:
        raise InputError(source, f"key id {hex_id} does not match the key (computed "
                         f"{key.key_id.hex()})")
    return key


@dataclass(frozen=True)
class SigningKey:
    """The private checkpoint-signing key and its name."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> VerifierKey:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
        return VerifierKey(self.name, raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def init_key(key_dir: Path | None = None, name: str | None = None, *,
             rotate: bool = False) -> SigningKey:
    """Create the ledger key; with ``rotate`` retire an existing one (kept as ``*.retired``)."""
    key_dir = key_dir or default_key_dir()
    private_path = key_dir / PRIVATE_FILE
    if private_path.exists():
        if not rotate:
            raise InputError(str(private_path), N_("a ledger key exists already; use --rotate "
                                                "to replace it (the old key is kept, retired)"))
        old = load_key(key_dir)
        stem = f"ledger-{old.public.key_id.hex()}"
        private_path.rename(key_dir / f"{stem}.key.retired")
        (key_dir / VKEY_FILE).rename(key_dir / f"{stem}.vkey.retired")
        name = name or old.name
    name = check_name(name or f"netwarden-ledger-{os.urandom(4).hex()}")
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    key = SigningKey(name, Ed25519PrivateKey.generate())
    pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    (key_dir / VKEY_FILE).write_text(key.public.vkey + "\n")
    return key


def load_key(key_dir: Path | None = None) -> SigningKey:
    """Load the ledger key written by :func:`init_key`."""
    key_dir = key_dir or default_key_dir()
    private_path = key_dir / PRIVATE_FILE
    if not private_path.exists():
        raise KeyMissingError(str(private_path), N_("no ledger key; run `netwarden key init` "
                                                 "first"))
    vkey = parse_vkey((key_dir / VKEY_FILE).read_text(), str(key_dir / VKEY_FILE))
    try:
        private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    except ValueError as exc:
        raise InputError(str(private_path), f"not a PEM private key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise InputError(str(private_path), "the ledger key must be Ed25519")
    key = SigningKey(vkey.name, private)
    if key.public.public != vkey.public:
        raise InputError(str(key_dir / VKEY_FILE), "does not belong to the private key")
    return key
