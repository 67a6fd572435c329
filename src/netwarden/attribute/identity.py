"""One subscriber seen by several logs: identifiers, their normal forms, and the join.

An operator's RADIUS accounting and its DHCP server describe the *same* subscriber in
different words: FreeRADIUS writes ``User-Name = "u3492057"``, ``Calling-Station-Id =
"02-BB-09-61-D0-F8"``, ``NAS-Port-Id = "olt-1/2/2:498"``; ISC dhcpd writes ``hardware ethernet
02:bb:09:61:d0:f8;``, ``option agent.remote-id "u3492057";``, ``option agent.circuit-id
"olt-1/2/2:498";``. Treating every log's own account as a separate subscriber made one
subscriber look like two overlapping ones (issue 13), so every finding was refused.

Each log record therefore carries its *identifiers*, typed and normalised (this module's
:func:`encode`), and :class:`JoinPolicy` decides, per look-up, which records near the
observation are one subscriber: records of the same address and time that share a value of a
*join* identifier (default: MAC, DHCP client id, User-Name = option 82 remote-id, NAS-Port-Id =
option 82 circuit-id). The account behind the pseudonym is the most authoritative identifier
the joined records carry (the scope's ``account`` order; default User-Name / remote-id, then
MAC, client id, circuit id). Joined records that name *different* values of that identifier
are not silently merged: that is a disagreement between sources, and no one is named.

Identifier kinds (the names used in the scope's ``join`` and ``account``):

=============== ==============================================================================
``user``        RADIUS ``User-Name``
``mac``         RADIUS ``Calling-Station-Id`` (when it is a MAC), dhcpd ``hardware ethernet``,
                Kea ``hwaddr``; any notation (``02-BB-..``, ``02:bb:..``, ``02bb.0961.d0f8``)
``client_id``   DHCP option 61: dhcpd ``uid`` (escaped octal string or hex), Kea ``client_id``
``remote_id``   DHCP option 82 sub-option 2: dhcpd ``option agent.remote-id``, Kea
                ``user_context`` relay-agent-info
``circuit_id``  DHCP option 82 sub-option 1: dhcpd ``option agent.circuit-id``, Kea as above
``nas_port_id`` RADIUS ``NAS-Port-Id``
=============== ==============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netwarden.errors import InputError

KINDS = ("user", "mac", "client_id", "remote_id", "circuit_id", "nas_port_id")
DEFAULT_JOIN = ("user=remote_id", "mac", "client_id", "nas_port_id=circuit_id")
DEFAULT_ACCOUNT = ("user", "mac", "client_id", "circuit_id")
SEP = "\x1f"  # between identifiers in the encoded form (unit separator: never in a value)
MAX_VALUE = 256  # longer identifier values are cut (hostile logs)

_HEX_PAIRS = re.compile(r"^[0-9a-fA-F]{1,2}([:\-][0-9a-fA-F]{1,2})+$")
_CISCO = re.compile(r"^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$")
_BARE = re.compile(r"^[0-9a-fA-F]{12}$")
_OCTAL = re.compile(r"\\([0-7]{1,3}|.)")


# -- normal forms ---------------------------------------------------------------------------
def normalize_mac(text: str) -> str | None:
    """``02:bb:09:61:d0:f8`` from any usual notation of a 48-bit MAC, else None.

    Accepts ``02-BB-09-61-D0-F8`` (RADIUS Calling-Station-Id), ``02:bb:9:61:d0:f8`` (octets
    without leading zeros), ``02bb.0961.d0f8`` (Cisco) and ``02bb0961d0f8``. Anything else (a
    phone number in Calling-Station-Id, a circuit id) is not a MAC.
    """
    text = text.strip().strip('"')
    if _HEX_PAIRS.match(text):
        parts = re.split(r"[:\-]", text)
        if len(parts) != 6:
            return None
        return ":".join(p.rjust(2, "0") for p in parts).lower()
    if _CISCO.match(text):
        text = text.replace(".", "")
    if _BARE.match(text):
        text = text.lower()
        return ":".join(text[i:i + 2] for i in range(0, 12, 2))
    return None


def unescape_octal(text: str) -> bytes:
    """The bytes of a dhcpd quoted string: ``\\ooo`` octal escapes, ``\\"``, ``\\\\``."""
    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.isdigit() and all(c in "01234567" for c in token):
            return chr(int(token, 8) & 0xFF)
        return token
    return _OCTAL.sub(one, text).encode("latin-1", "replace")


