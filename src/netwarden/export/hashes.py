"""Every digest name the exports use, and what each exchange format calls it: the registry's.

Why one table: STIX, MISP, CSV and VICS each spell digests their own way (``SHA-256``,
``sha256``, ``SHA256``, ``AlternativeHashes[PDQ]``); each algorithm module of
:mod:`netwarden.algorithms` declares its names (``exchange``) and its position in exports
(``listing``), and exporters and the VICS importer read them through this module, so a digest
registered there reaches every format and no two formats disagree.

STIX 2.1 names MD5, SHA-1 and SHA-256 in its ``hash-algorithm-ov`` vocabulary; every other
digest is a custom hash name, which the specification allows when it starts with ``x_``.
MISP has attribute types for MD5/SHA-1/SHA-256 only; the rest go into the ``file`` object as
``text`` attributes named by the digest. VICS 2.0 has MD5, SHA1 and SHA256 fields and lists
other digests (PhotoDNA, PDQ) in ``AlternativeHashes`` as ``{HashName, HashValue}``.

The listing order is md5, sha1, sha256, pdq, tth, ed2k, btih, btmh (btmh, the BitTorrent v2
infohash, was missing before issue 18 and is exported since), then registered algorithms.
vPDQ is never exported (its observation digest is the SHA-256 of our own signal).
"""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.algorithms import registry


@dataclass(frozen=True)
class HashName:
    """One digest: netwarden's name and its name in each exchange format."""

    name: str  # netwarden's (findings.jsonl ``digests`` keys, ``match_algorithm``)
    stix: str  # key of a STIX 2.1 ``hashes`` dictionary
    misp_type: str  # MISP attribute type
    vics_field: str | None  # VICS media field (MD5, SHA1, SHA256), or None
    vics_alternative: str | None  # VICS AlternativeHashes HashName, or None
    csv_column: str  # column of the CSV export


_cache: tuple[int, tuple[HashName, ...]] | None = None


def hashes() -> tuple[HashName, ...]:
    """The exported digests in listing order (the registry's, recomputed when it changes)."""
    global _cache
    version = registry.version()
    if _cache is None or _cache[0] != version:
        table = tuple(HashName(a.name, names.stix, names.misp_type, names.vics_field,
                               names.vics_alternative, names.csv_column)
                      for a in registry.listed() for names in (a.exchange,) if names)
        _cache = (version, table)
    return _cache[1]


def by_name() -> dict[str, HashName]:
    """Exported digest name → its names."""
    return {h.name: h for h in hashes()}


def vics_fields() -> dict[str, str]:
    """VICS media field (lower case) → netwarden name."""
    return {h.vics_field.lower(): h.name for h in hashes() if h.vics_field}


def vics_alternatives() -> dict[str, str]:
    """VICS AlternativeHashes HashName (lower case) → netwarden name."""
    return {h.vics_alternative.lower(): h.name for h in hashes() if h.vics_alternative}


def known_digests(digests: object) -> dict[str, str]:
    """The digests of a finding that every format can name, in listing order (others dropped:
    a format must never receive a digest it has no name for)."""
    if not isinstance(digests, dict):
        return {}
    return {h.name: str(digests[h.name]) for h in hashes()
            if isinstance(digests.get(h.name), str) and digests[h.name]}
