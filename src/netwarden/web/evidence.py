"""What the web application writes to and proves from the ledger.

Every review decision, supervisor sign-off and view of a subscriber pseudonym is a ledger leaf
(``review``, ``signoff``, ``pseudonym_view``: who, their role, when with time zone, which
finding, the decision and the reason or purpose) written *before* the answer is sent, so a page
that showed a pseudonym cannot exist without its record. A finding's evidence chain comes with
RFC 9162 inclusion proofs against a signed checkpoint; the server checks them with
:func:`netwarden.ledger.verify_inclusion` and the browser checks them again (static/proof.js).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from netwarden.errors import InputError
from netwarden.i18n import N_
from netwarden.ledger import Ledger, LedgerError, ProofError, verify_inclusion
from netwarden.ledger.keys import KeyMissingError, VerifierKey
from netwarden.ledger.merkle import leaf_hash
from netwarden.records import PseudonymView, Record, Review, Signoff
from netwarden.store.base import Store
from netwarden.web.auth import User
from netwarden.web.models import ReviewRow

REVIEW_DECISIONS = ("confirmed", "rejected")
SIGNOFF_DECISIONS = ("approved", "returned")
TRAIL_TYPES = ("review", "signoff", "pseudonym_view", "subscriber_reveal")
MAX_REASON = 2000
CHAIN_ROLES = ("observation", "match", "verification", "attribution")


class ConflictError(Exception):
    """The request is well-formed but the review state forbids it (message says why)."""


@dataclass(frozen=True)
class ReviewState:
    """Where a finding stands in the review workflow."""

    status: str  # unreviewed | confirmed | rejected
    review: ReviewRow | None
    signoff: ReviewRow | None
    history: list[ReviewRow]

    @property
    def label(self) -> str:
        if self.review is None:
            return "unreviewed"
        if self.signoff is not None and self.signoff.decision == "approved":
            return f"{self.status}, signed off"
        return f"{self.status}, awaiting sign-off"


def local_now() -> str:
    """Now, with the server's time zone offset (what a court reads as 'when')."""
    return datetime.now().astimezone().isoformat()


