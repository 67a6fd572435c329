"""(IP[, port], UTC time) → operator host, subscriber pseudonym, or *nobody* with the reason.

The rule is strict because a wrong name in a court file is worse than none:

* the session (or lease, or NAT port block) used must *contain* the observation time, and
  must go on containing it for the whole clock-skew window ``[t - skew, t + skew]``: a session
  that starts or ends within the skew of the observation gives ``session_edge``;
* the records of all logs near the observation are first joined into subscribers (a RADIUS
  session and the DHCP lease of one client are one subscriber: attribute/identity.py); two
  different subscribers holding the address at that time give ``two_candidates``, joined
  records that name different accounts ``sources_disagree``, and a lease that the RADIUS
  accounting covering the address never confirms ``lease_without_accounting``;
* a CGNAT public address seen without a port gives ``shared_address_without_port``;
* a time the logs do not cover gives ``no_log_coverage``; a covered time with no session on
  the address gives ``no_session``;
* an address in the scope's ``operator.infrastructure`` is the operator's own host.

Every answer names the log records it rests on (``file:first-last line``), so the evidence
can be checked against the original logs, and never the raw account: only its keyed pseudonym.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from netwarden.attribute.asn import AsnDatabase, AsnInfo, open_asn_database
from netwarden.attribute.base import Interval, LogProblem, LogSource, from_seconds, normalize_ip
from netwarden.attribute.cgnat import DeterministicNat, JuniperPbaSource
from netwarden.attribute.dhcpd import DhcpdLeasesSource
from netwarden.attribute.identity import JoinPolicy, Subscriber, decode
from netwarden.attribute.index import IntervalIndex, open_index
from netwarden.attribute.kea import KeaLeaseSource
from netwarden.attribute.pseudonym import Pseudonymizer, Reveal, reveal
from netwarden.attribute.radius import RadiusDetailSource
from netwarden.errors import InputError

if TYPE_CHECKING:
    from netwarden.scope import Scope

SUBSCRIBER = "subscriber"
OPERATOR_HOST = "operator_host"
NONE = "none"

# reason codes (stable: they appear in findings.jsonl; see docs/attribution.md)
ATTRIBUTED = "attributed"
OPERATOR_INFRASTRUCTURE = "operator_infrastructure"
NO_LOGS = "no_logs_configured"
NO_LOG_COVERAGE = "no_log_coverage"
NO_SESSION = "no_session"
SESSION_EDGE = "session_edge"
TWO_CANDIDATES = "two_candidates"
SHARED_WITHOUT_PORT = "shared_address_without_port"
NO_NAT_MAPPING = "no_nat_mapping"
NAT_TWO_CANDIDATES = "nat_two_candidates"
NAT_EDGE = "nat_block_edge"
SOURCES_DISAGREE = "sources_disagree"
LEASE_WITHOUT_ACCOUNTING = "lease_without_accounting"

DEFAULT_SKEW = 2.0
DEFAULT_INTERIM = "1h"


@dataclass(frozen=True)
class SubscriberAttribution:
    """The answer for one observation. ``as_dict()`` is what goes into findings and the ledger."""

    status: str  # subscriber | operator_host | none
    reason_code: str
    reason: str
    ip: str
    port: int | None
    observed_at: datetime
    pseudonym: str | None = None
    log_kind: str | None = None  # radius | dhcpd | kea
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    end_estimated: bool = False
    source: tuple[str, ...] = ()  # file:first-last of the log records used or considered
    notes: tuple[str, ...] = ()
    nat: dict[str, Any] | None = None
    operator: str | None = None
    operator_asn: int | None = None
    operator_holder: str | None = None
    asn_prefix: str | None = None
    clock_skew_s: float = DEFAULT_SKEW
    identifier: str | None = None  # the identifier kind behind the pseudonym (user, mac, ...)
    joined_on: tuple[str, ...] = ()  # identifiers that joined records into this subscriber

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able dict (times as ISO 8601 UTC)."""
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "status": self.status, "reason_code": self.reason_code, "reason": self.reason,
            "ip": self.ip, "port": self.port, "observed_at": iso(self.observed_at),
            "pseudonym": self.pseudonym, "log_kind": self.log_kind,
            "interval_start": iso(self.interval_start), "interval_end": iso(self.interval_end),
            "end_estimated": self.end_estimated, "source": list(self.source),
            "notes": list(self.notes), "nat": self.nat, "operator": self.operator,
            "operator_asn": self.operator_asn, "operator_holder": self.operator_holder,
            "asn_prefix": self.asn_prefix, "clock_skew_s": self.clock_skew_s,
            "identifier": self.identifier, "joined_on": list(self.joined_on),
        }


