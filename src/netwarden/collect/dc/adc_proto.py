"""ADC 1.0 messages (BASE, TIGR, BZIP): parsing and encoding, no I/O.

Why separate from the client: every byte a hub or a peer sends is hostile input; keeping the
grammar in pure functions lets it be fuzzed (hypothesis) and tested without a network, and the
client only moves lines. A message is one line ``<type><CMD> [header] params...\\n``: the type
letter says which header fields follow (B: source SID; D/E: source and target SID; F: source
SID and feature list; U: CID; C/H/I: none). Parameters are space-separated and escaped
(``\\s`` space, ``\\n`` newline, ``\\\\`` backslash); a named parameter is two characters
(upper-case letter, then letter or digit) followed by its value.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from netwarden.collect.bounds import wire_int
from netwarden.digest import _librhash as rh

MAX_LINE = 64 * 1024  # bytes of one message; longer is hostile (ADC has no hard limit)
MAX_PARAMS = 512  # parameters of one message
TYPES = frozenset("BCDEFHIU")
_CMD = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_SID = re.compile(r"^[A-Z2-7]{4}$")
_NAMED = re.compile(r"^[A-Z][A-Z0-9]")
_B32 = re.compile(r"^[A-Z2-7]+$")

# INF CT (client type) bits
CT_BOT, CT_REGISTERED, CT_OPERATOR, CT_SUPERUSER, CT_OWNER, CT_HUB = 1, 2, 4, 8, 16, 32


class ProtocolError(ValueError):
    """A line that is not a valid ADC message; the text says what is wrong."""


def escape(text: str) -> str:
    """ADC-escape a parameter value."""
    return text.replace("\\", "\\\\").replace(" ", "\\s").replace("\n", "\\n")


def unescape(text: str) -> str:
    """Undo :func:`escape`; an unknown or dangling escape is a :class:`ProtocolError`."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "s":
            out.append(" ")
        elif nxt == "n":
            out.append("\n")
        elif nxt == "\\":
            out.append("\\")
        else:
            raise ProtocolError(f"invalid escape {text[i:i + 2]!r}")
        i += 2
    return "".join(out)


@dataclass(frozen=True)
class Message:
    """One ADC message. ``params`` are unescaped; ``src``/``dst`` are SIDs, ``cid`` for U."""

    type: str
    cmd: str
    params: tuple[str, ...] = ()
    src: str | None = None
    dst: str | None = None
    features: tuple[str, ...] = ()  # F messages: "+TCP4", "-NAT0"
    cid: str | None = None  # U messages

    @property
    def name(self) -> str:
        """The type-less command name, e.g. ``INF``."""
        return self.cmd

    def named(self) -> dict[str, list[str]]:
        """Named parameters: code → values in order (a code may repeat, e.g. ``SU``)."""
        out: dict[str, list[str]] = {}
        for param in self.params:
            if len(param) >= 2 and _NAMED.match(param):
                out.setdefault(param[:2], []).append(param[2:])
        return out

    def get(self, code: str, default: str | None = None) -> str | None:
        """The first value of named parameter ``code``."""
        for param in self.params:
            if param.startswith(code) and len(param) >= 2 and _NAMED.match(param):
                return param[2:]
        return default

    def encode(self) -> bytes:
        """The message as it goes on the wire, ending with ``\\n``."""
        head = [self.type + self.cmd]
        if self.type in "BDEF":
            head.append(_need_sid(self.src, "source"))
        if self.type in "DE":
            head.append(_need_sid(self.dst, "target"))
        if self.type == "F":
            head.append("".join(self.features))
        if self.type == "U":
            if not self.cid:
                raise ProtocolError("U message without a CID")
            head.append(self.cid)
        return (" ".join(head + [escape(p) for p in self.params]) + "\n").encode("utf-8")


def _need_sid(sid: str | None, what: str) -> str:
    if sid is None or not _SID.match(sid):
        raise ProtocolError(f"{what} SID {sid!r} is not 4 base32 characters")
    return sid


def parse(line: bytes | str) -> Message:
    """Parse one line (with or without its ``\\n``) into a :class:`Message`.

    Raises :class:`ProtocolError` for anything that is not a well-formed ADC message.
    """
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise ProtocolError(f"message longer than {MAX_LINE} bytes")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"message is not UTF-8: {exc.reason}") from None
    else:
        text = line
        if len(text) > MAX_LINE:
            raise ProtocolError(f"message longer than {MAX_LINE} characters")
    text = text.rstrip("\n")
    if not text:
        raise ProtocolError("empty message")
    if "\n" in text or "\x00" in text:
        raise ProtocolError("message contains a raw newline or NUL")
    parts = text.split(" ")
    if len(parts) > MAX_PARAMS + 4:
        raise ProtocolError(f"more than {MAX_PARAMS} parameters")
    head = parts[0]
    if len(head) != 4 or head[0] not in TYPES or not _CMD.match(head[1:]):
        raise ProtocolError(f"bad message header {head[:16]!r}")
    kind, cmd = head[0], head[1:]
    rest = parts[1:]
    src = dst = cid = None
    features: tuple[str, ...] = ()

    def take(what: str) -> str:
        if not rest:
            raise ProtocolError(f"{kind}{cmd} without {what}")
        return rest.pop(0)

    if kind in "BDEF":
        src = take("source SID")
        if not _SID.match(src):
            raise ProtocolError(f"bad source SID {src[:16]!r}")
    if kind in "DE":
        dst = take("target SID")
        if not _SID.match(dst):
            raise ProtocolError(f"bad target SID {dst[:16]!r}")
    if kind == "F":
        spec = take("feature list")
        if not re.fullmatch(r"(?:[+-][A-Z][A-Z0-9]{3})+", spec):
            raise ProtocolError(f"bad feature list {spec[:32]!r}")
        features = tuple(spec[i:i + 5] for i in range(0, len(spec), 5))
    if kind == "U":
        cid = take("CID")
        if not _B32.match(cid):
            raise ProtocolError(f"bad CID {cid[:48]!r}")
    params = tuple(unescape(p) for p in rest if p != "")
    return Message(kind, cmd, params, src, dst, features, cid)


