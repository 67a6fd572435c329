"""Incoming ACNS notices: attachment or inline, bare '&', hostile XML, missing fields, and
attribution of the notice to a subscriber pseudonym from a real RADIUS log."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from netwarden.attribute import Attributor, Pseudonymizer, RadiusDetailSource, open_index
from netwarden.errors import InputError
from netwarden.notices.ingest import ingest, parse_acns
from netwarden.notices.models import NoticeRow
from netwarden.store import open_store

RADIUS = """Wed Nov  4 10:00:00 2026
\tAcct-Status-Type = Start
\tUser-Name = "user0042"
\tAcct-Session-Id = "s1"
\tFramed-IP-Address = 127.77.1.1
\tNAS-IP-Address = 127.77.0.1
\tEvent-Timestamp = "Nov  4 2026 10:00:00 UTC"

Wed Nov  4 12:00:00 2026
\tAcct-Status-Type = Stop
\tUser-Name = "user0042"
\tAcct-Session-Id = "s1"
\tFramed-IP-Address = 127.77.1.1
\tNAS-IP-Address = 127.77.0.1
\tAcct-Session-Time = 7200
\tEvent-Timestamp = "Nov  4 2026 12:00:00 UTC"

"""

ACNS = """<?xml version="1.0" encoding="UTF-8"?>
<Infringement xmlns="http://www.acns.net/ACNS">
  <Case><ID>A1B2C3</ID><Status>Open</Status><Severity>Normal</Severity></Case>
  <Complainant><Entity>Films & Co</Entity><Contact>Desk</Contact>
    <Email>p2p@example.test</Email></Complainant>
  <Service_Provider><Entity>Example Telecom</Entity><Email>abuse@example.test</Email>
  </Service_Provider>
  <Source><TimeStamp>{ts}</TimeStamp><IP_Address>127.77.1.1</IP_Address><Port>51413</Port>
    <Type>BitTorrent</Type></Source>
  <Content><Item><Title>Brat 2</Title><FileName>Brat.2.2000.mkv</FileName>
    <FileSize>420000</FileSize><Hash Type="SHA1">{sha1}</Hash></Item></Content>
</Infringement>"""
SHA1 = "03365a2ee134f06313fbd1091d0683435a9158de"


def _doc(ts: str = "2026-11-04T10:30:00Z") -> str:
    return ACNS.format(ts=ts, sha1=SHA1)


def _eml(tmp: Path, body: str, attachment: str | None = None, name: str = "n.eml") -> Path:
    msg = EmailMessage()
    msg["From"] = "p2p@example.test"
    msg["To"] = "abuse@example.test"
    msg["Subject"] = "Notice of infringement"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment.encode(), maintype="application", subtype="xml",
                           filename="notice.xml")
    path = tmp / name
    path.write_bytes(bytes(msg))
    return path


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield s
    s.close()


@pytest.fixture
def attributor(tmp_path: Path) -> Attributor:
    log = tmp_path / "detail"
    log.write_text(RADIUS, encoding="utf-8")
    return Attributor(sessions=[open_index(RadiusDetailSource(log), tmp_path / "cache")],
                      pseudonymizer=Pseudonymizer(b"k" * 32), clock_skew=2.0)


def test_attachment_with_bare_ampersand_is_parsed_and_attributed(tmp_path: Path, store,
                                                                   attributor) -> None:
    path = _eml(tmp_path, "Please see the attached notice.", attachment=_doc())
    result = ingest(path, store, attributor)
    notice = result.notices[0]
    assert notice.case_id == "A1B2C3" and notice.port == 51413
    assert notice.complainant["Entity"] == "Films & Co"
    assert notice.items[0]["hashes"] == {"sha1": SHA1}
    att = result.attributions[0]
    assert att["status"] == "subscriber" and att["pseudonym"]
    assert "user0042" not in str(att)  # accounts appear only as pseudonyms
    with store.session() as s:
        row = s.scalars(select(NoticeRow)).one()
        assert row.direction == "incoming" and row.state == "received"


def test_inline_notice_between_text(tmp_path: Path, store, attributor) -> None:
    body = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nDear provider,\n\n"
            + _doc() + "\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n")
    result = ingest(_eml(tmp_path, body), store, attributor)
    assert result.notices[0].ip == "127.77.1.1"


def test_notice_outside_any_session_gets_no_attribution_with_reason(tmp_path: Path, store,
                                                                    attributor) -> None:
    path = _eml(tmp_path, _doc(ts="2026-11-05T10:30:00Z"))
    att = ingest(path, store, attributor).attributions[0]
    assert att["status"] == "none" and att["reason_code"] in ("no_session", "no_log_coverage")


XXE = """<?xml version="1.0"?>
<!DOCTYPE Infringement [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Infringement xmlns="http://www.acns.net/ACNS"><Case><ID>&xxe;</ID></Case></Infringement>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Infringement [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Infringement xmlns="http://www.acns.net/ACNS"><Case><ID>&lol3;</ID></Case></Infringement>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_is_refused_and_recorded(tmp_path: Path, store, payload: str) -> None:
    path = _eml(tmp_path, "see attachment", attachment=payload)
    with pytest.raises(InputError, match="hostile XML"):
        ingest(path, store, None)
    with store.session() as s:
        row = s.scalars(select(NoticeRow)).one()
        assert row.state == "rejected" and row.message and "hostile" in row.missing[0]


def test_missing_required_fields_are_named(tmp_path: Path) -> None:
    doc = _doc().replace("<IP_Address>127.77.1.1</IP_Address>", "")
    with pytest.raises(InputError, match="Source/IP_Address"):
        parse_acns(doc, "n.eml")
    with pytest.raises(InputError, match="no UTC offset"):
        parse_acns(_doc(ts="2026-11-04T10:30:00"), "n.eml")


def test_message_without_notice(tmp_path: Path, store) -> None:
    with pytest.raises(InputError, match="no ACNS"):
        ingest(_eml(tmp_path, "hello"), store, None)


def test_unclosed_documents_do_not_hang(tmp_path: Path, store) -> None:
    body = "<Infringement " * 200_000  # no closing tag anywhere: must end quickly
    with pytest.raises(InputError, match="no ACNS"):
        ingest(_eml(tmp_path, body), store, None)
