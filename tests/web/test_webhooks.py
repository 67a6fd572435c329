"""Webhooks against a real HTTP receiver on loopback: signed (HMAC-SHA256, timestamped) POSTs
for new CSAM findings and review decisions, retried after a failure, with a delivery log;
the key is shown once and never stored."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from netwarden.export.model import track_of
from netwarden.web import webhooks
from netwarden.web.models import DeliveryRow, WebhookRow

from .conftest import BOTH_BACKENDS, Site, login

pytestmark = BOTH_BACKENDS

class Receiver:
    """A loopback HTTP server that checks each POST's signature with the key it was given
    and answers 500 to the first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.key = ""
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = webhooks.verify(receiver.key, self.headers[webhooks.TIMESTAMP_HEADER],
                                     body, self.headers[webhooks.SIGNATURE_HEADER])
                receiver.received.append({"ok": ok, "body": json.loads(body),
                                          "event": self.headers["X-Netwarden-Event"]})
                status = 500 if len(receiver.received) <= receiver.fail_first else 204
                self.send_response(status if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=1) as r:
        yield r


def _cli(*args: str) -> tuple[int, str]:
    from netwarden.cli import _load_commands, app

    _load_commands(list(args))
    r = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def test_signed_posts_for_csam_findings_and_reviews_with_retries(
        site: Site, receiver: Receiver, tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    code, out = _cli("webhook", "add", receiver.url, "--db", site.db_url, "--key-dir",
                     str(key_dir), "--json")
    assert code == 0, out
    added = json.loads(out)
    receiver.key = added["key"]
    with site.store.session() as s:  # the seed's findings count as new for this webhook
        s.execute(update(WebhookRow).values(created_at=webhooks.now() - timedelta(days=1)))
        row = s.get(WebhookRow, added["id"])
        assert row.key_fingerprint == hashlib.sha256(added["key"].encode()).hexdigest()
    assert (key_dir / webhooks.MASTER_KEY).stat().st_mode & 0o777 == 0o600
    # a review decision through the web app
    client = site.client()
    csrf = login(client, "alice")
    fid = site.seed.findings[0]["id"]
    r = client.post(f"/api/v1/findings/{fid}/review", headers={"X-CSRF-Token": csrf},
                    json={"decision": "confirmed", "reason": "digest equals the reference"})
    assert r.status_code == 201
    csam = [f for f in site.seed.findings if track_of(f) == "csam"]
    first = webhooks.deliver_due(site.store, key_dir, backoff=timedelta(0))
    assert first == {"delivered": len(csam), "retry": 1, "failed": 0}
    second = webhooks.deliver_due(site.store, key_dir, backoff=timedelta(0))
    assert second == {"delivered": 1, "retry": 0, "failed": 0}  # the retry
    assert webhooks.deliver_due(site.store, key_dir) == {"delivered": 0, "retry": 0,
                                                           "failed": 0}
    assert all(x["ok"] for x in receiver.received)
    events = [x["body"] for x in receiver.received if x["event"] == "finding.csam"]
    assert len(events) == len(csam)
    assert {e["data"]["id"] for e in events} == {f["id"] for f in csam}
    reviews = [x["body"]["data"] for x in receiver.received if x["event"] == "review.decision"]
    assert reviews[-1]["finding_id"] == fid and reviews[-1]["decision"] == "confirmed"
    assert reviews[-1]["by"] == "alice" and reviews[-1]["leaf_hash"]
    everything = json.dumps([x["body"] for x in receiver.received])
    assert "ps1_" not in everything  # never a pseudonym
    code, out = _cli("webhook", "deliveries", "--db", site.db_url, "--json")
    log = json.loads(out)
    assert len(log) == len(csam) + 1 and all(d["status"] == "delivered" for d in log)
    assert sorted(d["attempts"] for d in log)[-1] == 2
    assert any(d["attempts"] == 2 and d["last_status"] == 204 for d in log)
    # a wrong key is refused by the receiver: the check in the test is real
    assert not webhooks.verify("0" * 64, str(int(webhooks.time.time())), b"{}",
                               webhooks.sign(added["key"], int(webhooks.time.time()), b"{}"))


def test_gives_up_after_max_attempts_and_refuses_bad_urls(site: Site, tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    with Receiver(fail_first=100) as r:
        key, _ = webhooks.add_webhook(site.store, key_dir, r.url, ["review.decision"])
        r.key = key
        client = site.client()
        csrf = login(client, "alice")
        fid = site.seed.findings[0]["id"]
        client.post(f"/api/v1/findings/{fid}/review", headers={"X-CSRF-Token": csrf},
                    json={"decision": "rejected", "reason": "not the reference"})
        for _ in range(webhooks.MAX_ATTEMPTS):
            webhooks.deliver_due(site.store, key_dir, backoff=timedelta(0))
    with site.store.session() as s:
        row = s.scalar(select(DeliveryRow))
    assert (row.status, row.attempts, row.last_status) == ("failed", webhooks.MAX_ATTEMPTS,
                                                           500)
    assert len(r.received) == webhooks.MAX_ATTEMPTS
    for bad in ("http://192.0.2.1/hook", "ftp://127.0.0.1/x", "https://x.example/h?q=1",
                "https://user:pw@x.example/h"):
        with pytest.raises(Exception, match="must"):
            webhooks.add_webhook(site.store, key_dir, bad, ["review.decision"])
    with pytest.raises(Exception, match="events are"):
        webhooks.add_webhook(site.store, key_dir, r.url, ["everything"])
