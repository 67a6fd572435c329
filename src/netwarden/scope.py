"""The scope file: what the signed authorization allows netwarden to contact, and when.

Every connection any collector makes goes through :meth:`Scope.check` first (redirects, links
found in listings and peers learnt from trackers included). A target outside the authorized
prefixes, ports or time window is refused and recorded; it is never contacted. Names are not
resolved: a target must be an IP address inside the prefixes, because resolving a name would
itself contact a resolver the authorization may not cover.

The file is validated strictly (issue 14): every table and key, at every level, is known to a
pydantic model with ``extra="forbid"``, each collector validates its own service options, the
jurisdiction must have a rule file, prefixes wider than /8 (/32 for IPv6) need ``allow_wide``,
and credentials are taken out of service URLs before anything can record them. See
docs/cli.md for the contract.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from netwarden.errors import InputError, ScopeError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

TLP_LEVELS = ("clear", "white", "green", "amber", "red")


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
    password: str | None = field(default=None, repr=False)  # never recorded (see _redacted)
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
    # the Traffic Light Protocol marking the authorizing body sets on what leaves the run
    # (exports); None: the exporters' default (red with CSAM, else amber)
    tlp: str | None = None

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
#
# Two passes. The *structure* of the file (which tables and keys exist, and their TOML types)
# is checked by the pydantic models below, each with ``extra="forbid"`` and strict types, so a
# typo such as ``infrastucture`` or ``usernme`` or a string where a number belongs is an error
# instead of a silently ignored key (issue 14: a mistyped ``infrastructure`` turned the
# operator's own hosts into subscribers). The *meaning* (prefixes parse, services are inside
# them, the window is ordered, the jurisdiction has rules) is checked afterwards with messages
# that name the file and the dotted key. Both passes raise :class:`ScopeError`.

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")

RULES_DIR = Path(__file__).with_name("liability") / "rules"
# Prefixes wider than these are refused unless the caller allows wide prefixes (--allow-wide):
# an authorization for 0.0.0.0/0 is almost certainly a mistake, and would make every address
# on the Internet "in scope".
WIDEST_PREFIX = {4: 8, 6: 32}
MAX_SCOPE_BYTES = 4 * 1024 * 1024  # a scope file is a few kilobytes; /dev/zero is not one
REDACTED = "<redacted>"


def parse_duration(text: str | int | float, source: str, key: str) -> timedelta:
    """``"2s"``, ``"500ms"``, ``"1m"``, ``"1h"`` or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ScopeError(source, f"expected a duration such as '2s' or '500ms', got {text!r}", key)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return timedelta(seconds=value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit])


def scheme_ports() -> dict[str, int]:
    """URL scheme → default port, of every registered collector (each declares its
    ``schemes`` and ``default_ports`` in its own module): the schemes a scope may use.

    Why asked of the collectors: a new protocol is one module; a list here would be a second
    place to edit and drift.
    """
    from netwarden.collect import default_ports  # registers the collectors (lazy: heavy)

    return default_ports()


def known_jurisdictions() -> frozenset[str]:
    """Jurisdictions with a rule file (``liability/rules/<code>.toml``).

    Why from the files: a scope whose jurisdiction has no rules would run and then assess
    nothing; the rule files are the single list of what netwarden can assess.
    """
    return frozenset(p.stem.lower() for p in RULES_DIR.glob("*.toml"))


JURISDICTIONS = known_jurisdictions()


class StrictModel(BaseModel):
    """Base of every input-file model: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


Duration = str | int | float
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


def _listify(value: Any) -> Any:
    """``x`` → ``[x]`` for keys that take one item or a list of them."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _log_entry(value: Any) -> Any:
    """A log source is a path or a table with a ``path``."""
    return {"path": value} if isinstance(value, str) else value


class CheckTable(StrictModel):
    """``[check]``: what authorizes the audit, and when."""

    id: str
    authorization: str
    not_before: datetime
    not_after: datetime
    jurisdiction: str
    tlp: str | None = None  # clear | white | green | amber | red (FIRST TLP 2.0)


