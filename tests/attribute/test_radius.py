"""FreeRADIUS detail parsing and attribution, including the bad-input cases of issue 6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwarden.attribute import RadiusDetailSource
from netwarden.errors import InputError

from .logs import T0, at, radius_record, radius_session, write


def intervals(path: Path, **kw):
    source = RadiusDetailSource(path, **kw)
    return source, sorted(source.intervals(), key=lambda i: (i.start, i.ip))


def test_start_interim_stop_gives_one_session(tmp_path: Path) -> None:
    text = radius_session("user0001", "127.77.1.1", "s1", 0, 3600, 2)
    log = write(tmp_path / "detail", text)
    source, found = intervals(log)
    assert len(found) == 1
    iv = found[0]
    assert (iv.account, iv.ip, iv.end_kind) == ("user0001", "127.77.1.1", "stop")
    assert iv.start == T0.timestamp() and iv.end == T0.timestamp() + 3600
    assert iv.line_first == 1 and iv.line_last == text.count("\n") - 1  # the last attribute
    assert source.problems == []


def test_attribution_uses_the_containing_session(tmp_path: Path, make_attributor,
                                                 pseudonymizer) -> None:
    one = radius_session("user0001", "127.77.1.1", "s1", 0, 3600)
    log = write(tmp_path / "detail", one + radius_session("user0002", "127.77.1.1", "s2", 3700,
                                                          7200))
    att = make_attributor(RadiusDetailSource(log))
    first = att.attribute("127.77.1.1", 4000, at(1800))
    second = att.attribute("127.77.1.1", None, at(5000))
    assert first.status == "subscriber" and first.reason_code == "attributed"
    assert first.pseudonym == pseudonymizer.pseudonym("user0001")
    assert second.pseudonym == pseudonymizer.pseudonym("user0002")
    assert first.source == (f"{log}:1-{one.count(chr(10)) - 1}",)
    data = first.as_dict()
    json.dumps(data)
    assert "user0001" not in json.dumps(data)
    assert data["interval_start"] == T0.isoformat()
    # between the sessions: covered time, nobody holds the address
    gap = att.attribute("127.77.1.1", None, at(3650))
    assert (gap.status, gap.reason_code) == ("none", "no_session")


def test_session_edge_within_clock_skew_gives_no_attribution(tmp_path: Path,
                                                             make_attributor) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "s1", 0, 3600))
    att = make_attributor(RadiusDetailSource(log), skew=2.0)
    for moment in (1, -1, 3599, 3601):
        result = att.attribute("127.77.1.1", None, at(moment))
        assert result.reason_code == "session_edge", moment
        assert result.pseudonym is None
    assert att.attribute("127.77.1.1", None, at(3).replace()).reason_code == "attributed"


def test_handover_between_accounts_inside_skew_is_ambiguous(tmp_path: Path,
                                                            make_attributor) -> None:
    log = write(tmp_path / "detail",
                radius_session("user0001", "127.77.1.1", "s1", 0, 3600)
                + radius_session("user0002", "127.77.1.1", "s2", 3601, 7200))
    att = make_attributor(RadiusDetailSource(log), skew=2.0)
    assert att.attribute("127.77.1.1", None, at(3600.5)).reason_code == "session_edge"


def test_overlapping_sessions_of_two_accounts_give_two_candidates(tmp_path: Path,
                                                                  make_attributor) -> None:
    text = (radius_record("Start", "user0001", "127.77.1.1", "a", at(0))
            + radius_record("Start", "user0002", "127.77.1.1", "b", at(100))
            + radius_record("Interim-Update", "user0001", "127.77.1.1", "a", at(600))
            + radius_record("Stop", "user0002", "127.77.1.1", "b", at(1000))
            + radius_record("Stop", "user0001", "127.77.1.1", "a", at(2000)))
    log = write(tmp_path / "detail", text)
    att = make_attributor(RadiusDetailSource(log))
    result = att.attribute("127.77.1.1", 51413, at(500))
    assert (result.status, result.reason_code) == ("none", "two_candidates")
    assert len(result.source) == 2
    # after user0002's Stop (and beyond the skew) only user0001 remains
    assert att.attribute("127.77.1.1", 51413, at(1500)).reason_code == "attributed"


def test_missing_stop_is_estimated_from_last_interim_and_said_so(tmp_path: Path,
                                                                 make_attributor) -> None:
    text = (radius_record("Start", "user0001", "127.77.1.1", "a", at(0))
            + radius_record("Interim-Update", "user0001", "127.77.1.1", "a", at(600)))
    log = write(tmp_path / "detail", text)
    _, found = intervals(log, options={"interim_interval": 300})
    assert found[0].end == at(900).timestamp() and found[0].end_kind == "estimated"
    att = make_attributor(RadiusDetailSource(log, options={"interim_interval": 300}))
    inside = att.attribute("127.77.1.1", None, at(800))
    assert inside.status == "subscriber" and inside.end_estimated
    assert "no Stop record" in inside.reason and any("interim" in n for n in inside.notes)
    assert att.attribute("127.77.1.1", None, at(1000)).status == "none"


def test_missing_stop_ends_at_next_start_on_the_address(tmp_path: Path) -> None:
    text = (radius_record("Start", "user0001", "127.77.1.1", "a", at(0))
            + radius_record("Start", "user0002", "127.77.1.1", "b", at(60))
            + radius_record("Stop", "user0002", "127.77.1.1", "b", at(120)))
    _, found = intervals(write(tmp_path / "detail", text))
    assert [(i.account, i.end - i.start, i.end_kind) for i in found] == [
        ("user0001", 60, "estimated"), ("user0002", 60, "stop")]
    assert "next Start" in found[0].note


def test_stop_without_start_uses_session_time(tmp_path: Path) -> None:
    text = radius_record("Stop", "user0003", "127.77.1.3", "c", at(1000), session_time=400)
    _, found = intervals(write(tmp_path / "detail", text))
    assert found[0].start == at(600).timestamp() and "no Start" in found[0].note


def test_clock_jump_stop_before_start_is_recorded_and_not_used(tmp_path: Path,
                                                               make_attributor) -> None:
    start = radius_record("Start", "user0001", "127.77.1.1", "a", at(3600))
    text = start + radius_record("Stop", "user0001", "127.77.1.1", "a", at(0))
    log = write(tmp_path / "detail", text)
    source, found = intervals(log)
    assert found == []
    assert source.problems[0].line == start.count("\n") + 1
    assert "clock jump" in source.problems[0].problem
    att = make_attributor(RadiusDetailSource(log))
    assert att.attribute("127.77.1.1", None, at(1800)).status == "none"
    assert any("clock jump" in p.problem for p in att.problems())


def test_local_time_without_offset_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    good = radius_session("user0001", "127.77.1.1", "a", 0, 60)
    text = good + radius_record("Start", "user0002", "127.77.1.2", "b", at(100), event="local")
    log = write(tmp_path / "detail", text)
    with pytest.raises(InputError) as info:
        list(RadiusDetailSource(log).intervals())
    assert str(log) in str(info.value)
    assert f"line {good.count(chr(10)) + 1}:" in str(info.value)
    assert "no UTC offset" in str(info.value)


def test_header_only_time_needs_a_timezone(tmp_path: Path) -> None:
    text = radius_record("Start", "user0001", "127.77.1.1", "a", at(0), event=None)
    log = write(tmp_path / "detail", text)
    with pytest.raises(InputError, match="line 1"):
        list(RadiusDetailSource(log).intervals())
    # the header says 10:00:00; in Moscow (UTC+3) that is 07:00:00 UTC
    _, found = intervals(log, timezone="Europe/Moscow")
    assert found[0].start == at(-3 * 3600).timestamp()


def test_epoch_event_timestamp(tmp_path: Path) -> None:
    text = (radius_record("Start", "user0001", "127.77.1.1", "a", at(0), event="epoch")
            + radius_record("Stop", "user0001", "127.77.1.1", "a", at(50), event="epoch"))
    _, found = intervals(write(tmp_path / "detail", text))
    assert (found[0].start, found[0].end) == (at(0).timestamp(), at(50).timestamp())


def test_garbage_and_truncated_lines_are_recorded_and_skipped(tmp_path: Path,
                                                              make_attributor) -> None:
    good = radius_session("user0001", "127.77.1.1", "a", 0, 3600)
    truncated = radius_record("Start", "user0002", "127.77.1.2", "b", at(10))
    truncated = truncated[: truncated.index("\tFramed-IP")] + "\tFramed-IP-Addr\n\n"
    garbage = "\x00\x01 binary junk \xff\n%%%% not a header\n\tno equals sign here\n\n"
    log = tmp_path / "detail"
    log.write_bytes(garbage.encode("utf-8", "surrogateescape") + truncated.encode()
                    + b"\xff\xfe\n\n" + good.encode())
    source, found = intervals(log)
    assert [i.account for i in found] == ["user0001"]
    lines = sorted({p.line for p in source.problems})
    assert lines[:3] == [1, 2, 3]
    messages = " ".join(p.problem for p in source.problems)
    assert "garbage line" in messages and "Attribute = value" in messages
    assert "without Framed-IP-Address" in messages or "Framed-IP-Addr" in messages
    att = make_attributor(RadiusDetailSource(log))
    assert att.attribute("127.77.1.1", None, at(1800)).status == "subscriber"


def test_overlong_line_is_cut_and_recorded(tmp_path: Path) -> None:
    log = tmp_path / "detail"
    log.write_text("x" * 200_000 + "\n\n" + radius_session("user0001", "127.77.1.1", "a", 0,
                                                            60))
    source, found = intervals(log)
    assert len(found) == 1
    assert source.problems[0].line == 1 and "longer than" in source.problems[0].problem


def test_no_log_coverage_is_distinguished(tmp_path: Path, make_attributor) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 3600))
    att = make_attributor(RadiusDetailSource(log))
    result = att.attribute("127.77.1.1", None, at(86400 * 30))
    assert (result.status, result.reason_code) == ("none", "no_log_coverage")
    assert str(log) in result.reason


def test_accounting_off_ends_the_nas_sessions(tmp_path: Path) -> None:
    text = (radius_record("Start", "user0001", "127.77.1.1", "a", at(0))
            + radius_record("Accounting-Off", None, None, "x", at(500)))
    _, found = intervals(write(tmp_path / "detail", text))
    assert found[0].end == at(500).timestamp() and "Accounting-Off" in found[0].note


def test_naive_observation_time_is_refused(tmp_path: Path, make_attributor) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 60))
    att = make_attributor(RadiusDetailSource(log))
    with pytest.raises(InputError, match="time zone"):
        att.attribute("127.77.1.1", None, at(30).replace(tzinfo=None))
    with pytest.raises(InputError, match="not an IP"):
        att.attribute("example.org", None, at(30))


def test_invalid_event_timestamp_is_recorded(tmp_path: Path) -> None:
    text = radius_record("Start", "user0001", "127.77.1.1", "a", at(0)).replace(
        "10:00:00 UTC", "27:00:00 UTC")
    source, found = intervals(write(tmp_path / "detail", text))
    assert found == [] and "not a valid time" in source.problems[0].problem