_FIELDS = frozenset(f.name for f in fields(SubscriberAttribution))
_DEFAULTS = {f.name: f.default for f in fields(SubscriberAttribution) if f.default is not MISSING}
_CACHE_MAX = 65_536  # per-address answers kept (operator/ASN data)


def _attribution(status: str, reason_code: str, reason: str, **values: Any
                 ) -> SubscriberAttribution:
    """A :class:`SubscriberAttribution`, built without the generated frozen ``__init__``.

    Why: that ``__init__`` sets each of the 19 fields through ``object.__setattr__`` and was
    the largest single cost of an answer (~6x this). The object is the same — same fields,
    defaults, equality, hash and ``as_dict()`` (a test pins it against the constructor); the
    class has no ``__post_init__`` to skip. Unknown field names are still refused.
    """
    if not values.keys() <= _FIELDS:
        raise TypeError(f"unknown fields: {sorted(values.keys() - _FIELDS)}")
    answer = object.__new__(SubscriberAttribution)
    state = answer.__dict__
    state.update(_DEFAULTS)
    state.update(values)
    state["status"], state["reason_code"], state["reason"] = status, reason_code, reason
    return answer


class _Decision(NamedTuple):
    """Whose (or nobody, with the reason code and words), and the intervals it rests on.

    A NamedTuple: one is made per look-up and it is read only (cheaper than a dataclass)."""

    account: str | None
    code: str
    reason: str
    used: Sequence[Interval] = ()


_START_END = itemgetter(3, 4)  # (start, end) of an Interval (a NamedTuple)


def decide(candidates: Sequence[Interval], moment: float, skew: float, what: str,
           accounts: Sequence[str] | None = None, *, owner: str | None = None) -> _Decision:
    """Apply the containment/ambiguity rule to the intervals near ``moment``.

    ``what`` names the thing held ("session", "port block") for the reason text.
    ``accounts`` (aligned with ``candidates``) says whose each interval is — the joined
    subscriber's account (see :class:`~netwarden.attribute.identity.JoinPolicy`); by default
    each interval's own ``account``; ``owner`` says that all are one subscriber's (the common
    case, kept cheap). The rule is about whose, not about records.
    """
    if not candidates:
        return _Decision(None, NO_SESSION, f"no {what} near that time")
    if owner is None:
        owners = [c.account for c in candidates] if accounts is None else list(accounts)
        first = owners[0]
        if any(o != first for o in owners):
            return _several(candidates, owners, moment, skew, what)
        owner = first
    if len(candidates) == 2:  # the common joined case (a session and a lease): no sort call
        a, b = candidates
        ordered: Sequence[Interval] = candidates if a.start < b.start or (
            a.start == b.start and a.end <= b.end) else (b, a)
    elif len(candidates) > 2:
        ordered = sorted(candidates, key=_START_END)
    else:
        ordered = candidates
    low, high = moment - skew, moment + skew
    covered_to = low
    outside = False
    for interval in ordered:  # by start: once one starts after covered_to, none extends it
        start, end = interval.start, interval.end
        if start <= covered_to < end:
            covered_to = end
        if start > high or end < low:
            outside = True
    if covered_to < high:
        inside = [c for c in ordered if c.start <= moment <= c.end]
        where = "contains the observation but starts or ends" if inside else "ends or starts"
        return _Decision(None, SESSION_EDGE,
                         f"the {what} {where} within the clock skew of {skew:g}s of the "
                         "observation", list(ordered))
    # the intervals that overlap the window (all of them when they come from a look-up with
    # the same margin, as they do in attribute())
    used = [c for c in ordered if c.start <= high and c.end >= low] if outside else ordered
    return _Decision(owner, ATTRIBUTED, _contained(what, skew), used)


