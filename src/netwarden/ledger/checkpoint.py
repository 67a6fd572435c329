"""Checkpoints: the C2SP tlog-checkpoint body inside a C2SP signed note.

::

    <origin>\\n<tree size, decimal>\\n<root, base64>\\n
    \\n
    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n

The signature covers the body (the three lines, final newline included). This is the format
transparency logs (Go sumdb, Sigstore, tlog tooling) read, so standard tools can check our
checkpoints without netwarden.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from netwarden.ledger.keys import SigningKey, VerifierKey
from netwarden.ledger.merkle import HASH_SIZE

SIG_PREFIX = "\u2014 "  # em dash and space, as signed-note requires


class CheckpointError(ValueError):
    """A checkpoint is malformed or its signature does not verify; the message says which."""


@dataclass(frozen=True)
class Checkpoint:
    """A parsed signed checkpoint."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    body: bytes
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)
    text: str

    def verify(self, key: VerifierKey) -> bool:
        """Check this key's signature on the body; raise :class:`CheckpointError` if absent/bad."""
        found = False
        for name, kid, sig in self.signatures:
            if name == key.name and kid == key.key_id:
                found = True
                if key.verify(sig, self.body):
                    return True
        if not found:
            raise CheckpointError(f"checkpoint of size {self.size} has no signature by key "
                                  f"{key.name} ({key.key_id.hex()})")
        raise CheckpointError(f"checkpoint of size {self.size}: signature by {key.name} "
                              f"({key.key_id.hex()}) does not verify")


def body_text(origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()) -> str:
    if not origin or "\n" in origin:
        raise CheckpointError("origin must be one non-empty line")
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "".join(line + "\n" for line in lines)


def sign_checkpoint(key: SigningKey, size: int, root: bytes, origin: str | None = None) -> str:
    """The signed-note text of a checkpoint of (size, root), signed by ``key``.

    The origin defaults to the key name, the usual convention for a single-key log.
    """
    body = body_text(origin or key.name, size, root)
    sig = key.sign(body.encode())
    blob = base64.b64encode(key.public.key_id + sig).decode()
    return f"{body}\n{SIG_PREFIX}{key.name} {blob}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a signed checkpoint strictly; every deviation raises :class:`CheckpointError`."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint does not end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("checkpoint contains control characters")
    body, sep, sigs = text.partition("\n\n")
    if not sep:
        raise CheckpointError("checkpoint has no blank line before its signatures")
    body += "\n"
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint body needs origin, size and root lines")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise CheckpointError("checkpoint origin line is empty")
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")) or not size_s.isascii():
        raise CheckpointError(f"checkpoint size {size_s!r} is not a decimal number")
    try:
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error as exc:
        raise CheckpointError(f"checkpoint root is not base64: {exc}") from exc
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_s:
        raise CheckpointError("checkpoint root is not a canonical base64 32-byte hash")
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError(f"signature line {line[:40]!r} does not start with '— '")
        parts = line[len(SIG_PREFIX):].split(" ")
        if len(parts) != 2:
            raise CheckpointError("signature line is not '— name base64'")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error as exc:
            raise CheckpointError(f"signature is not base64: {exc}") from exc
        if len(blob) < 5:
            raise CheckpointError("signature is too short")
        signatures.append((parts[0], blob[:4], blob[4:]))
    if not signatures:
        raise CheckpointError("checkpoint carries no signature")
    return Checkpoint(origin, int(size_s), root, tuple(ext), body.encode(), tuple(signatures), text)
