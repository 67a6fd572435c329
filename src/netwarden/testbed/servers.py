"""Real servers on loopback, each in a thread of this process: pyftpdlib and http.server.

Why threads of the current process: the demo and the tests start and stop a whole network in
well under a second and need nothing installed beyond the Python packages, and every server is
a real implementation speaking its protocol over real sockets. All of 127.0.0.0/8 is loopback
on Linux, so each host of the testbed gets its own 127.77.x.y address without any set-up.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

# pyftpdlib configures its own stderr logging unless its logger already has a handler.
_ftp_log = logging.getLogger("pyftpdlib")
_ftp_log.addHandler(logging.NullHandler())
_ftp_log.setLevel(logging.WARNING)
_ftp_log.propagate = False

# How long a server loop sleeps when nothing happens. Stopping never waits for it: the stopper
# wakes the loop with a connection of its own. Short polls (50 ms) cost a campaign testbed of
# 200 servers a fifth of a core doing nothing and slowed every test on a 2-core machine.
IDLE_POLL_SECONDS = 5.0


def wake(host: str, port: int) -> None:
    """Open and close a connection to a listening loop so that its select() returns now."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        pass


def run_socketserver(server: socketserver.BaseServer, name: str) -> Callable[[], None]:
    """Serve ``server`` in a daemon thread; return a stopper that wakes and joins it."""
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": IDLE_POLL_SECONDS}, name=name,
                              daemon=True)
    thread.start()
    address = server.server_address
    assert isinstance(address, tuple), "an IP server's address is (host, port, ...)"
    host, port = address[:2]

    def stopper() -> None:
        waiter = threading.Thread(target=server.shutdown, daemon=True)
        waiter.start()
        deadline = IDLE_POLL_SECONDS * 2
        while waiter.is_alive() and deadline > 0:
            wake(str(host), int(port))
            waiter.join(timeout=0.1)
            deadline -= 0.1
        server.server_close()
        thread.join(timeout=10)

    return stopper


@dataclass
class RunningServer:
    """A started server: where it listens and how to stop it (idempotent)."""

    kind: str
    host: str
    port: int
    root: Path | None
    _stop: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"{self.kind}://{self.host}:{self.port}/"

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._stop()


class _LegacyNamesFTPHandler(FTPHandler):
    """Serves names as the bytes they have on disk, so a cp1251 name goes out as cp1251.

    pyftpdlib works with ``str`` paths; with ``surrogateescape`` the undecodable bytes of a
    legacy name survive the round trip (disk → listing → RETR → disk) unchanged, which is
    what a real legacy server does.
    """

    unicode_errors = "surrogateescape"
    timeout = 30
    banner = "netwarden testbed FTP store ready."

    def push(self, data: str) -> None:
        # Replies quote paths ("257 "/Кино" is the current directory"): keep their raw bytes.
        super(FTPHandler, self).push(data.encode(self.encoding, self.unicode_errors))


def serve_ftp(root: Path, host: str, port: int = 0, *,
              handler: type[FTPHandler] = _LegacyNamesFTPHandler,
              users: dict[str, str] | None = None, anonymous: bool = True) -> RunningServer:
    """Start an FTP server for ``root``, read-only: anonymous and/or ``users`` (name → password)."""
    authorizer = DummyAuthorizer()
    if anonymous:
        authorizer.add_anonymous(str(root), perm="elr")
    for user, password in (users or {}).items():
        authorizer.add_user(user, password, str(root), perm="elr")
    handler_class = type("TestbedFTPHandler", (handler,), {"authorizer": authorizer})
    # its own I/O loop: pyftpdlib's default is a process-wide singleton, which breaks a second
    # FTP server started in the same process (several operator testbeds in a campaign test)
    server = FTPServer((host, port), handler_class, ioloop=IOLoop())
    server.max_cons = 64
    actual_port = server.socket.getsockname()[1]
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                server.serve_forever(timeout=IDLE_POLL_SECONDS, blocking=False,
                                     handle_exit=False)
        finally:
            server.close_all()

    thread = threading.Thread(target=loop, name=f"ftp-{host}:{actual_port}", daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        wake(host, actual_port)
        thread.join(timeout=IDLE_POLL_SECONDS * 2)

    return RunningServer("ftp", host, actual_port, root, stopper)


class _QuietDirectoryHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's file and directory-listing handler, without logging to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Gate:
    """Holds a testbed server's file transfers at a known point until a test releases them.

    Why: a test that kills a worker or the coordinator "while an audit is running" must know
    the audit is still running when the kill lands. Waiting for a state and then acting races
    with the audit finishing in between (it did, under load). A gated server answers listings
    but holds every file request before its first byte, so the audit cannot finish until the
    test calls :meth:`release`; :attr:`entered` tells the test that a transfer is being held.
    A hold never lasts longer than ``max_hold`` seconds (loops are bounded), and every server
    behind the gate must be audited with read timeouts longer than that (the testbed's scope
    does this when it is given a gate).
    """

    def __init__(self, max_hold: float = 300.0) -> None:
        self.max_hold = max_hold
        self.entered = threading.Event()
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.held = 0

    def hold(self) -> None:
        """Called by a server thread: block until released (or ``max_hold`` passes)."""
        with self._lock:
            self.held += 1
        self.entered.set()
        self._open.wait(self.max_hold)

    def release(self) -> None:
        """Let every held and later transfer through (idempotent)."""
        self._open.set()

    def close(self) -> None:
        """Hold transfers again from now on (after a :meth:`release`), with a fresh ``entered``."""
        self.entered.clear()
        self._open.clear()

    @property
    def released(self) -> bool:
        return self._open.is_set()


class _GatedDirectoryHandler(_QuietDirectoryHandler):
    """Directory listings go through at once; a file is held by the server's gate first."""

    gate: Gate

    def send_head(self) -> Any:
        if not self.path.split("?", 1)[0].endswith("/"):
            self.gate.hold()
        return super().send_head()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_http(root: Path | None, host: str, port: int = 0, *,
               handler: type[http.server.BaseHTTPRequestHandler] | None = None,
               gate: Gate | None = None) -> RunningServer:
    """Start Python's ThreadingHTTPServer: a directory listing of ``root`` or ``handler``.

    With ``gate``, file requests of the directory listing server wait for the gate (see
    :class:`Gate`)."""
    if handler is None and gate is not None:
        gated = type("GatedDirectoryHandler", (_GatedDirectoryHandler,), {"gate": gate})
        handler_factory: Any = functools.partial(gated, directory=str(root))
    elif handler is None:
        handler_factory = functools.partial(_QuietDirectoryHandler, directory=str(root))
    else:
        handler_factory = handler
    server = _Server((host, port), handler_factory)
    actual_port = server.server_address[1]
    stopper = run_socketserver(server, f"http-{host}:{actual_port}")
    return RunningServer("http", host, actual_port, root, stopper)


class ServerGroup(contextlib.ExitStack):
    """Servers stopped together, in reverse order, also when the block raises."""

    def add(self, server: RunningServer) -> RunningServer:
        self.callback(server.stop)
        return server