# -- identities and hashes --------------------------------------------------------------------

def b32(data: bytes) -> str:
    """Base32 without padding, as ADC writes CIDs, PIDs and TTH roots."""
    return base64.b32encode(data).decode("ascii").rstrip("=")


def unb32(text: str) -> bytes:
    """Decode ADC base32 (no padding); :class:`ProtocolError` when it is not base32."""
    if not text or not _B32.match(text):
        raise ProtocolError(f"not base32: {text[:48]!r}")
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError as exc:
        raise ProtocolError(f"not base32: {text[:48]!r}") from exc


def tiger(data: bytes) -> bytes:
    """Tiger (the TIGR extension's hash) through librhash."""
    return rh.digest(rh.TIGER, data)


def cid_from_pid(pid: bytes) -> bytes:
    """CID = Tiger(PID): a hub checks that the client knows the PID behind its CID."""
    return tiger(pid)


def password_response(password: str, challenge_b32: str) -> str:
    """HPAS answer to IGPA: base32(Tiger(password ‖ random data)) per ADC BASE."""
    return b32(tiger(password.encode("utf-8") + unb32(challenge_b32)))


def is_tth(text: str) -> bool:
    """True for a 39-character base32 TTH root (192 bits)."""
    return len(text) == 39 and bool(_B32.match(text))


# -- what the protocol says about users --------------------------------------------------------

@dataclass
class UserInfo:
    """A user as the hub describes it in BINF (fields merge as updates arrive)."""

    sid: str
    fields: dict[str, str] = field(default_factory=dict)
    features: set[str] = field(default_factory=set)

    def update(self, msg: Message) -> None:
        for code, values in msg.named().items():
            if code == "SU":
                self.features = set(",".join(values).split(",")) - {""}
            else:
                self.fields[code] = values[-1]

    @property
    def nick(self) -> str | None:
        return self.fields.get("NI")

    @property
    def cid(self) -> str | None:
        return self.fields.get("ID")

    @property
    def ip4(self) -> str | None:
        return self.fields.get("I4") or None

    @property
    def client(self) -> str | None:
        ap, ve = self.fields.get("AP"), self.fields.get("VE")
        return f"{ap} {ve}" if ap and ve else ve or ap

    @property
    def client_type(self) -> int:
        """INF ``CT`` bits; anything but ASCII digits within the wire domain is 0 (issue 14)."""
        return wire_int(self.fields.get("CT")) or 0

    @property
    def is_operator(self) -> bool:
        return bool(self.client_type & (CT_OPERATOR | CT_SUPERUSER | CT_OWNER))

    @property
    def is_bot(self) -> bool:
        return bool(self.client_type & (CT_BOT | CT_HUB))

    @property
    def share_size(self) -> int | None:
        """INF ``SS``: ASCII digits up to 2**53 - 1, else unknown (a hub's 10**22 would make
        the observation impossible to canonicalise for the ledger; issue 14)."""
        return wire_int(self.fields.get("SS"))

    @property
    def active(self) -> bool:
        return "TCP4" in self.features

    def as_details(self) -> dict[str, object]:
        """The user's identity as an observation records it."""
        return {"nick": self.nick, "cid": self.cid, "sid": self.sid, "client": self.client,
                "share_size": self.share_size, "shared_files": self.fields.get("SF"),
                "ip4": self.ip4, "description": self.fields.get("DE"),
                "client_type": self.client_type, "operator": self.is_operator,
                "bot": self.is_bot, "features": sorted(self.features)}


def status(msg: Message) -> tuple[int, int, str]:
    """``(severity, code, text)`` of a STA message (severity 0 ok, 1 recoverable, 2 fatal)."""
    code = msg.params[0] if msg.params else ""
    if len(code) != 3 or not (code.isascii() and code.isdigit()):  # "²²²".isdigit() too
        raise ProtocolError(f"STA without a 3-digit code: {code[:16]!r}")
    raw = msg.params[0]
    return int(raw[0]), int(raw[1:]), msg.params[1] if len(msg.params) > 1 else ""


def snd_header(msg: Message) -> tuple[str, str, int, int]:
    """``(type, identifier, start, length)`` of a CSND; :class:`ProtocolError` when malformed."""
    if msg.cmd != "SND" or len(msg.params) < 4:
        raise ProtocolError("SND with fewer than 4 parameters")
    kind, ident, start, length = msg.params[:4]
    try:
        s, n = int(start), int(length)
    except ValueError:
        raise ProtocolError("SND start/length are not integers") from None
    if s < 0 or n < 0:
        raise ProtocolError("SND start/length are negative")
    return kind, ident, s, n
