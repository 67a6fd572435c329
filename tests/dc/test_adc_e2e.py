"""End to end against uhub and eiskaltdcpp-daemon: lists, planted files served, hub facts."""

from __future__ import annotations

import os
from typing import Any

import pytest
from dc_helpers import (  # type: ignore[import-not-found]
    AUDITOR_PASS,
    HUB_HOST,
    OP_NICK,
    OP_PASS,
    dc_scope,
    needs_dc,
    run_dc,
    wait_shared,
)

from netwarden.digest import MultiDigest
from netwarden.records import EvidenceLevel, Observation, Outcome

pytestmark = [pytest.mark.slow, needs_dc]


def tth(data: bytes) -> str:
    m = MultiDigest()
    m.update(data)
    return m.finalize().tth or ""


def test_planted_files_served_from_the_right_users_decoys_not(uhub: Any, dc_clients: Any
                                                              ) -> None:
    planted_a = os.urandom(3 * 1024 * 1024 + 123)  # leaves at a coarser granularity
    planted_b = os.urandom(40_000)  # small: one leaf
    decoy = os.urandom(500_000)
    alice = dc_clients("alice", "127.77.6.11", {"films/Planted A.mkv": planted_a,
                                                "films/decoy.mkv": decoy})
    bob = dc_clients("bob", "127.77.6.12", {"Planted B.avi": planted_b,
                                            "other/" + "Фильм.mkv": os.urandom(1000)})
    carol = dc_clients("carol", "127.77.6.13", {"decoy2.bin": os.urandom(2000)})
    wait_shared(uhub, [alice, bob, carol])
    bank = {tth(planted_a), tth(planted_b), "A" * 39}
    scope = dc_scope([{"url": uhub.url, "password": AUDITOR_PASS}])
    records = run_dc(scope, bank)
    obs = [r for r in records if isinstance(r, Observation)]
    served = [o for o in obs if o.level is EvidenceLevel.SERVED]
    assert {(o.details["nick"], o.digests["tth"], o.endpoint.host) for o in served} == {
        ("alice", tth(planted_a), "127.77.6.11"), ("bob", tth(planted_b), "127.77.6.12")}
    for o in served:
        assert o.protocol_check is not None and o.protocol_check.verdict == "verified"
        assert o.protocol_check.method == "tth-segment"
        assert "verified" not in o.details  # the typed check, not the older details keys
        assert not o.bytes_from_endpoint  # a segment, not the whole file
    listed = {(o.details["nick"], o.name) for o in obs
              if o.method == "adc-filelist" and o.level is EvidenceLevel.CONTACTED and o.name}
    assert ("alice", "decoy.mkv") in listed and ("bob", "Фильм.mkv") in listed
    assert ("carol", "decoy2.bin") in listed
    hub = next(o for o in obs if o.method == "dc-hub-info")
    assert hub.details["hub_name"] == "Local Films"
    assert hub.details["auditor_nick"] == "Auditor"
    assert hub.details["password_challenged"] is True
    assert hub.details["users_sharing_bank_content"] == 2


def test_operator_and_infrastructure_hub_flagged(uhub: Any, dc_clients: Any) -> None:
    planted = os.urandom(100_000)
    # the operator's own share runs on the hub's address (an infrastructure host)
    op = dc_clients(OP_NICK, HUB_HOST, {"promo/film.mkv": planted}, password=OP_PASS)
    user = dc_clients("dave", "127.77.6.14", {"x.bin": os.urandom(3000)})
    wait_shared(uhub, [op, user])
    scope = dc_scope([{"url": uhub.url, "password": AUDITOR_PASS}], infrastructure=(HUB_HOST,))
    records = run_dc(scope, {tth(planted)})
    hub = next(r for r in records if isinstance(r, Observation) and r.method == "dc-hub-info")
    assert hub.operator_infrastructure is True
    assert hub.details["hub_infrastructure"] is True
    infra = hub.details["infrastructure_users_sharing_bank_content"]
    assert [u["nick"] for u in infra] == [OP_NICK]
    # uhub marks the registered operator account (the password came from the client's config)
    assert [u["nick"] for u in hub.details["operators"]] == [OP_NICK]
    assert [u["nick"] for u in hub.details["operators_sharing_bank_content"]] == [OP_NICK]
    users = {r.details["nick"]: r for r in records if isinstance(r, Observation)
             and r.method == "dc-user"}
    assert users[OP_NICK].details["operator"] is True and users["dave"].details["operator"] is False
    assert users[OP_NICK].details["cid"] == op.cid and users["dave"].details["cid"] == user.cid
    served = [r for r in records if isinstance(r, Observation)
              and r.level is EvidenceLevel.SERVED]
    assert [o.details["nick"] for o in served] == [OP_NICK]
    assert served[0].operator_infrastructure is True


def test_wrong_password_is_denied_not_crash(uhub: Any) -> None:
    scope = dc_scope([{"url": uhub.url, "password": "wrong"}])
    records = run_dc(scope, set())
    assert [(r.method, r.outcome) for r in records if isinstance(r, Observation)] == [
        ("dc-hub-info", Outcome.DENIED)]
