"""SMTP delivery of notices: STARTTLS, authentication, bounded waits, the server's answer kept.

Why step by step (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA) instead of ``send_message``: the
evidence is the server's own answer to DATA (``250 2.0.0 queued as …``); a notice is
``accepted`` only when the server said so, and every other ending — a refusal (4xx/5xx), a
server that never answers, a TLS or login failure — is a recorded outcome with the code and
text, never an exception and never an assumed delivery.

Every socket operation has ``timeout`` seconds and the whole exchange ``total_timeout``: a
watchdog closes the socket when the total is spent, so a server that trickles an endless
multi-line reply cannot hold us either.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from netwarden.errors import InputError
from netwarden.notices.formats.base import Party, Rendered

OUTCOMES = ("accepted", "refused", "timeout", "connection_failed", "tls_failed",
            "auth_failed", "protocol_error")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to deliver. ``starttls``: require STARTTLS (never fall back to clear)."""

    host: str
    port: int = 25
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0  # per socket operation
    total_timeout: float = 60.0  # the whole exchange
    cafile: str | None = None  # trust anchors for STARTTLS (default: the system's)
    verify: bool = True  # check the server certificate and name
    allow_plain_auth: bool = False  # AUTH without TLS (only for loopback tests)
    local_hostname: str = "netwarden.invalid"

    @classmethod
    def from_table(cls, table: dict[str, Any], source: str) -> SmtpSettings:
        known = set(cls.__dataclass_fields__)
        for key in table:
            if key not in known:
                raise InputError(source, f"unknown key (known: {', '.join(sorted(known))})",
                                 f"smtp.{key}")
        if not isinstance(table.get("host"), str) or not table["host"]:
            raise InputError(source, "is required", "smtp.host")
        for key in ("timeout", "total_timeout"):
            value = table.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InputError(source, "must be a positive number of seconds", f"smtp.{key}")
        port = table.get("port", 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InputError(source, "must be a port number", "smtp.port")
        return cls(**table)


@dataclass(frozen=True)
class Delivery:
    """The recorded outcome of one delivery attempt."""

    outcome: str
    code: int | None
    message: str
    started_at: datetime
    finished_at: datetime
    host: str
    port: int
    tls: bool
    recipients_refused: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "code": self.code, "message": self.message,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat(), "host": self.host,
                "port": self.port, "tls": self.tls,
                "recipients_refused": list(self.recipients_refused)}


def build_message(rendered: Rendered, notifier: Party, recipient: Party, notice_id: str,
                  created_at: datetime) -> EmailMessage:
    """The MIME message of a rendered notice (text body plus its attachments)."""
    if not recipient.email:
        raise InputError("recipient", "an e-mail address is required", "email")
    msg = EmailMessage()
    sender = notifier.email or "notices@netwarden.invalid"
    msg["From"] = f"{notifier.entity} <{sender}>" if notifier.entity else sender
    msg["To"] = f"{recipient.entity} <{recipient.email}>" if recipient.entity \
        else recipient.email
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(created_at.astimezone(UTC))
    msg["Message-ID"] = make_msgid(idstring=notice_id, domain="netwarden.invalid")
    msg["X-Netwarden-Notice"] = notice_id
    msg.set_content(rendered.text)
    for filename, mime, data in rendered.attachments:
        maintype, _, rest = mime.partition("/")
        subtype = rest.split(";")[0].strip() or "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message exactly as it goes on the wire (CRLF line ends, RFC 5321 §2.3.8).

    ``smtplib.SMTP.data`` sends bytes unchanged, so LF-only lines would reach the server as
    one endless line (a real server refuses it: "Line too long").
    """
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _text(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else value)[:2000]


def deliver(msg: EmailMessage, settings: SmtpSettings) -> Delivery:
    """Deliver ``msg`` and return what happened (see the module docstring)."""
    started = datetime.now(UTC)
    box: dict[str, Any] = {"tls": False}
    smtp_ref: list[smtplib.SMTP] = []
    expired = threading.Event()

    def watchdog() -> None:
        expired.set()
        for smtp in smtp_ref:
            sock = getattr(smtp, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(settings.total_timeout, watchdog)
    timer.daemon = True
    timer.start()
    try:
        outcome, code, text, refused = _exchange(msg, settings, smtp_ref, box)
    finally:
        timer.cancel()
    if expired.is_set() and outcome != "accepted":
        outcome, text = "timeout", (f"the whole exchange took longer than "
                                    f"{settings.total_timeout:g} s (last: {text})")
    return Delivery(outcome, code, text, started, datetime.now(UTC), settings.host,
                    settings.port, box["tls"], tuple(refused))


class _SMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose STARTTLS checks the certificate against the host connected to.

    ``starttls()`` verifies the server's name against ``_host``, which only ``__init__`` with a
    host sets — and that form connects at once and raises on a refusing greeting, hiding the
    code we record. ``connect()`` alone leaves ``_host`` empty, so it is set here.
    """

    _host: str


