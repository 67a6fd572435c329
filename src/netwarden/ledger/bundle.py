"""Evidence bundles: a zip a third party checks offline with nothing but the zip.

Export appends a ``custody_export`` leaf (who, when with time zone, what, why, digest of the
exported leaves), signs a fresh checkpoint, and writes the entries with inclusion proofs against
it, earlier checkpoints with consistency proofs to it, the public keys, the software version
and a plain-language README. The zip is written canonically (stored, fixed times, sorted
names), so the verifier can rebuild it and refuse a file in which *any* byte was changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import rfc8785

from netwarden import __version__
from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from netwarden.ledger.keys import VerifierKey, parse_vkey
from netwarden.ledger.storage import Ledger
from netwarden.records import CustodyExport

FORMAT = "netwarden-evidence-bundle/1"
README = Path(__file__).with_name("README.bundle.md")
MAX_BUNDLE = 1 << 30
MAX_MEMBER = 64 << 20
MAX_MEMBERS = 200_000
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(ValueError):
    """A bundle failed a check; ``check`` names it (the message starts with it).

    Each broken condition has its own subclass below (transparency-dev/merkle style), so a
    caller can tell a rollback from an altered README without reading the words.
    """

    check: str = "bundle"

    def __init__(self, check: str, problem: str) -> None:
        self.check = check
        super().__init__(f"{check}: {problem}")


class _Named(BundleError):
    """A problem whose check name is its class's ``name`` (or the ``check`` given)."""

    name: ClassVar[str]

    def __init__(self, problem: str, *, check: str | None = None) -> None:
        super().__init__(check or self.name, problem)


class ContainerError(_Named):
    """The zip itself: unreadable, too large, duplicate/unexpected members, not canonical."""

    name = "container"


class ManifestError(_Named):
    """The manifest: wrong format, a missing member, entries or words that do not hold."""

    name = "manifest"


class NotCanonicalError(_Named):
    """A JSON file (manifest or entry, named by ``check``) is not RFC 8785 canonical JSON."""

    name = "manifest"


class KeyProblem(_Named):
    """keys.txt is unreadable, or no usable key signed a checkpoint."""

    name = "key"


class CheckpointFormatError(_Named):
    """A checkpoint note cannot be read, or differs from what the manifest says of it."""

    name = "checkpoint"


class SignatureError(_Named):
    """A checkpoint's signature does not verify with its key."""

    name = "signature"


class TimestampError(_Named):
    """The RFC 3161 timestamp of the checkpoint does not hold."""

    name = "timestamp"


class LeafHashMismatch(_Named):
    """An entry's bytes do not hash to the leaf hash the manifest gives."""

    name = "leaf hash"


class DuplicateLeafError(_Named):
    """An entry (index or leaf hash) appears twice."""

    name = "duplicate leaf"


class InclusionProofError(_Named):
    """An entry's inclusion proof does not lead to the checkpoint's root."""

    name = "inclusion proof"


class ReferenceMismatch(_Named):
    """An entry names another record by a leaf hash that is not that record's."""

    name = "reference"


class CustodyError(_Named):
    """The custody_export entry is missing or does not describe the exported leaves."""

    name = "custody"


class ReadmeAlteredError(_Named):
    """README.md is not the one the custody entry covers."""

    name = "readme"


class RollbackError(_Named):
    """An earlier checkpoint is larger than the bundle's checkpoint."""

    name = "rollback"


class ConsistencyProofError(_Named):
    """An earlier checkpoint is not a prefix of the bundle's checkpoint."""

    name = "consistency proof"


class WitnessKeyError(_Named):
    """witnesses.txt is unreadable."""

    name = "witness key"


class CosignatureProblem(_Named):
    """A witness cosignature is bad, or fewer than the quorum are valid."""

    name = "cosignature"


class TilesError(_Named):
    """The bundle is not part of the operator's published tile tree."""

    name = "tiles"


@dataclass
class BundleResult:
    path: Path
    sha256: str
    entries: int
    checkpoint_size: int
    custody_index: int


@dataclass
class BundleReport:
    """What a successful verification established."""

    entries: int = 0
    checkpoint_size: int = 0
    origin: str = ""
    key: str = ""
    earlier_checkpoints: int = 0
    checks: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    cosignatures: list[str] = field(default_factory=list)  # witness cosignatures, as checked


