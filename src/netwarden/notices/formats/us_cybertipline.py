"""A CyberTipline-style report draft under 18 U.S.C. §2258A (the US CSAM route).

Why not an ACNS/§512 notice: §512 is copyright law and says nothing about child sexual abuse
material. A provider that obtains actual knowledge of apparent child pornography must, as soon
as reasonably possible, report to NCMEC's CyberTipline (§2258A(a)(1)) [T]. This format states
the facts that give that knowledge and drafts the report with the §2258A(b) items [T], each of
which is "at the sole discretion of the provider" and only "to the extent … within custody or
control": (1) the involved individual (IP address, URL), (2) the historical reference (when and
how it was discovered, with date, time stamp and time zone), (3) the geographic location (the
IP address), (4) the depictions and (5) the complete communication — which netwarden never has
(it keeps digests, not content), so the draft says so and gives the digests instead.

Required (``missing`` otherwise): the reporter's registration data of §2258A(a)(1)(B)(i) —
mailing address or telephone, e-mail and a point of contact — and each item's IP address.
A JSON draft is attached for the provider's or NCMEC's tooling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Rendered, hashes, utc


def _incident(f: Mapping[str, Any]) -> dict[str, Any]:
    served = f.get("evidence_level") == "served"
    return {
        "involved_individual": {"ip_address": f.get("host"), "port": f.get("port"),
                                "url": f.get("location")},
        "historical_reference": {
            "date_time": utc(f.get("observed_at")), "time_zone": "UTC",
            "how_discovered": ("bytes received from this address by an authorised audit and "
                               "matched to a hash list" if served else
                               "listed by an index; no bytes verified (a lead)")},
        "geographic_location": {"ip_address": f.get("host")},
        "depictions": {"included": False,
                       "why": "netwarden keeps no content; the provider holds the file at the "
                              "location above",
                       "digests": dict(hashes(f)),
                       "hash_list_matches": [
                           {k: m.get(k) for k in ("bank", "reference", "method", "algorithm",
                                                  "distance")}
                           for m in (f.get("matches") or [])]},
        "complete_communication": {"included": False,
                                   "why": "not within the auditor's custody or control"},
        "file": {"name": f.get("name"), "size": f.get("size"), "protocol": f.get("protocol")},
        "evidence_level": f.get("evidence_level"),
    }


class UsCyberTiplineFormat(NoticeFormat):
    """Notice of apparent child pornography with a §2258A(b) CyberTipline report draft."""

    name: ClassVar[str] = "us_cybertipline"
    title: ClassVar[str] = "CyberTipline-style report draft (18 U.S.C. §2258A)"
    jurisdiction: ClassVar[str] = "us"
    categories: ClassVar[tuple[str, ...]] = ("csam",)

    def render(self, data: NoticeInput) -> Rendered:
        self.check_input(data)
        n = data.notifier
        missing = []
        if not ((n.address or n.phone) and n.email and (n.contact or n.entity)):
            missing.append("§2258A(a)(1)(B)(i) reporter's mailing address or telephone, "
                           "e-mail address and point of contact")
        if any(not f.get("host") for f in data.findings):
            missing.append("§2258A(b)(1) IP address of each item")
        incidents = [_incident(f) for f in data.findings]
        draft = {"report_type": "CyberTipline report draft (18 U.S.C. §2258A(b))",
                 "notice_id": data.notice_id, "created_at": utc(data.created_at),
                 "reporter": {"entity": n.entity, "address": n.address, "phone": n.phone,
                              "email": n.email, "point_of_contact": n.contact},
                 "provider": {"entity": data.recipient.entity,
                              "email": data.recipient.email},
                 "incidents": incidents}
        lines = [f"Apparent child sexual abuse material on your network — {data.notice_id}",
                 "", f"To: {data.recipient.entity} <{data.recipient.email}>",
                 f"From: {n.entity} ({n.contact}) {n.address} {n.phone} <{n.email}>", "",
                 "The items below were received from addresses in your network and matched "
                 "entries of child sexual abuse material hash lists. This notice states facts "
                 "and circumstances of an apparent violation: under 18 U.S.C. §2258A(a)(1) a "
                 "provider that obtains actual knowledge of them must, as soon as reasonably "
                 "possible, make a report to NCMEC's CyberTipline. A draft with the "
                 "§2258A(b) items is attached (cybertipline-draft.json). A submitted report "
                 "is a request to preserve its contents for 1 year (§2258A(h), as amended by "
                 "the REPORT Act). No material is attached: only addresses, times and "
                 "digests.", ""]
        for i, (f, inc) in enumerate(zip(data.findings, incidents, strict=True), start=1):
            lines += [f"Item {i}",
                      f"  (b)(1) Involved individual: IP {inc['involved_individual']['ip_address']}"
                      f" port {f.get('port')}, URL {f.get('location')}",
                      f"  (b)(2) Historical reference: {inc['historical_reference']['date_time']}"
                      f" (UTC); {inc['historical_reference']['how_discovered']}",
                      f"  (b)(3) Geographic location: IP {f.get('host')}",
                      "  (b)(4) Depictions: not included (netwarden keeps no content); "
                      "digests " + ", ".join(f"{a}={v}" for a, v in hashes(f)),
                      "  (b)(5) Complete communication: not within our custody or control", ""]
        lines.append("Not legal advice. 18 U.S.C. §2258B (limited liability of reporting "
                     "providers) is not checked in our rules and is not relied on here.")
        text = "\n".join(lines) + "\n"
        body = json.dumps(draft, indent=2, ensure_ascii=False).encode("utf-8")
        return Rendered(subject=f"Apparent CSAM — CyberTipline report draft {data.notice_id}",
                        text=text, attachments=(("cybertipline-draft.json",
                                                 "application/json", body),),
                        missing=tuple(missing), details={"incidents": len(incidents)})
