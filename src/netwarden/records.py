"""Every record the stages exchange and every ledger leaf: the one vocabulary (DESIGN.md §3).

Each stage takes records and emits records; nothing else crosses a stage boundary. Every ledger
leaf is a :class:`Record` subclass defined here (issue 18): a frozen pydantic model that
refuses unknown fields, with a ``record_type`` literal so that an entry says what it is and a
``record_version`` written into every entry, and :meth:`Record.entry` gives the plain JSON
object that is canonicalised (RFC 8785) into a ledger leaf. ``Ledger.append(record)`` takes
only these. Field names are snake_case and documented, with who writes each type, in
``docs/records.md``.

Records never carry content bytes: only names, sizes, digests and distances.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


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
    """Base of every pipeline record and every ledger leaf.

    Versions: ``VERSION`` (a class constant) is the version of the leaf this code writes; a
    record made in code carries it in its ``record_version`` field, and the field is written
    into the entry. Leaves stored before versions existed have no ``record_version``: read
    back (``model_validate``, :func:`parse_entry`), an absent version is version 1, and a
    version newer than the class knows is refused (a newer netwarden wrote it). A type whose
    fields change gets ``VERSION`` raised and its readers taught the old shape.

    Optional fields: ``OMIT_NONE`` names fields left out of the entry when they are None,
    ``OMIT_UNSET`` fields left out unless they were given; both keep the entry bytes the
    writers produced before these leaves were records (stored ledgers stay comparable).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    VERSION: ClassVar[int] = 1
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()
    OMIT_UNSET: ClassVar[frozenset[str]] = frozenset()

    record_type: str
    record_version: int = 1
    id: str = Field(default_factory=new_id)
    run_id: str | None = None

    def __init__(self, **data: Any) -> None:
        # made in code: the version this code writes (a stored entry read back through
        # model_validate does not come here, so its absent version stays 1)
        data.setdefault("record_version", type(self).VERSION)
        super().__init__(**data)

    @field_validator("record_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if not 1 <= value <= cls.VERSION:
            raise ValueError(f"record_version {value} is not one this netwarden reads "
                             f"(1..{cls.VERSION}): was it written by a newer version?")
        return value

    def entry(self) -> dict[str, Any]:
        """The JSON object of this record, as it is canonicalised into a ledger leaf."""
        data = self.model_dump(mode="json")
        for name in self.OMIT_NONE:
            if data.get(name, 0) is None:
                del data[name]
        for name in self.OMIT_UNSET:
            if name not in self.model_fields_set:
                data.pop(name, None)
        return data


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
    run_id: str
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
    run_id: str
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
    run_id: str
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
    run_id: str
    seen_at: datetime = Field(default_factory=utc_now)
    target: str  # URL or host:port as it was found
    found_in: str  # where it was found: a redirect from URL, a link in a listing, a peer list
    reason: str


# -- the other ledger leaves ---------------------------------------------------------------
#
# Made by the run around the pipeline's records, by the people who review its findings, by
# exports, notices and reveals. Times are the ISO 8601 text each writer has always stored (UTC
# or the server's own offset, as documented per type), kept as text so that entry bytes stay
# what they were; a time without an offset is refused.


def _iso_time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]


