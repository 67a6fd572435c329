"""Streaming digests: one pass over a byte stream computes every digest netwarden matches on.

Interface (stable)::

    engine = MultiDigest(piece_length=None)   # piece_length: also BitTorrent v1 piece SHA-1s
    engine.update(chunk)                      # any number of times, any chunk sizes
    result = engine.finalize()                # DigestResult
    result.as_dict() -> {"size": n, "md5": hex, "sha1": hex, "sha256": hex,
                         "ed2k": hex, "tth": BASE32, ...}  # + registered algorithms
    computed_algorithms() -> ("md5", "sha1", "sha256", "ed2k", "tth", ...)
    hash_file(path, piece_length=None) -> DigestResult
    hash_stream(readable, piece_length=None, max_size=None) -> DigestResult
    hash_files(paths, workers=None) -> iterator of (path, DigestResult | InputError)

What is computed, with whose conventions:

- MD5, SHA-1, SHA-256 of the whole stream (lowercase hex).
- ED2K: MD4 of each 9,728,000-byte chunk; one chunk → its MD4; more → MD4 of the concatenated
  chunk digests. At an exact multiple of 9,728,000 bytes an MD4 of the empty chunk is appended
  before the outer MD4 (the original eDonkey/eMule "red" convention) — this is what the
  ``rhash`` CLI prints, so ``ed2k(9,728,000 bytes) != md4(file)``. Lowercase hex.
- TTH: Tiger tree hash (THEX): 1024-byte leaves hashed as Tiger(0x00‖leaf), nodes as
  Tiger(0x01‖left‖right), an odd node promoted; empty input = Tiger(0x00). Base32 without
  padding, upper case (RFC 4648 alphabet, as DC++/ADC clients and ``rhash --uppercase`` print
  it; plain ``rhash`` prints the same value in lower case; base32 is case-insensitive, so
  compare case-folded when a value comes from elsewhere).
- Optionally BitTorrent v1 piece SHA-1s (raw 20-byte digests), given a piece length.
- Any other algorithm registered in :mod:`netwarden.algorithms` that declares a librhash id
  or a streaming hasher (``new_hasher``), in ``DigestResult.extra`` under its name.

Why this implementation: everything but the piece SHA-1s is computed by RHash's C library
(``librhash.so.0``, Debian ``librhash0``) through ctypes, one ``rhash_update`` call per 1 MiB
chunk. It is the library behind the ``rhash`` CLI, so ED2K/TTH conventions are identical by
construction; it has a fast C Tiger (TTH dominates the cost); and it routes MD5/SHA-1/SHA-256
through OpenSSL (SHA-NI) when OpenSSL is available. Measured on the development machine, one
librhash context for all five digests ran at the same speed (~140 MiB/s per core) as librhash
ED2K+TTH plus hashlib for MD5/SHA-1/SHA-256, and as the ``rhash`` CLI, so the single call per
chunk was kept (less Python per chunk). ``ctypes`` releases the GIL during each call, so
:func:`hash_files` hashes several files on several cores with plain threads. Piece SHA-1s use
hashlib over piece-aligned slices (one piece's hash state, no buffered bytes). There is no
pure-Python fallback: without librhash the engine raises :class:`LibRHashMissing` naming the
library and the package, rather than silently dropping ED2K and TTH. See docs/perf-digest.md.

Bytes are never kept: memory stays flat whatever the stream's size (one 1 MiB read buffer per
stream, hash states, and 20 bytes per piece when pieces are asked for).
"""

from __future__ import annotations

from netwarden.digest._librhash import LibRHashMissing
from netwarden.digest.engine import (
    CHUNK_SIZE,
    ED2K_CHUNK,
    TTH_LEAF,
    DigestResult,
    MultiDigest,
    SizeLimitExceeded,
    computed_algorithms,
    hash_file,
    hash_files,
    hash_stream,
)

__all__ = [
    "CHUNK_SIZE",
    "ED2K_CHUNK",
    "TTH_LEAF",
    "DigestResult",
    "LibRHashMissing",
    "MultiDigest",
    "SizeLimitExceeded",
    "computed_algorithms",
    "hash_file",
    "hash_files",
    "hash_stream",
]
