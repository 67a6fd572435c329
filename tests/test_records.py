"""One record vocabulary (issue 18): every ledger leaf is a ``Record`` of ``netwarden.records``
with a version, and ``Ledger.append(record)`` is the only writer.

Two guards keep it so: every leaf type round-trips through its canonical bytes and declares its
version, and no module outside ``records``/``ledger`` builds a ``record_type`` dict for the
ledger (the source is walked with ``ast``, so a new hand-built leaf fails here, not in a
court).
"""

from __future__ import annotations

import ast
import inspect
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785
from pydantic import ValidationError

from netwarden import records
from netwarden.records import (
    LEAF_TYPES,
    Endpoint,
    IncomingNotice,
    Observation,
    Record,
    Review,
    SubscriberReveal,
    leaf_version,
    parse_entry,
)

SRC = Path(records.__file__).resolve().parent
T = "2026-11-28T12:00:00+01:00"

# One synthetic instance of every leaf type, with every optional field given where the
# type has some (so that the round trip covers them).
SAMPLES: dict[str, Record] = {r.record_type: r for r in [
    Observation(run_id="r", endpoint=Endpoint(protocol="ftp", host="127.77.0.10", port=21),
                location="ftp://127.77.0.10:21/a.bin", name="a.bin", size=10,
                digests={"sha256": "ab" * 32}, method="ftp-retr", details={"k": [1, None]}),
    records.Match(run_id="r", observation_id="o", observation_leaf="00" * 32, bank="b",
                  category="film", reference_id="ref", algorithm="sha256",
                  matched_value="ab" * 32),
    records.Verification(run_id="r", match_id="m", method="full-content-digest",
                         result="verified", level="served", checked="sha256 of 10 bytes"),
    records.Refusal(run_id="r", target="ftp://127.78.0.1:21/", found_in="listing",
                    reason="outside the scope"),
    records.Run(id="r", run_id="r", check_id="c", authorization="a", operator="o",
                jurisdiction="de", scope_sha256="00" * 32, started_at=T, software="netwarden",
                host="h", python="3.11", clock={"clock_source": "tsc"}, campaign="x",
                campaign_job=3, campaign_attempt=1, worker="w:1"),
    records.RunEnd(run_id="r", finished_at=T, observations=3, findings=1, refused=0,
                   status="interrupted", interrupted="signal SIGTERM"),
    records.Attribution(run_id="r", match_id="m", match_leaf=None, status="subscriber",
                        reason_code="radius", reason="one session", ip="127.77.0.10",
                        port=None, observed_at=T, pseudonym="ps1_" + "0" * 32,
                        end_estimated=False, source=["detail:1-2"], notes=[], nat=None,
                        clock_skew_s=2.0, joined_on=["user"]),
    records.RunInterrupted(run_id="none", campaign="c", operator="o", scope_sha256="00" * 32,
                           attempt=2, worker=None, reason="worker gone", recorded_at=T),
    Review(run_id="r", match_id="f", finding_id="f", finding_leaf="00" * 32,
           decision="confirmed", reason="seen", by="ann", role="analyst", at=T),
    records.Signoff(match_id="f", finding_id="f", review_leaf="00" * 32,
                    review_decision="confirmed", decision="approved", reason="ok", by="sup",
                    role="supervisor", at=T),
    records.PseudonymView(match_id="f", finding_id="f", pseudonym="ps1_" + "0" * 32,
                          by="ann", role="analyst", at=T, what="pseudonym", why="case 1"),
    SubscriberReveal(pseudonym="ps1_" + "0" * 32, basis="court order 1/2026", by="inv",
                     revealed_at=T, check_id="c", sources=["detail"], identifier=["user"]),
    records.Export(format="csv", source="run r", run_ids=["r"], finding_ids=["f"], count=1,
                   tlp=None, pseudonyms=False, sha256="00" * 32, bytes=5, by="ann", role=None,
                   at=T),
    records.CustodyExport(who="ann", at=T, what="case 1", why="court", leaves=[0, 3],
                          evidence_digest="00" * 32, evidence_digest_method="sha256",
                          readme_sha256="00" * 32, software="netwarden"),
    records.Assessment(run_id="r", finding_id="f", match_id="m", verification_leaf=None,
                       assessed_at=T, role="host", track="copyright", lead=False,
                       facts={"role": "host"}, knowledge={"de": {"notice": None}},
                       outcomes={"de": ["exempt"]}, provisional={"de": False},
                       rules_fired={"de": ["x1"]}, rules_sha256={"de": "00" * 32}),
    records.OperatorAssessment(run_id="r", operator="o", assessed_at=T,
                               finding_assessments=["00" * 32], outcomes={"de": ["exempt"]},
                               csam_outcomes={}, leads=0, rules_sha256={"de": "00" * 32}),
    records.Notice(id="n", run_id="r", format="de-tmg", jurisdiction="de", finding_ids=["f"],
                   verification_leaves=["00" * 32], recipient="abuse@example.net",
                   notifier="n@example.org", subject="s", message_sha256="00" * 32,
                   complete=True, missing=[], created_at=T),
    records.NoticeState(id="n:sent:" + T, run_id="r", notice_id="n", notice_leaf=None,
                        state="sent", at=T, detail={}, finding_id="f"),
    records.Recheck(run_id="r", recheck_run_id="rr", notice_id="n", notice_leaf="00" * 32,
                    finding_id="f", match_id="m", location="ftp://127.77.0.10:21/a.bin",
                    result="gone", reason="not listed", checked_at=T, deadline_at=None,
                    observation_leaf={"index": 3, "leaf_hash": "00" * 32}),
    IncomingNotice(format="acns", file="n.eml", message_sha256="00" * 32, received_at=T,
                   notice={"case_id": "1"}, attribution={"status": "none"}),
]}


