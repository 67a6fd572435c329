"""Attribution: who is behind an endpoint at a time (DESIGN.md §3, issue 6 §1).

``Attributor.from_scope(scope, cache_dir)`` indexes the provider logs the scope names
(FreeRADIUS detail, ISC dhcpd.leases, Kea lease CSV, Juniper CGNAT port-block syslog, RFC 7422
deterministic NAT), joins the records of one subscriber across them (``JoinPolicy``, issue 13)
and ``Attributor.attribute(ip, port, at)`` answers with a
:class:`SubscriberAttribution`: the operator's own host, a subscriber *pseudonym*, or nobody
with an explicit reason. See docs/attribution.md.
"""

from netwarden.attribute.asn import AsnDatabase, AsnInfo, open_asn_database
from netwarden.attribute.base import Interval, LogProblem, LogSource
from netwarden.attribute.cgnat import DeterministicNat, JuniperPbaSource
from netwarden.attribute.dhcpd import DhcpdLeasesSource
from netwarden.attribute.identity import JoinPolicy
from netwarden.attribute.index import IntervalIndex, open_index
from netwarden.attribute.kea import KeaLeaseSource
from netwarden.attribute.pseudonym import Pseudonymizer, Reveal
from netwarden.attribute.radius import RadiusDetailSource
from netwarden.attribute.resolver import Attributor, SubscriberAttribution

__all__ = [
    "AsnDatabase", "AsnInfo", "Attributor", "DeterministicNat", "DhcpdLeasesSource",
    "Interval", "IntervalIndex", "JoinPolicy", "JuniperPbaSource", "KeaLeaseSource", "LogProblem",
    "LogSource", "Pseudonymizer", "RadiusDetailSource", "Reveal", "SubscriberAttribution",
    "open_asn_database", "open_index",
]
