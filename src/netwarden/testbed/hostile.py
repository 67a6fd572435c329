"""Hostile servers for the bad-input tests: they lie, stall, loop and point outside the scope.

Each is a small real server on loopback speaking just enough of its protocol to carry out one
attack per path, next to ordinary files, so that a test can check that every attack ends in a
clear recorded outcome *and* that the rest of the crawl still finishes. They hold no state
beyond the attack table and stop (waking any stalled transfer) when stopped.

FTP (``serve_hostile_ftp``), root listing in unix ``LIST`` format (MLSD is refused, so the
LIST fallback is exercised):

* ``ok.bin`` 1000 bytes, ``empty.bin`` 0 bytes, ``after.bin`` 1000 bytes (listed last);
* ``stall.bin`` announces 5000 bytes, sends 1000 and stalls;
* ``drip.bin`` (a tarpit) announces :data:`DRIP_SIZE` bytes, sends 100 at once, then one byte
  every 0.1 s for as long as the client stays (never silent long enough for a read timeout);
* ``huge.bin`` listed at 99,999,999 bytes (larger than the tests' limit: never requested);
* ``liar.bin`` SIZE says 100, the transfer sends 1 MiB;
* ``bomb.bin`` SIZE refused, listed at 1 byte, the transfer sends 3 MiB;
* ``../../etc/passwd`` and ``a/b`` as names (path traversal, never requested);
* ``endless/`` whose listing never ends; ``dos/`` listed in DOS/IIS format;
* ``secret/`` refused with 550; PASV replies name 127.77.9.9, where nothing listens.

HTTP (``serve_hostile_http``), ``/`` is an nginx-style index of the same kind of attacks:
``loop`` (redirect loop), ``away.bin`` (redirect to 10.0.0.1, outside any test scope),
``big.bin`` (Content-Length over the limit), ``stream.bin`` (no length, 3 MiB),
``slow.bin`` (stalls mid-body), ``drip.bin`` (the tarpit above, with its Content-Length),
``denied.bin`` (403), ``missing.bin`` (404), traversal hrefs,
a link to another host out of scope, and ``/apache/`` and ``/nginx/`` directory indexes in
Apache mod_autoindex (fancy) and nginx autoindex format.
"""

from __future__ import annotations

import http.server
import random
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

from netwarden.testbed.servers import RunningServer, run_socketserver, serve_http

STALL_SECONDS = 60.0  # an upper bound: the server also wakes when stopped
# drip.bin's announced size: far more than the drip would send in days (10 B/s), yet under the
# hostile tests' max_file_size (2,000,000, which the 3 MiB attacks must exceed), so the
# collector does start the transfer and has to give up on its speed, not its size.
DRIP_SIZE = 1_500_000
DRIP_HEAD = 100  # bytes sent at once before the drip
DRIP_INTERVAL = 0.1  # seconds between the drip's single bytes


def drip(stop: threading.Event, name: str) -> Iterator[bytes]:
    """``DRIP_HEAD`` bytes, then one byte every ``DRIP_INTERVAL`` s until ``stop`` is set.

    Endless on purpose (a client must abandon it); bounded only by the server's stop event,
    so stopping the server ends it within one interval.
    """
    yield payload(name, DRIP_HEAD)
    while not stop.wait(DRIP_INTERVAL):
        yield b"."
FAKE_PASV_HOST = "127.77.9.9"


def payload(name: str, size: int) -> bytes:
    """Deterministic synthetic bytes for a hostile server's file ``name``."""
    return random.Random(name).randbytes(size)


# -- FTP -----------------------------------------------------------------------------------------