def _reason(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InputError(what, N_("is required"))
    if len(text) > MAX_REASON:
        raise InputError(what, f"is longer than {MAX_REASON} characters")
    if any(ord(c) < 0x20 and c not in "\n\t" for c in text):
        raise InputError(what, N_("contains control characters"))
    return text


class EvidenceLedger:
    """The web application's view of the ledger: appends (serialised) and proofs."""

    def __init__(self, store: Store, key_dir: Path | None = None) -> None:
        self.store = store
        self.ledger = Ledger.open(store, key_dir, require_key=False)
        self._lock = threading.Lock()
        try:
            _ = self.ledger.key
            self.can_sign = True
        except KeyMissingError:
            self.can_sign = False

    def _append(self, record: Record) -> tuple[int, str]:
        with self._lock:
            ref = self.ledger.append(record)
        return ref.index, ref.hex

    # -- review workflow --------------------------------------------------------------------

    def state(self, finding_id: str) -> ReviewState:
        with self.store.session() as session:
            rows = list(session.execute(select(ReviewRow).where(
                ReviewRow.finding_id == finding_id).order_by(ReviewRow.leaf_index)).scalars())
        for r in rows:  # SQLite hands back naive datetimes; they are stored in UTC
            if r.at.tzinfo is None:
                r.at = r.at.replace(tzinfo=UTC)
        review = next((r for r in reversed(rows) if r.kind == "review"), None)
        signoff = None
        if review is not None:
            signoff = next((r for r in reversed(rows) if r.kind == "signoff"
                            and r.leaf_index > review.leaf_index), None)
        return ReviewState(review.decision if review else "unreviewed", review, signoff, rows)

    def states(self) -> dict[str, str]:
        """finding id -> review label, for lists."""
        with self.store.session() as session:
            ids = set(session.execute(select(ReviewRow.finding_id)).scalars())
        return {fid: self.state(fid).label for fid in ids}

    def review(self, user: User, finding: dict[str, Any], decision: str,
               reason: str | None) -> ReviewRow:
        """An analyst's (or supervisor's) decision on a finding, as a ledger leaf."""
        if decision not in REVIEW_DECISIONS:
            raise InputError("decision", f"{decision!r} is not one of "
                             f"{', '.join(REVIEW_DECISIONS)}")
        text = _reason(reason, "reason")
        ledger_refs = finding.get("ledger")
        refs = ledger_refs if isinstance(ledger_refs, dict) else {}
        record = Review(run_id=finding.get("run_id"), match_id=finding["id"],
                        finding_id=finding["id"],
                        finding_leaf=(refs.get("match") or {}).get("leaf_hash"),
                        decision=decision, reason=text, by=user.name, role=user.role,
                        at=local_now())
        return self._store_row(record, user)

    def signoff(self, user: User, finding: dict[str, Any], decision: str,
                reason: str | None) -> ReviewRow:
        """A supervisor's sign-off on the latest review; never on one's own review."""
        if decision not in SIGNOFF_DECISIONS:
            raise InputError("decision", f"{decision!r} is not one of "
                             f"{', '.join(SIGNOFF_DECISIONS)}")
        text = _reason(reason, "reason")
        state = self.state(finding["id"])
        if state.review is None:
            raise ConflictError(N_("the finding has no review to sign off"))
        if state.signoff is not None:
            raise ConflictError(N_("the latest review is already signed off"))
        if state.review.user_name == user.name:
            raise ConflictError(N_("a supervisor cannot sign off their own review (four eyes)"))
        record = Signoff(run_id=finding.get("run_id"), match_id=finding["id"],
                         finding_id=finding["id"], review_leaf=state.review.leaf_hash,
                         review_decision=state.review.decision, decision=decision,
                         reason=text, by=user.name, role=user.role, at=local_now())
        return self._store_row(record, user)

    def _store_row(self, record: Review | Signoff, user: User) -> ReviewRow:
        index, leaf = self._append(record)
        row = ReviewRow(id=record.id, finding_id=record.finding_id, kind=record.record_type,
                        decision=record.decision, reason=record.reason, user_name=user.name,
                        role=user.role, at=datetime.fromisoformat(record.at).astimezone(UTC),
                        leaf_index=index, leaf_hash=leaf)
        with self.store.session() as session:
            session.add(row)
        from netwarden.web.webhooks import queue_review

        queue_review(self.store, row)  # signed POSTs to receivers (web/webhooks.py)
        if self.can_sign:  # make the new leaf provable at once
            with self._lock:
                self.ledger.checkpoint()
        return row

    def pseudonym_view(self, user: User, finding: dict[str, Any], pseudonym: str, what: str,
                       why: str) -> int:
        """Record that ``user`` is being shown ``pseudonym``; returns the leaf index."""
        return self._append(PseudonymView(
            run_id=finding.get("run_id"), match_id=finding["id"], finding_id=finding["id"],
            pseudonym=pseudonym, by=user.name, role=user.role, at=local_now(), what=what,
            why=why))[0]

    # -- reading ------------------------------------------------------------------------------

    def trail(self, limit: int = 200, finding_id: str | None = None) -> list[dict[str, Any]]:
        """Review, sign-off, pseudonym-view and reveal leaves, newest first."""
        out = []
        for leaf in self.ledger.entries(TRAIL_TYPES, match_id=finding_id, newest_first=True,
                                        limit=limit):
            item = leaf.record()
            item["leaf_index"] = leaf.index
            item["leaf_hash"] = leaf.leaf_hash.hex()
            out.append(item)
        return out

    def chain(self, finding: dict[str, Any]) -> list[tuple[str, int, str]]:
        """``(role, leaf index, leaf hash hex)`` of the finding's chain and its reviews."""
        refs = finding.get("ledger")
        out: list[tuple[str, int, str]] = []
        if isinstance(refs, dict):
            for role in CHAIN_ROLES:
                ref = refs.get(role)
                if isinstance(ref, dict) and isinstance(ref.get("index"), int):
                    out.append((role, ref["index"], str(ref.get("leaf_hash", ""))))
        for row in self.state(finding["id"]).history:
            out.append((row.kind, row.leaf_index, row.leaf_hash))
        return out

    def proof(self, finding: dict[str, Any]) -> dict[str, Any]:
        """The finding's leaves with their entries and inclusion proofs against the newest
        checkpoint, each checked here; the browser checks the same data again."""
        chain = self.chain(finding)
        checkpoint = self.ledger.latest_checkpoint()
        top = max((i for _, i, _ in chain), default=-1)
        if (checkpoint is None or checkpoint.size <= top) and self.can_sign:
            with self._lock:
                checkpoint = self.ledger.checkpoint()
        keys = self.ledger.public_keys()
        result: dict[str, Any] = {"finding_id": finding["id"], "checkpoint": None,
                                  "verifier_key": None, "leaves": []}
        if checkpoint is not None:
            key = keys.get(checkpoint.key_id)
            result["checkpoint"] = {"size": checkpoint.size,
                                    "root": base64.b64encode(checkpoint.root).decode(),
                                    "note": checkpoint.note, "key_id": checkpoint.key_id,
                                    "created_at": checkpoint.created_at.isoformat()}
            if key is not None:
                name, public = key
                result["verifier_key"] = {"name": name, "key_id": checkpoint.key_id,
                                          "public_key": base64.b64encode(public).decode(),
                                          "vkey": VerifierKey(name, public).vkey}
        for role, index, claimed in chain:
            item: dict[str, Any] = {"role": role, "index": index, "claimed_leaf_hash": claimed}
            try:
                entry = self.ledger.entry(index)
            except LedgerError as exc:
                item.update(entry=None, leaf_hash=None, proof=[], server_verified=False,
                            problem=str(exc))
                result["leaves"].append(item)
                continue
            lh = leaf_hash(entry)
            item.update(entry=base64.b64encode(entry).decode(), leaf_hash=lh.hex(), proof=[],
                        server_verified=False, problem=None)
            if lh.hex() != claimed:
                item["problem"] = "the ledger leaf does not hash to the hash the run recorded"
            if checkpoint is not None and index < checkpoint.size:
                proof = self.ledger.inclusion_proof(index, checkpoint.size)
                item["proof"] = [p.hex() for p in proof]
                try:
                    item["server_verified"] = (item["problem"] is None and verify_inclusion(
                        lh, index, checkpoint.size, proof, checkpoint.root))
                except ProofError as exc:
                    item["problem"] = str(exc)
            elif checkpoint is not None:
                item["problem"] = "leaf is newer than the latest checkpoint"
            result["leaves"].append(item)
        return result
