"""Webhooks: signed, timestamped POSTs on new CSAM findings and on review decisions.

Why this shape:

* **Outbox.** An event is a ``web_webhook_deliveries`` row per webhook first; a delivery pass
  (:func:`deliver_due`, run by ``netwarden serve`` every few seconds and by
  ``netwarden webhook deliver``) POSTs what is due. A receiver that is down loses nothing; the
  rows are the delivery log (attempts, last HTTP status or error, delivered at).
* **New CSAM findings** are found by the pass itself (:func:`collect_findings`): rows of the
  ``findings`` table whose track is CSAM, observed after the webhook was added, without a
  delivery yet. Audits run in other processes and write only that table, so nothing in the
  pipeline has to know about webhooks. **Review decisions** are queued by the web app when
  the review or sign-off leaf is written (:func:`queue_review`).
* **Signature.** ``X-Netwarden-Signature: sha256=<hex>``, HMAC-SHA256 over
  ``<timestamp>.<body>`` with the webhook's key, and ``X-Netwarden-Timestamp`` (Unix
  seconds): a receiver checks the MAC in constant time and refuses old timestamps (replays).
  The key is never stored: it is HMAC-SHA256(master key, webhook id), the master key a
  0600 file beside the ledger key (``webhook.key`` in the key directory); the database keeps
  only the key's SHA-256 fingerprint. It is shown once, when the webhook is added.
* **Retries.** Non-2xx answers and network errors are retried with exponential back-off
  (30 s, 1 min, 2 min, ... ) up to ``MAX_ATTEMPTS``; then the row is ``failed``.
* **Content.** Payloads carry ids, categories, evidence levels, digests and ledger leaves;
  never content, never a pseudonym (a pseudonym view must be a ledger leaf of a person).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from netwarden.errors import InputError
from netwarden.store.base import Store
from netwarden.web.auth import _aware, now, record_event
from netwarden.web.models import DeliveryRow, WebhookRow

EVENTS = ("finding.csam", "review.decision")
MAX_ATTEMPTS = 6
BACKOFF = timedelta(seconds=30)
TIMEOUT = 10.0
MASTER_KEY = "webhook.key"
SIGNATURE_HEADER = "X-Netwarden-Signature"
TIMESTAMP_HEADER = "X-Netwarden-Timestamp"


def _master(key_dir: Path, create: bool = False) -> bytes:
    path = key_dir / MASTER_KEY
    if not path.exists():
        if not create:
            raise InputError(str(path), "no webhook master key (add a webhook first)")
        key_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def webhook_key(key_dir: Path, webhook_id: str) -> str:
    """The webhook's HMAC key (hex), derived; never stored."""
    return hmac.new(_master(key_dir), f"netwarden-webhook:{webhook_id}".encode(),
                    hashlib.sha256).hexdigest()


