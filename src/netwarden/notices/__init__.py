"""Notices and the provider's response (issue 6 §3).

Outgoing: :func:`netwarden.notices.outgoing.send_notices` renders a notice per finding or per
operator in a format of :mod:`netwarden.notices.formats` (ACNS 2.0, DSA art. 16, Russian
hosting notice), ledgers it and delivers it over SMTP (:mod:`netwarden.notices.send`), keeping
the server's answer. :mod:`netwarden.notices.tracking` holds states and deadlines;
:mod:`netwarden.notices.recheck` re-collects noticed locations after the deadline.
Incoming: :mod:`netwarden.notices.ingest` parses ACNS notices from e-mail safely and attributes
them to a subscriber pseudonym. See docs/notices.md.
"""
