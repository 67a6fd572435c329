"""``netwarden notice ingest FILE.eml``: the abuse desk's side — ACNS notices from e-mail.

A rightholder's agent mails an ACNS 2.0 XML document either as an attachment or inline in the
text (often inside a PGP-signed body). We find every ``<Infringement>`` document, repair the
one defect real senders are known for (a bare ``&`` in titles and addresses), and parse it with
:mod:`defusedxml`, which refuses DTDs, entity declarations and external references — so an XXE
or billion-laughs payload is rejected, never expanded. The notice's IP, port and UTC time are
then attributed to a subscriber *pseudonym* with the same machinery as the audit's findings.

Every input is bounded (message size, document size, number of documents). A notice that
cannot be used — no ACNS document, hostile XML, a missing required element — raises an
InputError naming the file and the problem, and is recorded as ``rejected`` (with the message's
SHA-256) so nothing received is lost.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from netwarden.errors import InputError
from netwarden.notices.formats.acns import NAMESPACE
from netwarden.notices.models import NoticeRow
from netwarden.records import IncomingNotice, new_id

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_XML_BYTES = 1024 * 1024
MAX_DOCUMENTS = 50
MAX_PARTS = 200
MAX_MULTIPARTS = 64
_MULTIPART = re.compile(rb"content-type:\s*(?:multipart|message)/", re.IGNORECASE)

_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?Infringement\b")
_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?Infringement\s*>")
_BARE_AMP = re.compile(r"&(?!(?:[A-Za-z_][\w.-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
MAX_SIZE = 2**53 - 1  # a FileSize the ledger's canonical JSON can carry exactly
REQUIRED = ("Case/ID", "Source/TimeStamp", "Source/IP_Address")


@dataclass(frozen=True)
class AcnsNotice:
    """The fields of one ACNS document that an abuse desk acts on."""

    case_id: str
    complainant: dict[str, str]
    service_provider: dict[str, str]
    timestamp: datetime
    ip: str
    port: int | None
    type: str | None
    items: list[dict[str, Any]] = field(default_factory=list)
    notes: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "complainant": self.complainant,
                "service_provider": self.service_provider,
                "timestamp": self.timestamp.isoformat(), "ip": self.ip, "port": self.port,
                "type": self.type, "items": self.items}


@dataclass
class IngestResult:
    """What ``ingest`` recorded for one e-mail."""

    notice_ids: list[str]
    notices: list[AcnsNotice]
    attributions: list[dict[str, Any]]
    message_sha256: str


def extract_documents(raw: bytes, source: str) -> list[str]:
    """The ACNS XML documents in an e-mail: XML attachments first, then inline text."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InputError(source, f"message larger than {MAX_MESSAGE_BYTES} bytes")
    # The standard library parses and walks MIME recursively: a message nested 2,000 deep
    # ends in RecursionError. Refuse messages with more multipart containers than any real
    # notice has before parsing, and treat a recursion that still happens as bad input.
    containers = len(_MULTIPART.findall(raw))
    if containers > MAX_MULTIPARTS:
        raise InputError(source, f"more than {MAX_MULTIPARTS} multipart or message "
                         f"containers ({containers}): not a notice")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for count, part in enumerate(msg.walk()):
            if count >= MAX_PARTS:
                raise InputError(source, f"more than {MAX_PARTS} MIME parts")
            parts.append(part)
    except RecursionError:
        raise InputError(source, "MIME parts are nested too deeply to be parsed") from None
    attached: list[str] = []
    inline: list[str] = []
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = (part.get_filename() or "").lower()
        try:
            decoded = part.get_payload(decode=True)
        except Exception:  # a broken transfer encoding is one unusable part
            continue
        # decode=True gives a leaf part's bytes, or None when it has no payload at all
        payload = decoded if isinstance(decoded, bytes) else b""
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "replace")
        except (LookupError, UnicodeError):  # unknown; or idna/punycode, which refuse 'replace'
            text = payload.decode("utf-8", "replace")
        is_xml = ctype in ("application/xml", "text/xml") or filename.endswith(".xml")
        found = _documents_in(text)
        (attached if is_xml else inline).extend(found)
    docs = attached or inline
    if not docs:
        raise InputError(source, "no ACNS <Infringement> document found (neither an XML "
                         "attachment nor inline text)")
    if len(docs) > MAX_DOCUMENTS:
        raise InputError(source, f"more than {MAX_DOCUMENTS} ACNS documents")
    return docs


