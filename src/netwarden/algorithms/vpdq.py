"""vPDQ: a video as the PDQ hashes of sampled frames, matched frame by frame.

Not a single digest: banks hold the signal (``hex,quality,seconds`` per frame) in its own
table, and an observation's ``vpdq`` digest is the SHA-256 of the signal it computed (so the
ledger commits to it). Not exported: that SHA-256 means nothing to another tool.
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, DigestError, Kind


class Vpdq(Algorithm):
    name = "vpdq"
    code = None
    kind = Kind.PERCEPTUAL
    size = None
    rank = 100
    signal_types = ("vpdq",)
    threshold = 31  # per frame, as netwarden.digest.vpdq.DISTANCE_THRESHOLD

    def parse(self, text: str) -> bytes:
        raise DigestError("a vpdq signal is a list of frame hashes, not one digest: import it "
                          "with a signal format (hma, vics, ncmec)")


ALGORITHM = Vpdq()