def _exchange(msg: EmailMessage, settings: SmtpSettings, smtp_ref: list[smtplib.SMTP],
              box: dict[str, Any]) -> tuple[str, int | None, str, list[str]]:
    stage = "connect"
    smtp = _SMTP(timeout=settings.timeout, local_hostname=settings.local_hostname)
    smtp_ref.append(smtp)
    try:
        code, banner = smtp.connect(settings.host, settings.port)
        smtp._host = settings.host  # STARTTLS checks the certificate against this name
        if code != 220:
            return "refused", code, f"greeting: {_text(banner)}", []
        stage = "EHLO"
        code, reply = smtp.ehlo()
        if code != 250:
            code, reply = smtp.helo()
            if code != 250:
                return "refused", code, f"HELO: {_text(reply)}", []
        if settings.starttls:
            stage = "STARTTLS"
            if not smtp.has_extn("starttls"):
                return ("tls_failed", None, "the server does not offer STARTTLS and the "
                        "settings require it; nothing was sent in clear", [])
            context = ssl.create_default_context(cafile=settings.cafile)
            if not settings.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            try:
                code, reply = smtp.starttls(context=context)
            except ssl.SSLError as exc:
                return "tls_failed", None, f"TLS handshake failed: {exc}", []
            box["tls"] = True
            smtp.ehlo()
        if settings.username:
            stage = "AUTH"
            if not box["tls"] and not settings.allow_plain_auth:
                return ("auth_failed", None, "refusing to send credentials without TLS "
                        "(set allow_plain_auth only for loopback tests)", [])
            try:
                code, reply = smtp.login(settings.username, settings.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                return "auth_failed", exc.smtp_code, _text(exc.smtp_error), []
            except smtplib.SMTPNotSupportedError as exc:
                return "auth_failed", None, f"the server offers no AUTH: {exc}", []
        stage = "MAIL FROM"
        sender = msg["From"].addresses[0].addr_spec if msg["From"] else ""
        code, reply = smtp.mail(sender)
        if code != 250:
            return "refused", code, f"MAIL FROM: {_text(reply)}", []
        stage = "RCPT TO"
        recipients = [a.addr_spec for a in msg["To"].addresses]
        refused: list[str] = []
        last: tuple[int, bytes] = (0, b"")
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused.append(rcpt)
                last = (code, reply)
        if len(refused) == len(recipients):
            return "refused", last[0], f"RCPT TO: {_text(last[1])}", refused
        stage = "DATA"
        code, reply = smtp.data(message_bytes(msg))
        if code != 250:
            return "refused", code, f"DATA: {_text(reply)}", refused
        outcome = ("accepted", code, _text(reply), refused)
        stage = "QUIT"
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()  # the message was already accepted
        return outcome
    except TimeoutError as exc:
        return "timeout", None, f"no answer within {settings.timeout:g} s at {stage}: {exc}", []
    except smtplib.SMTPServerDisconnected as exc:
        if "timed out" in str(exc):  # smtplib wraps a read timeout in a disconnect
            return ("timeout", None, f"no answer within {settings.timeout:g} s at {stage}: "
                    f"{exc}", [])
        return "connection_failed", None, f"the server closed the connection at {stage}: " \
            f"{exc}", []
    except smtplib.SMTPResponseException as exc:
        return "refused", exc.smtp_code, f"{stage}: {_text(exc.smtp_error)}", []
    except ssl.SSLError as exc:
        return "tls_failed", None, f"{stage}: {exc}", []
    except (ConnectionError, OSError) as exc:
        kind = "connection_failed" if stage == "connect" else "protocol_error"
        return kind, None, f"{stage}: {type(exc).__name__}: {exc}", []
    except smtplib.SMTPException as exc:
        return "protocol_error", None, f"{stage}: {exc}", []
    finally:
        with contextlib.suppress(OSError):
            smtp.close()

