"""Wire and file codecs for untrusted input, standalone (no netwarden imports).

``netwarden.codec.bencode`` is used by the torrent bank format and the BitTorrent collectors.
"""

from __future__ import annotations

from netwarden.codec.bencode import BencodeError, decode, decode_prefix, decode_with_spans, encode

__all__ = ["BencodeError", "decode", "decode_prefix", "decode_with_spans", "encode"]
