"""The fast canonicaliser (jcs-admit, Rust) agrees byte for byte with the reference ``rfc8785``.

A leaf hash is SHA-256 of these bytes, so a single differing byte would make a ledger written
with one library unverifiable with the other: the property test compares both on arbitrary
JSON values, and wherever ``rfc8785`` refuses a value ``canonical`` must refuse it too.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.errors import InputError
from netwarden.ledger import storage
from netwarden.ledger.storage import canonical

jcs_admit = pytest.importorskip("jcs_admit")

# every code point except lone surrogates (which no UTF-8 entry can carry; tested below)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "b", "\u00e9", "\U0001f600", "\uffff", "A", ""]))
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e21, 1e20, 1e-7, 1e-6, 5e-324, 1.7976931348623157e308,
                     2.0**53, 0.1 + 0.2, 123456789.125, -1e-300]),
)
INTS = st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), st.integers(-(2**70), 2**70))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=5),
                           st.dictionaries(KEYS, kids, max_size=5)),
    max_leaves=30,
)


def _reference(value: dict[str, Any]) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return None


def _agree(value: dict[str, Any]) -> None:
    want = _reference(value)
    if want is None:
        with pytest.raises(InputError):
            canonical(value)
    else:
        assert canonical(value) == want


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=6))
def test_fast_path_matches_rfc8785(value: dict[str, Any]) -> None:
    _agree(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, st.one_of(FLOATS, st.lists(FLOATS, max_size=4)), max_size=4))
def test_fast_path_takes_plain_values(value: dict[str, Any]) -> None:
    # plain JSON must actually go through jcs-admit (else the property above tests rfc8785
    # against itself) and give the reference bytes
    fast = storage._fast_canonical(value)
    assert fast is not None
    assert fast == rfc8785.dumps(value)


DEEP: list[Any] = [1]
for _ in range(70):
    DEEP = [DEEP]


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize("value", [
    {"big": 2**53}, {"small": -(2**53)}, {"nan": math.nan}, {"inf": math.inf},
    {"tuple": (1, 2)}, {"enum": Colour.RED}, {1: "int key"}, {"lone": "\ud800"},
    {"deep": DEEP},
])
def test_non_plain_values_go_to_the_reference(value: dict[str, Any]) -> None:
    assert storage._fast_canonical(value) is None
    _agree(value)
