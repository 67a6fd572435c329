"""Perceptual identification: PDQ and vPDQ references within a Hamming distance.

The PDQ hashes of every bank sit in one :class:`~netwarden.banks.pdq_index.PdqIndex` (exact
radius search), with each bank's threshold applied to its own hits (default 31, PDQ's
"confident match"). Observations whose PDQ quality is below 50 are not matched (PDQ's own
advice: such hashes are of flat, featureless images and collide). Dihedral matching (the 8
rotations/flips the collector hashed) is a per-bank setting, off by default.

Negative banks (allow-lists: known-good files such as NSRL, known false positives) never make
findings: a PDQ within the allow-list bank's threshold, or an exact digest in an allow-list,
suppresses every perceptual match of that observation. Exact matches are never suppressed —
an exact digest of a banked item is a stronger fact than an allow-list's similarity.

vPDQ follows the reference matcher (threatexchange ``vpdq_brute_matcher``): frames deduped
and quality-filtered (≥ 50), a query frame matches when a reference frame is within distance
31, and a video matches when ≥ 80 % of its frames match the reference (and ≥ 0 % of the
reference's frames match it); all four numbers are per-bank settings.

The matcher is built from the database once per process and saved next to an SQLite database
(``<db>.perceptual/``, arrays opened with mmap) with a fingerprint of the banks' PDQ counts and
import ids, so the next process loads it instead of reading 10 million rows; imports in the
same process add to it incrementally.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import func, select

from netwarden.algorithms import registry
from netwarden.banks.digests import algorithm
from netwarden.banks.models import Bank, BankDigest, BankImport, BankReference, BankVpdq
from netwarden.banks.pdq_index import MAX_RADIUS, PdqIndex, to_array
from netwarden.digest import vpdq as vp
from netwarden.digest.pdq import QUALITY_GATE
from netwarden.errors import InputError
from netwarden.records import Observation, Outcome
from netwarden.store.base import Store

log = logging.getLogger("netwarden.banks.perceptual")


class _BankRef(Protocol):
    @property
    def bank(self) -> str: ...


class ExactBanks(Protocol):
    """What the matcher needs of the banks: their store and the exact look-up (allow-lists).
    :class:`~netwarden.banks.exact.DigestIndex` (and the ``BankStore`` facade) offer both."""

    @property
    def store(self) -> Store: ...

    def lookup_many(self, digests: Mapping[str, str]) -> Sequence[_BankRef]: ...


DEFAULT_PDQ_THRESHOLD = registry.get("pdq").threshold or 31  # algorithms/pdq.py declares it
NEGATIVE_CATEGORIES = frozenset({"allow-list", "allowlist", "known-good"})
NEGATIVE_FORMATS = frozenset({"nsrl"})
VPDQ_DEFAULTS = {"distance": vp.DISTANCE_THRESHOLD, "quality": vp.QUALITY_THRESHOLD,
                 "query_percent": vp.QUERY_MATCH_PERCENT,
                 "index_percent": vp.INDEX_MATCH_PERCENT}
EXACT_FOR_ALLOW_LIST = ("md5", "sha1", "sha256")
ALLOW_LISTED = "allow-listed"  # marker: a negative bank matched; suppress everything


def bank_settings(category: str, fmt: str, negative: bool | None, pdq_threshold: int | None,
                  dihedral: bool | None, vpdq: dict[str, float] | None
                  ) -> tuple[dict[str, Any], bool]:
    """Validated per-bank settings and the negative flag for an import; InputError if bad."""
    settings: dict[str, Any] = {}
    if pdq_threshold is not None:
        if not 0 <= pdq_threshold <= MAX_RADIUS:
            raise InputError("--threshold", f"PDQ threshold {pdq_threshold} outside "
                                            f"0..{MAX_RADIUS}")
        settings["pdq_threshold"] = int(pdq_threshold)
    if dihedral is not None:
        settings["dihedral"] = bool(dihedral)
    if vpdq:
        unknown = set(vpdq) - set(VPDQ_DEFAULTS)
        if unknown:
            raise InputError("--vpdq", f"unknown vPDQ setting(s) {', '.join(sorted(unknown))} "
                                       f"(known: {', '.join(VPDQ_DEFAULTS)})")
        for key, value in vpdq.items():
            limit = MAX_RADIUS if key == "distance" else 100
            if not 0 <= float(value) <= limit:
                raise InputError("--vpdq", f"{key}={value} outside 0..{limit}")
        settings["vpdq"] = {k: float(v) for k, v in vpdq.items()}
    if negative is None:
        negative = category in NEGATIVE_CATEGORIES or fmt in NEGATIVE_FORMATS
    return settings, bool(negative)


@dataclass(frozen=True)
class PerceptualReference:
    """A bank reference near an observation: what identify turns into a perceptual Match."""

    bank: str
    category: str
    reference_id: str
    title: str | None
    algorithm: str  # "pdq" or "vpdq"
    value: str  # the reference's hash (pdq hex) or its vPDQ signal's sha256
    distance: int
    detail: str = ""  # e.g. "92.0 % of 25 frames within 31"


@dataclass(frozen=True)
class _Bank:
    id: int
    name: str
    category: str
    negative: bool
    threshold: int
    dihedral: bool
    vpdq: dict[str, float]


def _bank_row(row: Any) -> _Bank:
    settings = row.settings or {}
    return _Bank(int(row.id), row.name, row.category, bool(row.negative),
                 int(settings.get("pdq_threshold", DEFAULT_PDQ_THRESHOLD)),
                 bool(settings.get("dihedral", False)),
                 {**VPDQ_DEFAULTS, **settings.get("vpdq", {})})


def _cache_dir(bank_store: ExactBanks) -> Path | None:
    url = bank_store.store.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + ".perceptual")


class PerceptualMatcher:
    """PDQ index + vPDQ references of every bank, with per-bank settings."""

    def __init__(self, bank_store: ExactBanks) -> None:
        self.bank_store = bank_store
        self.banks: dict[int, _Bank] = {}
        self.index = PdqIndex()
        self.hashes = np.zeros((0, 32), dtype=np.uint8)  # by id
        self.bank_of = np.zeros(0, dtype=np.int32)
        self.ref_of = np.zeros(0, dtype=np.int64)
        self._extra: list[tuple[np.ndarray, int, int]] = []  # added since load: (hash, bank, ref)
        self._vpdq: list[tuple[int, int, str, list[tuple[str, int]]]] | None = None
        self._vpdq_index: PdqIndex | None = None
        self._vpdq_owner = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ load
    @classmethod
    def open(cls, bank_store: ExactBanks) -> PerceptualMatcher:
        """Load the saved matcher when it is current, else build from the database (and save)."""
        matcher = cls(bank_store)
        matcher._load_banks()
        fingerprint = matcher._fingerprint()
        cache = _cache_dir(bank_store)
        if cache is not None and (cache / "meta.json").exists():
            try:
                meta = json.loads((cache / "meta.json").read_text(encoding="utf-8"))
                if meta.get("fingerprint") == fingerprint:
                    matcher.index = PdqIndex.load(cache / "index")
                    matcher.hashes = np.load(cache / "hashes.npy", mmap_mode="r")
                    matcher.bank_of = np.load(cache / "bank_of.npy", mmap_mode="r")
                    matcher.ref_of = np.load(cache / "ref_of.npy", mmap_mode="r")
                    return matcher
            except (OSError, ValueError, KeyError) as exc:
                log.warning("perceptual index cache %s unusable (%s); rebuilding", cache, exc)
        matcher._build()
        if cache is not None and len(matcher.bank_of):
            try:
                matcher.save(cache, fingerprint)
            except OSError as exc:
                log.warning("could not save the perceptual index to %s: %s", cache, exc)
        return matcher

    def _load_banks(self) -> None:
        with self.bank_store.store.engine.connect() as conn:
            rows = conn.execute(select(Bank.id, Bank.name, Bank.category, Bank.negative,
                                       Bank.settings)).all()
        self.banks = {int(r.id): _bank_row(r) for r in rows}

    def _fingerprint(self) -> str:
        with self.bank_store.store.engine.connect() as conn:
            counts = conn.execute(select(Bank.id, Bank.algorithm_counts)).all()
            last = conn.execute(select(func.max(BankImport.id))).scalar()
        pdq = sorted((int(r.id), int((r.algorithm_counts or {}).get("pdq", 0))) for r in counts)
        return json.dumps({"pdq": pdq, "last_import": last})

    def _build(self) -> None:
        code = algorithm("pdq").code
        d = BankDigest.__table__.c
        raws: list[bytes] = []
        banks: list[int] = []
        refs: list[int] = []
        with self.bank_store.store.engine.connect() as conn:
            for row in conn.execute(select(d.digest, d.bank_id, d.reference_pk)
                                    .where(d.algorithm == code)).yield_per(100_000):
                raws.append(bytes(row.digest))
                banks.append(int(row.bank_id))
                refs.append(int(row.reference_pk) if row.reference_pk is not None else -1)
        self.hashes = to_array(b"".join(raws)) if raws else np.zeros((0, 32), dtype=np.uint8)
        self.bank_of = np.array(banks, dtype=np.int32)
        self.ref_of = np.array(refs, dtype=np.int64)
        self.index = PdqIndex.build(self.hashes)

    def save(self, directory: Path, fingerprint: str | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._merge_extra()
        self.index.save(directory / "index")
        np.save(directory / "hashes.npy", np.ascontiguousarray(self.hashes))
        np.save(directory / "bank_of.npy", np.ascontiguousarray(self.bank_of))
        np.save(directory / "ref_of.npy", np.ascontiguousarray(self.ref_of))
        (directory / "meta.json").write_text(json.dumps(
            {"fingerprint": fingerprint or self._fingerprint(), "count": len(self.bank_of)}),
            encoding="utf-8")

    # ------------------------------------------------------------------ changes
    def added(self, bank_id: int, pdq: list[tuple[bytes, int | None]], vpdq_changed: bool
              ) -> None:
        """An import in this process added PDQ rows (and/or vPDQ): add them, no rebuild."""
        self._load_banks()
        if pdq:
            start = len(self.bank_of) + sum(1 for _ in self._extra)
            new = to_array(b"".join(raw for raw, _ in pdq))
            for k, (_raw, ref) in enumerate(pdq):
                self._extra.append((new[k], bank_id, -1 if ref is None else int(ref)))
            self.index.add(new, np.arange(start, start + len(pdq), dtype=np.int64))
        if vpdq_changed:
            self._vpdq = None
        cache = _cache_dir(self.bank_store)
        if cache is not None and (cache / "meta.json").exists():
            (cache / "meta.json").unlink()  # stale now: the next process rebuilds and saves

    def _merge_extra(self) -> None:
        if not self._extra:
            return
        self.hashes = np.concatenate([self.hashes, np.stack([e[0] for e in self._extra])])
        self.bank_of = np.concatenate([self.bank_of, np.array([e[1] for e in self._extra],
                                                              dtype=np.int32)])
        self.ref_of = np.concatenate([self.ref_of, np.array([e[2] for e in self._extra],
                                                            dtype=np.int64)])
        self._extra = []

    # ------------------------------------------------------------------ matching
    def matches(self, observation: Observation, allowed: Iterable[str] | None = None
                ) -> list[PerceptualReference]:
        """Perceptual references near ``observation`` (best distance per bank reference)."""
        if observation.outcome is not Outcome.OK:
            return []
        names = set(allowed) if allowed else None
        found: list[PerceptualReference] = []
        pdq = observation.digests.get("pdq")
        quality = observation.details.get("pdq_quality")
        if pdq and isinstance(quality, int) and quality >= QUALITY_GATE:
            found += self._pdq(observation, pdq, names)
        video = observation.details.get("vpdq")
        if isinstance(video, dict) and isinstance(video.get("features"), list):
            found += self._video(video["features"], names)
        if any(r.detail == ALLOW_LISTED for r in found) or (
                found and self._allow_listed(observation)):
            log.info("%s: perceptual matches suppressed by an allow-list", observation.location)
            return []
        return found

    def _variants(self, observation: Observation, pdq: str) -> list[str]:
        out = [pdq]
        dihedral = observation.details.get("pdq_dihedral")
        if isinstance(dihedral, dict):
            out += [v for k, v in dihedral.items() if k != "original" and isinstance(v, str)]
        return out

    def _pdq(self, observation: Observation, pdq: str, names: set[str] | None
             ) -> list[PerceptualReference]:
        self._merge_extra()
        if not len(self.bank_of):
            return []
        try:
            queries = to_array(b"".join(bytes.fromhex(v) for v in
                                        self._variants(observation, pdq)))
        except ValueError:
            return []  # a malformed hash from a hostile endpoint matches nothing
        radius = min(MAX_RADIUS, max((b.threshold for b in self.banks.values()),
                                     default=DEFAULT_PDQ_THRESHOLD))
        hits = self.index.search(queries, radius)
        best: dict[tuple[int, int], tuple[int, int]] = {}  # (bank, ref or -id) → (dist, id)
        for qrow, hid, dist in hits.triples():
            bank = self.banks.get(int(self.bank_of[hid]))
            if bank is None or dist > bank.threshold or (qrow and not bank.dihedral):
                continue
            key = (bank.id, int(self.ref_of[hid]) if self.ref_of[hid] >= 0 else -hid - 1)
            if key not in best or dist < best[key][0]:
                best[key] = (dist, hid)
        negative = any(self.banks[b].negative for b, _ in best)
        if negative:
            log.info("%s: PDQ within an allow-list's threshold", observation.location)
            return [PerceptualReference("", "", "", None, "pdq", "", 0, ALLOW_LISTED)]
        out = []
        refs = self._references([k[1] for k in best if k[1] >= 0])
        for (bank_id, ref), (dist, hid) in best.items():
            bank = self.banks[bank_id]
            if names is not None and bank.name not in names:
                continue
            value = bytes(self.hashes[hid]).hex()
            ref_id, title = refs.get(ref, (value, None)) if ref >= 0 else (value, None)
            out.append(PerceptualReference(bank.name, bank.category, ref_id, title, "pdq",
                                           value, int(dist), f"PDQ distance {dist} ≤ "
                                           f"{bank.threshold}"))
        return sorted(out, key=lambda r: (r.bank, r.reference_id))

    def _references(self, pks: list[int]) -> dict[int, tuple[str, str | None]]:
        if not pks:
            return {}
        r = BankReference.__table__.c
        with self.bank_store.store.engine.connect() as conn:
            return {int(row.id): (row.reference_id, row.title) for row in conn.execute(
                select(r.id, r.reference_id, r.title).where(r.id.in_(set(pks))))}

    def _allow_listed(self, observation: Observation) -> bool:
        """True when the observation is on an allow-list (exact digest or the PDQ marker)."""
        negatives = {b.name for b in self.banks.values() if b.negative}
        if not negatives:
            return False
        exact = {k: v for k, v in observation.digests.items() if k in EXACT_FOR_ALLOW_LIST}
        return bool(exact) and any(ref.bank in negatives
                                   for ref in self.bank_store.lookup_many(exact))

    # ------------------------------------------------------------------ vPDQ
    def _load_vpdq(self) -> None:
        t = BankVpdq.__table__.c
        self._vpdq = []
        with self.bank_store.store.engine.connect() as conn:
            rows = conn.execute(select(t.bank_id, t.reference_pk, t.signal_sha256, t.signal,
                                       BankReference.reference_id, BankReference.title)
                                .join(BankReference, BankReference.id == t.reference_pk)).all()
        frames: list[bytes] = []
        owner: list[int] = []
        self._vpdq_meta: list[tuple[str, str | None]] = []
        for row in rows:
            features = [(h, q) for h, q, _t in vp.parse_signal(row.signal)]
            unique = list(dict.fromkeys(h for h, _q in features))
            quality = dict(features)
            self._vpdq.append((int(row.bank_id), int(row.reference_pk), row.signal_sha256,
                               [(h, quality[h]) for h in unique]))
            self._vpdq_meta.append((row.reference_id, row.title))
            for h in unique:
                frames.append(bytes.fromhex(h))
                owner.append(len(self._vpdq) - 1)
        self._vpdq_owner = np.array(owner, dtype=np.int64)
        self._vpdq_index = PdqIndex.build(to_array(b"".join(frames))) if frames else None

    def _video(self, features: list[Any], names: set[str] | None
               ) -> list[PerceptualReference]:
        if self._vpdq is None:
            self._load_vpdq()
        if not self._vpdq or self._vpdq_index is None:
            return []
        parsed: dict[str, int] = {}
        for item in features:
            parts = str(item).split(",")
            if len(parts) >= 2 and len(parts[0]) == 64:
                try:
                    bytes.fromhex(parts[0])
                    parsed.setdefault(parts[0].lower(), int(parts[1]))
                except ValueError:
                    continue
        out = []
        max_distance = int(max((b.vpdq["distance"] for b in self.banks.values()),
                               default=vp.DISTANCE_THRESHOLD))
        query_all = list(parsed)
        if not query_all:
            return []
        hits = self._vpdq_index.search(to_array(b"".join(bytes.fromhex(h) for h in query_all)),
                                       max_distance)
        candidates = {int(self._vpdq_owner[i]) for i in hits.id.tolist()}
        for k in sorted(candidates):
            bank_id, _ref_pk, digest, ref_frames = self._vpdq[k]
            bank = self.banks.get(bank_id)
            if bank is None or (names is not None and bank.name not in names
                                and not bank.negative):
                continue
            s = bank.vpdq
            query = [h for h in query_all if parsed[h] >= s["quality"]]
            target = [h for h, q in ref_frames if q >= s["quality"]]
            if not query or not target:
                continue
            qa, ta = to_array(b"".join(bytes.fromhex(h) for h in query)), \
                to_array(b"".join(bytes.fromhex(h) for h in target))
            d = np.bitwise_count(qa.view(np.uint64).reshape(-1, 1, 4)
                                 ^ ta.view(np.uint64).reshape(1, -1, 4)).sum(axis=2)
            within = d <= s["distance"]
            query_pct = 100.0 * within.any(axis=1).sum() / len(query)
            target_pct = 100.0 * within.any(axis=0).sum() / len(target)
            if query_pct < s["query_percent"] or target_pct < s["index_percent"]:
                continue
            if bank.negative:
                return [PerceptualReference("", "", "", None, "vpdq", "", 0, ALLOW_LISTED)]
            best = d.min(axis=1)[within.any(axis=1)]
            ref_id, title = self._vpdq_meta[k]
            out.append(PerceptualReference(
                bank.name, bank.category, ref_id, title, "vpdq", digest,
                int(statistics.median(best.tolist())),
                f"{query_pct:.1f} % of {len(query)} frames within {s['distance']:g} "
                f"(reference {target_pct:.1f} % of {len(target)})"))
        return out