class OperatorTable(StrictModel):
    """``[operator]``: who is audited and what may be contacted."""

    name: str
    asn: list[int] = []
    prefixes: list[str]
    infrastructure: list[str] = []
    ports: list[int] | None = None


class ServiceTable(BaseModel):
    """``[[services]]``: the keys every service has; the rest are its collector's options,
    validated by the collector's own ``options_model`` (see :func:`_validate_options`)."""

    model_config = ConfigDict(extra="allow", strict=True)

    url: str
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    encoding: str | None = None
    kind: str | None = None


class LogSourceTable(StrictModel):
    """One provider log under ``[attribution]`` (radius, dhcp, kea, cgnat)."""

    path: str | None = None
    format: str | None = None
    timezone: str | None = None
    interim_interval: Duration | None = None
    account_key: str | None = None
    year: int | None = None
    # rfc7422 deterministic CGNAT (no log file)
    inside: str | None = None
    outside: str | None = None
    ports_per_subscriber: int | None = None
    first_port: int | None = None


class AttributionTable(StrictModel):
    """``[attribution]``: the provider logs and how subscribers are pseudonymised."""

    radius: list[LogSourceTable] = []
    dhcp: list[LogSourceTable] = []
    kea: list[LogSourceTable] = []
    cgnat: list[LogSourceTable] = []
    clock_skew: Duration | None = None
    interim_interval: Duration | None = None
    pseudonym_key: str | None = None
    asn_db: list[str] = []
    join: list[str] | None = None  # identifier names that join the logs (issue 13)
    # which identifier is the subscriber account: one kind, or the order to try (issue 13)
    account: str | list[str] | None = None

    @field_validator("radius", "dhcp", "kea", "cgnat", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        value = _listify(value)
        return [_log_entry(v) for v in value] if isinstance(value, list) else value

    @field_validator("asn_db", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return _listify(value)


class BanksTable(StrictModel):
    """``[banks]``: which reference banks the audit compares against."""

    use: list[str] = []


class AuditorTable(StrictModel):
    """``[auditor]``: how the auditor presents itself (Direct Connect nick and description)."""

    nick: str | None = None
    description: str | None = None


def _limits_model() -> type[BaseModel]:
    """``[limits]``: one optional positive field per :class:`Limits` field."""
    fields: dict[str, Any] = {}
    for name, spec in Limits.__dataclass_fields__.items():
        kind = PositiveInt if spec.type in ("int", int) else PositiveFloat
        fields[name] = (kind | None, None)
    return create_model("LimitsTable", __base__=StrictModel, **fields)


LimitsTable = _limits_model()


class ScopeFile(StrictModel):
    """The whole scope file (DESIGN.md §5)."""

    check: CheckTable
    operator: OperatorTable
    services: list[ServiceTable] = []
    attribution: AttributionTable | None = None
    banks: BanksTable | None = None
    limits: LimitsTable | None = None  # type: ignore[valid-type]
    auditor: AuditorTable | None = None


_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "a table",
    "model_type": "a table", "datetime_type": "a date-time with offset (2026-11-01T00:00:00Z)",
    "int_from_float": "a whole number", "greater_than": "a positive number",
}


_FIELD_WORDS = {("operator", "asn"): "an AS number", ("operator", "ports"): "a port number"}


def _known_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys the model allows at ``loc`` (for "unknown key" messages)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    return sorted(getattr(current, "model_fields", {}) or {})


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def validation_problem(exc: ValidationError, model: Any, prefix: str = "",
                       unknown: str = "unknown key", also_known: tuple[str, ...] = ()
                       ) -> tuple[str, str]:
    """``(dotted key, problem)`` of the first error of a pydantic validation, in words."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    where = _dotted(loc, prefix)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = sorted({*_known_keys(model, loc[:-1]), *(also_known if len(loc) == 1 else ())})
        what = "unknown table" if not loc[:-1] and not prefix else unknown
        hint = f" (known: {', '.join(known)})" if known else ""
        if known:
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            if close:
                hint += f"; did you mean {close[0]!r}?"
        return where, f"{what}{hint}"
    if kind == "missing":
        return where, "is required but missing"
    value = error.get("input")
    got = ("a boolean" if isinstance(value, bool)
           else f"{type(value).__name__} {value!r}"[:200])
    named = tuple(p for p in loc if isinstance(p, str))
    if kind.endswith("_type") and named in _FIELD_WORDS:
        return where, f"must be {_FIELD_WORDS[named]}, got {got}"
    if kind in _TYPE_WORDS:
        return where, f"must be {_TYPE_WORDS[kind]}, got {got}"
    return where, f"{error['msg']}, got {got}"


def _aware(value: datetime, source: str, key: str) -> datetime:
    if value.tzinfo is None:
        raise ScopeError(source, "needs a UTC offset (for example 2026-11-01T00:00:00Z); "
                         "local times are ambiguous as evidence", key)
    return value.astimezone(UTC)


def _nonempty(value: str, source: str, key: str) -> str:
    if not value.strip():
        raise ScopeError(source, "must not be empty", key)
    return value


def _read_secret(base: Path, name: str, source: str, key: str) -> str:
    """A password from ``password_file``: the file's first line, never echoed anywhere."""
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        if not path.is_file():
            raise ScopeError(source, f"{path} is not a regular file", key)
        with path.open("rb") as fh:
            data = fh.read(65537)
    except OSError as exc:
        raise ScopeError(source, f"{path} cannot be read: {exc.strerror}", key) from None
    if len(data) > 65536:
        raise ScopeError(source, f"{path} is larger than 64 KiB: not a password file", key)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScopeError(source, f"{path} is not UTF-8 text", key) from None
    secret = text.splitlines()[0] if text.strip() else ""
    if not secret:
        raise ScopeError(source, f"{path} is empty", key)
    return secret


def _parse_service(index: int, table: ServiceTable, source: str, base: Path,
                   scope_check: Any) -> Service:
    key = f"services[{index}]"
    url = _nonempty(table.url, source, f"{key}.url")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    ports = scheme_ports()
    if scheme not in ports:
        raise ScopeError(source, f"unsupported scheme {scheme!r} in the URL "
                         f"(supported: {', '.join(sorted(ports))})", f"{key}.url")
    if not parts.hostname:
        raise ScopeError(source, "the URL has no host", f"{key}.url")
    try:
        port = parts.port or ports[scheme]
    except ValueError as exc:
        raise ScopeError(source, f"bad port in the URL: {exc}", f"{key}.url") from None
    # Credentials never stay in the URL: the URL is recorded in every observation, the
    # summary, the report and exported bundles, and the ledger cannot forget a leaf.
    username, password = table.username, table.password
    if parts.username is not None or parts.password is not None:
        if parts.username and username is not None:
            raise ScopeError(source, "a user name is given both in the URL and in username",
                             f"{key}.url")
        if parts.password is not None and (password is not None
                                           or table.password_file is not None):
            raise ScopeError(source, "a password is given both in the URL and in "
                             "password/password_file", f"{key}.url")
        username = unquote(parts.username) if parts.username else username
        password = unquote(parts.password) if parts.password is not None else password
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    if table.password_file is not None:
        if password is not None:
            raise ScopeError(source, "give password or password_file, not both",
                             f"{key}.password_file")
        password = _read_secret(base, table.password_file, source, f"{key}.password_file")
    decision = scope_check(parts.hostname, port)
    if not decision.allowed:
        raise ScopeError(source, f"{url!r} is not covered by the authorization: "
                         f"{decision.reason}", f"{key}.url")
    options = dict(table.model_extra or {})
    if table.kind is not None:
        options["kind"] = table.kind
    return Service(url=url, scheme=scheme, host=parts.hostname, port=port,
                   path=parts.path or "/", username=username, password=password,
                   encoding=table.encoding, options=options)


def _validate_options(index: int, service: Service, scope: Scope) -> Service:
    """Check a service's options against its collector's ``options_model``.

    Why at load time: an unknown ``kind`` or a mistyped option (``segment_bytes = "1M"``)
    used to surface only while the audit ran, as an error observation and exit 0.
    """
    from netwarden.collect import collector_for  # registers the collectors (lazy: heavy)

    key = f"services[{index}]"
    try:
        cls = collector_for(service)
    except InputError as exc:
        where = f"{key}.kind" if service.options.get("kind") is not None else f"{key}.url"
        raise ScopeError(scope.source, exc.problem, where) from None
    if not getattr(cls, "uses_credentials", True) and (service.username or service.password):
        raise ScopeError(scope.source, f"{service.scheme} services take no credentials (they "
                         "would be silently unused): remove username/password",
                         f"{key}.{'password' if service.password else 'username'}")
    model = getattr(cls, "options_model", None)
    given = {k: v for k, v in service.options.items() if k != "kind"}
    if model is not None:
        try:
            values = model.model_validate(given).model_dump(exclude_unset=True)
        except ValidationError as exc:
            where, problem = validation_problem(exc, model, key, unknown="unknown option",
                                                also_known=tuple(ServiceTable.model_fields))
            raise ScopeError(scope.source, problem, where) from None
        options = {**values, **({"kind": service.options["kind"]}
                                if "kind" in service.options else {})}
        service = replace(service, options=options)
    check = getattr(cls, "check_service", None)
    if check is not None:
        try:
            check(service, scope)
        except InputError as exc:
            # the collector names the option; the file names the service by its position
            option = (exc.where or "url").rsplit(".", 1)[-1]
            raise ScopeError(scope.source, exc.problem, f"{key}.{option}") from None
    return service


def read_input_file(path: Path, source: str, max_bytes: int = MAX_SCOPE_BYTES) -> str:
    """The text of a small input file (scope, campaign); :class:`ScopeError` for anything else.

    Why bounded and regular-only: ``--scope /dev/zero`` would otherwise be read until memory
    runs out, and a FIFO would block forever.
    """
    try:
        if not path.exists():
            raise ScopeError(source, "no such file")
        if not path.is_file():
            raise ScopeError(source, "is not a regular file")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ScopeError(source, f"cannot be read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise ScopeError(source, f"is larger than {max_bytes} bytes: not an input file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScopeError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_scope(path: str | Path, *, allow_wide: bool = False) -> Scope:
    """Read and validate a scope file; every problem names the file and the key.

    ``allow_wide`` accepts prefixes wider than /8 (IPv4) or /32 (IPv6); see ``--allow-wide``.
    """
    path = Path(path)
    source = str(path)
    text = read_input_file(path, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScopeError(source, f"is not valid TOML: {exc}") from None
    return parse_scope(data, source, allow_wide=allow_wide)


def _redacted(data: dict[str, Any], services: tuple[Service, ...]) -> dict[str, Any]:
    """The scope table without secrets: what the run's ``scope_sha256`` is computed over."""
    out = dict(data)
    if isinstance(data.get("services"), list):
        clean = []
        for item, service in zip(data["services"], services, strict=False):
            item = dict(item)
            item["url"] = service.url
            for secret in ("password",):
                if secret in item:
                    item[secret] = REDACTED
            clean.append(item)
        out["services"] = clean
    return out


def parse_scope(data: dict[str, Any], source: str = "<scope>", *,
                allow_wide: bool = True) -> Scope:
    """Validate an already-parsed scope table (see :func:`load_scope`).

    Programmatic callers (tests, the testbed) build their own tables and get ``allow_wide``;
    files read by :func:`load_scope` do not, unless the user asked for it.
    """
    if not isinstance(data, dict):
        raise ScopeError(source, "must be a table")
    try:
        model = ScopeFile.model_validate(data)
    except ValidationError as exc:
        where, problem = validation_problem(exc, ScopeFile)
        if where.startswith("limits.") and problem.startswith("unknown key"):
            problem = "unknown limit" + problem.removeprefix("unknown key")
        raise ScopeError(source, problem, where) from None
    base = Path(source).parent if not source.startswith("<") else Path.cwd()

    check = model.check
    check_id = _nonempty(check.id, source, "check.id")
    authorization = _nonempty(check.authorization, source, "check.authorization")
    not_before = _aware(check.not_before, source, "check.not_before")
    not_after = _aware(check.not_after, source, "check.not_after")
    if not_after <= not_before:
        raise ScopeError(source, "must be later than check.not_before", "check.not_after")
    tlp = check.tlp.strip().lower() if check.tlp is not None else None
    if tlp is not None and tlp not in TLP_LEVELS:
        raise ScopeError(source, f"must be one of {', '.join(TLP_LEVELS)}, got {check.tlp!r}",
                         "check.tlp")
    jurisdiction = check.jurisdiction.strip().lower()
    known = known_jurisdictions()
    if jurisdiction not in known:
        raise ScopeError(source, f"unknown jurisdiction {jurisdiction!r}: there is no rule "
                         f"file liability/rules/{jurisdiction}.toml (known: "
                         f"{', '.join(sorted(known))})", "check.jurisdiction")

    operator = model.operator
    operator_name = _nonempty(operator.name, source, "operator.name")
    for i, asn in enumerate(operator.asn):
        if not 0 < asn < 2**32:
            raise ScopeError(source, f"must be an AS number, got {asn!r}", f"operator.asn[{i}]")
    prefixes: list[IPNetwork] = []
    for i, text in enumerate(operator.prefixes):
        key = f"operator.prefixes[{i}]"
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ScopeError(source, f"{text!r} is not a network prefix: {exc}", key) from None
        widest = WIDEST_PREFIX[net.version]
        if net.prefixlen < widest and not allow_wide:
            raise ScopeError(source, f"{net} is wider than /{widest} ({net.num_addresses:,} "
                             "addresses): almost certainly not what the authorization covers; "
                             "pass --allow-wide if it really does", key)
        prefixes.append(net)
    if not prefixes:
        raise ScopeError(source, "must list at least one prefix", "operator.prefixes")
    infrastructure: set[IPAddress] = set()
    for i, text in enumerate(operator.infrastructure):
        key = f"operator.infrastructure[{i}]"
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ScopeError(source, f"{text!r} is not an IP address", key) from None
        if not any(address in net for net in prefixes):
            raise ScopeError(source, f"{text} is outside operator.prefixes", key)
        infrastructure.add(address)
    ports = None
    if operator.ports is not None:
        for i, port in enumerate(operator.ports):
            if not 0 < port < 65536:
                raise ScopeError(source, f"must be a port number, got {port!r}",
                                 f"operator.ports[{i}]")
        ports = frozenset(operator.ports)

    limits_values: dict[str, Any] = (model.limits.model_dump(exclude_none=True)
                                     if model.limits else {})
    limits = Limits(**{k: type(getattr(Limits(), k))(v) for k, v in limits_values.items()})
    banks = tuple(model.banks.use) if model.banks else ()
    for i, name in enumerate(banks):
        _nonempty(name, source, f"banks.use[{i}]")
    attribution = dict(data.get("attribution") or {})
    if model.attribution is not None:
        for name in ("clock_skew", "interim_interval"):
            value = getattr(model.attribution, name)
            if value is not None:
                parse_duration(value, source, f"attribution.{name}")
    auditor = dict(data.get("auditor") or {})

    partial = Scope(source=source, check_id=check_id, authorization=authorization,
                    not_before=not_before, not_after=not_after, jurisdiction=jurisdiction,
                    operator_name=operator_name, asn=tuple(operator.asn),
                    prefixes=tuple(prefixes), infrastructure=frozenset(infrastructure),
                    services=(), ports=ports, limits=limits, banks=banks,
                    attribution=attribution, auditor=auditor, raw={}, tlp=tlp)

    def static_check(host: str, port: int) -> Decision:
        # Services are validated against prefixes and ports only: the time window is
        # checked when the run starts, so a scope can be validated before its window opens.
        far = partial.not_before + (partial.not_after - partial.not_before) / 2
        return partial.check(host, port, now=far)

    services = tuple(_parse_service(i, item, source, base, static_check)
                     for i, item in enumerate(model.services))
    services = tuple(_validate_options(i, s, partial) for i, s in enumerate(services))
    return replace(partial, services=services, raw=_redacted(data, services))
