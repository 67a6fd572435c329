"""Verify: was the matched content really served by the endpoint?

For collectors that digest every byte they receive (FTP, HTTP, SMB), the observation's full
content digest *is* a verification: the bytes came from the endpoint and their digest equals
the reference. Protocols that only claim content (tracker lists, hub file lists) get their
verification from their own protocol checks (a piece or segment hash), which the collector
records in the observation's ``protocol_check`` (and its level); without bytes the result is
``not_attempted`` and the level stays below ``served`` (DESIGN.md §4).
"""

from __future__ import annotations

from netwarden.algorithms import registry
from netwarden.records import EvidenceLevel, Match, Observation, Verification


def _full_content(algorithm: str) -> bool:
    """Does an equal digest of the bytes received prove the whole content? (The algorithm
    module's ``kind``: md5, sha1, sha256, ed2k and tth are full-content digests; infohashes
    name a container and perceptual hashes are near, not equal.)"""
    found = registry.find(algorithm)
    return found is not None and found.full_content


def verify_match(observation: Observation, match: Match, match_leaf: str | None = None
                 ) -> Verification:
    """The verification of one match, from what the collector recorded."""
    full = (match.method == "exact" and _full_content(match.algorithm)
            and observation.bytes_from_endpoint and observation.size is not None)
    if full and observation.digests.get(match.algorithm) == match.matched_value:
        return Verification(
            run_id=match.run_id, match_id=match.id, match_leaf=match_leaf,
            method="full-content-digest", result="verified", level=EvidenceLevel.SERVED,
            checked=(f"{match.algorithm} of all {observation.size} bytes received from "
                     f"{observation.endpoint} equals reference {match.reference_id} "
                     f"of bank {match.bank}"),
        )
    if (match.method == "perceptual" and observation.bytes_from_endpoint
            and observation.size is not None
            and observation.digests.get(match.algorithm) is not None):
        # The perceptual hash was computed by us, in memory, on the bytes this endpoint sent
        # (the collector's PerceptualDigest), and is within the bank's threshold.
        return Verification(
            run_id=match.run_id, match_id=match.id, match_leaf=match_leaf,
            method=f"perceptual-{match.algorithm}", result="verified",
            level=EvidenceLevel.SERVED,
            checked=(f"{match.algorithm} of the {observation.size} bytes received from "
                     f"{observation.endpoint} is at distance {match.distance} from reference "
                     f"{match.reference_id} of bank {match.bank}"),
        )
    check = observation.protocol_check
    if (observation.level is EvidenceLevel.SERVED and check is not None
            and check.verdict == "verified"):
        # the protocol's own check (BitTorrent pieces, DC++ TTH) of bytes this endpoint sent
        return Verification(
            run_id=match.run_id, match_id=match.id, match_leaf=match_leaf,
            method=check.method or "protocol", result="verified", level=EvidenceLevel.SERVED,
            checked=check.words or "protocol check",
        )
    level = (EvidenceLevel.CONTACTED if observation.level is EvidenceLevel.SERVED
             else observation.level)
    return Verification(
        run_id=match.run_id, match_id=match.id, match_leaf=match_leaf, method="none",
        result="not_attempted", level=level,
        checked=f"no bytes of {match.reference_id} were received and checked; "
                f"the observation is a lead at level {level.value}",
    )
