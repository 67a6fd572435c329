"""C2SP ``tlog-witness``: cosign other installations' checkpoints, and gather cosignatures.

Server side (:class:`Witness`, served by :func:`serve`): ``POST <prefix>/add-checkpoint`` with
``old <size>``, the consistency proof from that size (one base64 hash a line), a blank line
and the signed checkpoint. The witness checks the log's signature (404 unknown origin, 403 no
valid signature), that ``old`` is the size it last cosigned (409 with that size otherwise),
that the proof shows the new tree extends the old one, and that a checkpoint of the size it
already cosigned has the same root (422 otherwise: a *split view*, the log showing two
different trees). Only then does it persist the new size and root — atomically with the check,
under one lock — and return a ``cosignature/v1`` line. Every refused checkpoint that carried a
valid log signature is appended to ``refused.jsonl`` with the checkpoint it contradicts: two
signed, conflicting checkpoints are the proof of the log's misbehaviour.

Client side (:func:`gather_cosignatures`): submit a checkpoint to each configured witness,
learning its old size from a 409 if needed, verify the returned lines against the witness's
pinned key, and return the checkpoint with the valid cosignatures appended.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from netwarden.errors import InputError
from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import SIG_PREFIX, Checkpoint, CheckpointError, parse_checkpoint
from netwarden.ledger.cosign import (
    CosignatureError,
    CosignerKey,
    WitnessSigner,
    parse_cosigner_vkey,
    verify_cosignature,
)
from netwarden.ledger.keys import VerifierKey

MAX_REQUEST = 64 << 10
MAX_PROOF = 63
SIZE_TYPE = "text/x.tlog.size"
STATE_FILE = "witness-state.json"
REFUSED_FILE = "refused.jsonl"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the witness: status, content type, body."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """``(old size, proof, checkpoint text)`` of an add-checkpoint body; ValueError if bad."""
    text = body.decode("utf-8")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("no blank line between the proof and the checkpoint")
    lines = head.split("\n")
    old = lines[0]
    if not old.startswith("old ") or not old[4:].isdigit() or not old[4:].isascii() \
            or (old[4:] != "0" and old[4:].startswith("0")):
        raise ValueError(f"first line {old[:40]!r} is not 'old <decimal size>'")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF:
        raise ValueError(f"{len(proof_lines)} proof lines, at most {MAX_PROOF}")
    proof = []
    for line in proof_lines:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"proof line {line[:60]!r} is not base64") from exc
        if len(h) != merkle.HASH_SIZE:
            raise ValueError(f"proof line decodes to {len(h)} bytes, not 32")
        proof.append(h)
    return int(old[4:]), proof, note


def request_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


class Witness:
    """Witness state and the add-checkpoint rules (see module docstring)."""

    def __init__(self, signer: WitnessSigner, logs: list[VerifierKey], state_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.logs: dict[str, list[VerifierKey]] = {}
        for key in logs:
            self.logs.setdefault(key.name, []).append(key)
        self.state_dir = state_dir
        self.clock = clock
        self._lock = threading.Lock()
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / STATE_FILE
        self.state: dict[str, dict[str, object]] = (json.loads(path.read_text())
                                                    if path.exists() else {})

    def latest(self, origin: str) -> tuple[int, bytes, str | None]:
        """The size, root and note this witness last cosigned for ``origin`` (0 if none)."""
        entry = self.state.get(origin)
        if entry is None:
            return 0, merkle.EMPTY_ROOT, None
        return int(str(entry["size"])), bytes.fromhex(str(entry["root"])), str(entry["note"])

    def _persist(self) -> None:
        path = self.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _refuse(self, status: int, reason: str, cp: Checkpoint, old_size: int,
                proof: list[bytes]) -> Answer:
        """Record a refused, validly signed checkpoint (evidence of misbehaviour), then answer."""
        _, _, latest_note = self.latest(cp.origin)
        record = {"at": int(self.clock()), "status": status, "reason": reason,
                  "origin": cp.origin, "old_size": old_size,
                  "proof": [base64.b64encode(h).decode() for h in proof],
                  "submitted": cp.text, "latest_cosigned": latest_note}
        with open(self.state_dir / REFUSED_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return Answer(status, (reason + "\n").encode())

    def add_checkpoint(self, body: bytes) -> Answer:
        """Apply the tlog-witness rules to one request body."""
        if len(body) > MAX_REQUEST:
            return Answer(400, b"request too large\n")
        try:
            old_size, proof, note = parse_request(body)
            cp = parse_checkpoint(note)
        except (UnicodeDecodeError, ValueError) as exc:  # CheckpointError is a ValueError
            return Answer(400, f"malformed request: {exc}\n".encode())
        keys = self.logs.get(cp.origin)
        if keys is None:
            return Answer(404, f"unknown log origin {cp.origin!r}\n".encode())
        verified = False
        for key in keys:
            if any(n == key.name and k == key.key_id for n, k, _ in cp.signatures):
                try:
                    cp.verify(key)
                except CheckpointError as exc:
                    return Answer(403, f"{exc}\n".encode())
                verified = True
        if not verified:
            return Answer(403, f"no signature by a trusted key for {cp.origin}\n".encode())
        if old_size > cp.size:
            return Answer(400, f"old size {old_size} is larger than the checkpoint's "
                          f"{cp.size}\n".encode())
        with self._lock:
            size, root, _ = self.latest(cp.origin)
            if old_size != size:
                return Answer(409, f"{size}\n".encode(), SIZE_TYPE)
            if cp.size == 0 and cp.root != merkle.EMPTY_ROOT:
                return self._refuse(422, "a checkpoint of size 0 must have the empty root",
                                    cp, old_size, proof)
            if old_size == 0 and proof:
                return self._refuse(422, "a proof from size 0 must be empty", cp, old_size,
                                    proof)
            if old_size == cp.size and proof:
                return self._refuse(422, "a proof between equal sizes must be empty", cp,
                                    old_size, proof)
            if old_size == cp.size and cp.root != root:
                return self._refuse(422, f"split view: size {cp.size} was cosigned with root "
                                    f"{base64.b64encode(root).decode()}, this checkpoint has "
                                    f"{base64.b64encode(cp.root).decode()}", cp, old_size,
                                    proof)
            if 0 < old_size < cp.size:
                try:
                    merkle.verify_consistency(old_size, cp.size, proof, root, cp.root)
                except merkle.ProofError as exc:
                    return self._refuse(422, f"not consistent with the cosigned size "
                                        f"{old_size}: {exc}", cp, old_size, proof)
            self.state[cp.origin] = {"size": cp.size, "root": cp.root.hex(), "note": cp.text}
            self._persist()
            line = self.signer.cosign(cp.body, int(self.clock()))
        return Answer(200, line.encode())


def serve(witness: Witness, host: str, port: int, prefix: str = "") -> ThreadingHTTPServer:
    """A threaded HTTP server answering ``POST <prefix>/add-checkpoint``; call
    ``serve_forever()`` on it (or run it in a thread) and ``shutdown()`` to stop."""
    path = prefix.rstrip("/") + "/add-checkpoint"

    class Handler(BaseHTTPRequestHandler):
        server_version = "netwarden-witness"

        def do_POST(self) -> None:
            if self.path != path:
                self._answer(Answer(404, b"not found\n"))
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._answer(Answer(411, b"Content-Length required\n"))
                return
            if not 0 <= length <= MAX_REQUEST:
                self._answer(Answer(400, b"request too large\n"))
                return
            self._answer(witness.add_checkpoint(self.rfile.read(length)))

        def _answer(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the refused log is the record that matters; access logs go nowhere

    return ThreadingHTTPServer((host, port), Handler)


# -- client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessEndpoint:
    """Where a witness listens and the key its cosignatures must verify with."""

    url: str
    key: CosignerKey


def parse_endpoints(text: str, source: str = "witnesses") -> list[WitnessEndpoint]:
    """``URL VKEY`` pairs separated by commas or newlines (``NETWARDEN_WITNESSES``)."""
    out = []
    for item in text.replace("\n", ",").split(","):
        if not item.strip():
            continue
        parts = item.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise InputError(source, f"{item.strip()!r} is not 'http(s)://URL witness-vkey'")
        out.append(WitnessEndpoint(parts[0], parse_cosigner_vkey(parts[1], source)))
    return out


@dataclass
class GatherResult:
    """The checkpoint with the cosignatures that verified, and what went wrong elsewhere."""

    note: str
    cosigned_by: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def gather_cosignatures(note: str, endpoints: list[WitnessEndpoint],
                        consistency: Callable[[int, int], list[bytes]],
                        timeout: float = 10.0) -> GatherResult:
    """Submit ``note`` to every witness; append the cosignatures that verify.

    ``consistency(old, new)`` gives the proof from the size a witness last cosigned (learnt
    from its 409 answer). A witness that refuses (a split view, a rollback), cannot be reached
    or answers with a line that does not verify is reported in ``problems``; the checkpoint
    stays valid without its cosignature.
    """
    import httpx

    cp = parse_checkpoint(note)
    result = GatherResult(note)
    lines: list[str] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for ep in endpoints:
            url = ep.url.rstrip("/") + "/add-checkpoint"
            old = 0
            try:
                for _ in range(2):
                    proof = consistency(old, cp.size) if 0 < old < cp.size else []
                    r = client.post(url, content=request_body(old, proof, note))
                    if r.status_code == 409 and r.text.strip().isdigit():
                        old = int(r.text.strip())
                        if old > cp.size:
                            raise CosignatureError(
                                f"witness has cosigned size {old}, larger than this checkpoint's "
                                f"{cp.size}: the log was rolled back or forked")
                        continue
                    break
                if r.status_code != 200:
                    raise CosignatureError(f"HTTP {r.status_code}: {r.text.strip()[:300]}")
                got = _check_lines(r.text, ep.key, cp)
            except (httpx.HTTPError, CosignatureError) as exc:
                result.problems.append(f"witness {ep.key.name} at {ep.url}: {exc}")
                continue
            lines.append(got)
            result.cosigned_by.append(ep.key.name)
    result.note = note + "".join(lines)
    return result


def _check_lines(text: str, key: CosignerKey, cp: Checkpoint) -> str:
    """The one line of ``text`` by ``key`` that verifies over ``cp``; others are ignored."""
    for line in text.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise CosignatureError(f"answer line {line[:60]!r} is not a signature line")
        parts = line[len(SIG_PREFIX):].split(" ")
        if len(parts) != 2 or parts[0] != key.name:
            continue
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error as exc:
            raise CosignatureError(f"cosignature is not base64: {exc}") from exc
        if blob[:4] != key.key_id:
            continue  # another key of the same witness (e.g. ML-DSA): not the one we pin
        verify_cosignature(key, cp.body, blob)
        return line + "\n"
    raise CosignatureError(f"the answer holds no cosignature by {key.name}")
