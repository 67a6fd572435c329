"""The records the pipeline stages exchange: the only shared vocabulary (DESIGN.md §3).

Each stage takes records and emits records; nothing else crosses a stage boundary. Every record
is a pydantic model with a ``record_type`` literal so that a ledger entry says what it is, and
:meth:`Record.entry` gives the plain JSON object that is canonicalised (RFC 8785) into a ledger
leaf. Field names are snake_case and documented in ``docs/records.md``.

Records never carry content bytes: only names, sizes, digests and distances.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def utc_now() -> datetime:
    """Current time in UTC, microsecond precision (what every record stores)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh record identifier (random, 32 hex digits)."""
    return uuid.uuid4().hex


class EvidenceLevel(StrEnum):
    """How strong an observation is (DESIGN.md §4). Only ``served`` counts as distribution."""

    LISTED = "listed"
    CONTACTED = "contacted"
    SERVED = "served"


class Outcome(StrEnum):
    """How an attempt to observe an item or endpoint ended."""

    OK = "ok"  # the item was seen (and, where applicable, its bytes digested)
    REFUSED = "refused"  # target outside the authorized scope: never contacted
    ERROR = "error"  # the endpoint failed: timeout, reset, refused connection, protocol error
    DENIED = "denied"  # the endpoint refused us: permission, authentication
    SKIPPED = "skipped"  # a limit of ours stopped it: too large, listing too long, bad name


class Record(BaseModel):
    """Base of every pipeline record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_type: str
    id: str = Field(default_factory=new_id)
    run_id: str

    def entry(self) -> dict[str, Any]:
        """The JSON object of this record, as it is canonicalised into a ledger leaf."""
        return self.model_dump(mode="json")


