"""Identify: observations × reference banks → matches.

Exact identification only looks up the digests an observation carries; it never sees bytes.
When several digests of one observation hit the same reference (md5 *and* sha256, say), one
match is made, on the strongest algorithm. Matches of *different* references (an image whose
MD5 is in one bank, its SHA-1 in another, its PDQ in a third) stay separate matches — each is
a ledger leaf and stays provable — but the pipeline makes ONE finding of all the matches of
one observation (one finding per copy), ordered by :func:`primary_order`.

Perceptual identification (PDQ for images, vPDQ for videos) asks the index's
``perceptual_matches`` (banks/perceptual.py) when the observation carries a perceptual hash: a
reference within its bank's distance becomes a ``Match(method="perceptual", distance=d)``,
unless the same reference already matched exactly (the exact match is the stronger fact).
The index is a :class:`netwarden.seams.BankIndex`.
"""

from __future__ import annotations

from collections.abc import Iterable

from netwarden.algorithms import Kind, registry
from netwarden.records import Match, Observation, Outcome, content_track
from netwarden.seams import BankIndex, ReferenceLike


def primary_order(match: Match) -> tuple[int, int, int, int, str, str]:
    """Sort key of a finding's matches: the first is the finding's primary match.

    CSAM before other categories (the gravest reading of a copy decides how it is
    headlined and routed), exact before perceptual (an equal digest is the stronger fact),
    smaller distance first, stronger algorithm first, then bank and reference for stability.
    """
    return (0 if content_track(match.category, match.bank) == "csam" else 1,
            0 if match.method == "exact" else 1, match.distance, _strength(match.algorithm),
            match.bank, match.reference_id)


def _strength(algorithm: str) -> int:
    """Lower is stronger: each algorithm module's ``rank`` (a SHA-256 match outranks an MD5
    match of the same reference: sha256, btmh, sha1, btih, tth, ed2k, md5, then perceptual)."""
    return registry.strength(algorithm)


def identify(observation: Observation, index: BankIndex, observation_leaf: str | None = None,
             banks: Iterable[str] | None = None) -> list[Match]:
    """Exact matches of one observation, one per (bank, reference), strongest algorithm first.

    ``banks`` restricts the look-up to the banks the scope names (``[banks] use``).
    """
    if observation.outcome is not Outcome.OK or not observation.digests:
        return []
    if observation.details.get("third_parties") == 0:
        # An index (tracker, DHT, hub) that named nobody but the auditor itself: an
        # observation ("the tracker knows the infohash, no peers"), never a finding.
        return []
    allowed = set(banks) if banks else None
    best: dict[tuple[str, str], ReferenceLike] = {}
    for ref in index.lookup_many(dict(observation.digests)):
        if allowed is not None and ref.bank not in allowed:
            continue
        key = (ref.bank, ref.reference_id)
        current = best.get(key)
        if current is None or _strength(ref.algorithm) < _strength(current.algorithm):
            best[key] = ref
    matches = [
        Match(run_id=observation.run_id, observation_id=observation.id,
              observation_leaf=observation_leaf, bank=ref.bank, category=ref.category,
              reference_id=ref.reference_id, title=ref.title, algorithm=ref.algorithm,
              method="exact", distance=0, matched_value=ref.value)
        for ref in sorted(best.values(), key=lambda r: (r.bank, r.reference_id))
    ]
    if _has_perceptual(observation):
        for ref in index.perceptual_matches(observation, allowed):
            if (ref.bank, ref.reference_id) in best:
                continue
            matches.append(Match(
                run_id=observation.run_id, observation_id=observation.id,
                observation_leaf=observation_leaf, bank=ref.bank, category=ref.category,
                reference_id=ref.reference_id, title=ref.title, algorithm=ref.algorithm,
                method="perceptual", distance=ref.distance, matched_value=ref.value))
    return sorted(matches, key=primary_order)


def _has_perceptual(observation: Observation) -> bool:
    return ("vpdq" in observation.details
            or any(a.name in observation.digests for a in registry.of_kind(Kind.PERCEPTUAL)))