def option_bytes(text: str) -> bytes | None:
    """Bytes of a DHCP option as dhcpd/Kea/FreeRADIUS write it, or None if empty.

    ``"..."`` is a (possibly octal-escaped) string, ``0:1:bb`` / ``00:01:bb`` colon hex (dhcpd
    prints octets with ``%x``), ``0x0001bb`` hex (FreeRADIUS octets, Kea user context).
    """
    text = text.strip()
    if not text:
        return None
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return unescape_octal(text[1:-1])
    if _HEX_PAIRS.match(text):
        return bytes(int(p, 16) for p in re.split(r"[:\-]", text))
    if text[:2].lower() == "0x" and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    return text.encode("utf-8", "replace")


def printable_or_hex(raw: bytes) -> str:
    """A relay-agent value as text when it is printable ASCII (what operators type into a
    BNG's User-Name or NAS-Port-Id), else lowercase colon hex."""
    if raw and all(0x20 <= b < 0x7F for b in raw):
        return raw.decode("ascii")
    return ":".join(f"{b:02x}" for b in raw)


def client_id_hex(text: str) -> str | None:
    """DHCP client identifier (option 61) as lowercase two-digit colon hex.

    dhcpd writes ``uid "\\001\\002\\273\\011a\\320\\370";`` (octal-escaped string, the default
    ``lease-id-format octal``) or ``uid 01:02:bb:09:61:d0:f8;`` (``lease-id-format hex``); Kea
    writes ``01:02:bb:09:61:d0:f8``. All three give the same text.
    """
    raw = option_bytes(text)
    if not raw:
        return None
    return ":".join(f"{b:02x}" for b in raw)


def clean(value: str) -> str:
    """An identifier value without control characters (they separate the encoded form)."""
    value = value.strip()
    if any(ord(c) < 0x20 for c in value):
        value = "".join(c for c in value if ord(c) >= 0x20)
    return value[:MAX_VALUE]


def encode(pairs: Iterable[tuple[str, str | None]]) -> str:
    """``kind=value`` pairs as one string (sorted, deduplicated): what the index stores."""
    items = sorted({f"{kind}={clean(value)}" for kind, value in pairs
                    if value is not None and clean(value)})
    return SEP.join(items)


def merge(first: str, second: str) -> str:
    """Union of two encoded identifier sets (a session's records may add identifiers)."""
    if not second or first == second:
        return first
    if not first:
        return second
    return SEP.join(sorted(set(first.split(SEP)) | set(second.split(SEP))))


def decode(ids: str) -> list[tuple[str, str]]:
    """The ``(kind, value)`` pairs of an encoded identifier set."""
    if not ids:
        return []
    out = []
    for item in ids.split(SEP):
        kind, _, value = item.partition("=")
        out.append((kind, value))
    return out


# -- the join --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    """One record's identifiers as the policy sees them."""

    keys: frozenset[tuple[str, str]]  # (namespace, value) it joins on
    names: dict[str, str]  # namespace -> value (first kind of the namespace present wins)
    kinds: dict[str, str]  # namespace -> the kind that gave the value


@dataclass
class Subscriber:
    """Records (positions in the candidate list) judged to be one subscriber.

    ``account`` is the text behind the pseudonym (None when the records disagree, see
    ``conflict``); ``kind`` the identifier kind it came from; ``joined_on`` the namespaces
    whose shared values joined records of different logs.
    """

    members: list[int]
    account: str | None
    kind: str | None
    joined_on: tuple[str, ...] = ()
    conflict: str | None = None
    conflict_members: list[int] = field(default_factory=list)