class Endpoint(BaseModel):
    """A network endpoint as contacted: protocol, host (IP literal) and port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"


_MONOTONIC_ORIGIN_NS = time.monotonic_ns()


def _monotonic_ns() -> int:
    """Monotonic nanoseconds since this process started (the clock's origin is undefined anyway).

    Why not ``time.monotonic_ns()`` itself: on Linux it counts from boot, and after 104 days of
    uptime it exceeds 2**53 - 1, which RFC 8785 cannot canonicalise: every observation of a
    long-running host would have been unstorable in the ledger (found while fixing issue 14).
    """
    return time.monotonic_ns() - _MONOTONIC_ORIGIN_NS


class ProtocolCheck(BaseModel):
    """A protocol's own check of the bytes an endpoint sent, made by the collector.

    Protocols that name content by a hash tree check what arrives against it: BitTorrent
    pieces against the torrent's piece hashes (v1 SHA-1, v2 SHA-256 Merkle), a DC++ segment
    against the file's TTH leaves, a whole DC++ file against its TTH root. The collector
    records the verdict here; :func:`netwarden.verify.verify_match` turns a ``verified`` check
    of a ``served`` observation into the match's verification (``method`` and ``words`` become
    its ``method`` and ``checked``).

    Ledger entries written before this field existed carry the same facts as
    ``details.verified`` / ``details.verification_method`` / ``details.verification``;
    :meth:`Observation._legacy_check` reads them back into this model (see
    :func:`legacy_protocol_check`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # verified: the check passed; failed: bytes arrived and did not match; unverified: no
    # check was completed (the peer sent nothing, the connection failed)
    verdict: Literal["verified", "failed", "unverified"]
    method: str | None = None  # "bt-piece-sha1", "bt-piece-sha256-merkle", "tth-segment", ...
    words: str | None = None  # what was checked, in words


LEGACY_CHECK_KEYS = ("verified", "verification_method", "verification")


def legacy_protocol_check(details: dict[str, Any]) -> ProtocolCheck | None:
    """The :class:`ProtocolCheck` that ``details.verified`` (the form before it) stands for.

    ``verified: true`` is ``verified``; ``false`` is ``failed`` when a method is named (a piece
    or segment was checked and did not match), else ``unverified``. None without the key.
    """
    verified = details.get("verified")
    if not isinstance(verified, bool):
        return None
    method = details.get("verification_method")
    words = details.get("verification")
    return ProtocolCheck(
        verdict="verified" if verified else ("failed" if method else "unverified"),
        method=str(method) if method else None, words=str(words) if words else None)


class Observation(Record):
    """At time T, endpoint E offered item L (or an attempt to see it ended with an outcome).

    ``digests`` maps an algorithm name (``md5``, ``sha1``, ``sha256``, ``ed2k``, ``tth``,
    ``btih``...) to its lowercase hex (base32 for ``tth``, as DC clients print it). An
    observation whose digests were computed over the bytes the endpoint sent us has
    ``bytes_from_endpoint`` true: a match on such a full digest is ``served`` evidence.
    """

    record_type: Literal["observation"] = "observation"
    observed_at: datetime = Field(default_factory=utc_now)
    monotonic_ns: int = Field(default_factory=_monotonic_ns)
    endpoint: Endpoint
    location: str  # URL of the item (ftp://host:port/path, http://...)
    name: str | None = None  # the item's name as listed, decoded
    size: int | None = None
    digests: dict[str, str] = Field(default_factory=dict)
    level: EvidenceLevel = EvidenceLevel.LISTED
    bytes_from_endpoint: bool = False
    method: str  # how it was seen: "ftp-retr", "http-get", "ftp-list", ...
    outcome: Outcome = Outcome.OK
    reason: str | None = None  # for any outcome but ok: what happened, in words
    service: str | None = None  # the scope service URL this came from
    operator_infrastructure: bool = False  # endpoint is one of the operator's own hosts
    details: dict[str, Any] = Field(default_factory=dict)
    # the protocol's own check of the bytes received (BitTorrent pieces, DC++ TTH), if any
    protocol_check: ProtocolCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_check(cls, data: Any) -> Any:
        """An entry of an older run says its protocol check in ``details.verified``: read it
        into ``protocol_check`` (``details`` stay as recorded)."""
        if isinstance(data, dict) and data.get("protocol_check") is None:
            details = data.get("details")
            check = legacy_protocol_check(details) if isinstance(details, dict) else None
            if check is not None:
                data = {**data, "protocol_check": check}
        return data

    @field_validator("observed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("observed_at must carry a time zone")
        return value.astimezone(UTC)


class Match(Record):
    """An observation's digest equals (or is within ``distance`` of) a bank reference."""

    record_type: Literal["match"] = "match"
    observation_id: str
    observation_leaf: str | None = None  # ledger leaf hash (hex) of the observation
    bank: str
    category: str
    reference_id: str
    title: str | None = None
    algorithm: str  # the digest that matched: "sha256", "md5", "tth", "pdq", ...
    method: Literal["exact", "perceptual"] = "exact"
    distance: int = 0
    matched_value: str


class Verification(Record):
    """Bytes received from the endpoint were checked against the reference."""

    record_type: Literal["verification"] = "verification"
    match_id: str
    match_leaf: str | None = None
    method: str  # "full-content-digest", "bt-piece-sha1", "tth-segment", ...
    result: Literal["verified", "failed", "not_attempted"]
    level: EvidenceLevel
    checked: str  # what was checked, in words: "sha256 of 1048576 bytes received over FTP"
    verified_at: datetime = Field(default_factory=utc_now)


class Refusal(Record):
    """A target the scope does not cover was seen and deliberately not contacted."""

    record_type: Literal["refusal"] = "refusal"
    seen_at: datetime = Field(default_factory=utc_now)
    target: str  # URL or host:port as it was found
    found_in: str  # where it was found: a redirect from URL, a link in a listing, a peer list
    reason: str


PENDING = "pending"

# Category or bank slugs that put a match on the CSAM legal track (see content_track).
CSAM_MARKERS = ("csam", "csea")


def content_track(category: str, bank: str | None = None) -> str:
    """``csam`` or ``copyright``: the legal track a match (and its finding) is judged on.

    Why it is fixed when the finding is made: the track decides what a finding *is* (its
    primary match, where it is headlined, which notice routes and liability rules may touch
    it). A match is on the CSAM track when its bank's category *or* the bank's name is marked
    CSAM (``csam``, ``csam-standin``, ``csea``...): a CSAM hash list imported under a neutral
    category must never reach copyright rules.
    """
    for slug in (category, bank or ""):
        low = slug.lower()
        if any(marker in low for marker in CSAM_MARKERS):
            return "csam"
    return "copyright"

# Version of the findings.jsonl line (docs/findings.md). 2: one finding per observed copy
# with a ``matches`` list and a legal ``track``; 1 (no field): one finding per match.
FINDING_SCHEMA_VERSION = 2


class Finding(BaseModel):
    """One line of ``findings.jsonl``: one observed copy and the chain resting on it.

    One finding per copy: every match of one observation (exact digests, PDQ/vPDQ, across
    banks) is an entry of ``matches``; the top-level ``category``, ``bank``, ``reference``,
    ``title`` and ``match_*`` fields describe the primary match (``matches[0]``), so counts
    count copies, not digests. Fields not yet produced by a stage that has not run say
    ``"pending"``.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _version_1(cls, data: Any) -> Any:
        """A line without ``schema_version`` and ``matches`` is a version-1 line (one finding
        per match): it keeps reading, with its version said and its track derived."""
        if isinstance(data, dict) and "schema_version" not in data and not data.get("matches"):
            data = {**data, "schema_version": 1}
            if "track" not in data:
                data["track"] = content_track(str(data.get("category", "")),
                                              str(data.get("bank", "")))
        return data

    schema_version: int = FINDING_SCHEMA_VERSION
    id: str
    track: Literal["csam", "copyright"] = "copyright"
    matches: list[dict[str, Any]] = Field(default_factory=list)
    run_id: str
    check_id: str
    operator: str
    category: str
    bank: str
    reference: str
    title: str | None
    match_method: str
    match_algorithm: str
    match_distance: int
    location: str
    endpoint: str
    host: str
    port: int
    protocol: str
    name: str | None
    size: int | None
    digests: dict[str, str]
    observed_at: datetime
    evidence_level: EvidenceLevel
    verification: dict[str, Any] | str
    attribution: dict[str, Any] | str = PENDING
    assessment: dict[str, Any] | str = PENDING
    operator_infrastructure: bool
    observation_id: str
    match_id: str
    verification_id: str | None
    ledger: dict[str, Any] | str = PENDING
