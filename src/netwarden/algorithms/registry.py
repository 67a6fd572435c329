"""The one list of digest algorithms: every consumer asks here, none keeps its own copy.

Built-in algorithms are the modules of this package (``md5.py``, ``tth.py``, ``pdq.py`` ...):
each defines ``ALGORITHM = <an Algorithm subclass>()``. They are found and registered the
first time anything is looked up, so adding a hash type is adding one module (plus its tests;
see docs/architecture.md, "Extension recipes"). Code outside the package (a plug-in, a test)
registers its own with :func:`register` and removes it with :func:`unregister`.

Why lazy: the digest engine, the banks and the exports all import this module, and an
algorithm module may import from them (a librhash id, a threshold); loading on first use
keeps that free of import cycles. Every answer is computed from the live table, so an
algorithm registered later is seen by every consumer at its next call.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading

from netwarden.algorithms.base import Algorithm, DigestError, Kind

_PACKAGE = "netwarden.algorithms"
_NOT_ALGORITHMS = frozenset({"base", "registry"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
UNKNOWN_RANK = 1_000_000  # rank of a name the registry does not know: after every known one

_table: dict[str, Algorithm] = {}
_loaded = False
_loading = False
_version = 0  # bumped by every change of the table (views cache on it)
_lock = threading.RLock()


class RegistryError(ValueError):
    """An algorithm cannot be registered (its name, code or another declaration clashes)."""


def _builtin_modules() -> list[str]:
    package = importlib.import_module(_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                  if m.name not in _NOT_ALGORITHMS and not m.name.startswith("_"))


def _load() -> dict[str, Algorithm]:
    global _loaded, _loading
    if _loaded:
        return _table
    with _lock:
        if _loaded or _loading:  # _loading: a module being loaded looked something up
            return _table
        _loading = True
        try:
            for name in _builtin_modules():
                module = importlib.import_module(f"{_PACKAGE}.{name}")
                algorithm = getattr(module, "ALGORITHM", None)
                if not isinstance(algorithm, Algorithm):
                    raise RegistryError(f"module {_PACKAGE}.{name} has no ALGORITHM = "
                                        "<an Algorithm subclass>() line")
                _add(algorithm)
            _loaded = True
        except BaseException:
            _table.clear()
            raise
        finally:
            _loading = False
    return _table


def _add(algorithm: Algorithm) -> None:
    global _version
    name = getattr(algorithm, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(f"algorithm name {name!r} must be 1-32 lowercase letters, digits "
                            "or '_', starting with a letter")
    if name in _table:
        raise RegistryError(f"an algorithm named {name!r} is already registered")
    for attribute in ("code", "kind", "size", "rank"):
        if not hasattr(algorithm, attribute):
            raise RegistryError(f"algorithm {name!r} does not declare {attribute}")
    if not isinstance(algorithm.kind, Kind):
        raise RegistryError(f"algorithm {name!r}: kind must be a Kind, not {algorithm.kind!r}")
    code = algorithm.code
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 < code < 32768:
            raise RegistryError(f"algorithm {name!r}: code must be an integer 1..32767 "
                                f"(it is stored in the bank index), not {code!r}")
        taken = next((a for a in _table.values() if a.code == code), None)
        if taken is not None:
            raise RegistryError(f"algorithm {name!r}: code {code} is already {taken.name}'s "
                                "(codes are written to the database: pick an unused one)")
        if algorithm.size is None:
            raise RegistryError(f"algorithm {name!r}: a stored digest needs a size")
    if algorithm.listing is not None:
        taken = next((a for a in _table.values() if a.listing == algorithm.listing), None)
        if taken is not None:
            raise RegistryError(f"algorithm {name!r}: listing position {algorithm.listing} "
                                f"is already {taken.name}'s")
    for signal in algorithm.signal_types:
        owner = next((a for a in _table.values() if signal in a.signal_types), None)
        if owner is not None:
            raise RegistryError(f"algorithm {name!r}: signal type {signal!r} is already "
                                f"{owner.name}'s")
    if algorithm.plain_hex:
        clash = next((a for a in _table.values() if a.plain_hex and a.size == algorithm.size),
                     None)
        if clash is not None:
            raise RegistryError(f"algorithm {name!r}: bare hex of {algorithm.size} bytes "
                                f"already means {clash.name} in plain banks")
    _table[name] = algorithm
    _version += 1


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the registry; :class:`RegistryError` when its name, code, listing
    position, signal types or plain-bank hex length is already another algorithm's."""
    with _lock:
        _load()
        _add(algorithm)
    return algorithm