def write_zip(members: list[tuple[str, bytes]]) -> bytes:
    """The canonical zip of ``members`` (given order, stored, fixed metadata)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def export_bundle(ledger: Ledger, indices: set[int], out: Path, *, reason: str, by: str,
                  what: str) -> BundleResult:
    """Write the bundle of leaves ``indices`` to ``out`` (see module docstring)."""
    chosen = sorted(indices)
    rows = {e.index: (e.leaf_hash, e.data)
            for e in ledger.entries(indices=chosen)} if chosen else {}
    leaf_hashes = b"".join(rows[i][0] for i in chosen)
    custody = CustodyExport(
        who=by,
        at=datetime.now().astimezone().isoformat(),
        what=what,
        why=reason,
        leaves=chosen,
        evidence_digest=hashlib.sha256(leaf_hashes).hexdigest(),
        evidence_digest_method="SHA-256 over the exported leaf hashes, in index order",
        # The README travels in the zip; its digest in this (signed, proven) leaf is what makes
        # a rewritten README detectable: the manifest alone is not signed.
        readme_sha256=hashlib.sha256(README.read_bytes()).hexdigest(),
        software=f"netwarden {__version__}",
    )
    ref = ledger.append(custody)
    cp = ledger.checkpoint()
    rows[ref.index] = (ref.leaf_hash, ledger.entry(ref.index))
    keys = ledger.public_keys()
    members: list[tuple[str, bytes]] = []
    entries = []
    for index in [*chosen, ref.index]:
        lh, data = rows[index]
        entry = json.loads(data)
        name = f"entries/{index:012d}.json"
        members.append((name, data))
        entries.append({"index": index, "leaf_hash": lh.hex(), "file": name,
                        "record_type": entry.get("record_type"), "record_id": entry.get("id"),
                        "inclusion_proof": _hex(ledger.inclusion_proof(index, cp.size))})
    earlier = []
    seen_sizes = set()
    for old in ledger.checkpoints():
        if old.id == cp.id or old.size in seen_sizes or old.size > cp.size:
            continue
        seen_sizes.add(old.size)
        name = f"checkpoints/{old.id:08d}.txt"
        members.append((name, old.note.encode()))
        earlier.append({"file": name, "size": old.size, "root": old.root.hex(),
                        "consistency_proof": _hex(ledger.consistency_proof(old.size, cp.size))})
    timestamp = None
    if cp.tsa_token:
        timestamp = "checkpoint.tsr"
        members.append((timestamp, cp.tsa_token))
    used = {cp.key_id} | {c.key_id for c in ledger.checkpoints() if c.size in seen_sizes}
    vkeys = "".join(VerifierKey(*keys[k]).vkey + "\n" for k in sorted(used))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "software": {"name": "netwarden", "version": __version__},
        "created_at": custody.at,
        "selection": what,
        "checkpoint": {"file": "checkpoint.txt", "size": cp.size, "root": cp.root.hex(),
                       "key_id": cp.key_id, "timestamp": timestamp},
        "keys": "keys.txt",
        "entries": entries,
        "earlier_checkpoints": earlier,
        "custody_index": ref.index,
        "readme": {"file": "README.md", "sha256": custody.readme_sha256},
    }
    cosigners = _cosigners_of(ledger, cp.note)
    if cosigners:  # only when the checkpoint carries cosignatures: older bundles are unchanged
        manifest["witnesses"] = "witnesses.txt"
        members.append(("witnesses.txt", "".join(k.vkey + "\n" for k in cosigners).encode()))
    members += [("checkpoint.txt", cp.note.encode()), ("keys.txt", vkeys.encode()),
                ("README.md", README.read_bytes()), ("manifest.json", rfc8785.dumps(manifest))]
    members.sort()
    blob = write_zip(members)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return BundleResult(out, hashlib.sha256(blob).hexdigest(), len(entries), cp.size, ref.index)


def _cosigners_of(ledger: Ledger, note: str) -> list[Any]:
    """The configured witness keys that cosigned ``note`` (for the bundle's witnesses.txt)."""
    if not ledger.witnesses:
        return []
    from netwarden.ledger.cosign import check_cosignatures

    keys = [w.key for w in ledger.witnesses]
    valid = {name for name, _, _ in check_cosignatures(parse_checkpoint(note), keys).valid}
    return sorted({k for k in keys if k.name in valid}, key=lambda k: k.name)


# -- verification ------------------------------------------------------------------------
#
# verify_bundle runs the checks below in order; each reads what it needs from a _Bundle,
# records what it established in the report, and raises the BundleError subclass that names
# the broken condition. The order is the order of the evidence: the container, the manifest,
# the keys and the signed checkpoint (with its cosignatures and timestamp), the entries in the
# tree, the links between entries, the custody entry and what it covers, earlier checkpoints,
# and last the container again, byte for byte.


@dataclass
class _Bundle:
    """A bundle being verified: its members, which of them were used, and what the checks
    established so far."""

    blob: bytes
    members: list[tuple[str, bytes]]
    report: BundleReport
    pinned: VerifierKey | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    manifest: dict[str, Any] = field(default_factory=dict)
    keys: dict[bytes, VerifierKey] = field(default_factory=dict)
    note: Checkpoint | None = None
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> parsed entry
    by_id: dict[str, bytes] = field(default_factory=dict)  # record id -> leaf hash
    custody: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.files = dict(self.members)

    def member(self, name: Any) -> bytes:
        """The member the manifest names; ManifestError if there is none."""
        if not isinstance(name, str) or name not in self.files:
            raise ManifestError(f"names a missing member {name!r}")
        self.used.add(name)
        return self.files[name]

    @property
    def checkpoint(self) -> Checkpoint:
        assert self.note is not None, "the checkpoint is checked first"
        return self.note

    def signed(self, data: bytes, what: str) -> tuple[Checkpoint, VerifierKey]:
        """The checkpoint note ``data`` and the key (of keys.txt or the pinned one) whose
        signature on it verifies."""
        try:
            note = parse_checkpoint(data.decode())
        except (UnicodeDecodeError, CheckpointError) as exc:
            raise CheckpointFormatError(f"{what}: {exc}") from exc
        for _, kid, _ in note.signatures:
            if kid in self.keys:
                try:
                    note.verify(self.keys[kid])
                except CheckpointError as exc:
                    raise SignatureError(f"{what}: {exc}") from exc
                return note, self.keys[kid]
        raise KeyProblem(f"{what} is not signed by "
                         f"{'the pinned key' if self.pinned else 'a key in keys.txt'}")


def _read_members(blob: bytes) -> list[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except Exception as exc:  # hostile input: zipfile raises many kinds
        raise ContainerError(f"not a readable zip: {exc}") from exc
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ContainerError(f"more than {MAX_MEMBERS} members")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ContainerError("duplicate member names")
    members = []
    for info in infos:
        if info.file_size > MAX_MEMBER or info.compress_type != zipfile.ZIP_STORED:
            raise ContainerError(f"member {info.filename!r} is too large or compressed")
        try:
            members.append((info.filename, zf.read(info)))
        except Exception as exc:  # CRC, encryption flag, header mismatch, truncation...
            raise ContainerError(f"member {info.filename!r} is corrupt: {exc}") from exc
    return members


def _hash_list(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise ManifestError(f"{what} is not a list")
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{what} is not a list of hex hashes") from exc


def _canonical_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotCanonicalError(f"is not JSON: {exc}", check=what) from exc
    except RecursionError:  # a hostile manifest nested 100k deep
        raise NotCanonicalError("is nested too deeply to be a bundle file", check=what) from None
    if not isinstance(value, dict):
        raise NotCanonicalError("is not a JSON object", check=what)
    try:
        if rfc8785.dumps(value) != data:
            raise NotCanonicalError("is not in RFC 8785 canonical form", check=what)
    except rfc8785.CanonicalizationError as exc:
        raise NotCanonicalError(f"cannot be canonicalised: {exc}", check=what) from exc
    return value


def _open_bundle(path: Path, pinned: VerifierKey | None) -> _Bundle:
    """Container: a readable zip of bounded size, stored members, no duplicate names."""
    if path.stat().st_size > MAX_BUNDLE:
        raise ContainerError(f"larger than {MAX_BUNDLE} bytes")
    blob = path.read_bytes()
    return _Bundle(blob, _read_members(blob), BundleReport(), pinned)


def check_manifest(b: _Bundle) -> None:
    """The manifest is canonical JSON of this format, and the README is present."""
    b.manifest = _canonical_json(b.member("manifest.json"), "manifest")
    if b.manifest.get("format") != FORMAT:
        raise ManifestError(f"format is {b.manifest.get('format')!r}, not {FORMAT}")
    b.member("README.md")


def check_keys(b: _Bundle) -> None:
    """keys.txt holds readable verifier keys; a pinned key replaces them all."""
    try:
        for line in b.member(b.manifest.get("keys")).decode().splitlines():
            key = parse_vkey(line, "keys.txt")
            b.keys[key.key_id] = key
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeyProblem(f"keys.txt: {exc}") from exc
    if b.pinned is not None:
        b.keys = {b.pinned.key_id: b.pinned}


def check_checkpoint_signature(b: _Bundle) -> None:
    """checkpoint.txt is signed by a usable key, and is the checkpoint the manifest names."""
    head = b.manifest.get("checkpoint") or {}
    note, key = b.signed(b.member(head.get("file")), "checkpoint.txt")
    if head.get("size") != note.size or head.get("root") != note.root.hex():
        raise CheckpointFormatError("manifest size/root differ from the signed checkpoint")
    b.note = note
    b.report.checkpoint_size, b.report.origin, b.report.key = note.size, note.origin, key.vkey
    b.report.checks.append(f"checkpoint signature by {key.name} ({key.key_id.hex()})")


def check_cosignatures(b: _Bundle, witnesses: list[Any] | None, quorum: int) -> None:
    """Witness cosignatures on the checkpoint: each reported, a bad one rejects the bundle,
    and so do fewer than ``quorum`` valid ones. Keys: ``witnesses`` (pinned) or, when None,
    the bundle's own witnesses.txt."""
    from netwarden.errors import InputError
    from netwarden.ledger.cosign import check_cosignatures as cosignatures
    from netwarden.ledger.cosign import parse_cosigner_vkey

    listed = []
    if b.manifest.get("witnesses") is not None:
        try:
            listed = [parse_cosigner_vkey(line, "witnesses.txt") for line in
                      b.member(b.manifest["witnesses"]).decode().splitlines()]
        except (UnicodeDecodeError, InputError) as exc:
            raise WitnessKeyError(f"witnesses.txt: {exc}") from exc
    source = "pinned"
    if witnesses is None:
        witnesses, source = listed, "from witnesses.txt"
    checked = cosignatures(b.checkpoint, witnesses)
    if checked.problems:
        raise CosignatureProblem(checked.problems[0])
    if len(checked.valid) < quorum:
        raise CosignatureProblem(f"{len(checked.valid)} valid witness cosignature(s), "
                                 f"the quorum is {quorum}")
    b.report.cosignatures = [f"{line} (key {source})" if line.startswith("cosigned") else line
                             for line in checked.lines()]
    if checked.valid:
        b.report.checks.append(f"{len(checked.valid)} witness cosignature(s) on the checkpoint")


def check_timestamp(b: _Bundle) -> None:
    """The RFC 3161 token, when the bundle has one, is a granted timestamp over checkpoint.txt."""
    head = b.manifest.get("checkpoint") or {}
    if not head.get("timestamp"):
        return
    from netwarden.ledger.tsa import TSAError, check_token

    try:
        when = check_token(b.member(head["timestamp"]), b.member(head["file"]))
    except TSAError as exc:
        raise TimestampError(str(exc)) from exc
    b.report.timestamps.append(when.isoformat())


def check_entries(b: _Bundle) -> None:
    """Every entry: its bytes hash to its leaf hash, it appears once, it is canonical JSON and
    its inclusion proof leads to the checkpoint's root."""
    note = b.checkpoint
    entries = b.manifest.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ManifestError("has no entries")
    seen_index: set[int] = set()
    seen_hash: set[bytes] = set()
    for item in entries:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            raise ManifestError("an entry has no integer index")
        data = b.member(item.get("file"))
        lh = merkle.leaf_hash(data)
        if item.get("leaf_hash") != lh.hex():
            raise LeafHashMismatch(f"entry {index}: its bytes hash to {lh.hex()}, the "
                                   f"manifest says {item.get('leaf_hash')}")
        if index in seen_index or lh in seen_hash:
            raise DuplicateLeafError(f"entry {index} ({lh.hex()}) appears twice")
        seen_index.add(index)
        seen_hash.add(lh)
        entry = _canonical_json(data, f"entry {index}")
        try:
            merkle.verify_inclusion(lh, index, note.size,
                                    _hash_list(item.get("inclusion_proof"), "inclusion proof"),
                                    note.root)
        except merkle.ProofError as exc:
            raise InclusionProofError(f"entry {index}: {exc}") from exc
        b.entries[index] = entry
        if isinstance(entry.get("id"), str):
            b.by_id[entry["id"]] = lh
    b.report.entries = len(entries)
    b.report.checks.append(f"{len(entries)} entries included in the tree of size {note.size}")


def check_references(b: _Bundle) -> None:
    """Links between entries (match → observation, verification → match) name the leaf hash
    of the record they link to, when that record is in the bundle."""
    for index, entry in b.entries.items():
        for id_field, leaf_field in (("observation_id", "observation_leaf"),
                                     ("match_id", "match_leaf")):
            ref, leaf = entry.get(id_field), entry.get(leaf_field)
            if isinstance(ref, str) and ref in b.by_id and leaf is not None \
                    and leaf != b.by_id[ref].hex():
                raise ReferenceMismatch(f"entry {index}: {leaf_field} {leaf} is not the "
                                        f"leaf hash {b.by_id[ref].hex()} of record {ref}")


def check_custody(b: _Bundle) -> None:
    """The custody_export entry is there, lists only leaves of the bundle, and its evidence
    digest is that of their leaf hashes."""
    index = b.manifest.get("custody_index")
    custody = b.entries.get(index) if isinstance(index, int) else None
    if not custody or custody.get("record_type") != "custody_export":
        raise CustodyError("the bundle has no custody_export entry")
    listed = custody.get("leaves")
    if not isinstance(listed, list) or any(i not in b.entries for i in listed):
        raise CustodyError("custody entry lists leaves the bundle lacks")
    digest = hashlib.sha256(b"".join(merkle.leaf_hash(b.files[f"entries/{i:012d}.json"])
                                     for i in listed)).hexdigest()
    if digest != custody.get("evidence_digest"):
        raise CustodyError("evidence digest does not match the exported leaves")
    b.custody = custody
    b.report.checks.append(f"custody: exported by {custody.get('who')} at {custody.get('at')}")


def check_covered_words(b: _Bundle) -> None:
    """README and the manifest's own words are those the custody entry (signed and proven)
    covers, so that *every* file of the bundle is checked, not only the proven ones."""
    custody, manifest = b.custody, b.manifest
    readme = hashlib.sha256(b.member("README.md")).hexdigest()
    if "readme_sha256" in custody:
        if custody.get("readme_sha256") != readme:
            raise ReadmeAlteredError("README.md differs from the one exported (its SHA-256 "
                                     "is not the custody entry's readme_sha256): the file was "
                                     "altered")
        listed_readme = manifest.get("readme")
        if listed_readme is not None and (not isinstance(listed_readme, dict)
                                          or listed_readme.get("sha256") != readme):
            raise ManifestError("readme.sha256 does not match README.md")
        b.report.checks.append("README.md is the one exported (custody readme_sha256)")
    else:
        b.report.checks.append("note: README.md not covered (bundle from an older netwarden)")
    for field_name, custody_field in (("selection", "what"), ("created_at", "at")):
        if field_name in manifest and manifest.get(field_name) != custody.get(custody_field):
            raise ManifestError(f"{field_name} differs from the custody entry's "
                                f"{custody_field}: the manifest was altered")


def check_earlier_checkpoints(b: _Bundle) -> None:
    """Earlier checkpoints are signed, no larger than the bundle's (no rollback), and
    consistent with it."""
    note = b.checkpoint
    for item in b.manifest.get("earlier_checkpoints") or []:
        old, _ = b.signed(b.member(item.get("file")), item.get("file"))
        if old.size > note.size:
            raise RollbackError(f"checkpoint.txt has size {note.size}, smaller than the "
                                f"earlier checkpoint {item.get('file')} of size {old.size}")
        try:
            merkle.verify_consistency(old.size, note.size,
                                      _hash_list(item.get("consistency_proof"),
                                                 "consistency proof"), old.root, note.root)
        except merkle.ProofError as exc:
            raise ConsistencyProofError(f"{item.get('file')}: {exc}") from exc
        b.report.earlier_checkpoints += 1
    b.report.checks.append(f"{b.report.earlier_checkpoints} earlier checkpoints consistent")


def check_members_present(b: _Bundle) -> None:
    """Every member of the zip was named and checked: nothing rides along unchecked."""
    extra = set(b.files) - b.used
    if extra:
        raise ContainerError(f"unexpected members {sorted(extra)[:5]}")


def check_canonical_zip(b: _Bundle) -> None:
    """The zip is byte for byte the canonical zip of its members: no byte was changed."""
    canonical = write_zip(b.members)
    if canonical != b.blob:
        first = next((i for i, (x, y) in enumerate(zip(canonical, b.blob, strict=False))
                      if x != y), None)
        raise ContainerError(f"zip is not byte-identical to its canonical form "
                             f"(first difference at byte {first}): the file was altered")
    b.report.checks.append("zip container canonical")


def verify_bundle(path: Path, pinned: VerifierKey | None = None,
                  witnesses: list[Any] | None = None, quorum: int = 0) -> BundleReport:
    """Check a bundle offline; raise the :class:`BundleError` naming the first failed check.

    Witness cosignatures on the checkpoint are checked with ``witnesses`` (pinned cosigner
    keys) or, when none are given, with the bundle's own ``witnesses.txt``; each is reported,
    a bad one rejects the bundle, and fewer than ``quorum`` valid ones too.
    """
    b = _open_bundle(path, pinned)
    checks: list[Callable[[_Bundle], None]] = [
        check_manifest, check_keys, check_checkpoint_signature,
        lambda bundle: check_cosignatures(bundle, witnesses, quorum),
        check_timestamp, check_entries, check_references, check_custody, check_covered_words,
        check_earlier_checkpoints, check_members_present, check_canonical_zip,
    ]
    for check in checks:
        check(b)
    return b.report


def check_against_tiles(path: Path, location: str, pinned: VerifierKey | None = None) -> list[str]:
    """Check a (verified) bundle against the operator's published tile tree.

    The published checkpoint must be signed by the bundle's key and be at least as large as
    the bundle's; the bundle's checkpoint must be a prefix of it (consistency proof computed
    from tiles), and every entry must be included in the published tree (inclusion proofs
    computed from tiles): the court's bundle is then part of the tree everybody else is shown.
    """
    from netwarden.ledger.tiles import TileError, TileSource, verified_checkpoint

    files = dict(_read_members(path.read_bytes()))
    manifest = json.loads(files["manifest.json"])
    note = parse_checkpoint(files["checkpoint.txt"].decode())
    keys = [pinned] if pinned else [parse_vkey(k, "keys.txt")
                                    for k in files["keys.txt"].decode().splitlines()]
    checks = []
    try:
        with TileSource(location) as source:
            published, key = verified_checkpoint(source, keys)
            if published.origin != note.origin:
                raise TilesError(f"published log is {published.origin!r}, the bundle's "
                                 f"is {note.origin!r}")
            if published.size < note.size:
                raise TilesError(f"published tree has size {published.size}, smaller "
                                 f"than the bundle's {note.size}: publish it again first")
            merkle.verify_consistency(note.size, published.size,
                                      source.consistency_proof(note.size, published.size),
                                      note.root, published.root)
            checks.append(f"bundle checkpoint (size {note.size}) is a prefix of the published "
                          f"tree of size {published.size} signed by {key.name}")
            for item in manifest["entries"]:
                index, lh = item["index"], bytes.fromhex(item["leaf_hash"])
                merkle.verify_inclusion(lh, index, published.size,
                                        source.inclusion_proof(index, published.size),
                                        published.root)
            checks.append(f"{len(manifest['entries'])} entries included in the published tree "
                          "(proofs computed from tiles)")
    except TileError as exc:
        raise TilesError(str(exc)) from exc
    except merkle.ProofError as exc:
        raise TilesError(f"published tree does not contain the bundle: {exc}") from exc
    return checks