@lru_cache(maxsize=64)
def _contained(what: str, skew: float) -> str:
    """The reason text of an attribution (cached: formatting it was a tenth of a look-up)."""
    return f"one {what} contains the observation time with at least {skew:g}s to spare on " \
        "both sides"


def _several(candidates: Sequence[Interval], owners: list[str], moment: float, skew: float,
             what: str) -> _Decision:
    """Intervals of more than one subscriber near ``moment``: two candidates or an edge."""
    order = sorted(range(len(candidates)), key=lambda i: _START_END(candidates[i]))
    ordered = [candidates[i] for i in order]
    owners = [owners[i] for i in order]
    who = "subscribers" if what == "session" else "holders"
    containing = {owners[i] for i, c in enumerate(ordered) if c.start <= moment <= c.end}
    if len(containing) > 1:
        return _Decision(None, TWO_CANDIDATES,
                         f"{len(containing)} different {who} hold the address at that "
                         f"time (overlapping {what}s)", ordered)
    return _Decision(None, SESSION_EDGE,
                     f"a {what} of another {who[:-1]} starts or ends within the clock "
                     f"skew of {skew:g}s of the observation", ordered)


def _records(intervals: Iterable[Interval]) -> str:
    """``radius logs/detail:12-30, dhcpd logs/dhcpd.leases:4-11`` (kinds, files and lines)."""
    return ", ".join(f"{i.kind} {i.where()}" for i in intervals)


