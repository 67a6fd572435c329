"""NMDC (the original Neo-Modus Direct Connect protocol) messages: parsing and encoding, no I/O.

Why separate from the client: as for ADC, every byte a hub or peer sends is hostile; pure
functions can be fuzzed. NMDC commands are ``$Name args|`` (chat is a line without ``$``),
ended by ``|``; text is in the hub's legacy encoding (often cp1251) and ``$``/``|``/``&`` in
chat are written as HTML entities. The login handshake proves nothing but that the client
knows the historic "lock to key" transform (:func:`lock_to_key`).

References: the NMDC protocol documentation (nmdc.sourceforge.io "NMDC protocol") and
DC++'s NmdcHub/UserConnection; see docs/dc-smb.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_MESSAGE = 64 * 1024  # bytes of one |-terminated message
_NICK_BAD = re.compile(r"[$| \x00-\x1f]")
_TAG = re.compile(r"<([^<>]{1,200})>$")


class NmdcError(ValueError):
    """A message that is not valid NMDC; the text says what is wrong."""


@dataclass(frozen=True)
class Command:
    """One NMDC message: ``name`` ("$MyINFO", or "" for chat) and the raw argument text."""

    name: str
    args: str

    def split(self, n: int) -> list[str]:
        """The arguments split on spaces into at most ``n`` parts."""
        return self.args.split(" ", n - 1) if self.args else []


def decode(raw: bytes, encoding: str) -> str:
    """Hub text to ``str``; undecodable bytes are replaced, never fatal (old hubs mix them)."""
    return raw.decode(encoding, errors="replace")


def parse(raw: bytes | str, encoding: str = "utf-8") -> Command:
    """Parse one message without its ``|`` into a :class:`Command`."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_MESSAGE:
            raise NmdcError(f"message longer than {MAX_MESSAGE} bytes")
        text = decode(raw, encoding)
    else:
        text = raw
        if len(text) > MAX_MESSAGE:
            raise NmdcError(f"message longer than {MAX_MESSAGE} characters")
    if "|" in text:
        raise NmdcError("message contains a raw '|'")
    if "\x00" in text:
        raise NmdcError("message contains NUL")
    if not text:
        raise NmdcError("empty message")
    if not text.startswith("$"):
        return Command("", text)  # main chat: "<nick> text"
    name, _, args = text.partition(" ")
    if len(name) < 2 or len(name) > 32 or not re.fullmatch(r"\$[A-Za-z][A-Za-z0-9_]*", name):
        raise NmdcError(f"bad command name {name[:32]!r}")
    return Command(name, args)


def encode(name: str, args: str = "", encoding: str = "utf-8") -> bytes:
    """``$Name args|`` in the hub's encoding; a raw ``|`` in ``args`` is a :class:`NmdcError`."""
    if "|" in args:
        raise NmdcError("argument contains a raw '|'")
    text = f"{name} {args}" if args else name
    return text.encode(encoding, errors="replace") + b"|"


def escape_chat(text: str) -> str:
    """Chat/description text: ``&``, ``$`` and ``|`` as entities, as clients write them."""
    return text.replace("&", "&amp;").replace("$", "&#36;").replace("|", "&#124;")


def unescape_chat(text: str) -> str:
    return text.replace("&#36;", "$").replace("&#124;", "|").replace("&amp;", "&")


def valid_nick(nick: str) -> bool:
    """Nicks may not contain spaces, ``$``, ``|`` or control characters."""
    return 0 < len(nick) <= 64 and not _NICK_BAD.search(nick)


# -- the lock/key handshake ---------------------------------------------------------------------

_ESCAPED = {0, 5, 36, 96, 124, 126}


def lock_to_key(lock: bytes) -> bytes:
    """The NMDC ``$Key`` for a ``$Lock`` (the lock text before `` Pk=``), per the protocol.

    key[0] = l[0]^l[-1]^l[-2]^5, key[i] = l[i]^l[i-1], each byte nibble-swapped; the bytes
    0, 5, 36, 96, 124, 126 are written ``/%DCNnnn%/``.
    """
    if len(lock) < 3:
        raise NmdcError(f"lock of {len(lock)} bytes is too short")
    key = bytearray(len(lock))
    key[0] = lock[0] ^ lock[-1] ^ lock[-2] ^ 5
    for i in range(1, len(lock)):
        key[i] = lock[i] ^ lock[i - 1]
    out = bytearray()
    for b in key:
        b = ((b << 4) | (b >> 4)) & 0xFF
        if b in _ESCAPED:
            out += b"/%%DCN%03d%%/" % b
        else:
            out.append(b)
    return bytes(out)


