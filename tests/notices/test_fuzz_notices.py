"""Fuzzing incoming notices (issue 14): ACNS XML documents and the MIME messages that carry them.

A notice is written by a stranger and arrives by e-mail, so both layers are hostile input. The
contract of :mod:`netwarden.notices.ingest`: anything unusable raises ``InputError`` naming the
file and the problem (and is recorded as rejected); nothing else escapes. Hypothesis drives
structured-but-hostile ACNS documents and MIME messages (``HYPOTHESIS_PROFILE=long`` by hand for
a longer run) and checks that what is returned is bounded: at most ``MAX_DOCUMENTS`` documents,
an aware UTC time a datetime can hold, a real port, at most 1000 items of at most 50 hashes,
sizes within the JSON safe-integer domain, and a notice the ledger can canonicalise. Crash
inputs found are kept below as explicit regression examples.
"""

from __future__ import annotations

import os
from datetime import timedelta
from email.message import EmailMessage
from xml.sax.saxutils import escape

import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netwarden.collect.bounds import MAX_WIRE_INT
from netwarden.errors import InputError
from netwarden.notices.ingest import MAX_DOCUMENTS, MAX_XML_BYTES, extract_documents, parse_acns

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SOURCE = "fuzz.eml"
_NS = ' xmlns="http://www.acns.net/ACNS"'
_TIMES = ["2026-11-04T10:30:00Z", "2026-11-04T10:30:00+03:00", "2026-11-04T10:30:00",
          "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-13-45T00:00:00Z",
          "yesterday", "", "٢٠٢٦-١١-٠٤T10:30:00Z"]
_NUMBERS = ["51413", "0", "65536", "-1", "²", "٣", "9" * 30, "1" * 5000, " 80 ", "", "0x50"]
_TEXT = st.one_of(st.sampled_from(["Films & Co", "&amp;", "&#0;", "&#x110000;", "&e;", "<",
                                   "]]>", "Brat 2", "127.77.1.1", "::1", "x" * 300, "\x01",
                                   "\ufffe"]),
                  st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))


def _el(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{value}</{name}>"


@st.composite
def _acns(draw: st.DrawFn) -> str:
    """An ACNS document, structured but hostile in its detail (values, nesting, prologue).

    Each field is usually valid, so that whole notices parse and their bounds are checked, and
    otherwise hostile (raw '&' and '<', huge or Unicode numbers, impossible times) or absent.
    """
    raw = draw(st.integers(0, 3)) == 0  # values written raw (bare '&', '<') or escaped

    def value(good: str, hostile: st.SearchStrategy[str]) -> str | None:
        mode = draw(st.integers(0, 9))
        got = None if mode == 9 else good if mode < 7 else draw(hostile)
        return got if got is None or raw else escape(got)

    items = []
    for _ in range(draw(st.integers(0, 4))):
        hashes = "".join(
            f'<Hash Type="{draw(st.sampled_from(["SHA1", "", "x&amp;y", "ed2k"]))}">'
            f"{draw(st.sampled_from(['03365a2ee134f06313fbd1091d0683435a9158de', '', 'x']))}"
            "</Hash>" for _ in range(draw(st.integers(0, 3))))
        items.append("<Item>" + _el("Title", value("Brat 2", _TEXT))
                     + _el("FileName", value("Brat.2.mkv", _TEXT))
                     + _el("FileSize", value("420000", st.sampled_from(_NUMBERS))) + hashes
                     + _el("TimeStamp", value(_TIMES[0], st.sampled_from(_TIMES))) + "</Item>")
    body = (_el("Case", _el("ID", value("A1B2", _TEXT)))
            + _el("Complainant", _el("Entity", value("Films", _TEXT))
                  + _el("Email", value("p2p@example.test", _TEXT)))
            + _el("Service_Provider", _el("Entity", value("Telecom", _TEXT)))
            + _el("Source", _el("TimeStamp", value(_TIMES[1], st.sampled_from(_TIMES)))
                  + _el("IP_Address", value("127.77.1.1", _TEXT))
                  + _el("Port", value("51413", st.sampled_from(_NUMBERS)))
                  + _el("Type", value("BitTorrent", _TEXT)))
            + _el("Content", "".join(items)) + _el("Notes", value("n", _TEXT)))
    if draw(st.integers(0, 3)) == 0:  # cut the structure and put something inside
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.sampled_from(["<x>", "</Source>", "<!-- ", "<![CDATA[",
                                                  "&", ""])) + body[cut:]
    prologue = draw(st.sampled_from([
        "", "", "", "", "", '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="koi8-r"?>',
        '<!DOCTYPE Infringement [<!ENTITY e "eeeeeeeeee">]>',
        '<!DOCTYPE Infringement SYSTEM "file:///etc/passwd">']))
    ns = draw(st.sampled_from([_NS, _NS, "", ' xmlns="urn:other"', " xmlns:a='x'"]))
    prefix = draw(st.sampled_from(["", "", "acns:", "unbound:"]))
    if prefix == "acns:":
        ns = f' xmlns:acns="{_NS.split(chr(34))[1]}"'
    return f"{prologue}<{prefix}Infringement{ns}>{body}</{prefix}Infringement>"


def _check_notice(doc: str) -> None:
    try:
        notice = parse_acns(doc, SOURCE)
    except InputError as exc:
        assert exc.source == SOURCE and exc.problem
        return
    assert notice.case_id and notice.ip
    assert notice.timestamp.utcoffset() == timedelta(0)
    assert notice.port is None or 0 < notice.port < 65536
    assert 0 < len(notice.items) <= 1000
    for item in notice.items:
        assert len(item["hashes"]) <= 50
        assert item["file_size"] is None or 0 <= item["file_size"] <= MAX_WIRE_INT
    assert len(notice.complainant) <= 20 and len(notice.service_provider) <= 20
    rfc8785.dumps(notice.as_dict())  # the ledger can record what was parsed