class Leaf(Record):
    """Base of the leaves that are not pipeline records: strict (no coercion of a field's type:
    a writer's mistake is an error, not a silently converted value)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Run(Leaf):
    """The first leaf of an audit run: under which authorization, from which scope, on what
    machine and clock. ``id`` is the run id. Made by ``pipeline.py``; a campaign worker's run
    adds the campaign fields."""

    OMIT_UNSET = frozenset({"campaign", "campaign_job", "campaign_attempt", "worker"})

    record_type: Literal["run"] = "run"
    run_id: str
    check_id: str
    authorization: str
    operator: str
    jurisdiction: str
    scope_sha256: str
    started_at: IsoTime
    software: str
    host: str
    python: str
    clock: dict[str, Any]
    campaign: str | None = None
    campaign_job: int | None = None
    campaign_attempt: int | None = None
    worker: str | None = None


class RunEnd(Leaf):
    """The last leaf of a run: its counts, and for an interrupted run why it stopped."""

    OMIT_UNSET = frozenset({"status", "interrupted"})

    record_type: Literal["run_end"] = "run_end"
    run_id: str
    finished_at: IsoTime
    observations: int
    findings: int
    refused: int
    status: Literal["interrupted"] | None = None
    interrupted: str | None = None


class Attribution(Leaf):
    """Who was behind the endpoint of a match when it was observed (``attribute/``): the
    subscriber's pseudonym, never the account. An answer that could not be made carries only
    ``status``, ``reason_code`` and ``reason``."""

    OMIT_UNSET = frozenset({"ip", "port", "observed_at", "pseudonym", "log_kind",
                            "interval_start", "interval_end", "end_estimated", "source", "notes",
                            "nat", "operator", "operator_asn", "operator_holder", "asn_prefix",
                            "clock_skew_s", "identifier", "joined_on"})

    record_type: Literal["attribution"] = "attribution"
    run_id: str
    match_id: str
    match_leaf: str | None
    status: str
    reason_code: str
    reason: str
    ip: str | None = None
    port: int | None = None
    observed_at: IsoTime | None = None
    pseudonym: str | None = None
    log_kind: str | None = None
    interval_start: IsoTime | None = None
    interval_end: IsoTime | None = None
    end_estimated: bool | None = None
    source: list[str] | None = None
    notes: list[str] | None = None
    nat: dict[str, Any] | None = None
    operator: str | None = None
    operator_asn: int | None = None
    operator_holder: str | None = None
    asn_prefix: str | None = None
    clock_skew_s: float | None = None
    identifier: str | None = None
    joined_on: list[str] | None = None


class RunInterrupted(Leaf):
    """A campaign attempt whose worker vanished: its run's leaves stay, its findings do not
    count, the operator is audited again (``campaign/state.py``). ``run_id`` is ``none`` when
    the run never started."""

    record_type: Literal["run_interrupted"] = "run_interrupted"
    run_id: str
    campaign: str
    operator: str
    scope_sha256: str
    attempt: int
    worker: str | None
    reason: str
    recorded_at: IsoTime
    note: str = ("the run's leaves stay in the ledger; its findings are not counted: the "
                 "operator is audited again")


class _WebDecision(Leaf):
    """What the review leaves share: the finding, who (name, role) and when (server time)."""

    OMIT_NONE = frozenset({"run_id"})

    match_id: str
    finding_id: str
    decision: str
    reason: str
    by: str
    role: str
    at: IsoTime


class Review(_WebDecision):
    """An analyst's or supervisor's decision on a finding (``web/evidence.py``)."""

    OMIT_NONE = frozenset({"run_id", "finding_leaf"})

    record_type: Literal["review"] = "review"
    finding_leaf: str | None = None


class Signoff(_WebDecision):
    """A supervisor's sign-off on the latest review, never one's own (``web/evidence.py``)."""

    record_type: Literal["signoff"] = "signoff"
    review_leaf: str
    review_decision: str


class PseudonymView(Leaf):
    """A user was shown a subscriber pseudonym of a finding (``web/evidence.py``)."""

    OMIT_NONE = frozenset({"run_id"})

    record_type: Literal["pseudonym_view"] = "pseudonym_view"
    match_id: str
    finding_id: str
    pseudonym: str
    by: str
    role: str
    at: IsoTime
    what: str
    why: str


class SubscriberReveal(Leaf):
    """The account behind a pseudonym was revealed on a legal basis (``netwarden reveal``).

    The one reveal leaf. It names the pseudonym, the basis, who and when, which identifier kinds
    carry the account and in which logs, and never the account: ledgers leave the house in
    bundles, and the pseudonym already commits to the account under the key.
    """

    record_type: Literal["subscriber_reveal"] = "subscriber_reveal"
    pseudonym: str
    basis: str
    by: str
    revealed_at: IsoTime
    check_id: str
    sources: list[str]
    identifier: list[str]


class Export(Leaf):
    """Findings were exported (STIX, MISP, CSV, VICS): which, how, the file's digest, who
    (``export/``, CLI and web). Names no run of its own: ``run_ids`` lists the runs."""

    OMIT_NONE = frozenset({"run_id"})

    record_type: Literal["export"] = "export"
    format: str
    source: str
    run_ids: list[str]
    finding_ids: list[str]
    count: int
    tlp: str | None
    pseudonyms: bool
    sha256: str
    bytes: int
    by: str
    role: str | None
    at: IsoTime


class CustodyExport(Leaf):
    """An evidence bundle was exported: the leaves, their digest, the README's digest, who
    and why (``ledger/bundle.py``). ``run_id`` is always null."""

    record_type: Literal["custody_export"] = "custody_export"
    who: str
    at: IsoTime
    what: str
    why: str
    leaves: list[int]
    evidence_digest: str
    evidence_digest_method: str
    readme_sha256: str
    software: str


class Assessment(Leaf):
    """The responsibility assessment of one finding under each jurisdiction's rules
    (``liability/assess.py``)."""

    record_type: Literal["assessment"] = "assessment"
    run_id: str
    finding_id: str
    match_id: str
    verification_leaf: str | None
    assessed_at: IsoTime
    role: str | None  # None on a lead: a role comes from verified evidence only
    track: str
    lead: bool
    facts: dict[str, Any]
    knowledge: dict[str, dict[str, Any]]
    outcomes: dict[str, Any]
    provisional: dict[str, Any]
    rules_fired: dict[str, list[str]]
    rules_sha256: dict[str, str]


class OperatorAssessment(Leaf):
    """The assessment of one operator over its findings' assessments
    (``liability/assess.py``)."""

    record_type: Literal["operator_assessment"] = "operator_assessment"
    run_id: str
    operator: str
    assessed_at: IsoTime
    finding_assessments: list[str]
    outcomes: dict[str, list[str]]
    csam_outcomes: dict[str, list[str]]
    leads: Any
    rules_sha256: dict[str, str]


class Notice(Leaf):
    """An outgoing notice was drafted: to whom, about which findings, the message's digest
    (``notices/outgoing.py``)."""

    record_type: Literal["notice"] = "notice"
    run_id: str
    direction: Literal["outgoing"] = "outgoing"
    format: str
    jurisdiction: str
    finding_ids: list[str]
    verification_leaves: list[str]
    recipient: str
    notifier: str
    subject: str
    message_sha256: str
    complete: bool
    missing: list[str]
    created_at: IsoTime


class NoticeState(Leaf):
    """A notice changed state: sent, delivered, acknowledged, taken down...
    (``notices/tracking.py``). ``id`` is ``notice:state:time``."""

    OMIT_NONE = frozenset({"run_id", "finding_id"})

    record_type: Literal["notice_state"] = "notice_state"
    notice_id: str
    notice_leaf: str | None
    state: str
    at: IsoTime
    detail: dict[str, Any]
    finding_id: str | None = None


class Recheck(Leaf):
    """A noticed finding was looked at again: still available, gone, or not checked
    (``notices/recheck.py``); a fresh observation, when made, is its own leaf."""

    record_type: Literal["recheck"] = "recheck"
    run_id: str
    recheck_run_id: str
    notice_id: str
    notice_leaf: str | None
    finding_id: str
    match_id: str
    location: str
    result: str
    reason: str
    checked_at: IsoTime
    deadline_at: IsoTime | None
    observation_leaf: dict[str, Any] | None


class IncomingNotice(Leaf):
    """A notice received (an ACNS message): its digest and, when it could be read, the notice
    and who was behind its address; when it could not, why (``rejected``)
    (``notices/ingest.py``). Names no run."""

    OMIT_NONE = frozenset({"run_id", "notice", "attribution", "rejected"})

    record_type: Literal["incoming_notice"] = "incoming_notice"
    format: str
    file: str
    message_sha256: str
    received_at: IsoTime
    notice: dict[str, Any] | None = None
    attribution: dict[str, Any] | None = None
    rejected: str | None = None

    @model_validator(mode="after")
    def _read_or_rejected(self) -> IncomingNotice:
        if (self.rejected is None) == (self.notice is None):
            raise ValueError("an incoming notice has either its notice or why it was rejected")
        return self


#: Every leaf type the ledger holds, by ``record_type``: what :func:`parse_entry` reads.
LEAF_TYPES: dict[str, type[Record]] = {
    cls.model_fields["record_type"].default: cls
    for cls in (Observation, Match, Verification, Refusal, Run, RunEnd, Attribution,
                RunInterrupted, Review, Signoff, PseudonymView, SubscriberReveal, Export,
                CustodyExport, Assessment, OperatorAssessment, Notice, NoticeState, Recheck,
                IncomingNotice)
}


def leaf_version(entry: dict[str, Any]) -> int:
    """The ``record_version`` of a stored entry: 1 when absent (written before versions)."""
    value = entry.get("record_version", 1)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"record_version {value!r} is not an integer")
    return value


def parse_entry(entry: dict[str, Any]) -> Record:
    """A stored entry as its :class:`Record` (an absent version read as 1).

    Raises ``ValueError`` (pydantic's ``ValidationError`` is one) naming the entry when its
    ``record_type`` is unknown or its fields do not fit the type.
    """
    kind = entry.get("record_type")
    cls = LEAF_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"ledger entry {entry.get('id')!r}: unknown record_type {kind!r}")
    return cls.model_validate(entry)


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
