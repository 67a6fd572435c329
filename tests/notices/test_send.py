"""SMTP delivery against real servers on loopback: accepted, refused, hung, STARTTLS + AUTH."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, datetime
from pathlib import Path

from netwarden.notices.formats import get_format
from netwarden.notices.formats.base import NoticeInput, Party
from netwarden.notices.send import SmtpSettings, build_message, deliver

from .smtp_servers import (
    Recorder,
    Refuser,
    authenticator,
    self_signed,
    silent_server,
    smtp_server,
    tls_context,
)

FINDING = {"id": "f1", "category": "film", "title": "Брат 2", "reference": "FILM-0001",
           "bank": "films", "location": "ftp://127.77.0.10:21/films/%D0%91.mkv",
           "host": "127.77.0.10", "port": 21, "protocol": "ftp",
           "observed_at": "2026-11-04T10:00:00+00:00", "name": "Б.mkv", "size": 1000,
           "digests": {"sha256": "ab" * 32}, "evidence_level": "served"}
NOTIFIER = Party(entity="Rights Ltd", email="rights@example.test", signature="/s/ R")
RECIPIENT = Party(entity="Example Telecom", email="abuse@example.test")


def _message(fmt: str = "acns"):
    rendered = get_format(fmt).render(NoticeInput("n1", datetime.now(UTC), [FINDING],
                                                  NOTIFIER, RECIPIENT))
    return build_message(rendered, NOTIFIER, RECIPIENT, "n1", datetime.now(UTC))


def test_accepted_message_arrives_intact_with_the_servers_answer() -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        result = deliver(_message(), SmtpSettings("127.88.0.25", port, starttls=False))
    assert result.outcome == "accepted" and result.code == 250
    assert "queued as NW0001" in result.message
    got = email.message_from_bytes(handler.messages[0], policy=email.policy.default)
    assert got["X-Netwarden-Notice"] == "n1"
    xml = next(p for p in got.iter_attachments() if p.get_filename().endswith(".xml"))
    assert b"<IP_Address>127.77.0.10</IP_Address>" in xml.get_content()
    assert handler.envelopes[0].rcpt_tos == ["abuse@example.test"]


def test_refusing_server_is_a_recorded_refusal_not_a_delivery() -> None:
    with smtp_server(Refuser()) as port:
        result = deliver(_message(), SmtpSettings("127.88.0.25", port, starttls=False))
    assert result.outcome == "refused" and result.code == 554
    assert "Relay access denied" in result.message
    assert result.recipients_refused == ("abuse@example.test",)


def test_data_refused_with_its_code() -> None:
    with smtp_server(Recorder(reply="552 5.3.4 Message too big")) as port:
        result = deliver(_message(), SmtpSettings("127.88.0.25", port, starttls=False))
    assert (result.outcome, result.code) == ("refused", 552)


def test_server_that_hangs_times_out_within_the_bound() -> None:
    with silent_server() as port:
        started = time.monotonic()
        result = deliver(_message(), SmtpSettings("127.88.0.26", port, starttls=False,
                                                  timeout=0.5, total_timeout=3))
        elapsed = time.monotonic() - started
    assert result.outcome == "timeout", result
    assert elapsed < 3


def test_nobody_listening_is_connection_failed() -> None:
    from .smtp_servers import free_port

    port = free_port("127.88.0.27")
    result = deliver(_message(), SmtpSettings("127.88.0.27", port, starttls=False, timeout=2))
    assert result.outcome == "connection_failed"


def test_starttls_required_but_not_offered_sends_nothing() -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        result = deliver(_message(), SmtpSettings("127.88.0.25", port, starttls=True))
    assert result.outcome == "tls_failed" and not handler.messages


def test_starttls_and_auth(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "127.88.0.28")
    handler = Recorder()
    with smtp_server(handler, host="127.88.0.28", tls_context=tls_context(cert, key),
                     require_starttls=True, auth_required=True,
                     authenticator=authenticator("desk", "s3cret")) as port:
        ok = deliver(_message("dsa"), SmtpSettings("127.88.0.28", port, cafile=str(cert),
                                                   username="desk", password="s3cret"))
        bad = deliver(_message("dsa"), SmtpSettings("127.88.0.28", port, cafile=str(cert),
                                                    username="desk", password="wrong"))
        untrusted = deliver(_message("dsa"), SmtpSettings("127.88.0.28", port,
                                                          username="desk",
                                                          password="s3cret"))
    assert ok.outcome == "accepted" and ok.tls, ok
    assert bad.outcome == "auth_failed" and bad.code == 535
    assert untrusted.outcome == "tls_failed"  # a certificate we do not trust is refused
    assert len(handler.messages) == 1