_UNIX_LIST = [
    "-rw-r--r--   1 ftp  ftp        1000 Jan 01  2024 ok.bin",
    "-rw-r--r--   1 ftp  ftp           0 Jan 01  2024 empty.bin",
    "-rw-r--r--   1 ftp  ftp        5000 Jan 01  2024 stall.bin",
    f"-rw-r--r--   1 ftp  ftp     {DRIP_SIZE} Jan 01  2024 drip.bin",
    "-rw-r--r--   1 ftp  ftp    99999999 Jan 01  2024 huge.bin",
    "-rw-r--r--   1 ftp  ftp         100 Jan 01  2024 liar.bin",
    "-rw-r--r--   1 ftp  ftp           1 Jan 01  2024 bomb.bin",
    "-rw-r--r--   1 ftp  ftp          10 Jan 01  2024 ../../etc/passwd",
    "-rw-r--r--   1 ftp  ftp          10 Jan 01  2024 a/b",
    "drwxr-xr-x   2 ftp  ftp        4096 Jan 01  2024 endless",
    "drwxr-xr-x   2 ftp  ftp        4096 Jan 01  2024 dos",
    "drwx------   2 ftp  ftp        4096 Jan 01  2024 secret",
    "-rw-r--r--   1 ftp  ftp        1000 Jan 01  2024 after.bin",
]
_DOS_LIST = [
    "01-31-24  12:00PM       <DIR>          sub",
    "01-31-24  12:00PM                 1234 dosfile.bin",
]
FTP_SIZES = {"/ok.bin": 1000, "/empty.bin": 0, "/after.bin": 1000, "/dos/dosfile.bin": 1234}


