"""Direct Connect discovery against uhub and eiskaltdcpp-daemon: a re-encoded bank film shared
under a release name no bank holds is downloaded whole, checked against the user's own TTH, and
identified by its content; an unrelated film with a similar name is downloaded and not matched;
a file whose name is nothing like a catalog title is never downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dc_helpers import AUDITOR_PASS, dc_scope, needs_dc, run_dc, wait_shared  # type: ignore[import-not-found]

from netwarden.banks import BankStore
from netwarden.collect.dc.discover import DiscoveryOptions, candidates
from netwarden.digest.vpdq import vpdq_from_bytes
from netwarden.identify import identify
from netwarden.records import EvidenceLevel, Observation
from netwarden.store import open_store
from perceptual.synthetic import encode_video, photo, scene_frames


class _Item:
    def __init__(self, path: str, size: int, tth: str) -> None:
        self.path, self.size, self.tth = path, size, tth


def test_candidates_need_media_a_near_title_and_no_bank_tth() -> None:
    files = [_Item("Kino/Brat.1997.DVDRip.avi", 1000, "A" * 39),
             _Item("Kino/Brat.1997.DVDRip.nfo", 10, "B" * 39),
             _Item("Kino/holiday.mp4", 1000, "C" * 39),
             _Item("Kino/Brat.1997.banked.mkv", 1000, "D" * 39),
             _Item("Kino/Brat.1997.huge.mkv", 1 << 40, "E" * 39)]
    opts = DiscoveryOptions()
    picked = candidates(files, frozenset({"D" * 39}), ["Брат"], opts)
    assert [c.path for c in picked] == ["Kino/Brat.1997.DVDRip.avi"]
    everything = candidates(files, frozenset({"D" * 39}), ["Брат"],
                            DiscoveryOptions(min_score=0.0))
    assert {c.path for c in everything} == {"Kino/Brat.1997.DVDRip.avi", "Kino/holiday.mp4"}


@pytest.mark.slow
@needs_dc
def test_a_renamed_reencoded_film_is_found_by_content(uhub: Any, dc_clients: Any,
                                                       tmp_path: Path) -> None:
    frames = scene_frames(5150, count=75, size=(320, 240), picture=photo)
    original = encode_video(frames)
    copy = encode_video(frames, size=(192, 144), bitrate=120_000)
    unrelated = encode_video(scene_frames(7321, count=75, size=(320, 240), picture=photo))
    dave = dc_clients("dave", "127.77.6.31", {"Kino/Brat_1997_DVDRip.mp4": copy})
    erin = dc_clients("erin", "127.77.6.32", {"Kino/Brat 2 (2000).mp4": unrelated,
                                              "Kino/holiday.mkv": os.urandom(50_000)})
    wait_shared(uhub, [dave, erin])
    scope = dc_scope([{"url": uhub.url, "password": AUDITOR_PASS}])
    records = run_dc(scope, set(), titles=["Брат"])
    found = [r for r in records if isinstance(r, Observation) and r.method == "adc-discovery"]
    by_user = {(o.details["nick"], o.name): o for o in found}
    assert set(by_user) == {("dave", "Brat_1997_DVDRip.mp4"), ("erin", "Brat 2 (2000).mp4")}
    for o in found:
        assert o.level is EvidenceLevel.SERVED and o.bytes_from_endpoint
        assert o.protocol_check and o.protocol_check.method == "full-content-tth"
        assert o.digests["tth"] == o.details["tth"]

    store = open_store(f"sqlite:///{tmp_path / 'banks.sqlite'}")
    banks = BankStore(store)
    bank = tmp_path / "films.txt"
    bank.write_text(f"vpdq {vpdq_from_bytes(original).signal()} Брат\n", encoding="utf-8")
    assert banks.import_file("films-vpdq", "films", "hma", bank).added == 1
    hit = identify(by_user[("dave", "Brat_1997_DVDRip.mp4")], banks)
    assert [(m.method, m.algorithm) for m in hit] == [("perceptual", "vpdq")]
    assert identify(by_user[("erin", "Brat 2 (2000).mp4")], banks) == []
    store.close()