class Attributor:
    """Attributes observations using the logs, NAT data and ASN data the scope names."""

    def __init__(self, *, sessions: Sequence[IntervalIndex] = (),
                 nat_logs: Sequence[IntervalIndex] = (),
                 deterministic: Sequence[DeterministicNat] = (),
                 pseudonymizer: Pseudonymizer | None = None, clock_skew: float = DEFAULT_SKEW,
                 asn_dbs: Sequence[AsnDatabase] = (),
                 infrastructure: Iterable[str] = (), operator: str | None = None,
                 operator_asns: Sequence[int] = (),
                 prefixes: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
                 join: JoinPolicy | None = None) -> None:
        if clock_skew < 0:
            raise ValueError("clock skew must not be negative")
        self.sessions = list(sessions)
        if join is None:  # the defaults, honouring an older per-log account_key
            join = JoinPolicy.from_config({}, "attribution", client_id_first=any(
                _account_key(ix) in ("uid", "client_id") for ix in self.sessions))
        self.join = join
        self._accounting = [ix for ix in self.sessions if ix.kind == "radius"]
        self.nat_logs = list(nat_logs)
        self.deterministic = list(deterministic)
        self.pseudonymizer = pseudonymizer
        self.clock_skew = float(clock_skew)
        self.asn_dbs = list(asn_dbs)
        self.infrastructure = frozenset(normalize_ip(a) for a in infrastructure)
        self.operator = operator
        self.operator_asns = tuple(operator_asns)
        self.prefixes = tuple(ipaddress.ip_network(p) for p in prefixes)
        self._operators: dict[str, dict[str, Any]] = {}

    # -- construction from the scope -------------------------------------------------------
    @classmethod
    def from_scope(cls, scope: Scope, cache_dir: Path) -> Attributor:
        """Build from ``scope.attribution`` (see docs/attribution.md); indexes logs as needed."""
        config: dict[str, Any] = dict(scope.attribution or {})
        source = scope.source or "<scope>"
        base = Path(source).parent if source and not source.startswith("<") else Path.cwd()
        from netwarden.attribute.base import duration_seconds

        known = {"radius", "dhcp", "kea", "cgnat", "clock_skew", "pseudonym_key", "asn_db",
                 "interim_interval", "join", "account"}
        for key in config:
            if key not in known:
                raise InputError(source, f"unknown key (known: {', '.join(sorted(known))})",
                                 f"attribution.{key}")
        skew = duration_seconds(config.get("clock_skew", "2s"), source, "attribution.clock_skew")
        interim = duration_seconds(config.get("interim_interval", DEFAULT_INTERIM), source,
                                   "attribution.interim_interval")
        # checked before any log is indexed: a typo should not wait for a 10M-line index
        client_id_first = any(
            isinstance(entry, dict) and entry.get("account_key") in ("uid", "client_id")
            for key in ("dhcp", "kea") for entry in _entries(config.get(key, []), source, key))
        join = JoinPolicy.from_config(config, source, client_id_first=client_id_first)
        cache_dir = Path(cache_dir)
        sessions: list[IntervalIndex] = []
        kinds: dict[str, type[LogSource]] = {"radius": RadiusDetailSource,
                                             "dhcp": DhcpdLeasesSource, "kea": KeaLeaseSource}
        for key, kind in kinds.items():
            for i, entry in enumerate(_entries(config.get(key, []), source, key)):
                log = _make_source(kind, entry, base, source, f"attribution.{key}[{i}]", interim)
                sessions.append(open_index(log, cache_dir))
        nat_logs: list[IntervalIndex] = []
        deterministic: list[DeterministicNat] = []
        for i, entry in enumerate(_entries(config.get("cgnat", []), source, "cgnat")):
            where = f"attribution.cgnat[{i}]"
            if not isinstance(entry, dict):
                raise InputError(source, "must be a table with format = \"juniper-pba\" or "
                                 "\"rfc7422\"", where)
            fmt = entry.get("format")
            if fmt == "rfc7422":
                deterministic.append(DeterministicNat.from_config(entry, source, where))
            elif fmt == "juniper-pba":
                log = _make_source(JuniperPbaSource, entry, base, source, where, interim)
                nat_logs.append(open_index(log, cache_dir))
            else:
                raise InputError(source, f"unknown CGNAT format {fmt!r} (known: juniper-pba, "
                                 "rfc7422)", f"{where}.format")
        pseudonymizer = None
        key_path = config.get("pseudonym_key")
        if key_path is not None:
            if not isinstance(key_path, str) or not key_path.strip():
                raise InputError(source, "must be the path of a key file",
                                 "attribution.pseudonym_key")
            pseudonymizer = Pseudonymizer.from_file(_resolve(base, key_path))
        elif sessions:
            raise InputError(source, "subscriber logs are configured but no pseudonym_key: "
                             "accounts may only appear as keyed pseudonyms",
                             "attribution.pseudonym_key")
        asn_dbs = [open_asn_database(_resolve(base, p)) for p in
                   _entries(config.get("asn_db", []), source, "asn_db")]
        return cls(sessions=sessions, join=join, nat_logs=nat_logs, deterministic=deterministic,
                   pseudonymizer=pseudonymizer, clock_skew=skew, asn_dbs=asn_dbs,
                   infrastructure=[str(a) for a in scope.infrastructure],
                   operator=scope.operator_name, operator_asns=scope.asn,
                   prefixes=scope.prefixes)

    # -- the question ------------------------------------------------------------------------
    def attribute(self, ip: str, port: int | None, at: datetime) -> SubscriberAttribution:
        """Who was behind ``ip``:``port`` at ``at`` (an aware datetime)?"""
        if at.tzinfo is None:
            raise InputError("attribution", "observation time has no time zone", "at")
        try:
            address = normalize_ip(ip)
        except ValueError:
            raise InputError("attribution", f"{ip!r} is not an IP address", "ip") from None
        if port is not None and not 0 <= port <= 65535:
            raise InputError("attribution", f"port {port} is out of range", "port")
        at = at.astimezone(UTC)
        moment = at.timestamp()
        base: dict[str, Any] = {"ip": address, "port": port, "observed_at": at,
                                "clock_skew_s": self.clock_skew, **self._operator(address)}

        if address in self.infrastructure:
            return _attribution(
                OPERATOR_HOST, OPERATOR_INFRASTRUCTURE,
                f"{address} is listed in the scope's operator.infrastructure: the operator's "
                "own host", **base)

        target, nat, failure = self._through_nat(address, port, moment)
        if failure is not None:
            return _attribution(NONE, failure.code, failure.reason, nat=nat,
                                         source=tuple(i.where() for i in failure.used), **base)
        return self._subscriber(target, moment, base, nat)

    def attribute_many(self, queries: Iterable[tuple[str, int | None, datetime]]
                       ) -> list[SubscriberAttribution]:
        """:meth:`attribute` for each ``(ip, port, at)``, answers in the same order.

        One call for a batch of observations (the pipeline's per-batch stage); each answer is
        exactly what :meth:`attribute` gives. A bad query raises its :class:`InputError`.
        """
        attribute = self.attribute
        return [attribute(ip, port, at) for ip, port, at in queries]

    def _through_nat(self, address: str, port: int | None, moment: float
                     ) -> tuple[str, dict[str, Any] | None, _Decision | None]:
        """Map a CGNAT public address (and port) to the private address, if it is one."""
        for det in self.deterministic:
            if not det.covers(address):
                continue
            if port is None:
                return address, None, _Decision(None, SHARED_WITHOUT_PORT,
                                                f"{address} is a CGNAT public address "
                                                f"({det.label}) shared by "
                                                f"{det.per_address} subscribers; the "
                                                "observation has no port")
            hit = det.reverse(address, port)
            if hit is None:
                return address, None, _Decision(None, NO_NAT_MAPPING,
                                                f"port {port} of {address} is in no "
                                                f"subscriber's block under {det.label}")
            private, lo, hi = hit
            return private, {"private_ip": private, "public_ip": address, "port_lo": lo,
                             "port_hi": hi, "method": det.label, "source": []}, None
        nat_indexes = [ix for ix in self.nat_logs if ix.has_address(address)]
        if not nat_indexes:
            return address, None, None
        near = [iv for ix in nat_indexes for iv in ix.lookup(address, moment, self.clock_skew)]
        if port is None:
            return address, None, _Decision(None, SHARED_WITHOUT_PORT,
                                            f"{address} is a CGNAT public address (port blocks "
                                            "in the NAT log); the observation has no port", near)
        near = [iv for iv in near if iv.port_lo <= port <= iv.port_hi]
        decision = decide(near, moment, self.clock_skew, "port block")
        if decision.account is None:
            code = {NO_SESSION: NO_NAT_MAPPING, TWO_CANDIDATES: NAT_TWO_CANDIDATES,
                    SESSION_EDGE: NAT_EDGE}[decision.code]
            return address, None, _Decision(None, code, f"CGNAT {address}:{port}: "
                                            f"{decision.reason}", decision.used)
        used = decision.used
        return decision.account, {
            "private_ip": decision.account, "public_ip": address,
            "port_lo": min(i.port_lo for i in used), "port_hi": max(i.port_hi for i in used),
            "method": "juniper-pba", "end_estimated": any(i.end_kind == "estimated"
                                                          for i in used),
            "source": [i.where() for i in used]}, None

    def _subscriber(self, address: str, moment: float, base: dict[str, Any],
                    nat: dict[str, Any] | None) -> SubscriberAttribution:
        nat_sources = tuple(nat["source"]) if nat else ()
        via = f" (behind CGNAT: private address {address})" if nat else ""
        if not self.sessions:
            return _attribution(NONE, NO_LOGS, "no subscriber logs (radius, dhcp, kea)"
                                         f" are configured in the scope{via}", nat=nat,
                                         source=nat_sources, **base)
        if len(self.sessions) == 1:
            near = self.sessions[0].lookup(address, moment, self.clock_skew)
        elif len(self.sessions) == 2:  # e.g. accounting + leases: the joined common case
            first, second = self.sessions
            near = first.lookup(address, moment, self.clock_skew) + second.lookup(
                address, moment, self.clock_skew)
        else:
            near = [iv for ix in self.sessions for iv in ix.lookup(address, moment,
                                                                     self.clock_skew)]
        accounts: list[str] | None = None
        subscribers: list[Subscriber] = []
        one = self.join.owner(near) if near else None
        if one is not None:  # one subscriber (the common case)
            owner, kind, joined_on = one
        else:
            owner, kind, joined_on = None, None, ()
            if near:
                subscribers = self.join.subscribers([i.ids for i in near],
                                                    [i.account for i in near])
            for sub in subscribers:
                if sub.account is None:
                    return self._disagree(near, sub, base, nat, nat_sources, via)
            if len(subscribers) == 1:
                owner, kind, joined_on = (subscribers[0].account, subscribers[0].kind,
                                          subscribers[0].joined_on)
            elif subscribers:
                accounts = [""] * len(near)
                for sub in subscribers:
                    for m in sub.members:
                        accounts[m] = sub.account or ""  # never None here (checked above)
        decision = decide(near, moment, self.clock_skew, "session", accounts, owner=owner)
        sources = nat_sources + tuple(i.where() for i in decision.used)
        if decision.account is None:
            code, reason = decision.code, decision.reason
            if code == NO_SESSION:
                covering = [ix for ix in self.sessions
                            if ix.coverage is not None and ix.coverage.contains(moment)]
                if not covering:
                    code = NO_LOG_COVERAGE
                    spans = ", ".join(
                        f"{ix.source}: {from_seconds(ix.coverage.first).isoformat()} to "
                        f"{from_seconds(ix.coverage.last).isoformat()}"
                        for ix in self.sessions if ix.coverage is not None) or "no records"
                    reason = f"no subscriber log covers that time ({spans})"
                else:
                    reason = (f"the logs cover that time but no session, lease or binding "
                              f"holds {address}")
            elif len(subscribers) > 1:  # name each subscriber's records (never its account)
                reason += ": " + "; ".join(
                    f"subscriber {k}: {_records(near[m] for m in sub.members)}"
                    for k, sub in enumerate(subscribers, 1))
            return _attribution(NONE, code, reason + via, nat=nat, source=sources,
                                         **base)
        if self.pseudonymizer is None:
            raise InputError("attribution", "no pseudonym key configured",
                             "attribution.pseudonym_key")
        if accounts is not None:  # several subscribers near, one of them holds it throughout
            chosen = next(sub for sub in subscribers if sub.account == decision.account)
            kind, joined_on = chosen.kind, chosen.joined_on
        used = decision.used
        confirmed: list[Interval] = []
        if self._accounting and not any(i.kind == "radius" for i in used):
            unconfirmed, confirmed = self._lease_without_accounting(address, moment, used)
            if unconfirmed is not None:
                return _attribution(NONE, LEASE_WITHOUT_ACCOUNTING, unconfirmed + via, nat=nat,
                                    source=sources, **base)
        containing = [i for i in used if i.start <= moment <= i.end] or used
        estimated = any(i.end_kind == "estimated" for i in containing)
        notes = tuple(dict.fromkeys(i.note for i in used if i.note))
        reason = decision.reason + via
        kinds = sorted({i.kind for i in used}, key=lambda k: (k != "radius", k))
        if len(kinds) > 1:
            reason += (f"; the {' and '.join(kinds)} records are one subscriber (joined on "
                       f"{', '.join(joined_on) or 'the account'})")
        if confirmed:
            reason += ("; no accounting session holds the address at that moment, but the "
                       "lease is confirmed by accounting of the same subscriber "
                       f"({_records(confirmed)})")
            sources += tuple(i.where() for i in confirmed)
        if estimated:
            reason += "; the session has no Stop record, its end is estimated (see notes)"
        if nat and nat.get("end_estimated"):
            reason += "; the NAT port block has no release record, its end is estimated"
        start = min(i.start for i in containing)
        end = max(i.end for i in containing)
        return _attribution(
            SUBSCRIBER, ATTRIBUTED, reason, pseudonym=self.pseudonymizer.pseudonym(
                decision.account), log_kind=containing[0].kind,
            interval_start=from_seconds(start),
            interval_end=from_seconds(end) if math.isfinite(end) else None,
            end_estimated=estimated, source=sources, notes=notes, nat=nat,
            identifier=kind, joined_on=joined_on, **base)

    def _disagree(self, near: Sequence[Interval], sub: Subscriber, base: dict[str, Any],
                  nat: dict[str, Any] | None, nat_sources: tuple[str, ...],
                  via: str) -> SubscriberAttribution:
        """Records joined into one subscriber that name different accounts: refuse, naming
        the identifiers and the records on each side (never the values)."""
        members = [near[m] for m in sub.members]
        carriers = [near[m] for m in sub.conflict_members]
        joined = ", ".join(sub.joined_on) or "the account"
        reason = (f"the sources disagree on the subscriber: records joined by {joined} "
                  f"({_records(members)}) name different {sub.conflict} values "
                  f"({_records(carriers)}); if these are different identifiers in this "
                  "network, change [attribution] join / account in the scope" + via)
        return _attribution(NONE, SOURCES_DISAGREE, reason, nat=nat,
                            source=nat_sources + tuple(i.where() for i in members), **base)

    def _lease_without_accounting(self, address: str, moment: float,
                                  used: Sequence[Interval]) -> tuple[str | None, list[Interval]]:
        """(Why a lease-only answer is refused, or None; the accounting records confirming it).

        A RADIUS-speaking BNG accounts for every subscriber session it carries. When an
        accounting log covers the time *and* accounts for this address, a DHCP/Kea lease is
        confirmed by an accounting session of the *same* subscriber (joined as usual) anywhere
        within the lease — a reconnect leaves a gap in the accounting, not in the lease. A lease
        that no such session confirms is a disagreement between the sources (a lost
        accounting, or a client the BNG did not carry), so nobody is named. An address the
        accounting never mentions (a DHCP-only pool) keeps its lease-only answer.
        """
        refusal: str | None = None
        for ix in self._accounting:
            cov = ix.coverage
            if cov is None or not cov.contains(moment) or not ix.has_address(address):
                continue
            low = max(min(i.start for i in used), cov.first)
            high = min(max(i.end for i in used), cov.last)
            sessions = ix.lookup(address, (low + high) / 2, (high - low) / 2)
            if sessions:
                records = [*used, *sessions]
                for sub in self.join.subscribers([i.ids for i in records],
                                                 [i.account for i in records]):
                    if 0 in sub.members and sub.account is not None:
                        confirming = [records[m] for m in sub.members if m >= len(used)]
                        if confirming:
                            return None, confirming
            refusal = (f"a lease holds the address ({_records(used)}) but no RADIUS "
                       f"accounting session of the same subscriber does during that lease, "
                       f"although {ix.source} covers that time and accounts for this address")
        return refusal, []

    def _operator(self, address: str) -> dict[str, Any]:
        """Operator fields of ``address`` (cached per address: the ASN data do not change)."""
        known = self._operators.get(address)
        if known is None:
            if len(self._operators) >= _CACHE_MAX:
                self._operators.clear()
            known = self._operators[address] = self._lookup_operator(address)
        return known

    def _lookup_operator(self, address: str) -> dict[str, Any]:
        info: AsnInfo | None = None
        for db in self.asn_dbs:
            info = db.lookup(address)
            if info is not None:
                break
        if info is None:
            # no ASN data: the scope's own AS, when it has exactly one and the address is
            # inside the scope's prefixes
            asn = None
            if len(self.operator_asns) == 1 and self.prefixes:
                address_obj = ipaddress.ip_address(address)
                if any(address_obj in net for net in self.prefixes):
                    asn = self.operator_asns[0]
            return {"operator": self.operator, "operator_asn": asn, "operator_holder": None,
                    "asn_prefix": None}
        return {"operator": self.operator, "operator_asn": info.asn,
                "operator_holder": info.holder, "asn_prefix": info.prefix}

    # -- reveal and housekeeping -------------------------------------------------------------
    def reveal(self, pseudonym: str, basis: str) -> Reveal:
        """The account behind ``pseudonym`` (needs a legal basis; the caller ledgers it)."""
        if self.pseudonymizer is None:
            raise InputError("reveal", "no pseudonym key configured",
                             "attribution.pseudonym_key")
        return reveal(self.pseudonymizer, pseudonym, basis, self._identities())

    def _identities(self) -> Iterator[tuple[str, str, str]]:
        """(account text, log, identifier kind) of every account any look-up could name: each
        log's own account and every identifier the join policy may choose as the account."""
        ranked = set(self.join.preference)
        for ix in self.sessions:
            seen: set[tuple[str, str]] = set()
            for account, ids in ix.identities():
                pairs = []
                for kind, value in decode(ids):
                    ns = self.join.namespace.get(kind)
                    if ns in ranked:
                        pairs.append((self.join.render(ns, value), kind))
                if all(text != account for text, _ in pairs):  # the log's own account
                    pairs.append((account, f"{ix.kind} account"))
                for text, kind in pairs:
                    if (text, kind) not in seen:
                        seen.add((text, kind))
                        yield text, ix.source, kind

    def problems(self, limit: int = 1000) -> list[LogProblem]:
        """Lines of the logs that could not be used (recorded while indexing)."""
        found: list[LogProblem] = []
        for ix in [*self.sessions, *self.nat_logs]:
            found.extend(ix.problems(limit))
        return found[:limit]

    def summary(self) -> list[dict[str, Any]]:
        """Per log: file, kind, lines, intervals, problems, time covered (for run.log)."""
        out = []
        for ix in [*self.sessions, *self.nat_logs]:
            cov = ix.coverage
            out.append({"source": ix.source, "kind": ix.kind, "lines": ix.lines,
                        "intervals": ix.rows, "problems": ix.problem_count,
                        "first": from_seconds(cov.first).isoformat() if cov else None,
                        "last": from_seconds(cov.last).isoformat() if cov else None})
        return out

    def close(self) -> None:
        for ix in [*self.sessions, *self.nat_logs]:
            ix.close()
        for db in self.asn_dbs:
            db.close()