def sign(key: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(key, ``<timestamp>.<body>``): what receivers check."""
    mac = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(key: str, timestamp: str, body: bytes, signature: str, max_age: int = 300) -> bool:
    """A receiver's check (for the docs and tests): constant-time MAC, timestamp fresh."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > max_age:
        return False
    return hmac.compare_digest(sign(key, ts, body), signature)


@dataclass(frozen=True)
class Webhook:
    """A receiver as listed: id, URL, events, key fingerprint, when added, removed or not."""

    id: str
    url: str
    events: tuple[str, ...]
    key_fingerprint: str
    created_at: datetime
    disabled: bool


def _hook(row: WebhookRow) -> Webhook:
    return Webhook(row.id, row.url, tuple(row.events.split(",")), row.key_fingerprint,
                   _aware(row.created_at), row.disabled)


def add_webhook(store: Store, key_dir: Path, url: str, events: list[str]) -> tuple[str, Webhook]:
    """Register a receiver; returns (its HMAC key, shown once; the webhook)."""
    from urllib.parse import urlsplit

    from netwarden.web.oidc import check_url

    check_url("url", url)
    if len(url) > 500:
        raise InputError("url", "at most 500 characters")
    if urlsplit(url).username is not None:  # it would be stored and logged in clear
        raise InputError("url", "must not carry a user name or password; the receiver "
                         "checks the signature instead")
    events = list(dict.fromkeys(events))
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise InputError("--events", f"{', '.join(unknown) or '(none)'}: events are "
                         f"{', '.join(EVENTS)}")
    _master(key_dir, create=True)
    hook_id = secrets.token_hex(8)
    key = webhook_key(key_dir, hook_id)
    row = WebhookRow(id=hook_id, url=url, events=",".join(events),
                     key_fingerprint=hashlib.sha256(key.encode()).hexdigest(),
                     created_at=now(), disabled=False)
    with store.session() as session:
        session.add(row)
    record_event(store, "webhook_added", client="cli", detail=f"webhook {hook_id} {url} "
                 f"events={','.join(events)}")
    return key, _hook(row)


def remove_webhook(store: Store, hook_id: str) -> None:
    """Stop sending to a webhook; the row stays (marked disabled) so its log keeps its name."""
    with store.session() as session:
        row = session.get(WebhookRow, hook_id)
        if row is None:
            raise InputError("webhook", f"no webhook {hook_id!r}")
        row.disabled = True
    record_event(store, "webhook_removed", client="cli", detail=f"webhook {hook_id}")


def list_webhooks(store: Store) -> list[Webhook]:
    """Every webhook, oldest first (never a key: none is stored)."""
    with store.session() as session:
        return [_hook(r) for r in session.scalars(select(WebhookRow).order_by(
            WebhookRow.created_at))]


def _queue(session: Any, hook: WebhookRow, event: str, key: str, payload: dict[str, Any]
           ) -> bool:
    exists = session.scalar(select(DeliveryRow.id).where(
        DeliveryRow.webhook_id == hook.id, DeliveryRow.event_key == key))
    if exists is not None:
        return False
    t = now()
    delivery_id = secrets.token_hex(16)
    body = {"id": delivery_id, "event": event, "at": t.isoformat(), "data": payload}
    session.add(DeliveryRow(id=delivery_id, webhook_id=hook.id, event=event, event_key=key,
                            payload=json.dumps(body, sort_keys=True), status="pending",
                            attempts=0, next_attempt_at=t, created_at=t))
    return True


def _active(session: Any, event: str) -> list[WebhookRow]:
    return [h for h in session.scalars(select(WebhookRow).where(WebhookRow.disabled.is_(False)))
            if event in h.events.split(",")]


def queue_review(store: Store, review: Any) -> int:
    """Queue a ``review.decision`` for every webhook that wants it (a review or sign-off row)."""
    payload = {"finding_id": review.finding_id, "kind": review.kind,
               "decision": review.decision, "by": review.user_name, "role": review.role,
               "at": _aware(review.at).isoformat(), "leaf_index": review.leaf_index,
               "leaf_hash": review.leaf_hash}
    with store.session() as session:
        return sum(_queue(session, h, "review.decision", f"review:{review.id}", payload)
                   for h in _active(session, "review.decision"))


def finding_payload(finding: dict[str, Any]) -> dict[str, Any]:
    """What a receiver learns of a CSAM finding: no content, no pseudonym."""
    from netwarden.export.model import attribution_status, matches_of, track_of

    found_digests = finding.get("digests")
    digests: dict[str, Any] = found_digests if isinstance(found_digests, dict) else {}
    return {"id": finding.get("id"), "run_id": finding.get("run_id"),
            "operator": finding.get("operator"), "track": track_of(finding),
            "evidence_level": finding.get("evidence_level"),
            "observed_at": finding.get("observed_at"), "protocol": finding.get("protocol"),
            "host": finding.get("host"), "port": finding.get("port"),
            "operator_infrastructure": finding.get("operator_infrastructure"),
            "attribution_status": attribution_status(finding),
            "sha256": digests.get("sha256"),
            "matches": [{"bank": m.bank, "category": m.category, "reference": m.reference,
                         "method": m.method, "algorithm": m.algorithm, "distance": m.distance,
                         "leaf_index": m.leaf_index, "leaf_hash": m.leaf_hash}
                        for m in matches_of(finding)]}


def collect_findings(store: Store) -> int:
    """Queue ``finding.csam`` for CSAM findings observed since each webhook was added.

    The query narrows in SQL to candidate rows (a CSAM category, or a schema-2 line whose
    track is CSAM) that no webhook has a delivery for yet, so a pass every few seconds does
    not re-read every finding; :func:`track_of` then decides on the line itself."""
    from sqlalchemy import literal, or_

    from netwarden.export.model import track_of
    from netwarden.store.models_findings import FindingRow

    queued = 0
    with store.session() as session:
        hooks = _active(session, "finding.csam")
        if not hooks:
            return 0
        since = min(_aware(h.created_at) for h in hooks)
        deliveries_of_row = (
            select(func.count(DeliveryRow.id))
            .where(DeliveryRow.event_key == literal("finding:") + FindingRow.id,
                   DeliveryRow.webhook_id.in_([h.id for h in hooks]))
            .correlate(FindingRow).scalar_subquery())
        rows = session.scalars(select(FindingRow).where(
            FindingRow.observed_at >= since,
            or_(FindingRow.category.ilike("%csam%"), FindingRow.data.contains('"track":"csam"')),
            deliveries_of_row < len(hooks)))
        for row in rows:
            finding = row.finding()
            if track_of(finding) != "csam":
                continue
            for h in hooks:
                if _aware(row.observed_at) >= _aware(h.created_at):
                    queued += _queue(session, h, "finding.csam", f"finding:{row.id}",
                                     finding_payload(finding))
    return queued


def deliver_due(store: Store, key_dir: Path, *, backoff: timedelta = BACKOFF,
                client: httpx.Client | None = None) -> dict[str, int]:
    """One delivery pass: collect new CSAM findings, POST every due delivery once; returns
    counts by outcome (``delivered``, ``retry``, ``failed``)."""
    collect_findings(store)
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    t = now()
    with store.session() as session:
        due = list(session.scalars(select(DeliveryRow).where(
            DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= t)
            .order_by(DeliveryRow.created_at).limit(200)))
        hooks = {h.id: h for h in session.scalars(select(WebhookRow))}
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
    try:
        for d in due:
            hook = hooks.get(d.webhook_id)
            if hook is None or hook.disabled:
                _finish(store, d.id, "failed", None, "webhook removed", backoff)
                counts["failed"] += 1
                continue
            body = d.payload.encode()
            ts = int(time.time())
            headers = {"Content-Type": "application/json", "User-Agent": "netwarden-webhook",
                       "X-Netwarden-Event": d.event, "X-Netwarden-Delivery": d.id,
                       TIMESTAMP_HEADER: str(ts),
                       SIGNATURE_HEADER: sign(webhook_key(key_dir, hook.id), ts, body)}
            status, error = None, None
            try:
                response = http.post(hook.url, content=body, headers=headers)
                status = response.status_code
                ok = 200 <= status < 300
                if not ok:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"[:300]
            outcome = _finish(store, d.id, "delivered" if ok else "retry", status, error,
                              backoff)
            counts[outcome] += 1
    finally:
        if own:
            http.close()
    return counts


def _finish(store: Store, delivery_id: str, outcome: str, status: int | None,
            error: str | None, backoff: timedelta) -> str:
    with store.session() as session:
        row = session.get(DeliveryRow, delivery_id)
        if row is None:  # removed with its webhook while being sent: nothing left to update
            return "failed"
        row.attempts += 1
        row.last_status, row.last_error = status, error
        if outcome == "delivered":
            row.status, row.delivered_at = "delivered", now()
        elif outcome == "failed" or row.attempts >= MAX_ATTEMPTS:
            row.status, outcome = "failed", "failed"
        else:
            row.next_attempt_at = now() + backoff * (2 ** (row.attempts - 1))
        return outcome


def deliveries(store: Store, hook_id: str | None = None, limit: int = 200
               ) -> list[DeliveryRow]:
    """The delivery log, newest first."""
    query = select(DeliveryRow).order_by(DeliveryRow.created_at.desc()).limit(limit)
    if hook_id:
        query = query.where(DeliveryRow.webhook_id == hook_id)
    with store.session() as session:
        return list(session.scalars(query))