def unregister(name: str) -> Algorithm:
    """Remove the algorithm called ``name`` (tests, plug-ins); :class:`DigestError` if unknown.

    Digests already stored under its code stay in the database, unreadable until it is
    registered again.
    """
    global _version
    with _lock:
        algorithm = get(name)
        del _table[algorithm.name]
        _version += 1
    return algorithm


def version() -> int:
    """A number that changes whenever an algorithm is registered or removed (caches key on
    it)."""
    _load()
    return _version


def known_names() -> tuple[str, ...]:
    """Every registered name, stored algorithms first in code order (as errors list them)."""
    return tuple(a.name for a in algorithms())


def get(name: str) -> Algorithm:
    """The algorithm called ``name`` (case and surrounding space do not matter), or a
    :class:`DigestError` naming ``name`` and listing the known names."""
    table = _load()
    found = table.get(name)
    if found is None:
        found = table.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise DigestError(f"unknown digest algorithm {name!r} "
                          f"(known: {', '.join(known_names())})")
    return found


def find(name: str) -> Algorithm | None:
    """The algorithm called exactly ``name``, or None (the hot paths' look-up)."""
    return _load().get(name)


def by_code(code: int) -> Algorithm:
    """The algorithm stored under bank-index code ``code``; DigestError if none is."""
    for algorithm in _load().values():
        if algorithm.code == code:
            return algorithm
    raise DigestError(f"no registered digest algorithm has code {code!r} (known: "
                      + ", ".join(f"{a.code} {a.name}" for a in stored()) + ")")


def algorithms() -> tuple[Algorithm, ...]:
    """Every algorithm: the stored ones in code order, then the others by name."""
    return tuple(sorted(_load().values(),
                        key=lambda a: (a.code is None, a.code or 0, a.name)))


def stored() -> tuple[Algorithm, ...]:
    """The algorithms held in the banks' exact index (they have a code), in code order."""
    return tuple(a for a in algorithms() if a.code is not None)


def by_strength() -> tuple[Algorithm, ...]:
    """Every algorithm, strongest first (``rank``; ties in code order)."""
    return tuple(sorted(algorithms(), key=lambda a: a.rank))


def strength(name: str) -> int:
    """The rank of ``name`` (lower is stronger); names the registry does not know come last."""
    algorithm = _load().get(name)
    return algorithm.rank if algorithm is not None else UNKNOWN_RANK


def listed() -> tuple[Algorithm, ...]:
    """The algorithms the exports name, in their listing order (CSV columns, STIX, MISP)."""
    return tuple(sorted((a for a in _load().values()
                         if a.listing is not None and a.exchange is not None),
                        key=lambda a: a.listing or 0))


def computed() -> tuple[Algorithm, ...]:
    """The algorithms the digest engine computes over every streamed byte, in code order."""
    return tuple(a for a in algorithms() if a.computed)


def of_kind(kind: Kind) -> tuple[Algorithm, ...]:
    """The algorithms of one kind, in code order."""
    return tuple(a for a in algorithms() if a.kind is kind)


def signal_type(name: str) -> Algorithm:
    """The algorithm of a ThreatExchange / HMA signal type name (``video_md5`` → md5), or a
    DigestError naming it and listing the known signal types."""
    wanted = name.strip().lower()
    for algorithm in _load().values():
        if wanted in algorithm.signal_types:
            return algorithm
    raise DigestError(f"unknown signal type {name!r} (known: {', '.join(signal_types())})")


def signal_types() -> tuple[str, ...]:
    """Every known signal type name, sorted."""
    return tuple(sorted(s for a in _load().values() for s in a.signal_types))


def plain_by_hex_length() -> dict[int, str]:
    """Hex length → algorithm name of the digests a bare ``plain`` bank line may be."""
    return {2 * (a.size or 0): a.name for a in algorithms() if a.plain_hex}
