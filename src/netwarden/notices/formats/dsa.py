"""EU Digital Services Act art. 16 notice to a hosting provider.

Art. 16(2) [T] requires (a) a sufficiently substantiated explanation of why the information is
illegal, (b) the exact electronic location (URL) and any further identifying information,
(c) the notifier's name and e-mail — except for notices about child sexual abuse offences
(Directive 2011/93 arts. 3–7), which may be anonymous — and (d) a statement of bona fide belief
that the notice is accurate and complete. A notice with all of them gives actual knowledge for
art. 6 (art. 16(3)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from netwarden.liability.facts import finding_track
from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Rendered, hashes, utc

BONA_FIDE = ("I confirm my bona fide belief that the information and allegations contained in "
             "this notice are accurate and complete (DSA art. 16(2)(d)).")


def _explanation(f: Mapping[str, Any]) -> str:
    algos = ", ".join(f"{a.upper()} {v}" for a, v in hashes(f)[:2])
    verified = f.get("evidence_level") == "served"
    how = ("bytes received from this location on " + utc(f["observed_at"])
           if verified else "a listing seen on " + utc(f["observed_at"]))
    if finding_track(f) == "csam":
        lists = ", ".join(f"{m.get('bank')!r} entry {m.get('reference')}"
                          for m in (f.get("matches") or [])) or \
            f"{f.get('bank')!r} entry {f.get('reference')}"
        return (f"The file ({algos}) matches the child sexual abuse material hash list(s) "
                f"{lists}; established from {how}. This notice concerns child sexual abuse "
                "material, an offence referred to in Directive 2011/93/EU arts. 3–7.")
    return (f"The file is a copy of the protected work {f.get('title') or f.get('reference')!r} "
            f"(reference {f.get('reference')} in bank {f.get('bank')!r}): its digest ({algos}) "
            f"equals the work's; established from {how}. The rightholder has not authorised "
            "this communication to the public.")


class DsaFormat(NoticeFormat):
    """Plain-text DSA art. 16 notice covering one or more findings of one provider."""

    name: ClassVar[str] = "dsa"
    title: ClassVar[str] = "DSA art. 16 notice"
    jurisdiction: ClassVar[str] = "eu"

    def render(self, data: NoticeInput) -> Rendered:
        self.check_input(data)
        n = data.notifier
        all_csam = all(finding_track(f) == "csam" for f in data.findings)
        missing = []
        if not all_csam and not (n.entity and n.email):
            missing.append("art. 16(2)(c) name and e-mail address of the notifier")
        if any(not f.get("location") for f in data.findings):
            missing.append("art. 16(2)(b) exact electronic location")
        lines = [f"Notice of illegal content under Article 16 of Regulation (EU) 2022/2065 "
                 f"(Digital Services Act) — {data.notice_id}", "",
                 f"To: {data.recipient.entity} <{data.recipient.email}>", ""]
        for i, f in enumerate(data.findings, start=1):
            lines += [f"Item {i}",
                      f"  (b) Exact electronic location: {f['location']}",
                      f"      Additional information: host {f['host']} port {f['port']} "
                      f"({f.get('protocol')}), file name {f.get('name')!r}, size "
                      f"{f.get('size')} bytes, observed {utc(f['observed_at'])}, digests "
                      + ", ".join(f"{a}={v}" for a, v in hashes(f)),
                      f"  (a) Why the information is illegal: {_explanation(f)}", ""]
        if n.entity or n.email:
            lines.append(f"(c) Notifier: {n.entity} <{n.email}>"
                         + (f", on behalf of {n.on_behalf_of}" if n.on_behalf_of else ""))
        else:
            lines.append("(c) Notifier: anonymous (permitted for Directive 2011/93 arts. 3–7 "
                         "offences)")
        lines += [f"(d) {BONA_FIDE}", ""]
        if data.deadline_at:
            lines.append(f"We will check again after {utc(data.deadline_at)} whether the items "
                         "are still available.")
        return Rendered(subject=f"DSA Article 16 notice {data.notice_id}",
                        text="\n".join(lines) + "\n", missing=tuple(missing))