def _leaf_classes() -> list[type[Record]]:
    """Every Record subclass defined in netwarden.records (abstract bases aside)."""
    out = []
    for _, cls in inspect.getmembers(records, inspect.isclass):
        if issubclass(cls, Record) and cls.__module__ == records.__name__ and \
                not cls.__name__.startswith("_") and cls not in (Record, records.Leaf):
            out.append(cls)
    return out


def test_every_record_class_is_a_known_leaf_type_with_a_sample() -> None:
    classes = _leaf_classes()
    assert sorted(c.__name__ for c in classes) == sorted(c.__name__ for c in LEAF_TYPES.values())
    assert set(SAMPLES) == set(LEAF_TYPES)


@pytest.mark.parametrize("kind", sorted(LEAF_TYPES))
def test_every_leaf_type_round_trips_and_declares_its_version(kind: str) -> None:
    cls = LEAF_TYPES[kind]
    assert isinstance(cls.VERSION, int) and cls.VERSION >= 1
    assert cls.model_fields["record_type"].default == kind
    record = SAMPLES[kind]
    assert type(record) is cls
    entry = record.entry()
    assert entry["record_type"] == kind and entry["record_version"] == cls.VERSION
    data = rfc8785.dumps(entry)
    back = cls.model_validate(json.loads(data))
    assert back == record and rfc8785.dumps(back.entry()) == data
    assert parse_entry(json.loads(data)) == record


@pytest.mark.parametrize("kind", sorted(LEAF_TYPES))
def test_a_stored_leaf_without_a_version_reads_as_version_1(kind: str) -> None:
    entry = SAMPLES[kind].entry()
    del entry["record_version"]
    assert leaf_version(entry) == 1
    assert parse_entry(entry).record_version == 1


def test_versions_newer_than_the_code_and_unknown_types_are_refused() -> None:
    entry = SAMPLES["review"].entry()
    with pytest.raises(ValidationError, match="newer version"):
        parse_entry({**entry, "record_version": Review.VERSION + 1})
    with pytest.raises(ValueError, match="unknown record_type 'reveal'"):
        parse_entry({**entry, "record_type": "reveal"})


def test_leaves_refuse_unknown_fields_times_without_offset_and_coercion() -> None:
    entry = SAMPLES["review"].entry()
    with pytest.raises(ValidationError):
        parse_entry({**entry, "account": "subscriber-1"})
    with pytest.raises(ValidationError, match="UTC offset"):
        parse_entry({**entry, "at": "2026-11-28T12:00:00"})
    with pytest.raises(ValidationError):  # strict: no silent int -> str
        Review(**{**entry, "record_version": 1, "by": 5})