@given(_acns())
@example(f"<Infringement{_NS}><Case><ID>1</ID></Case><Source><TimeStamp>0001-01-01T00:00:00+05:00"
         "</TimeStamp><IP_Address>::1</IP_Address></Source><Content><Item><FileName>f"
         "</FileName></Item></Content></Infringement>")  # was OverflowError
@example(f"<Infringement{_NS}><Case><ID>1</ID></Case><Source><TimeStamp>2026-11-04T10:30:00Z"
         "</TimeStamp><IP_Address>::1</IP_Address><Port>²</Port></Source><Content><Item>"
         "<FileName>f</FileName><FileSize>²</FileSize></Item></Content></Infringement>")
@example(f"<Infringement{_NS}><Case><ID>1</ID></Case><Source><TimeStamp>2026-11-04T10:30:00Z"
         "</TimeStamp><IP_Address>::1</IP_Address></Source><Content><Item><FileName>f"
         "</FileName><FileSize>" + "9" * 30 + "</FileSize></Item></Content></Infringement>")
@example("<Infringement>" + "<a>" * 10_000 + "</Infringement>")
@example("<Infringement>" + "x" * (MAX_XML_BYTES + 1) + "</Infringement>")
def test_acns_parser_raises_only_input_error_and_bounds(doc: str) -> None:
    _check_notice(doc)


@given(st.text(max_size=400))
def test_acns_parser_on_any_text(doc: str) -> None:
    _check_notice(doc)


# -- MIME ---------------------------------------------------------------------------------------

_CTYPES = ["text/plain", "application/xml", "text/xml", "application/octet-stream",
           "multipart/mixed", "message/rfc822", "text/html", "x/y; charset=", ""]
_CHARSETS = ["utf-8", "koi8-r", "cp1251", "idna", "punycode", "utf-7", "rot13", "hex", "x-no",
             "utf-16", "utf-32", "base64", "uu", ""]
_ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus", ""]


@st.composite
def _mime(draw: st.DrawFn) -> bytes:
    """A message whose headers, parts, charsets and transfer encodings are hostile."""
    # hostile choices are listed once, the usual ones several times: most messages carry a
    # document, so extraction is exercised on success as well as on refusal
    doc = draw(st.one_of(_acns(), _acns(), _acns(), st.text(max_size=40)))
    boundary = draw(st.sampled_from(["b", "b", "b", "", "b b", '"', "=?utf-8?q?x?="]))
    head = [f"From: {draw(_TEXT)}", "To: abuse@example.test",
            f"Subject: {draw(st.sampled_from(['=?utf-8?b?AAAA?=', '=?x?q?=ff?=', 'n', '']))}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{boundary}"']
    out = "\r\n".join(head) + "\r\n\r\npreamble\r\n"
    for _ in range(draw(st.integers(0, 4))):
        ctype = draw(st.sampled_from([*_CTYPES, *_CTYPES[:3] * 3]))
        charset = draw(st.sampled_from([*_CHARSETS, *["utf-8"] * 8]))
        cte = draw(st.sampled_from([*_ENCODINGS, *["8bit"] * 6]))
        name = draw(st.sampled_from(["n.xml", "", 'a"b.xml', "=?utf-8?q?=ff.xml?=",
                                     "x" * 100 + ".XML"]))
        payload = draw(st.sampled_from([doc, doc, doc, doc.replace("<", "=3C"), "PD94bWw+",
                                        "====",
                                        "begin 644 x\r\n#86)C\r\nend", ""]))
        out += (f"--{boundary}\r\nContent-Type: {ctype}; charset={charset}\r\n"
                f"Content-Transfer-Encoding: {cte}\r\n"
                f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{payload}\r\n")
    if draw(st.booleans()):
        out += f"--{boundary}--\r\n"
    data = out.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


def _check_message(raw: bytes) -> None:
    try:
        docs = extract_documents(raw, SOURCE)
    except InputError as exc:
        assert exc.source == SOURCE and exc.problem
        return
    assert 0 < len(docs) <= MAX_DOCUMENTS
    for doc in docs:
        assert "Infringement" in doc and len(doc) <= len(raw) * 4 + 65536
        _check_notice(doc)


def _eml(body: str, charset: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "p2p@example.test"
    msg["Subject"] = "Notice"
    msg.set_content("see attachment")
    msg.add_attachment(body.encode("utf-8"), maintype="application", subtype="xml",
                       filename="n.xml")
    raw = msg.as_bytes()
    return raw.replace(b'application/xml', f'application/xml; charset="{charset}"'.encode(), 1)


@given(st.one_of(_mime(), st.binary(max_size=400),
                 st.lists(st.sampled_from([b"Content-Type: multipart/mixed; boundary=b\r\n",
                                           b"\r\n", b"--b\r\n", b"--b--\r\n", b"<Infringement>",
                                           b"</Infringement>", b"=?utf-8?b?", b"\xff"]),
                          max_size=60).map(b"".join)))
@example(_eml("<Infringement>x</Infringement>", "idna"))  # was UnicodeError out of ingest
@example(_eml("<Infringement>x</Infringement>", "punycode"))
@example(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
         + b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 100)
def test_mime_extraction_raises_only_input_error_and_bounds(raw: bytes) -> None:
    _check_message(raw)
