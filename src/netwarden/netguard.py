"""The process-wide net guard: no socket reaches an address the active policy does not allow.

Why: every collector checks the scope before it connects (DESIGN.md §2.4), but those checks are
spread over about a dozen call sites and over libraries that open their own connections (FTP
data connections, SMB DFS referrals, DHT replies, tracker peer lists). One missed check would
contact a host the authorization does not cover. The guard is the backstop under all of them:
a :func:`sys.addaudithook` hook sees every ``socket.connect``, ``socket.sendto`` and
``socket.sendmsg`` made from Python code in this process, in any thread, and refuses (raises
:class:`GuardRefused`, a ``PermissionError``, before the system call) when the destination is
outside the policy. Each refusal is also kept, so the audit can record it in the ledger.

The hook is installed once per process (audit hooks cannot be removed) and does nothing while
no policy is active. :func:`guarded` activates a policy for a block: the pipeline uses
:func:`scope_policy` during collection, and the test suite runs everything under
:func:`loopback_policy`. Unix sockets are never checked (they leave no machine).

Not covered: sockets opened by C code that bypasses Python's ``socket`` module (libtorrent,
gRPC inside Ray). netwarden's collectors are pure Python and are covered.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("netwarden.netguard")

# A policy answers ``None`` when (host, port) may be contacted, else the reason it may not.
Policy = Callable[[str, int | None], str | None]

_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_INET = (socket.AF_INET, socket.AF_INET6)


class GuardRefused(PermissionError):
    """A connection the net guard refused; a ``PermissionError`` so that callers that handle
    a refused connection (every collector does) handle this one the same way."""

    def __init__(self, host: str, port: int | None, reason: str) -> None:
        self.host, self.port, self.reason = host, port, reason
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(13, f"net guard refused to contact {where}: {reason}")


@dataclass(frozen=True)
class GuardRefusal:
    """One refused destination: what, when, which operation, why."""

    host: str
    port: int | None
    event: str
    reason: str
    at: datetime


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.policies: list[tuple[Policy, list[GuardRefusal]]] = []
        self.installed = False


_state = _State()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS or not _state.policies:
        return
    sock, address = args[0], args[1]
    if address is None or getattr(sock, "family", None) not in _INET:
        return
    if not isinstance(address, tuple) or len(address) < 2:
        return
    host = str(address[0])
    port = address[1] if isinstance(address[1], int) else None
    active = list(_state.policies)
    reasons = [r for r in (policy(host, port) for policy, _ in active) if r is not None]
    if not reasons:
        return  # every active policy allows it
    reason = "; ".join(dict.fromkeys(reasons))
    refusal = GuardRefusal(host, port, event, reason, datetime.now(UTC))
    with _state.lock:
        for _, refusals in active:
            if len(refusals) < 10_000:  # bounded: a hostile peer list must not grow memory
                refusals.append(refusal)
    log.warning("net guard refused %s to %s:%s: %s", event, host, port, reason)
    raise GuardRefused(host, port, reason)


def install() -> None:
    """Install the audit hook (once per process; idempotent)."""
    with _state.lock:
        if not _state.installed:
            sys.addaudithook(_hook)
            _state.installed = True


@contextmanager
def guarded(policy: Policy) -> Iterator[list[GuardRefusal]]:
    """Enforce ``policy`` for the block; yields the list its refusals are appended to.

    While several blocks are active (an audit inside the test suite's loopback guard) a
    destination must be allowed by every one of them: a guard inside a guard only narrows.
    A refusal is appended to every active block's list. Audits run one per process (the
    campaign executors start a process per audit), so one scope policy is active at a time.
    """
    install()
    refusals: list[GuardRefusal] = []
    entry = (policy, refusals)
    with _state.lock:
        _state.policies.append(entry)
    try:
        yield refusals
    finally:
        with _state.lock:
            _state.policies = [p for p in _state.policies if p is not entry]


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def loopback_policy(host: str, port: int | None) -> str | None:
    """Allow loopback addresses only (the test suite's policy: tests never leave the host)."""
    address = _address(host)
    if address is not None and address.is_loopback:
        return None
    return "only loopback addresses may be contacted"


def scope_policy(scope: Any, also: Iterable[tuple[str, int | None]] = ()) -> Policy:
    """The audit's policy: what ``scope.check`` allows, plus the ``also`` endpoints.

    ``also`` names the installation's own services that the process may need while it audits
    (the database server, a timestamping authority), as ``(host or address, port or None)``;
    names are resolved once, here, because the guard sees addresses.
    """
    extra: set[tuple[str, int | None]] = set()
    for host, port in also:
        address = _address(host)
        if address is not None:
            extra.add((str(address), port))
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            found = _address(str(info[4][0]))
            if found is not None:
                extra.add((str(found), port))

    def policy(host: str, port: int | None) -> str | None:
        address = _address(host)
        text = str(address) if address is not None else host
        if (text, port) in extra or (text, None) in extra:
            return None
        decision = scope.check(text, port)
        return None if decision.allowed else decision.reason

    return policy


def store_endpoints(store: Any | None, ledger: Any | None = None
                    ) -> list[tuple[str, int | None]]:
    """The database server (and timestamping authority) a run talks to, for :func:`scope_policy`.

    Why: the pipeline writes to the database while collectors run; a PostgreSQL server over TCP
    is not in the audited network's scope but must stay reachable.
    """
    out: list[tuple[str, int | None]] = []
    url = getattr(getattr(store, "engine", None), "url", None)
    if url is not None and url.host and not str(url.host).startswith("/"):
        out.append((str(url.host), url.port or 5432))
    tsa = getattr(ledger, "tsa_url", None)
    if isinstance(tsa, str) and tsa:
        from urllib.parse import urlsplit

        parts = urlsplit(tsa)
        if parts.hostname:
            out.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
    return out
