"""The scope file: what the signed authorization allows netwarden to contact, and when.

Every connection any collector makes goes through :meth:`Scope.check` first (redirects, links
found in listings and peers learnt from trackers included). A target outside the authorized
prefixes, ports or time window is refused and recorded; it is never contacted. Names are not
resolved: a target must be an IP address inside the prefixes, because resolving a name would
itself contact a resolver the authorization may not cover.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netwarden.errors import ScopeError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "smb": 445, "adc": 411, "adcs": 411,
                 "nmdc": 411, "dchub": 411, "udp": 6969, "bittorrent": 6881}
SUPPORTED_SCHEMES = frozenset(DEFAULT_PORTS)
JURISDICTIONS = frozenset({"ru", "eu", "us", "uk", "fr"})


@dataclass(frozen=True)
class Limits:
    """Bounds on every read: safe defaults, each overridable in the scope's ``[limits]``."""

    max_file_size: int = 4 * 1024**3  # bytes digested per file; larger files are skipped
    max_listing_entries: int = 100_000  # entries in one directory listing
    max_listing_bytes: int = 16 * 1024**2  # bytes of one listing (FTP LIST, HTML index)
    max_files_per_service: int = 1_000_000
    max_depth: int = 32  # directory depth
    max_redirects: int = 5
    connect_timeout: float = 10.0  # seconds
    read_timeout: float = 30.0  # seconds without a byte before giving up
    # A content transfer that averages below min_speed bytes/s over any min_speed_seconds
    # window is abandoned (curl's --speed-limit/--speed-time): the read timeout alone lets a
    # peer that drips one byte every few seconds hold a transfer open for days.
    min_speed: int = 1024  # bytes/s
    min_speed_seconds: float = 60.0
    # Wall-clock bounds (issue 14): one protocol phase (connect+banner, login, response headers,
    # one listing or index page) however slowly it drips, and one service's whole walk.
    phase_timeout: float = 300.0  # seconds
    max_service_seconds: float = 24 * 3600.0  # seconds
    per_host_concurrency: int = 2
    total_concurrency: int = 8

    @classmethod
    def from_table(cls, table: dict[str, Any], source: str) -> Limits:
        known = {f: type(getattr(cls(), f)) for f in cls.__dataclass_fields__}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ScopeError(source, f"unknown limit (known: {', '.join(sorted(known))})",
                                 f"limits.{key}")
            want = known[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ScopeError(source, f"must be a positive number, got {value!r}",
                                 f"limits.{key}")
            if want is int and isinstance(value, float) and not value.is_integer():
                raise ScopeError(source, f"must be a whole number, got {value!r}",
                                 f"limits.{key}")
            values[key] = want(value)
        return cls(**values)


@dataclass(frozen=True)
class Service:
    """A known endpoint from ``[[services]]``: its URL and optional credentials."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    username: str | None = None
    password: str | None = None
    encoding: str | None = None  # legacy name encoding to try (FTP), e.g. "cp1251"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Answer of :meth:`Scope.check`: allowed or not, and why."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Scope:
    """A validated scope file."""

    source: str
    check_id: str
    authorization: str
    not_before: datetime
    not_after: datetime
    jurisdiction: str
    operator_name: str
    asn: tuple[int, ...]
    prefixes: tuple[IPNetwork, ...]
    infrastructure: frozenset[IPAddress]
    services: tuple[Service, ...]
    ports: frozenset[int] | None = None  # None: any port inside the prefixes
    limits: Limits = field(default_factory=Limits)
    banks: tuple[str, ...] = ()
    attribution: dict[str, Any] = field(default_factory=dict)
    auditor: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- time --------------------------------------------------------------------------------
    def window_problem(self, now: datetime | None = None) -> str | None:
        """Why ``now`` is outside the authorization window, or None when it is inside."""
        now = now or datetime.now(UTC)
        if now < self.not_before:
            return f"the authorization starts at {self.not_before.isoformat()}"
        if now > self.not_after:
            return f"the authorization ended at {self.not_after.isoformat()}"
        return None

    def require_window(self, now: datetime | None = None) -> None:
        """Raise :class:`ScopeError` unless ``now`` is inside ``not_before``..``not_after``."""
        problem = self.window_problem(now)
        if problem:
            raise ScopeError(self.source, f"refusing to run: {problem}", "check")

    # -- targets -----------------------------------------------------------------------------
    def check(self, host: str, port: int | None = None, now: datetime | None = None) -> Decision:
        """May ``host``:``port`` be contacted now? Every connection asks this first."""
        problem = self.window_problem(now)
        if problem:
            return Decision(False, problem)
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return Decision(False, f"{host!r} is not an IP address (names are not resolved)")
        if not any(address in net for net in self.prefixes):
            return Decision(False, f"{address} is outside the authorized prefixes")
        if port is not None:
            if not 0 < port < 65536:
                return Decision(False, f"port {port} is not a valid port")
            if self.ports is not None and port not in self.ports:
                return Decision(False, f"port {port} is not among the authorized ports")
        return Decision(True, "inside the authorized prefixes and window")

    def in_scope(self, host: str, port: int | None = None) -> bool:
        """True when ``host``:``port`` may be contacted now (see :meth:`check` for the reason)."""
        return bool(self.check(host, port))

    def is_infrastructure(self, host: str) -> bool:
        """True when ``host`` is one of the operator's own hosts (``operator.infrastructure``)."""
        try:
            return ipaddress.ip_address(host.strip("[]")) in self.infrastructure
        except ValueError:
            return False


# -- parsing ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str | int | float, source: str, key: str) -> timedelta:
    """``"2s"``, ``"500ms"``, ``"1m"``, ``"1h"`` or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ScopeError(source, f"expected a duration such as '2s' or '500ms', got {text!r}", key)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return timedelta(seconds=value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit])


class _Table:
    """A TOML table with typed getters whose errors name the file and the dotted key."""

    def __init__(self, data: Any, source: str, prefix: str) -> None:
        if not isinstance(data, dict):
            raise ScopeError(source, "must be a table", prefix)
        self.data, self.source, self.prefix = data, source, prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, kind: type | tuple[type, ...], required: bool = True,
            default: Any = None) -> Any:
        if name not in self.data:
            if required:
                raise ScopeError(self.source, "is required but missing", self.key(name))
            return default
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool:
            raise ScopeError(self.source, f"must be {_kind_name(kind)}, got a boolean",
                             self.key(name))
        if not isinstance(value, kind):
            raise ScopeError(self.source,
                             f"must be {_kind_name(kind)}, got {type(value).__name__} {value!r}",
                             self.key(name))
        if isinstance(value, str) and required and not value.strip():
            raise ScopeError(self.source, "must not be empty", self.key(name))
        return value

    def strings(self, name: str, required: bool = False) -> list[str]:
        values = self.get(name, list, required=required, default=[])
        for i, item in enumerate(values):
            if not isinstance(item, str):
                raise ScopeError(self.source, f"must be a string, got {item!r}",
                                 f"{self.key(name)}[{i}]")
        return values


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", list: "a list", dict: "a table",
             datetime: "a date-time with offset (2026-11-01T00:00:00Z)", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _aware(value: datetime, source: str, key: str) -> datetime:
    if value.tzinfo is None:
        raise ScopeError(source, "needs a UTC offset (for example 2026-11-01T00:00:00Z); "
                         "local times are ambiguous as evidence", key)
    return value.astimezone(UTC)


def _parse_service(index: int, data: Any, source: str, scope_check: Any) -> Service:
    table = _Table(data, source, f"services[{index}]")
    url = table.get("url", str)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise ScopeError(source, f"unsupported scheme {scheme!r} in {url!r} "
                         f"(supported: {', '.join(sorted(SUPPORTED_SCHEMES))})", table.key("url"))
    if not parts.hostname:
        raise ScopeError(source, f"{url!r} has no host", table.key("url"))
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ScopeError(source, f"{url!r}: {exc}", table.key("url")) from None
    decision = scope_check(parts.hostname, port)
    if not decision.allowed:
        raise ScopeError(source, f"{url!r} is not covered by the authorization: "
                         f"{decision.reason}", table.key("url"))
    known = {"url", "username", "password", "encoding"}
    options = {k: v for k, v in data.items() if k not in known}
    return Service(
        url=url, scheme=scheme, host=parts.hostname, port=port, path=parts.path or "/",
        username=table.get("username", str, required=False, default=parts.username),
        password=table.get("password", str, required=False, default=parts.password),
        encoding=table.get("encoding", str, required=False), options=options,
    )


def load_scope(path: str | Path) -> Scope:
    """Read and validate a scope file; every problem names the file and the key."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ScopeError(source, "no such file") from None
    except UnicodeDecodeError as exc:
        raise ScopeError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScopeError(source, f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScopeError(source, f"is not valid TOML: {exc}") from None
    return parse_scope(data, source)


def parse_scope(data: dict[str, Any], source: str = "<scope>") -> Scope:
    """Validate an already-parsed scope table (see :func:`load_scope`)."""
    top = _Table(data, source, "")
    known_tables = {"check", "operator", "services", "attribution", "banks", "limits", "auditor"}
    for key in data:
        if key not in known_tables:
            raise ScopeError(source, f"unknown table (known: {', '.join(sorted(known_tables))})",
                             key)
    check = _Table(top.get("check", dict), source, "check")
    check_id = check.get("id", str)
    authorization = check.get("authorization", str)
    not_before = _aware(check.get("not_before", datetime), source, "check.not_before")
    not_after = _aware(check.get("not_after", datetime), source, "check.not_after")
    if not_after <= not_before:
        raise ScopeError(source, "must be later than check.not_before", "check.not_after")
    jurisdiction = check.get("jurisdiction", str).lower()
    if jurisdiction not in JURISDICTIONS:
        raise ScopeError(source, f"unknown jurisdiction {jurisdiction!r} "
                         f"(known: {', '.join(sorted(JURISDICTIONS))})", "check.jurisdiction")

    operator = _Table(top.get("operator", dict), source, "operator")
    operator_name = operator.get("name", str)
    asn_list = operator.get("asn", list, required=False, default=[])
    for i, asn in enumerate(asn_list):
        if isinstance(asn, bool) or not isinstance(asn, int) or not 0 < asn < 2**32:
            raise ScopeError(source, f"must be an AS number, got {asn!r}", f"operator.asn[{i}]")
    prefixes: list[IPNetwork] = []
    for i, text in enumerate(operator.strings("prefixes", required=True)):
        try:
            prefixes.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ScopeError(source, f"{text!r} is not a network prefix: {exc}",
                             f"operator.prefixes[{i}]") from None
    if not prefixes:
        raise ScopeError(source, "must list at least one prefix", "operator.prefixes")
    infrastructure: set[IPAddress] = set()
    for i, text in enumerate(operator.strings("infrastructure")):
        key = f"operator.infrastructure[{i}]"
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ScopeError(source, f"{text!r} is not an IP address", key) from None
        if not any(address in net for net in prefixes):
            raise ScopeError(source, f"{text} is outside operator.prefixes", key)
        infrastructure.add(address)
    ports_list = operator.get("ports", list, required=False)
    ports = None
    if ports_list is not None:
        for i, port in enumerate(ports_list):
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ScopeError(source, f"must be a port number, got {port!r}",
                                 f"operator.ports[{i}]")
        ports = frozenset(ports_list)

    limits = Limits.from_table(top.get("limits", dict, required=False, default={}), source)
    banks_table = _Table(top.get("banks", dict, required=False, default={}), source, "banks")
    banks = tuple(banks_table.strings("use"))
    attribution = top.get("attribution", dict, required=False, default={})
    if "clock_skew" in attribution:
        parse_duration(attribution["clock_skew"], source, "attribution.clock_skew")
    auditor = top.get("auditor", dict, required=False, default={})

    partial = Scope(source=source, check_id=check_id, authorization=authorization,
                    not_before=not_before, not_after=not_after, jurisdiction=jurisdiction,
                    operator_name=operator_name, asn=tuple(asn_list), prefixes=tuple(prefixes),
                    infrastructure=frozenset(infrastructure), services=(), ports=ports,
                    limits=limits, banks=banks, attribution=attribution, auditor=auditor, raw=data)

    def static_check(host: str, port: int) -> Decision:
        # Services are validated against prefixes and ports only: the time window is
        # checked when the run starts, so a scope can be validated before its window opens.
        far = partial.not_before + (partial.not_after - partial.not_before) / 2
        return partial.check(host, port, now=far)

    services_data = top.get("services", list, required=False, default=[])
    services = tuple(_parse_service(i, item, source, static_check)
                     for i, item in enumerate(services_data))
    return Scope(**{**partial.__dict__, "services": services})