def lock_of(args: bytes) -> tuple[bytes, str | None]:
    """Split ``$Lock`` arguments (raw bytes) into the lock and its ``Pk=`` text."""
    lock, sep, pk = args.partition(b" Pk=")
    if not lock:
        raise NmdcError("$Lock without a lock")
    return lock, pk.decode("latin-1") if sep else None


# -- users ------------------------------------------------------------------------------------

@dataclass
class MyInfo:
    """A user's ``$MyINFO $ALL nick description<tag>$ $connection flag$email$share$``."""

    nick: str
    description: str = ""
    tag: str | None = None
    connection: str = ""
    flag: int = 0
    email: str = ""
    share_size: int | None = None

    @property
    def mode(self) -> str | None:
        """``A`` (active), ``P`` (passive) or ``5`` (SOCKS) from the tag's ``M:``."""
        return self.tag_fields().get("M")

    @property
    def client(self) -> str | None:
        if not self.tag:
            return None
        head = self.tag.split(",", 1)[0]
        name, _, version = head.partition(" V:")
        return f"{name} {version}".strip() if version else head

    def tag_fields(self) -> dict[str, str]:
        if not self.tag:
            return {}
        out: dict[str, str] = {}
        for part in self.tag.split(","):
            k, sep, v = part.strip().partition(":")
            if sep and len(k) <= 4:
                out[k.split(" ")[-1]] = v
        return out


def parse_myinfo(args: str) -> MyInfo:
    """Parse ``$MyINFO`` arguments; :class:`NmdcError` when the frame is wrong."""
    if not args.startswith("$ALL "):
        raise NmdcError("$MyINFO without '$ALL '")
    rest = args[5:]
    nick, sep, rest = rest.partition(" ")
    if not valid_nick(nick):
        raise NmdcError(f"$MyINFO with an invalid nick {nick[:32]!r}")
    if not sep:
        return MyInfo(nick)
    fields = rest.split("$")
    if len(fields) < 5:
        raise NmdcError("$MyINFO with fewer than 5 '$' fields")
    desc = fields[0]
    tag = None
    m = _TAG.search(desc)
    if m:
        tag, desc = m.group(1), desc[:m.start()]
    conn = fields[2]
    flag = 0
    if conn:
        flag, conn = ord(conn[-1]), conn[:-1]
    try:
        share = int(fields[4]) if fields[4] else None
    except ValueError:
        raise NmdcError(f"$MyINFO share size {fields[4][:24]!r} is not a number") from None
    if share is not None and share < 0:
        raise NmdcError("$MyINFO share size is negative")
    return MyInfo(nick, unescape_chat(desc), tag, conn, flag, fields[3], share)


def myinfo(nick: str, description: str, tag: str, share: int = 0) -> str:
    """Our own ``$MyINFO`` arguments (connection "LAN(T3)", normal flag)."""
    return f"$ALL {nick} {escape_chat(description)}<{tag}>$ $LAN(T3)\x01$${share}$"


def parse_ctm(args: str) -> tuple[str, str, int]:
    """``$ConnectToMe <target> <ip>:<port>`` → ``(target, ip, port)``.

    A trailing ``S`` (TLS) or ``N``/``R`` (NAT traversal) on the port is stripped.
    """
    parts = args.split(" ")
    if len(parts) < 2:
        raise NmdcError("$ConnectToMe needs a nick and an address")
    target, addr = parts[0], parts[1]
    host, sep, port_s = addr.rpartition(":")
    port_s = port_s.rstrip("SNR")
    # ASCII digits, at most 5: "²".isdigit() and a 5000-digit port both broke int() (issue 14)
    if not sep or not host or not (port_s.isascii() and port_s.isdigit()) or len(port_s) > 5:
        raise NmdcError(f"$ConnectToMe address {addr[:64]!r} is not ip:port")
    port = int(port_s)
    if not 0 < port < 65536:
        raise NmdcError(f"$ConnectToMe port {port} out of range")
    return target, host, port


def parse_adcsnd(args: str) -> tuple[str, str, int, int]:
    """``$ADCSND type ident start length [ZL1]`` → ``(type, ident, start, length)``."""
    parts = args.split(" ")
    if len(parts) < 4:
        raise NmdcError("$ADCSND with fewer than 4 parameters")
    kind, ident, start, length = parts[:4]
    try:
        s, n = int(start), int(length)
    except ValueError:
        raise NmdcError("$ADCSND start/length are not integers") from None
    if s < 0 or n < 0:
        raise NmdcError("$ADCSND start/length are negative")
    return kind, ident.replace("\\s", " ").replace("\\\\", "\\"), s, n


def parse_nicklist(args: str, limit: int) -> list[str]:
    """``$NickList``/``$OpList``: nicks separated by ``$$``; at most ``limit`` kept."""
    out = []
    for nick in args.split("$$"):
        if nick and valid_nick(nick):
            out.append(nick)
            if len(out) >= limit:
                break
    return out
