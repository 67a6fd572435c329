"""Hash-sharing signals (ThreatExchange / HMA names) → bank entries; shared by hma, vics, ncmec.

ThreatExchange names signal types ``pdq``, ``vpdq``, ``md5`` (also ``video_md5``,
``photo_md5``), ``sha256``... (each algorithm module declares its ``signal_types``);
netwarden stores PDQ and the exact digests in the digest index and a vPDQ (a list of frame
hashes) as a :class:`VideoEntry`'s signal string.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from netwarden.algorithms import DigestError, registry
from netwarden.banks.formats.base import BankEntry, RecordError, record_digest
from netwarden.digest.vpdq import parse_signal


@dataclass(frozen=True)
class VideoEntry(BankEntry):
    """A bank entry that also carries a vPDQ signal (JSON list of ``hex,quality,time``)."""

    vpdq: str | None = None


class SignalError(RecordError):
    """A signal's type or value is unusable; the message says why."""


def algorithm_for(signal_type: str) -> str:
    """The netwarden algorithm of a ThreatExchange / HMA signal type name (each algorithm
    module declares its ``signal_types``); SignalError naming it and the known ones."""
    try:
        return registry.signal_type(signal_type).name
    except DigestError as exc:
        raise SignalError(str(exc)) from None


def canonical_vpdq(text: str) -> str:
    """The vPDQ signal re-serialised canonically (validated); SignalError if bad."""
    try:
        features = parse_signal(text)
    except ValueError as exc:
        raise SignalError(str(exc)) from None
    return json.dumps([f"{h},{q},{t:.3f}" for h, q, t in features])


def entry_for(signal_type: str, value: str, *, reference_id: str | None = None,
              title: str | None = None, line: int | None = None) -> BankEntry:
    """A bank entry for one signal; SignalError naming the problem if it is unusable."""
    algorithm = algorithm_for(signal_type)
    if algorithm == "vpdq":
        signal = canonical_vpdq(value)
        ref = reference_id or "vpdq:" + hashlib.sha256(signal.encode()).hexdigest()
        return VideoEntry(digests={}, reference_id=ref, title=title, line=line, vpdq=signal)
    try:
        raw = record_digest(algorithm, value)
    except RecordError as exc:
        raise SignalError(exc.problem) from None
    return BankEntry(digests={algorithm: raw}, reference_id=reference_id, title=title,
                     line=line)
