"""A log of a few hundred thousand lines is streamed into the index and answers correctly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from netwarden.attribute import RadiusDetailSource, open_index

from .logs import at, big_radius


@pytest.mark.slow
def test_big_radius_log_streams_into_the_index(tmp_path: Path, make_attributor,
                                               pseudonymizer) -> None:
    log = tmp_path / "detail"
    sessions = []
    with log.open("w") as handle:
        for user, ip, start, stop, text in big_radius(users=2000, sessions_per_user=6):
            handle.write(text)
            sessions.append((user, ip, start, stop))
    source = RadiusDetailSource(log)
    index = open_index(source, tmp_path / "cache")
    assert index.lines >= 300_000
    assert index.rows == len(sessions) and index.problem_count == 0
    att = make_attributor(RadiusDetailSource(log))
    rng = random.Random(7)
    last = max(stop for *_, stop in sessions)
    for user, ip, start, stop in rng.sample(sessions, 300):
        middle = att.attribute(ip, None, at((start + stop) / 2))
        assert middle.pseudonym == pseudonymizer.pseudonym(user)
        expected = "no_session" if stop + 60 <= last else "no_log_coverage"
        assert att.attribute(ip, None, at(stop + 60)).reason_code == expected
