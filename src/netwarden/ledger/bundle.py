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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785

from netwarden import __version__
from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import CheckpointError, parse_checkpoint
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
    """A bundle failed a check; ``check`` names it."""

    def __init__(self, check: str, problem: str) -> None:
        self.check = check
        super().__init__(f"{check}: {problem}")


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
    manifest = {
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


def _read_members(blob: bytes) -> list[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except Exception as exc:  # hostile input: zipfile raises many kinds
        raise BundleError("container", f"not a readable zip: {exc}") from exc
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BundleError("container", f"more than {MAX_MEMBERS} members")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise BundleError("container", "duplicate member names")
    members = []
    for info in infos:
        if info.file_size > MAX_MEMBER or info.compress_type != zipfile.ZIP_STORED:
            raise BundleError("container", f"member {info.filename!r} is too large or "
                              "compressed")
        try:
            members.append((info.filename, zf.read(info)))
        except Exception as exc:  # CRC, encryption flag, header mismatch, truncation...
            raise BundleError("container", f"member {info.filename!r} is corrupt: {exc}") from exc
    return members


def _hash_list(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise BundleError("manifest", f"{what} is not a list")
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise BundleError("manifest", f"{what} is not a list of hex hashes") from exc


def _canonical_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(what, f"is not JSON: {exc}") from exc
    except RecursionError:  # a hostile manifest nested 100k deep
        raise BundleError(what, "is nested too deeply to be a bundle file") from None
    if not isinstance(value, dict):
        raise BundleError(what, "is not a JSON object")
    try:
        if rfc8785.dumps(value) != data:
            raise BundleError(what, "is not in RFC 8785 canonical form")
    except rfc8785.CanonicalizationError as exc:
        raise BundleError(what, f"cannot be canonicalised: {exc}") from exc
    return value


def verify_bundle(path: Path, pinned: VerifierKey | None = None,
                  witnesses: list[Any] | None = None, quorum: int = 0) -> BundleReport:
    """Check a bundle offline; raise :class:`BundleError` naming the first failed check.

    Witness cosignatures on the checkpoint are checked with ``witnesses`` (pinned cosigner
    keys) or, when none are given, with the bundle's own ``witnesses.txt``; each is reported,
    a bad one rejects the bundle, and fewer than ``quorum`` valid ones too.
    """
    report = BundleReport()
    if path.stat().st_size > MAX_BUNDLE:
        raise BundleError("container", f"larger than {MAX_BUNDLE} bytes")
    blob = path.read_bytes()
    members = _read_members(blob)
    files = dict(members)
    used = set()

    def member(name: Any) -> bytes:
        if not isinstance(name, str) or name not in files:
            raise BundleError("manifest", f"names a missing member {name!r}")
        used.add(name)
        return files[name]

    manifest = _canonical_json(member("manifest.json"), "manifest")
    if manifest.get("format") != FORMAT:
        raise BundleError("manifest", f"format is {manifest.get('format')!r}, not {FORMAT}")
    member("README.md")

    # keys
    keys: dict[bytes, VerifierKey] = {}
    try:
        for line in member(manifest.get("keys")).decode().splitlines():
            key = parse_vkey(line, "keys.txt")
            keys[key.key_id] = key
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError("key", f"keys.txt: {exc}") from exc
    if pinned is not None:
        keys = {pinned.key_id: pinned}

    def signed(data: bytes, what: str) -> Any:
        try:
            note = parse_checkpoint(data.decode())
        except (UnicodeDecodeError, CheckpointError) as exc:
            raise BundleError("checkpoint", f"{what}: {exc}") from exc
        for _, kid, _ in note.signatures:
            if kid in keys:
                try:
                    note.verify(keys[kid])
                except CheckpointError as exc:
                    raise BundleError("signature", f"{what}: {exc}") from exc
                return note, keys[kid]
        raise BundleError("key", f"{what} is not signed by "
                          f"{'the pinned key' if pinned else 'a key in keys.txt'}")

    head = manifest.get("checkpoint") or {}
    note, key = signed(member(head.get("file")), "checkpoint.txt")
    if head.get("size") != note.size or head.get("root") != note.root.hex():
        raise BundleError("checkpoint", "manifest size/root differ from the signed checkpoint")
    report.checkpoint_size, report.origin, report.key = note.size, note.origin, key.vkey
    report.checks.append(f"checkpoint signature by {key.name} ({key.key_id.hex()})")
    _check_cosignatures(note, manifest, member, witnesses, quorum, report)
    if head.get("timestamp"):
        from netwarden.ledger.tsa import TSAError, check_token

        try:
            when = check_token(member(head["timestamp"]), member(head["file"]))
        except TSAError as exc:
            raise BundleError("timestamp", str(exc)) from exc
        report.timestamps.append(when.isoformat())

    # entries and inclusion proofs
    entries = manifest.get("entries")
    if not isinstance(entries, list) or not entries:
        raise BundleError("manifest", "has no entries")
    seen_index, seen_hash = set(), set()
    by_id: dict[str, bytes] = {}
    parsed: dict[int, dict[str, Any]] = {}
    for item in entries:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            raise BundleError("manifest", "an entry has no integer index")
        data = member(item.get("file"))
        lh = merkle.leaf_hash(data)
        if item.get("leaf_hash") != lh.hex():
            raise BundleError("leaf hash", f"entry {index}: its bytes hash to {lh.hex()}, the "
                              f"manifest says {item.get('leaf_hash')}")
        if index in seen_index or lh in seen_hash:
            raise BundleError("duplicate leaf", f"entry {index} ({lh.hex()}) appears twice")
        seen_index.add(index)
        seen_hash.add(lh)
        entry = _canonical_json(data, f"entry {index}")
        try:
            merkle.verify_inclusion(lh, index, note.size,
                                    _hash_list(item.get("inclusion_proof"), "inclusion proof"),
                                    note.root)
        except merkle.ProofError as exc:
            raise BundleError("inclusion proof", f"entry {index}: {exc}") from exc
        parsed[index] = entry
        if isinstance(entry.get("id"), str):
            by_id[entry["id"]] = lh
    report.entries = len(entries)
    report.checks.append(f"{len(entries)} entries included in the tree of size {note.size}")

    # references between entries (match -> observation, verification -> match, ...)
    for index, entry in parsed.items():
        for id_field, leaf_field in (("observation_id", "observation_leaf"),
                                     ("match_id", "match_leaf")):
            ref, leaf = entry.get(id_field), entry.get(leaf_field)
            if isinstance(ref, str) and ref in by_id and leaf is not None \
                    and leaf != by_id[ref].hex():
                raise BundleError("reference", f"entry {index}: {leaf_field} {leaf} is not the "
                                  f"leaf hash {by_id[ref].hex()} of record {ref}")

    # custody
    custody = parsed.get(manifest.get("custody_index"))  # type: ignore[arg-type]
    if not custody or custody.get("record_type") != "custody_export":
        raise BundleError("custody", "the bundle has no custody_export entry")
    listed = custody.get("leaves")
    if not isinstance(listed, list) or any(i not in parsed for i in listed):
        raise BundleError("custody", "custody entry lists leaves the bundle lacks")
    digest = hashlib.sha256(b"".join(merkle.leaf_hash(files[f"entries/{i:012d}.json"])
                                     for i in listed)).hexdigest()
    if digest != custody.get("evidence_digest"):
        raise BundleError("custody", "evidence digest does not match the exported leaves")
    report.checks.append(f"custody: exported by {custody.get('who')} at {custody.get('at')}")

    # README and the manifest's own words: covered by the custody entry (signed and proven),
    # so that *every* file of the bundle is checked, not only the proven ones.
    readme = hashlib.sha256(member("README.md")).hexdigest()
    if "readme_sha256" in custody:
        if custody.get("readme_sha256") != readme:
            raise BundleError("readme", "README.md differs from the one exported (its SHA-256 "
                              "is not the custody entry's readme_sha256): the file was altered")
        listed_readme = manifest.get("readme")
        if listed_readme is not None and (not isinstance(listed_readme, dict)
                                          or listed_readme.get("sha256") != readme):
            raise BundleError("manifest", "readme.sha256 does not match README.md")
        report.checks.append("README.md is the one exported (custody readme_sha256)")
    else:
        report.checks.append("note: README.md not covered (bundle from an older netwarden)")
    for field_name, custody_field in (("selection", "what"), ("created_at", "at")):
        if field_name in manifest and manifest.get(field_name) != custody.get(custody_field):
            raise BundleError("manifest", f"{field_name} differs from the custody entry's "
                              f"{custody_field}: the manifest was altered")

    # earlier checkpoints: no rollback, consistent
    for item in manifest.get("earlier_checkpoints") or []:
        old, _ = signed(member(item.get("file")), item.get("file"))
        if old.size > note.size:
            raise BundleError("rollback", f"checkpoint.txt has size {note.size}, smaller than "
                              f"the earlier checkpoint {item.get('file')} of size {old.size}")
        try:
            merkle.verify_consistency(old.size, note.size,
                                      _hash_list(item.get("consistency_proof"),
                                                 "consistency proof"), old.root, note.root)
        except merkle.ProofError as exc:
            raise BundleError("consistency proof", f"{item.get('file')}: {exc}") from exc
        report.earlier_checkpoints += 1
    report.checks.append(f"{report.earlier_checkpoints} earlier checkpoints consistent")

    extra = set(files) - used
    if extra:
        raise BundleError("container", f"unexpected members {sorted(extra)[:5]}")
    if write_zip(members) != blob:
        first = next((i for i, (a, b) in enumerate(zip(write_zip(members), blob, strict=False))
                      if a != b), None)
        raise BundleError("container", f"zip is not byte-identical to its canonical form "
                          f"(first difference at byte {first}): the file was altered")
    report.checks.append("zip container canonical")
    return report


def _check_cosignatures(note: Any, manifest: dict[str, Any], member: Any,
                        witnesses: list[Any] | None, quorum: int,
                        report: BundleReport) -> None:
    from netwarden.errors import InputError
    from netwarden.ledger.cosign import check_cosignatures, parse_cosigner_vkey

    listed = []
    if manifest.get("witnesses") is not None:
        try:
            listed = [parse_cosigner_vkey(line, "witnesses.txt") for line in
                      member(manifest["witnesses"]).decode().splitlines()]
        except (UnicodeDecodeError, InputError) as exc:
            raise BundleError("witness key", f"witnesses.txt: {exc}") from exc
    source = "pinned"
    if witnesses is None:
        witnesses, source = listed, "from witnesses.txt"
    checked = check_cosignatures(note, witnesses)
    if checked.problems:
        raise BundleError("cosignature", checked.problems[0])
    if len(checked.valid) < quorum:
        raise BundleError("cosignature", f"{len(checked.valid)} valid witness cosignature(s), "
                          f"the quorum is {quorum}")
    report.cosignatures = [f"{line} (key {source})" if line.startswith("cosigned") else line
                           for line in checked.lines()]
    if checked.valid:
        report.checks.append(f"{len(checked.valid)} witness cosignature(s) on the checkpoint")


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
                raise BundleError("tiles", f"published log is {published.origin!r}, the bundle's "
                                  f"is {note.origin!r}")
            if published.size < note.size:
                raise BundleError("tiles", f"published tree has size {published.size}, smaller "
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
        raise BundleError("tiles", str(exc)) from exc
    except merkle.ProofError as exc:
        raise BundleError("tiles", f"published tree does not contain the bundle: {exc}") from exc
    return checks