class JoinPolicy:
    """Which identifiers join records into one subscriber, and which one is the account.

    ``join``: entries ``"kind"`` or ``"kind=kind2[=...]"`` (kinds that are the *same*
    identifier in this network, compared as one namespace named after the first kind).
    ``account``: kinds in order of authority; the first one the joined records carry is the
    account. Kinds not in ``join`` never join records (but can be the account).
    """

    def __init__(self, join: Sequence[str] = DEFAULT_JOIN,
                 account: Sequence[str] = DEFAULT_ACCOUNT, *, where: str = "<scope>") -> None:
        self.namespace: dict[str, str] = {}
        self.order: dict[str, tuple[str, ...]] = {}  # namespace -> its kinds, in order
        joined: list[str] = []
        for i, entry in enumerate(join):
            if not isinstance(entry, str) or not entry.strip():
                raise InputError(where, "each entry must be a kind or 'kind=kind'",
                                 f"attribution.join[{i}]")
            kinds = [k.strip() for k in entry.split("=")]
            for kind in kinds:
                if kind not in KINDS:
                    raise InputError(where, f"unknown identifier {kind!r} (known: "
                                     f"{', '.join(KINDS)})", f"attribution.join[{i}]")
                if kind in self.namespace:
                    raise InputError(where, f"identifier {kind!r} appears twice",
                                     f"attribution.join[{i}]")
                self.namespace[kind] = kinds[0]
            self.order[kinds[0]] = tuple(kinds)
            joined.append(kinds[0])
        self.joined = frozenset(joined)
        for kind in KINDS:  # kinds outside join are their own namespace (never joining)
            if kind not in self.namespace:
                self.namespace[kind] = kind
                self.order[kind] = (kind,)
        preference: list[str] = []
        for i, kind in enumerate(account):
            if kind not in KINDS:
                raise InputError(where, f"unknown identifier {kind!r} (known: "
                                 f"{', '.join(KINDS)})", f"attribution.account[{i}]")
            ns = self.namespace[kind]
            if ns not in preference:
                preference.append(ns)
        if not preference:
            raise InputError(where, "must name at least one identifier", "attribution.account")
        self.preference = tuple(preference)
        self._parsed: dict[str, _Parsed] = {}
        self._single: dict[tuple[str, str], tuple[str, str | None, tuple[str, ...]]] = {}
        self._same: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self._pairs: dict[str, dict[str, tuple[Any, ...]]] = {}

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str, *,
                    client_id_first: bool = False) -> JoinPolicy:
        """From the scope's ``[attribution]`` ``join`` / ``account`` (either may be absent).

        ``client_id_first``: a dhcp/kea source asked for ``account_key = "uid"/"client_id"``
        (the older per-log setting): without an explicit ``account`` the client id then
        ranks before the MAC.
        """
        join = config.get("join", DEFAULT_JOIN)
        account = config.get("account")
        if isinstance(join, str):
            join = [join]
        if not isinstance(join, list | tuple):
            raise InputError(where, "must be a list of identifier kinds", "attribution.join")
        if account is None:
            account = list(DEFAULT_ACCOUNT)
            if client_id_first:
                account.remove("client_id")
                account.insert(account.index("mac"), "client_id")
        elif isinstance(account, str):  # one kind first, the defaults after it
            account = [account, *(k for k in DEFAULT_ACCOUNT if k != account)]
        if not isinstance(account, list | tuple):
            raise InputError(where, "must be an identifier kind or a list of them",
                             "attribution.account")
        return cls(list(join), list(account), where=where)

    def render(self, namespace: str, value: str) -> str:
        """The account text (what is pseudonymised) of a value of ``namespace``.

        ``user`` values are bare (as RADIUS-only attribution always named them, so pseudonyms
        stay stable); others are prefixed with the namespace (``mac:02:bb:..``).
        """
        return value if namespace == "user" else f"{namespace}:{value}"

    def parsed(self, ids: str) -> _Parsed:
        """A record's identifiers under this policy (cached per encoded set)."""
        known = self._parsed.get(ids)
        if known is not None:
            return known
        names: dict[str, str] = {}
        kinds: dict[str, str] = {}
        rank: dict[str, int] = {}
        keys = set()
        for kind, value in decode(ids):
            ns = self.namespace.get(kind)
            if ns is None:
                continue
            position = self.order[ns].index(kind)
            if ns not in rank or position < rank[ns]:
                names[ns], kinds[ns], rank[ns] = value, kind, position
            if ns in self.joined:
                keys.add((ns, value))
        result = _Parsed(frozenset(keys), names, kinds)
        if len(self._parsed) >= 65_536:
            self._parsed.clear()
        self._parsed[ids] = result
        return result

    def account_of(self, ids: str, fallback: str) -> tuple[str, str | None, tuple[str, ...]]:
        """(account text, identifier kind, ``()``) of a single record (cached; the empty
        joined-on tuple makes it the same shape as :meth:`owner`'s answer)."""
        key = (ids, fallback)
        known = self._single.get(key)
        if known is not None:
            return known
        p = self.parsed(ids)
        answer: tuple[str, str | None, tuple[str, ...]] = (fallback, None, ())
        for ns in self.preference:
            value = p.names.get(ns)
            if value is not None:
                answer = (self.render(ns, value), p.kinds[ns], ())
                break
        if len(self._single) >= 65_536:
            self._single.clear()
        self._single[key] = answer
        return answer

    def owner(self, records: Sequence[Any]) -> tuple[str, str | None, tuple[str, ...]] | None:
        """(account, kind, joined_on) when the records (``Interval``s) are one subscriber
        because each on its own names the same account — the common case, answered from a
        cache without building anything; None otherwise (then use :meth:`subscribers`).

        Why a separate path: a look-up over two joined logs costs two index searches plus
        this; allocations here showed up directly in look-ups per second (and in the garbage
        collector's work), see docs/perf-attribution.md.
        """
        n = len(records)
        if n == 1:
            one = records[0]
            return self.account_of(one.ids, one.account)
        if n == 2:
            a, b = records
            if a.ids and b.ids:  # identifiers decide alone (no tuple to build and hash)
                pair = self._pairs.get(a.ids)
                known = pair.get(b.ids) if pair is not None else None
                if known is None:
                    known = self._one_account([a.ids, b.ids], [a.account, b.account])
                    if len(self._pairs) >= 65_536:
                        self._pairs.clear()
                    self._pairs.setdefault(a.ids, {})[b.ids] = known
                return known or None
            key: tuple[str, ...] = (a.ids, b.ids, a.account, b.account)
        else:
            key = (*(r.ids for r in records), *(r.account for r in records))
        known = self._same.get(key)
        if known is None:
            known = self._one_account([r.ids for r in records], [r.account for r in records])
            if len(self._same) >= 65_536:
                self._same.clear()
            self._same[key] = known
        return known or None

    def subscribers(self, ids: Sequence[str], fallbacks: Sequence[str]) -> list[Subscriber]:
        """Group records (their encoded identifiers, and their logs' own account as the
        fallback) into subscribers.

        Records sharing a value of a join namespace are one subscriber (transitively); so are
        records whose accounts come out equal. Within one group, different values of the
        account namespace are a conflict: the group is returned with ``account = None``.
        """
        n = len(ids)
        if n == 1:
            account, kind, _ = self.account_of(ids[0], fallbacks[0])
            return [Subscriber([0], account, kind)]
        # the common case: every record on its own names the same account
        known = self._one_account(ids, fallbacks)
        if known:
            account, kind, joined_on = known
            return [Subscriber(list(range(n)), account, kind, joined_on)]
        return self._groups(ids, fallbacks)

    def _one_account(self, ids: Sequence[str], fallbacks: Sequence[str]
                     ) -> tuple[str, str | None, tuple[str, ...]] | tuple[()]:
        """(account, kind, joined_on) when every record names the same account on its own,
        else ``()``."""
        singles = [self.account_of(i, f) for i, f in zip(ids, fallbacks, strict=True)]
        account = singles[0][0]
        if any(a != account for a, _, _ in singles):
            return ()
        kinds = [k for _, k, _ in singles if k is not None]
        kind = min(kinds, key=lambda k: self.order[self.namespace[k]].index(k)) \
            if kinds else None
        counts: dict[tuple[str, str], int] = {}
        for i in ids:
            for k in self.parsed(i).keys:
                counts[k] = counts.get(k, 0) + 1
        joined_on = tuple(sorted({"=".join(self.order[k[0]]) for k, c in counts.items()
                                  if c > 1}))
        return account, kind, joined_on

    def _groups(self, ids: Sequence[str], fallbacks: Sequence[str]) -> list[Subscriber]:
        """The general case: union-find over shared join identifiers."""
        n = len(ids)
        parsed = [self.parsed(i) for i in ids]
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        owner: dict[tuple[str, str], int] = {}
        shared: set[tuple[str, str]] = set()
        for i, p in enumerate(parsed):
            for key in p.keys:
                j = owner.setdefault(key, i)
                if j != i:
                    shared.add(key)
                    a, b = find(i), find(j)
                    if a != b:
                        parent[a] = b
        groups: dict[int, list[int]] = {}
        for i in range(n):
            groups.setdefault(find(i), []).append(i)
        found: list[Subscriber] = []
        for members in groups.values():
            joined_on = tuple(sorted({"=".join(self.order[key[0]]) for key in shared
                                      if sum(key in parsed[i].keys for i in members) > 1}))
            for ns in self.preference:
                values = {parsed[i].names[ns] for i in members if ns in parsed[i].names}
                if not values:
                    continue
                if len(values) == 1:
                    value = values.pop()
                    kind = next(parsed[i].kinds[ns] for i in members if ns in parsed[i].names)
                    found.append(Subscriber(members, self.render(ns, value), kind, joined_on))
                else:
                    carriers = [i for i in members if ns in parsed[i].names]
                    found.append(Subscriber(members, None, None, joined_on,
                                            conflict="/".join(self.order[ns]),
                                            conflict_members=carriers))
                break
            else:  # no identifier at all (an index without identifiers): the logs' accounts
                by_account: dict[str, list[int]] = {}
                for i in members:
                    by_account.setdefault(fallbacks[i], []).append(i)
                found.extend(Subscriber(m, a, None, joined_on) for a, m in by_account.items())
        # the same account is the same subscriber even without a shared join identifier
        merged: dict[str, Subscriber] = {}
        out: list[Subscriber] = []
        for sub in found:
            if sub.account is None:
                out.append(sub)
                continue
            twin = merged.get(sub.account)
            if twin is None:
                merged[sub.account] = sub
                out.append(sub)
            else:
                twin.members = sorted(twin.members + sub.members)
                twin.joined_on = tuple(sorted(set(twin.joined_on) | set(sub.joined_on)))
        return out


__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_JOIN", "KINDS", "JoinPolicy", "Subscriber",
           "client_id_hex", "decode", "encode", "merge", "normalize_mac", "option_bytes",
           "printable_or_hex"]
