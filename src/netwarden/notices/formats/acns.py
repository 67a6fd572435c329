"""ACNS 2.0 (Automated Copyright Notice System, MovieLabs schema) infringement notices.

The XML has the schema's elements in its order: ``Case`` (ID, Status, Severity),
``Complainant`` (Entity, Contact, Address, Phone, Email), ``Service_Provider`` (Entity,
Email), ``Source`` (TimeStamp in UTC, IP_Address, Port, Type, SubType, Number_Files),
``Content/Item`` (TimeStamp, Title, FileName, FileSize, Hash with its Type), and ``Notes``.
ACNS has one Source per document, so a notice about several findings carries one XML document
per finding as attachments. The Notes carry the 17 U.S.C. §512(c)(3)(A) statements, which the
US rules require for a notice to count as knowledge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

from netwarden.notices.formats.base import (
    NoticeFormat,
    NoticeInput,
    Rendered,
    acns_hash_type,
    hashes,
    utc,
)

NAMESPACE = "http://www.acns.net/ACNS"
SCHEMA_LOCATION = "http://www.acns.net/ACNS http://www.acns.net/v1.2/ACNS2v1_2.xsd"
TYPES = {"bittorrent": ("BitTorrent", "P2P", "BITTORRENT"), "adc": ("DirectConnect", "P2P", "ADC"),
         "adcs": ("DirectConnect", "P2P", "ADC"), "nmdc": ("DirectConnect", "P2P", "NMDC"),
         "ftp": ("FTP", "FTP", "FTP"), "http": ("HTTP", "HTTP", "HTTP"),
         "https": ("HTTP", "HTTP", "HTTPS"), "smb": ("SMB", "SMB", "SMB")}
STATEMENTS = (
    "I have a good faith belief that use of the material in the manner complained of is not "
    "authorized by the copyright owner, its agent, or the law.",
    "The information in this notification is accurate, and under penalty of perjury, I am "
    "authorized to act on behalf of the owner of an exclusive right that is allegedly "
    "infringed.",
)
# 17 U.S.C. §512(c)(3)(A) elements (i)-(vi) as they map onto the notice's data
REQUIRED = {
    "signature": "§512(c)(3)(A)(i) signature of an authorized person",
    "work": "§512(c)(3)(A)(ii) identification of the copyrighted work",
    "location": "§512(c)(3)(A)(iii) the infringing material and where it is",
    "contact": "§512(c)(3)(A)(iv) contact information of the complaining party",
}

ET.register_namespace("", NAMESPACE)


def _sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", attrs)
    if text is not None:
        el.text = str(text)
    return el


def infringement_xml(data: NoticeInput, finding: Mapping[str, Any], case_id: str) -> bytes:
    """One ACNS ``Infringement`` document for one finding."""
    root = ET.Element(f"{{{NAMESPACE}}}Infringement")
    root.set("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", SCHEMA_LOCATION)
    case = _sub(root, "Case")
    _sub(case, "ID", case_id)
    _sub(case, "Status", "Open")
    _sub(case, "Severity", "Normal")
    n = data.notifier
    comp = _sub(root, "Complainant")
    _sub(comp, "Entity", n.on_behalf_of or n.entity)
    _sub(comp, "Contact", n.contact or n.entity)
    _sub(comp, "Address", n.address)
    _sub(comp, "Phone", n.phone)
    _sub(comp, "Email", n.email)
    sp = _sub(root, "Service_Provider")
    _sub(sp, "Entity", data.recipient.entity or str(finding.get("operator", "")))
    _sub(sp, "Email", data.recipient.email)
    src = _sub(root, "Source")
    _sub(src, "TimeStamp", utc(finding["observed_at"]))
    _sub(src, "IP_Address", finding["host"])
    _sub(src, "Port", finding["port"])
    kind, base, proto = TYPES.get(str(finding.get("protocol", "")).lower(),
                                  (str(finding.get("protocol", "")).upper(), "OTHER",
                                   str(finding.get("protocol", "")).upper()))
    _sub(src, "Type", kind)
    _sub(src, "SubType", None, BaseType=base, Protocol=proto)
    _sub(src, "Number_Files", 1)
    content = _sub(root, "Content")
    item = _sub(content, "Item")
    _sub(item, "TimeStamp", utc(finding["observed_at"]))
    _sub(item, "Title", finding.get("title") or finding.get("reference"))
    _sub(item, "FileName", finding.get("name") or finding["location"].rsplit("/", 1)[-1])
    if finding.get("size") is not None:
        _sub(item, "FileSize", finding["size"])
    for algorithm, value in hashes(finding)[:1]:
        _sub(item, "Hash", value, Type=acns_hash_type(algorithm))
    # the exact location goes into Notes: the schema's Source names only address and port
    _sub(root, "Notes", f"Location: {finding['location']}. " + " ".join(STATEMENTS)
         + (f" Signed: {n.signature}" if n.signature else ""))
    # Registered again at each use, not only at import: the prefix registry is process-global
    # and other libraries (WeasyPrint's PDF metadata) re-register prefixes. (default_namespace=
    # cannot be used: ACNS attributes such as Type= are unqualified.)
    ET.register_namespace("", NAMESPACE)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


class AcnsFormat(NoticeFormat):
    """ACNS 2.0 XML, one Infringement document per finding, attached to a short letter."""

    name: ClassVar[str] = "acns"
    title: ClassVar[str] = "ACNS 2.0 copyright infringement notice"
    jurisdiction: ClassVar[str] = "us"
    categories: ClassVar[tuple[str, ...]] = ("copyright",)

    def render(self, data: NoticeInput) -> Rendered:
        self.check_input(data)
        n = data.notifier
        missing = []
        if not n.signature:
            missing.append(REQUIRED["signature"])
        if not n.email and not n.address and not n.phone:
            missing.append(REQUIRED["contact"])
        if any(not (f.get("title") or f.get("reference")) for f in data.findings):
            missing.append(REQUIRED["work"])
        attachments = []
        lines = [f"Notice of claimed infringement {data.notice_id}", "",
                 f"To: {data.recipient.entity} <{data.recipient.email}>",
                 f"From: {n.entity}" + (f" on behalf of {n.on_behalf_of}" if n.on_behalf_of
                                        else ""), ""]
        for i, finding in enumerate(data.findings, start=1):
            case_id = f"{data.notice_id}-{i}"
            attachments.append((f"acns-{case_id}.xml", "application/xml",
                                infringement_xml(data, finding, case_id)))
            lines.append(f"{i}. {finding.get('title') or finding.get('reference')}: "
                         f"{finding['location']} ({finding['host']}:{finding['port']}) at "
                         f"{utc(finding['observed_at'])}")
        lines += ["", *STATEMENTS, "", f"Signed: {n.signature}",
                  "", "The ACNS 2.0 XML of each item is attached."]
        if data.deadline_at:
            lines.append(f"Please remove or disable access by {utc(data.deadline_at)}.")
        return Rendered(subject=f"Notice of claimed infringement {data.notice_id}",
                        text="\n".join(lines) + "\n", attachments=tuple(attachments),
                        missing=tuple(missing))
