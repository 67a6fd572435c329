"""The algorithm registry: one declaration per hash type, stored codes and orders pinned."""

from __future__ import annotations

import os

import pytest

from netwarden.algorithms import (
    Algorithm,
    DigestError,
    Kind,
    RegistryError,
    by_code,
    by_strength,
    get,
    known_names,
    listed,
    register,
    signal_type,
    stored,
    unregister,
)
from netwarden.banks.digests import ALGORITHMS, BY_CODE, format_digest, parse_digest
from netwarden.digest import computed_algorithms


def test_stored_codes_never_change() -> None:
    # written to bank_digests.algorithm: a renumbering would mislabel every stored digest
    assert {a.name: a.code for a in stored()} == {
        "md5": 1, "sha1": 2, "sha256": 3, "ed2k": 4, "tth": 5, "btih": 6, "btmh": 7, "pdq": 8}
    assert {a.name: a.size for a in stored()} == {
        "md5": 16, "sha1": 20, "sha256": 32, "ed2k": 16, "tth": 24, "btih": 20, "btmh": 32,
        "pdq": 32}
    assert get("vpdq").code is None  # its signals have their own table
    assert [a.name for a in BY_CODE.values()] == list(ALGORITHMS)


def test_orders_and_kinds() -> None:
    # identify's ranking (and the notices' order): strongest first
    assert [a.name for a in by_strength() if not a.perceptual] == [
        "sha256", "btmh", "sha1", "btih", "tth", "ed2k", "md5"]
    # the exports' listing: md5, sha1, sha256, pdq, tth, ed2k, btih as before issue 18, then btmh
    assert [a.name for a in listed()] == [
        "md5", "sha1", "sha256", "pdq", "tth", "ed2k", "btih", "btmh"]
    assert {a.name for a in stored() if a.full_content} == {"md5", "sha1", "sha256", "ed2k",
                                                           "tth"}
    assert get("btih").kind is Kind.CONTAINER and get("btmh").kind is Kind.CONTAINER
    assert computed_algorithms() == ("md5", "sha1", "sha256", "ed2k", "tth")


def test_unknown_name_names_the_input_and_the_known_ones() -> None:
    with pytest.raises(DigestError) as caught:
        get("crc32")
    text = str(caught.value)
    assert "'crc32'" in text
    for name in known_names():
        assert name in text
    with pytest.raises(DigestError, match=r"unknown signal type 'photodna'.*video_md5"):
        signal_type("photodna")
    with pytest.raises(DigestError, match=r"code 99 .*1 md5"):
        by_code(99)


def test_lookup_is_lenient_about_case_and_space() -> None:
    assert get(" SHA256 ") is get("sha256")
    assert signal_type("Video_MD5").name == "md5"


class _Clash(Algorithm):
    name = "clash"
    code = 3  # sha256's
    kind = Kind.CONTENT
    size = 32
    rank = 10


def test_duplicate_code_name_and_signal_type_are_refused() -> None:
    with pytest.raises(RegistryError, match="code 3 is already sha256's"):
        register(_Clash())

    class Sha256Again(_Clash):
        name = "sha256"
        code = 200

    with pytest.raises(RegistryError, match="'sha256' is already registered"):
        register(Sha256Again())

    class StealsSignal(_Clash):
        code = 201
        signal_types = ("video_md5",)

    with pytest.raises(RegistryError, match="signal type 'video_md5' is already md5's"):
        register(StealsSignal())

    class BadName(_Clash):
        name = "SHA-3"
        code = 202

    with pytest.raises(RegistryError, match="lowercase"):
        register(BadName())
    assert "clash" not in known_names()  # nothing half-registered


def test_register_and_unregister() -> None:
    class Crc(_Clash):
        name = "crc_test"
        code = 203
        size = 4

    before = known_names()
    register(Crc())
    try:
        assert get("crc_test").code == 203 and ALGORITHMS["crc_test"].size == 4
        assert by_code(203).name == "crc_test"
    finally:
        unregister("crc_test")
    assert known_names() == before
    with pytest.raises(DigestError, match="unknown digest algorithm 'crc_test'"):
        unregister("crc_test")


@pytest.mark.parametrize("name", [a.name for a in stored()])
def test_parse_format_round_trip(name: str) -> None:
    raw = os.urandom(get(name).size or 0)
    assert parse_digest(name, format_digest(name, raw)) == raw
    assert get(name).parse(f" {get(name).format(raw).swapcase()} ") == raw


def test_perceptual_compare_by_distance() -> None:
    pdq = get("pdq")
    a = bytes(32)
    b = bytes([0b1111]) + bytes(31)
    assert pdq.distance(a, b) == 4
    assert pdq.matches(a, b) and not pdq.matches(a, b, threshold=3)
    assert get("sha256").matches(a, a) and not get("sha256").matches(a, b)


def test_vpdq_is_not_a_single_digest() -> None:
    with pytest.raises(DigestError, match="list of frame hashes"):
        get("vpdq").parse("00")
    with pytest.raises(DigestError, match="not held in the bank index"):
        parse_digest("vpdq", "00")


def test_notices_list_exact_digests_strongest_first_with_btmh() -> None:
    from netwarden.notices.formats.base import acns_hash_type, hashes

    digests = {"md5": "m", "sha1": "s1", "sha256": "s256", "tth": "T", "ed2k": "e",
               "btih": "i", "btmh": "h", "pdq": "p", "size": "3"}
    # before issue 18: sha256, sha1, md5, tth, ed2k, btih (and no btmh)
    assert [a for a, _ in hashes({"digests": digests})] == [
        "sha256", "btmh", "sha1", "btih", "tth", "ed2k", "md5"]
    assert [acns_hash_type(a) for a in ("sha256", "btmh", "btih", "tth", "md5", "pdq")] == [
        "SHA256", "SHA256", "SHA1", "TTH", "MD5", "PDQ"]
