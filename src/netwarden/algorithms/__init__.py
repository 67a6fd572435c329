"""Digest algorithms: one module per hash type, one registry every consumer asks.

``from netwarden.algorithms import get`` gives an algorithm's declaration (code, kind, text
form, strength, exchange names, how the engine computes it); see :mod:`.base` for what an
algorithm declares and :mod:`.registry` for the look-ups. Adding a hash type is adding one
module to this package (docs/architecture.md, "Extension recipes").
"""

from netwarden.algorithms.base import Algorithm, DigestError, ExchangeNames, Hasher, Kind, TextForm
from netwarden.algorithms.registry import (
    RegistryError,
    algorithms,
    by_code,
    by_strength,
    computed,
    find,
    get,
    known_names,
    listed,
    of_kind,
    plain_by_hex_length,
    register,
    signal_type,
    signal_types,
    stored,
    strength,
    unregister,
    version,
)

__all__ = [
    "Algorithm",
    "DigestError",
    "ExchangeNames",
    "Hasher",
    "Kind",
    "RegistryError",
    "TextForm",
    "algorithms",
    "by_code",
    "by_strength",
    "computed",
    "find",
    "get",
    "known_names",
    "listed",
    "of_kind",
    "plain_by_hex_length",
    "register",
    "signal_type",
    "signal_types",
    "stored",
    "strength",
    "unregister",
    "version",
]