class _HostileFTPHandler(socketserver.StreamRequestHandler):
    """One control connection; single-threaded per client, bounded by the server's stop event."""

    timeout = 30
    stop: ClassVar[threading.Event]
    host: ClassVar[str]

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("latin-1") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.pasv: socket.socket | None = None
        self.cwd = "/"
        self.reply("220 hostile FTP ready")
        try:
            while not self.stop.is_set():
                line = self.rfile.readline(4096)
                if not line:
                    return
                command, _, arg = line.decode("latin-1").rstrip("\r\n").partition(" ")
                if not self.dispatch(command.upper(), arg):
                    return
        except OSError:
            return
        finally:
            if self.pasv is not None:
                self.pasv.close()

    def _path(self, arg: str) -> str:
        path = arg if arg.startswith("/") else self.cwd.rstrip("/") + "/" + arg
        return path.rstrip("/") or "/"

    def dispatch(self, command: str, arg: str) -> bool:
        simple = {"USER": "331 any password", "PASS": "230 logged in", "TYPE": "200 ok",
                  "OPTS": "200 ok", "SYST": "215 UNIX Type: L8", "NOOP": "200 ok",
                  "MLSD": "500 MLSD not understood", "EPSV": "500 EPSV not understood"}
        if command in simple:
            self.reply(simple[command])
        elif command == "QUIT":
            self.reply("221 bye")
            return False
        elif command == "PWD":
            self.reply(f'257 "{self.cwd}"')
        elif command == "CWD":
            path = self._path(arg)
            if path == "/secret":
                self.reply("550 Permission denied")
            elif path in ("/", "/endless", "/dos", "/dos/sub"):
                self.cwd = path
                self.reply("250 ok")
            else:
                self.reply("550 No such directory")
        elif command == "PASV":
            self.pasv = socket.socket()
            self.pasv.bind((self.host, 0))
            self.pasv.listen(1)
            self.pasv.settimeout(10)
            port = self.pasv.getsockname()[1]
            fake = FAKE_PASV_HOST.replace(".", ",")  # clients must ignore this address
            self.reply(f"227 Entering Passive Mode ({fake},{port >> 8},{port & 255})")
        elif command == "SIZE":
            path = self._path(arg)
            if path == "/liar.bin":
                self.reply("213 100")
            elif path == "/drip.bin":
                self.reply(f"213 {DRIP_SIZE}")
            elif path in FTP_SIZES:
                self.reply(f"213 {FTP_SIZES[path]}")
            else:
                self.reply("550 SIZE not allowed")
        elif command == "LIST":
            self.transfer(self.listing())
        elif command == "RETR":
            self.retr(self._path(arg))
        else:
            self.reply("502 not implemented")
        return True

    def listing(self) -> Iterator[bytes]:
        if self.cwd == "/endless":
            i = 0
            while not self.stop.is_set():  # ends only when the client goes away
                yield f"-rw-r--r-- 1 ftp ftp 10 Jan 01 2024 f{i:09d}.bin\r\n".encode()
                i += 1
        lines = {"/": _UNIX_LIST, "/dos": _DOS_LIST}.get(self.cwd, [])
        yield "".join(line + "\r\n" for line in lines).encode()

    def retr(self, path: str) -> None:
        def stall() -> Iterator[bytes]:
            yield payload(path, 1000)
            self.stop.wait(STALL_SECONDS)

        def big(size: int) -> Iterator[bytes]:
            for i in range(size // 65536):
                yield payload(f"{path}{i}", 65536)

        if path == "/stall.bin":
            self.transfer(stall())
        elif path == "/drip.bin":
            self.transfer(drip(self.stop, path))
        elif path == "/liar.bin":
            self.transfer(big(1 << 20))
        elif path == "/bomb.bin":
            self.transfer(big(3 << 20))
        elif path in FTP_SIZES:
            self.transfer(iter([payload(path, FTP_SIZES[path])]))
        else:
            self.reply("550 No such file")

    def transfer(self, chunks: Iterator[bytes]) -> None:
        if self.pasv is None:
            self.reply("425 use PASV first")
            return
        self.reply("150 opening data connection")
        try:
            conn, _ = self.pasv.accept()
        except OSError:
            self.reply("425 no data connection")
            return
        finally:
            self.pasv.close()
            self.pasv = None
        try:
            with conn:
                for chunk in chunks:
                    conn.sendall(chunk)
        except OSError:
            self.reply("426 connection closed; transfer aborted")
            return
        self.reply("226 transfer complete")


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_hostile_ftp(host: str, port: int = 0) -> RunningServer:
    """Start the hostile FTP server on ``host`` (see the module docstring for its attacks)."""
    stop = threading.Event()
    handler = type("HostileFTP", (_HostileFTPHandler,), {"stop": stop, "host": host})
    server = _ThreadingTCP((host, port), handler)
    stop_server = run_socketserver(server, f"hostile-ftp-{host}")

    def stopper() -> None:
        stop.set()
        stop_server()

    return RunningServer("ftp", host, server.server_address[1], None, stopper)


# -- HTTP ----------------------------------------------------------------------------------------

OUTSIDE_HOST = "10.0.0.1"  # never contacted: outside every test scope

_ROOT_INDEX = """<html><head><title>Index of /</title></head><body>
<h1>Index of /</h1><hr><pre><a href="../">../</a>
<a href="ok.bin">ok.bin</a>                 01-Jan-2024 12:00    1000
<a href="empty.bin">empty.bin</a>           01-Jan-2024 12:00       0
<a href="loop">loop</a>                     01-Jan-2024 12:00       -
<a href="away.bin">away.bin</a>             01-Jan-2024 12:00    1000
<a href="big.bin">big.bin</a>               01-Jan-2024 12:00 3145728
<a href="stream.bin">stream.bin</a>         01-Jan-2024 12:00       -
<a href="slow.bin">slow.bin</a>             01-Jan-2024 12:00    5000
<a href="drip.bin">drip.bin</a>             01-Jan-2024 12:00 1500000
<a href="denied.bin">denied.bin</a>         01-Jan-2024 12:00    1000
<a href="missing.bin">missing.bin</a>       01-Jan-2024 12:00    1000
<a href="../../etc/passwd">../../etc/passwd</a>
<a href="..%2F..%2Fetc%2Fshadow">..%2F..%2Fetc%2Fshadow</a>
<a href="http://10.0.0.2/film.mkv">mirror</a>
<a href="apache/">apache/</a>               01-Jan-2024 12:00       -
<a href="nginx/">nginx/</a>                 01-Jan-2024 12:00       -
<a href="after.bin">after.bin</a>           01-Jan-2024 12:00    1000
</pre><hr></body></html>
"""

# Apache 2.4 mod_autoindex, FancyIndexing with HTMLTable
_APACHE_INDEX = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /apache</title></head><body>
<h1>Index of /apache</h1>
<table>
<tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
<tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="sub/">sub/</a></td><td align="right">2024-01-01 12:00  </td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><a href="%D0%A4%D0%B8%D0%BB%D1%8C%D0%BC.avi"><img src="/icons/movie.gif" alt="[VID]"></a></td><td><a href="%D0%A4%D0%B8%D0%BB%D1%8C%D0%BC.avi">&#1060;&#1080;&#1083;&#1100;&#1084;.avi</a></td><td align="right">2024-01-01 12:00  </td><td align="right">1.2K</td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="a%20b&amp;c.txt">a b&amp;c.txt</a></td><td align="right">2024-01-01 12:00  </td><td align="right">200 </td><td>&nbsp;</td></tr>
<tr><th colspan="5"><hr></th></tr>
</table>
<address>Apache/2.4.62 (Debian) Server at 127.77.2.1 Port 80</address>
</body></html>
"""  # noqa: E501 (verbatim server output)
_APACHE_SUB_INDEX = """<html><head><title>Index of /apache/sub</title></head><body>
<h1>Index of /apache/sub</h1><ul><li><a href="/apache/"> Parent Directory</a></li>
<li><a href="deep.bin"> deep.bin</a></li></ul></body></html>
"""

# nginx autoindex
_NGINX_INDEX = """<html>
<head><title>Index of /nginx/</title></head>
<body>
<h1>Index of /nginx/</h1><hr><pre><a href="../">../</a>
<a href="%D0%9A%D0%B8%D0%BD%D0%BE/">Кино/</a>                                              01-Jan-2024 12:00                   -
<a href="file%201.bin">file 1.bin</a>                                         01-Jan-2024 12:00                 700
</pre><hr></body>
</html>
"""  # noqa: E501 (verbatim server output)
_NGINX_SUB_INDEX = """<html><head><title>Index of /nginx/Кино/</title></head><body>
<h1>Index of /nginx/Кино/</h1><hr><pre><a href="../">../</a>
<a href="%D0%BA%D0%BB%D0%B8%D0%BF.mp4">клип.mp4</a>     01-Jan-2024 12:00   900
</pre><hr></body></html>
"""

HTTP_FILES = {"/ok.bin": 1000, "/empty.bin": 0, "/denied.bin": 1000, "/after.bin": 1000,
              "/apache/Фильм.avi": 1200, "/apache/a b&c.txt": 200, "/apache/sub/deep.bin": 300,
              "/nginx/file 1.bin": 700, "/nginx/Кино/клип.mp4": 900}
_INDEXES = {"/": _ROOT_INDEX, "/apache/": _APACHE_INDEX, "/apache/sub/": _APACHE_SUB_INDEX,
            "/nginx/": _NGINX_INDEX, "/nginx/Кино/": _NGINX_SUB_INDEX}


class _HostileHTTPHandler(http.server.BaseHTTPRequestHandler):
    stop: ClassVar[threading.Event]
    big_size: ClassVar[int] = 3 << 20

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        from urllib.parse import unquote

        path = unquote(self.path.split("?", 1)[0])
        if path in _INDEXES:
            self._send(200, _INDEXES[path].encode("utf-8"),
                       {"Content-Type": "text/html; charset=utf-8"})
        elif path in ("/apache", "/nginx"):
            self._send(301, headers={"Location": path + "/"})
        elif path in ("/loop", "/loop2"):
            self._send(302, headers={"Location": "/loop2" if path == "/loop" else "/loop"})
        elif path == "/away.bin":
            self._send(302, headers={"Location": f"http://{OUTSIDE_HOST}/secret.bin"})
        elif path == "/denied.bin":
            self._send(403, b"forbidden")
        elif path == "/big.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(self.big_size))
            self.end_headers()
            self.wfile.write(payload(path, 65536))  # never read past the headers
        elif path == "/stream.bin":
            self.send_response(200)  # no length: the body ends when the connection closes
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(self.big_size // 65536):
                if self.stop.is_set():
                    return
                self.wfile.write(payload(f"{path}{i}", 65536))
        elif path == "/slow.bin":
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(payload(path, 1000))
            self.wfile.flush()
            self.stop.wait(STALL_SECONDS)
        elif path == "/drip.bin":
            self.close_connection = True  # the body is never complete
            self.send_response(200)
            self.send_header("Content-Length", str(DRIP_SIZE))
            self.end_headers()
            try:
                for chunk in drip(self.stop, path):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                return  # the client gave up: the point of the attack
        elif path in HTTP_FILES:
            self._send(200, payload(path, HTTP_FILES[path]),
                       {"Content-Type": "application/octet-stream"})
        else:
            self._send(404, b"not found")


def serve_hostile_http(host: str, port: int = 0) -> RunningServer:
    """Start the hostile HTTP server on ``host`` (see the module docstring for its attacks)."""
    return _serve_stoppable(host, port, "HostileHTTP", _HostileHTTPHandler)


def _serve_stoppable(host: str, port: int, name: str, base: type, **attrs: Any
                     ) -> RunningServer:
    """``serve_http`` with a handler class whose ``stop`` event is set when the server stops,
    so that handlers stalling on purpose (drips, floods) end with it."""
    stop = threading.Event()
    handler = type(name, (base,), {"stop": stop, **attrs})
    server = serve_http(None, host, port, handler=handler)
    inner_stop = server._stop

    def stopper() -> None:
        stop.set()
        inner_stop()

    server._stop = stopper
    return server


# -- runaway servers (issue 14): numbers, drips, floods and loops ----------------------------------
#
# ``serve_runaway_http`` and ``serve_runaway_ftp`` attack the *run* rather than one transfer:
# a number no ledger can store, a reply that never completes, a tree that never ends, a tree that
# contains itself. Each keeps ordinary files next to the attacks (``ok.bin``), so a test can check
# that they are still found. Sizes are knobs, so tests stay fast and a measurement by hand can be
# made as big as the (100k names per listing).

HUGE_CONTENT_LENGTH = 9_007_199_254_740_993  # 2**53 + 1: outside the JSON safe-integer domain
HUGE_LISTED_SIZE = "12345678901234567890123"  # 23 digits
RUNAWAY_FILES = {"/ok.bin": 1000}
LOOP_FILES = {"file.bin": 700, "x.bin": 300}  # the loop's files, served under every loop path


def _drip_bytes(stop: threading.Event, head: bytes, interval: float) -> Iterator[bytes]:
    """``head`` one byte every ``interval`` s, then the same forever (until ``stop``)."""
    i = 0
    while not stop.wait(interval):
        yield head[i % len(head):i % len(head) + 1]
        i += 1


def _loop_listing(path: str) -> list[str] | None:
    """Entries of a directory of the loop tree, ``None`` when ``path`` is not in it.

    The tree is ``/loop/`` with ``self -> .`` and ``sub/up -> ..``: any path of those segments
    is valid, and it lists as ``/loop/`` or ``/loop/sub/`` (whichever its last real step is).
    """
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments or segments[0] != "loop":
        return None
    where = "top"
    for seg in segments[1:]:
        if where == "top" and seg == "self":
            continue
        if where == "top" and seg == "sub":
            where = "sub"
        elif where == "sub" and seg == "up":
            where = "top"
        else:
            return None
    return ["self/", "sub/", "file.bin"] if where == "top" else ["up/", "x.bin"]


def _tag(path: str) -> str:
    """A short tag unique to a directory of the flood tree."""
    import hashlib

    return hashlib.sha256(path.strip("/").encode()).hexdigest()[:8] + "-"


def _flood_path(path: str) -> bool:
    """Whether ``path`` is a directory of the flood tree: ``/flood/`` then ``a``/``b`` steps."""
    segments = [s for s in path.strip("/").split("/") if s]
    return bool(segments) and segments[0] == "flood" and all(s in ("a", "b")
                                                              for s in segments[1:])


class _RunawayHTTPHandler(http.server.BaseHTTPRequestHandler):
    stop: ClassVar[threading.Event]
    flood_names: ClassVar[int]
    drip_interval: ClassVar[float]
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _index(self, path: str, hrefs: Iterator[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()  # no length: the page ends when the connection closes
        self.wfile.write(f"<html><body><h1>Index of {path}</h1><pre>".encode())
        batch = []
        for href in hrefs:
            batch.append(f'<a href="{href}">{href}</a>\n')
            if len(batch) >= 1000:
                self.wfile.write("".join(batch).encode())
                batch = []
        self.wfile.write(("".join(batch) + "</pre></body></html>\n").encode())

    def do_GET(self) -> None:
        from urllib.parse import unquote

        path = unquote(self.path.split("?", 1)[0])
        try:
            self._get(path)
        except OSError:
            return  # the client gave up (a drip) or went away

    def _get(self, path: str) -> None:
        if path == "/":
            self._index(path, iter(["ok.bin", "huge-length.bin", "header-drip.bin", "flood/",
                                    "loop/"]))
        elif path in RUNAWAY_FILES:
            body = payload(path, RUNAWAY_FILES[path])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/huge-length.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(HUGE_CONTENT_LENGTH))
            self.end_headers()
            self.wfile.write(payload(path, 1000))
        elif path == "/header-drip.bin":
            # the status line, then headers at one byte per drip_interval, never finished
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            for byte in _drip_bytes(self.stop, b"X-Drip: never-ending-header-value-",
                                    self.drip_interval):
                self.wfile.write(byte)
                self.wfile.flush()
        elif path.endswith("/") and _flood_path(path):
            tag = _tag(path)  # names differ per page: no two pages are the same listing
            names = (f"..%2F{tag}{i:06d}.bin" for i in range(self.flood_names))  # traversal
            # the subdirectories first: a listing cut at max_listing_entries still recurses
            self._index(path, iter(["a/", "b/", *names, "http://10.0.0.3/flood.bin"]))
        elif path.endswith("/") and _loop_listing(path) is not None:
            self._index(path, iter(["../", *(_loop_listing(path) or [])]))
        elif path.rpartition("/")[2] in LOOP_FILES and _loop_listing(
                path.rpartition("/")[0] + "/") is not None:
            name = path.rpartition("/")[2]
            body = payload("loop/" + name, LOOP_FILES[name])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


def serve_runaway_http(host: str, port: int = 0, *, flood_names: int = 1000,
                       drip_interval: float = 0.5) -> RunningServer:
    """Start the runaway HTTP server on ``host``.

    ``/`` links ``ok.bin`` (1000 bytes), ``huge-length.bin`` (``Content-Length:
    9007199254740993``), ``header-drip.bin`` (headers at one byte per ``drip_interval`` s,
    forever), ``flood/`` (every page: ``flood_names`` traversal links, a link out of scope and
    two subdirectories ``a/``, ``b/``, without end) and ``loop/`` (``self -> .``,
    ``sub/up -> ..``: ``file.bin`` and ``sub/x.bin`` reachable under endless paths).
    """
    return _serve_stoppable(host, port, "RunawayHTTP", _RunawayHTTPHandler,
                            flood_names=flood_names, drip_interval=drip_interval)


class _RunawayFTPHandler(_HostileFTPHandler):
    """LIST-only FTP (MLSD refused: no ``unique`` facts, so only content identity tells loops).

    ``/``: ``ok.bin``, ``liar23.bin`` (listed and SIZE'd with 23 digits), ``flood/`` and
    ``loop/`` as in :func:`serve_runaway_http`. With ``banner_drip`` the 220 banner is dripped
    at one byte per ``drip_interval`` s and never finishes.
    """

    flood_names: ClassVar[int]
    drip_interval: ClassVar[float]
    banner_drip: ClassVar[bool]

    def handle(self) -> None:
        if self.banner_drip:
            try:
                for byte in _drip_bytes(self.stop, b"220-welcome to a very slow server ",
                                        self.drip_interval):
                    self.wfile.write(byte)
                    self.wfile.flush()
            except OSError:
                pass
            return
        super().handle()

    def dispatch(self, command: str, arg: str) -> bool:
        if command == "CWD":
            path = self._path(arg)
            if path == "/" or _flood_path(path) or _loop_listing(path + "/") is not None:
                self.cwd = path
                self.reply("250 ok")
            else:
                self.reply("550 No such directory")
            return True
        if command == "SIZE":
            path = self._path(arg)
            if path == "/liar23.bin":
                self.reply(f"213 {HUGE_LISTED_SIZE}")
            elif path in RUNAWAY_FILES:
                self.reply(f"213 {RUNAWAY_FILES[path]}")
            else:
                self.reply("550 SIZE not allowed")
            return True
        return super().dispatch(command, arg)

    def listing(self) -> Iterator[bytes]:
        def line(kind: str, size: int | str, name: str) -> str:
            perm = "drwxr-xr-x" if kind == "d" else "-rw-r--r--"
            return f"{perm}   1 ftp  ftp  {size:>10} Jan 01  2024 {name}\r\n"

        if self.cwd == "/":
            yield (line("-", 1000, "ok.bin") + line("-", HUGE_LISTED_SIZE, "liar23.bin")
                   + line("d", 4096, "flood") + line("d", 4096, "loop")).encode()
        elif _flood_path(self.cwd):
            yield (line("d", 4096, "a") + line("d", 4096, "b")).encode()  # first: see above
            batch = []
            tag = _tag(self.cwd)  # names differ per directory: no two are the same listing
            for i in range(self.flood_names):  # unsafe: a path separator in the name
                batch.append(line("-", 10, f"x/{tag}{i:06d}.bin"))
                if len(batch) >= 1000:
                    yield "".join(batch).encode()
                    batch = []
            yield "".join(batch).encode()
        else:
            entries = _loop_listing(self.cwd + "/") or []
            yield "".join(line("d", 4096, e.rstrip("/")) if e.endswith("/")
                          else line("-", LOOP_FILES[e], e) for e in entries).encode()

    def retr(self, path: str) -> None:
        name = path.rpartition("/")[2]
        if path in RUNAWAY_FILES:
            self.transfer(iter([payload(path, RUNAWAY_FILES[path])]))
        elif path == "/liar23.bin":
            self.transfer(iter([payload(path, 500)]))
        elif name in LOOP_FILES and _loop_listing(path.rpartition("/")[0] + "/") is not None:
            self.transfer(iter([payload("loop/" + name, LOOP_FILES[name])]))
        else:
            self.reply("550 No such file")


def serve_runaway_ftp(host: str, port: int = 0, *, flood_names: int = 1000,
                      banner_drip: bool = False, drip_interval: float = 0.5) -> RunningServer:
    """Start the runaway FTP server on ``host`` (see :class:`_RunawayFTPHandler`)."""
    stop = threading.Event()
    handler = type("RunawayFTP", (_RunawayFTPHandler,),
                   {"stop": stop, "host": host, "flood_names": flood_names,
                    "banner_drip": banner_drip, "drip_interval": drip_interval})
    server = _ThreadingTCP((host, port), handler)
    stop_server = run_socketserver(server, f"runaway-ftp-{host}")

    def stopper() -> None:
        stop.set()
        stop_server()

    return RunningServer("ftp", host, server.server_address[1], None, stopper)
