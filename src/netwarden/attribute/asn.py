"""IP address → autonomous system and its holder, from local data only.

An audit must not ask an online service who holds an address (that would leak the
investigation and make the answer unverifiable later). Two local formats are read:

* a MaxMind DB file in the GeoLite2-ASN layout (``autonomous_system_number``,
  ``autonomous_system_organization``), read with the ``maxminddb`` library;
* a pyasn / RouteViews "ipasn" text file: ``prefix<TAB>asn`` per line (an optional third
  column is taken as the holder's name; lines starting with ``;`` or ``#`` are comments).

Both answer with the most specific prefix containing the address.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from netwarden.errors import InputError

MAX_PREFIX_LINES = 5_000_000  # a full BGP table is ~1M prefixes
MAX_LINE = 4096


@dataclass(frozen=True)
class AsnInfo:
    """Who routes an address: AS number, holder name (if known), and the matching prefix."""

    asn: int
    holder: str | None
    prefix: str
    source: str


class AsnDatabase(ABC):
    """A local IP → AS mapping."""

    @abstractmethod
    def lookup(self, ip: str) -> AsnInfo | None:
        """The AS of ``ip``, or None when the data has no prefix for it."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the file."""


class MmdbAsnDatabase(AsnDatabase):
    """GeoLite2-ASN-layout MMDB file."""

    def __init__(self, path: Path) -> None:
        import maxminddb

        self.path = path
        try:
            self._reader = maxminddb.open_database(str(path))
        except FileNotFoundError:
            raise InputError(str(path), "ASN database not found", "attribution.asn_db") from None
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise InputError(str(path), f"not a readable MaxMind DB: {exc}",
                             "attribution.asn_db") from None

    def lookup(self, ip: str) -> AsnInfo | None:
        try:
            record, prefix_len = self._reader.get_with_prefix_len(ip)
        except ValueError:
            return None  # an IPv6 address in an IPv4-only database, or similar
        if not isinstance(record, dict) or "autonomous_system_number" not in record:
            return None
        network = ipaddress.ip_network(f"{ip}/{prefix_len}", strict=False)
        holder = record.get("autonomous_system_organization")
        number = record["autonomous_system_number"]
        if not isinstance(number, int | str):
            return None  # a database whose record is not an AS number
        return AsnInfo(int(number),
                       str(holder) if holder is not None else None, str(network), str(self.path))

    def close(self) -> None:
        self._reader.close()


class PrefixAsnDatabase(AsnDatabase):
    """pyasn / RouteViews ``prefix<TAB>asn[<TAB>holder]`` text file, held in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tables: dict[tuple[int, int], dict[int, tuple[int, str | None]]] = {}
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise InputError(str(path), "ASN prefix file not found",
                             "attribution.asn_db") from None
        with handle:
            for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE), b""), 1):
                if number > MAX_PREFIX_LINES:
                    raise InputError(str(path), f"more than {MAX_PREFIX_LINES} lines",
                                     "attribution.asn_db")
                line = raw.decode("utf-8", errors="replace").strip()
                if not line or line[0] in ";#":
                    continue
                parts = line.split("\t") if "\t" in line else line.split()
                try:
                    network = ipaddress.ip_network(parts[0], strict=False)
                    asn = int(parts[1].removeprefix("AS"))
                except (ValueError, IndexError):
                    raise InputError(str(path), f"not 'prefix<TAB>asn': {line[:80]!r}",
                                     f"line {number}") from None
                holder = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
                table = self._tables.setdefault((network.version, network.prefixlen), {})
                table[int(network.network_address)] = (asn, holder)
        self._order = sorted(self._tables, key=lambda k: -k[1])

    def lookup(self, ip: str) -> AsnInfo | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        value = int(address)
        bits = 32 if address.version == 4 else 128
        for version, length in self._order:
            if version != address.version:
                continue
            key = value >> (bits - length) << (bits - length) if length else 0
            hit = self._tables[(version, length)].get(key)
            if hit is not None:
                network = ipaddress.ip_network(f"{ip}/{length}", strict=False)
                return AsnInfo(hit[0], hit[1], str(network), str(self.path))
        return None


def open_asn_database(path: str | Path) -> AsnDatabase:
    """Open ``path`` by its format: ``.mmdb`` → MaxMind DB, anything else → prefix text."""
    path = Path(path)
    if path.suffix.lower() == ".mmdb":
        return MmdbAsnDatabase(path)
    return PrefixAsnDatabase(path)