def _documents_in(text: str) -> list[str]:
    """``<Infringement>…</Infringement>`` documents in ``text`` (linear scan, bounded count).

    A ``<!DOCTYPE`` shortly before a document is kept with it, so a hostile DTD reaches the
    parser and is refused as such instead of being silently cut off.
    """
    out: list[str] = []
    pos = 0
    while len(out) <= MAX_DOCUMENTS:
        start = _START.search(text, pos)
        if start is None:
            break
        end = _END.search(text, start.end())
        if end is None:
            break
        begin = start.start()
        doctype = text.rfind("<!DOCTYPE", max(0, begin - 65536), begin)
        out.append(text[doctype if doctype != -1 else begin:end.end()])
        pos = end.end()
    return out


def _find(root: Any, path: str) -> Any:
    ns = {"a": NAMESPACE}
    q = "/".join(f"a:{p}" for p in path.split("/"))
    el = root.find(q, ns)
    if el is None:  # documents without (or with another) namespace
        el = root.find(path)
    return el


def _text(root: Any, path: str) -> str | None:
    el = _find(root, path)
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def _size(text: str | None) -> int | None:
    """A FileSize of ASCII digits up to :data:`MAX_SIZE`, else None ("²" raised ValueError and
    a 30-digit size could not be canonicalised for the ledger; issue 14)."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 16:
        return None
    value = int(text)
    return value if value <= MAX_SIZE else None


def parse_acns(document: str, source: str) -> AcnsNotice:
    """Parse one ACNS document safely; InputError for hostile XML or missing fields."""
    if len(document.encode("utf-8")) > MAX_XML_BYTES:
        raise InputError(source, f"ACNS document larger than {MAX_XML_BYTES} bytes")
    repaired = _BARE_AMP.sub("&amp;", document)
    repaired = re.sub(r"^\s*<\?xml[^>]*\?>", "", repaired)  # str input: drop the encoding decl
    try:
        root = SafeET.fromstring(repaired, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DefusedXmlException as exc:
        raise InputError(source, f"refused hostile XML ({type(exc).__name__}: DTDs, entity "
                         "declarations and external references are not accepted)") from None
    except SafeET.ParseError as exc:
        raise InputError(source, f"ACNS XML is not well-formed: {exc}") from None
    missing = [p for p in REQUIRED if _text(root, p) is None]
    items = []
    content = _find(root, "Content")
    if content is not None:
        for item in list(content)[:1000]:
            hashes = {}
            for h in list(item)[:50]:
                if h.tag.rsplit("}", 1)[-1] == "Hash" and h.text:
                    hashes[(h.get("Type") or "unknown").lower()] = h.text.strip()
            size = _text(item, "FileSize")
            items.append({"title": _text(item, "Title"), "file_name": _text(item, "FileName"),
                          "file_size": _size(size),
                          "hashes": hashes, "timestamp": _text(item, "TimeStamp")})
    if not any(i["file_name"] or i["hashes"] for i in items):
        missing.append("Content/Item/FileName or Hash")
    if missing:
        raise InputError(source, f"ACNS notice lacks required element(s): {', '.join(missing)}")
    stamp = _text(root, "Source/TimeStamp") or ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(source, f"Source/TimeStamp {stamp!r} is not an ISO 8601 time",
                         "Source/TimeStamp") from None
    if when.tzinfo is None:
        raise InputError(source, f"Source/TimeStamp {stamp!r} has no UTC offset: a local time "
                         "cannot be attributed", "Source/TimeStamp")
    try:
        when = when.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+05:00" is before year 1 in UTC (issue 14)
        raise InputError(source, f"Source/TimeStamp {stamp!r} is outside the years 1-9999 in "
                         "UTC", "Source/TimeStamp") from None
    port_text = _text(root, "Source/Port")
    if port_text is not None and (not (port_text.isascii() and port_text.isdigit())
                                  or len(port_text) > 5 or not 0 < int(port_text) < 65536):
        raise InputError(source, f"Source/Port {port_text!r} is not a port", "Source/Port")

    def party(path: str) -> dict[str, str]:
        el = _find(root, path)
        if el is None:
            return {}
        return {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in list(el)[:20]}

    return AcnsNotice(case_id=_text(root, "Case/ID") or "", complainant=party("Complainant"),
                      service_provider=party("Service_Provider"),
                      timestamp=when, ip=_text(root, "Source/IP_Address") or "",
                      port=int(port_text) if port_text else None,
                      type=_text(root, "Source/Type"), items=items,
                      notes=_text(root, "Notes"))


def ingest(path: Path, store: Any, attributor: Any | None, *, ledger: Any | None = None,
           now: datetime | None = None) -> IngestResult:
    """Parse ``path`` (an .eml), attribute each notice and record it (see module docstring)."""
    source = str(path)
    now = now or datetime.now(UTC)
    try:
        if not Path(path).is_file():  # /dev/zero, a FIFO, a directory: not a message
            raise InputError(source, "no such file" if not Path(path).exists()
                             else "is not a regular file")
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_MESSAGE_BYTES + 1)  # bounded even if the size lies (procfs)
        if len(raw) > MAX_MESSAGE_BYTES:
            raise InputError(source, f"message larger than {MAX_MESSAGE_BYTES} bytes")
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except OSError as exc:
        raise InputError(source, f"cannot be read: {exc.strerror}") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        notices = [parse_acns(doc, source) for doc in extract_documents(raw, source)]
    except InputError as exc:
        _reject(store, ledger, source, raw, digest, exc.problem, now)
        raise
    result = IngestResult([], notices, [], digest)
    for notice in notices:
        attribution: dict[str, Any] = {"status": "none", "reason_code": "no_attributor",
                                       "reason": "no subscriber logs were given"}
        if attributor is not None:
            try:
                attribution = attributor.attribute(notice.ip, notice.port,
                                                   notice.timestamp).as_dict()
            except InputError as exc:
                attribution = {"status": "none", "reason_code": "bad_input",
                               "reason": exc.problem}
        notice_id = new_id()
        leaf = None
        if ledger is not None:
            ref = ledger.append(IncomingNotice(
                id=notice_id, format="acns", file=Path(path).name, message_sha256=digest,
                received_at=now.isoformat(), notice=notice.as_dict(), attribution=attribution))
            leaf = {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}
        with store.session() as session:
            row = NoticeRow(id=notice_id, direction="incoming", format="acns",
                            operator=notice.service_provider.get("Entity"),
                            notifier=notice.complainant.get("Email"),
                            recipient=notice.service_provider.get("Email"),
                            subject=f"ACNS case {notice.case_id}", finding_ids=[],
                            complete=True, missing=[], message=raw, message_sha256=digest,
                            created_at=now, state="received",
                            details={"notice": notice.as_dict(), "attribution": attribution},
                            leaf_index=leaf["index"] if leaf else None,
                            leaf_hash=leaf["leaf_hash"] if leaf else None)
            session.add(row)
        result.notice_ids.append(notice_id)
        result.attributions.append(attribution)
    return result


def _reject(store: Any, ledger: Any | None, source: str, raw: bytes, digest: str,
            problem: str, now: datetime) -> None:
    notice_id = new_id()
    leaf = None
    if ledger is not None:
        ref = ledger.append(IncomingNotice(
            id=notice_id, format="acns", file=Path(source).name, message_sha256=digest,
            received_at=now.isoformat(), rejected=problem))
        leaf = {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}
    with store.session() as session:
        session.add(NoticeRow(id=notice_id, direction="incoming", format="acns",
                              subject=f"rejected: {Path(source).name}", finding_ids=[],
                              complete=False, missing=[problem], message=raw,
                              message_sha256=digest,
                              created_at=now, state="rejected", details={"problem": problem},
                              leaf_index=leaf["index"] if leaf else None,
                              leaf_hash=leaf["leaf_hash"] if leaf else None))


__all__ = ["AcnsNotice", "IngestResult", "extract_documents", "ingest", "parse_acns"]