def _account_key(index: IntervalIndex) -> str | None:
    """The ``account_key`` option a log was indexed with (kept in the index's meta)."""
    try:
        params = json.loads(index.meta.get("params", "{}"))
    except (ValueError, AttributeError):
        return None
    options = params.get("options") if isinstance(params, dict) else None
    return options.get("account_key") if isinstance(options, dict) else None


def _entries(value: Any, source: str, key: str) -> list[Any]:
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list):
        raise InputError(source, "must be a path, a table or a list of them",
                         f"attribution.{key}")
    return value


def _resolve(base: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _make_source(kind: type[LogSource], entry: Any, base: Path, source: str, where: str,
                 interim: float) -> LogSource:
    from netwarden.attribute.base import duration_seconds

    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise InputError(source, "must be a path or a table with a 'path'", where)
    timezone = entry.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise InputError(source, "must be an IANA time zone name", f"{where}.timezone")
    options: dict[str, Any] = {}
    if kind in (RadiusDetailSource, JuniperPbaSource):
        options["interim_interval"] = duration_seconds(
            entry.get("interim_interval", interim), source, f"{where}.interim_interval")
    for name in ("account_key", "year"):
        if name in entry:
            options[name] = entry[name]
    known = {"path", "timezone", "interim_interval", "account_key", "year", "format"}
    for name in entry:
        if name not in known:
            raise InputError(source, f"unknown key (known: {', '.join(sorted(known))})",
                             f"{where}.{name}")
    return kind(_resolve(base, entry["path"]), timezone=timezone, options=options)

