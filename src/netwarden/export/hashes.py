"""Every digest name netwarden uses, and what each exchange format calls it: the one table.

Why one table: STIX, MISP, CSV and VICS each spell digests their own way (``SHA-256``,
``sha256``, ``SHA256``, ``AlternativeHashes[PDQ]``); exporters and the VICS importer all read
this table, so a digest added here reaches every format and no two formats disagree.

STIX 2.1 names MD5, SHA-1 and SHA-256 in its ``hash-algorithm-ov`` vocabulary; every other
digest is a custom hash name, which the specification allows when it starts with ``x_``.
MISP has attribute types for MD5/SHA-1/SHA-256 only; the rest go into the ``file`` object as
``text`` attributes named by the digest. VICS 2.0 has MD5, SHA1 and SHA256 fields and lists
other digests (PhotoDNA, PDQ) in ``AlternativeHashes`` as ``{HashName, HashValue}``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HashName:
    """One digest: netwarden's name and its name in each exchange format."""

    name: str  # netwarden's (findings.jsonl ``digests`` keys, ``match_algorithm``)
    stix: str  # key of a STIX 2.1 ``hashes`` dictionary
    misp_type: str  # MISP attribute type
    vics_field: str | None  # VICS media field (MD5, SHA1, SHA256), or None
    vics_alternative: str | None  # VICS AlternativeHashes HashName, or None
    csv_column: str  # column of the CSV export


HASHES: tuple[HashName, ...] = (
    HashName("md5", "MD5", "md5", "MD5", None, "md5"),
    HashName("sha1", "SHA-1", "sha1", "SHA1", None, "sha1"),
    HashName("sha256", "SHA-256", "sha256", "SHA256", None, "sha256"),
    HashName("pdq", "x_pdq", "text", None, "PDQ", "pdq"),
    HashName("tth", "x_tth", "text", None, None, "tth"),
    HashName("ed2k", "x_ed2k", "text", None, None, "ed2k"),
    HashName("btih", "x_btih", "text", None, None, "btih"),
)
BY_NAME: dict[str, HashName] = {h.name: h for h in HASHES}

# VICS media field (lower case) -> netwarden name; AlternativeHashes HashName (lower) -> name.
VICS_FIELDS: dict[str, str] = {h.vics_field.lower(): h.name for h in HASHES if h.vics_field}
VICS_ALTERNATIVES: dict[str, str] = {h.vics_alternative.lower(): h.name
                                     for h in HASHES if h.vics_alternative}


def known_digests(digests: object) -> dict[str, str]:
    """The digests of a finding that every format can name, in table order (others dropped:
    a format must never receive a digest it has no name for)."""
    if not isinstance(digests, dict):
        return {}
    return {h.name: str(digests[h.name]) for h in HASHES
            if isinstance(digests.get(h.name), str) and digests[h.name]}