def test_optional_fields_keep_the_entry_shape_writers_had() -> None:
    """None-valued web fields are left out, as the hand-built dicts did; an export names no
    run; an attribution that could not be made carries only its three fields."""
    review = Review(run_id=None, match_id="f", finding_id="f", decision="d", reason="r",
                    by="a", role="analyst", at=T).entry()
    assert "run_id" not in review and "finding_leaf" not in review
    assert "run_id" not in SAMPLES["export"].entry()
    assert SAMPLES["custody_export"].entry()["run_id"] is None
    failed = records.Attribution(run_id="r", match_id="m", match_leaf=None, status="none",
                                 reason_code="attribution_error", reason="x").entry()
    assert set(failed) == {"record_type", "record_version", "id", "run_id", "match_id",
                           "match_leaf", "status", "reason_code", "reason"}
    with pytest.raises(ValidationError, match="either its notice or why"):
        IncomingNotice(format="acns", file="f", message_sha256="0", received_at=T)


def test_the_reveal_leaf_never_holds_the_account() -> None:
    assert "account" not in SubscriberReveal.model_fields
    assert not any("account" in cls.model_fields for cls in LEAF_TYPES.values())


def test_observation_times_stay_utc() -> None:
    obs = SAMPLES["observation"]
    assert isinstance(obs, Observation) and obs.observed_at.tzinfo is not None
    assert obs.observed_at <= datetime.now(UTC)


# -- no hand-built leaf outside records/ledger -----------------------------------------------

ALLOWED = {SRC / "records.py"}
ALLOWED_DIRS = {SRC / "ledger"}


def _has_record_type_key(node: ast.AST) -> bool:
    if isinstance(node, ast.Dict):
        return any(isinstance(k, ast.Constant) and k.value == "record_type" for k in node.keys)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return any(kw.arg == "record_type" for kw in node.keywords)
    return False


def _hand_built_leaves(tree: ast.AST) -> list[int]:
    """Lines where a dict with a ``record_type`` key is built and reaches a ledger writer:
    passed to (or stored in a name then passed to) ``append``, ``append_many``, ``prepare``,
    ``append_now`` or a ``_stage``/``_leaf``/``_append`` helper, or returned from a function
    whose result is."""
    writers = {"append", "append_many", "prepare", "append_now", "_stage", "_leaf", "_append",
               "_store_row"}
    dict_names: dict[str, int] = {}
    returns_dict: set[str] = set()
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Return) and node.value is not None and \
                        _has_record_type_key(node.value):
                    returns_dict.add(func.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and \
                _has_record_type_key(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    dict_names[t.id] = node.lineno
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else \
            node.func.id if isinstance(node.func, ast.Name) else None
        if name not in writers:
            continue
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            items = arg.elts if isinstance(arg, ast.List | ast.Tuple) else [arg]
            for item in items:
                inner = item.elt if isinstance(item, ast.ListComp) else item
                if _has_record_type_key(inner) or (
                        isinstance(inner, ast.Name) and inner.id in dict_names) or (
                        isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
                        and inner.func.id in returns_dict):
                    found.append(node.lineno)
    return found


def test_no_module_outside_records_and_ledger_hand_builds_a_leaf() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path in ALLOWED or any(d in path.parents for d in ALLOWED_DIRS):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offenders += [f"{path.relative_to(SRC)}:{line}" for line in _hand_built_leaves(tree)]
    assert not offenders, ("ledger leaves must be Records of netwarden.records "
                           "(docs/records.md), not dicts:\n" + "\n".join(offenders))


@pytest.mark.parametrize("source", [
    'ledger.append({"record_type": "x", "id": "1"})',
    'entry = {"record_type": "x"}\nledger.append(entry)',
    'recorder.append_now(dict(record_type="x"))',
    'ledger.append_many([{"record_type": "x"} for _ in range(3)])',
    'def make():\n    return {"record_type": "x"}\nself._stage(make())',
])
def test_the_walker_sees_hand_built_leaves(source: str) -> None:
    assert _hand_built_leaves(ast.parse(source))


def test_the_walker_lets_records_and_readers_pass() -> None:
    source = ('ledger.append(Review(by="a"))\n'
              'if entry.get("record_type") == "x":\n    pass\n'
              'out = {"record_type": e["record_type"]}\nprint(out)\n')
    assert not _hand_built_leaves(ast.parse(source))

