"""Discovery: a re-release of a bank film in a torrent no bank holds, found by its content.

Real opentracker (the operator's retracker) and real libtorrent seeders. The bank knows the
film only by its vPDQ signal and its catalog title. A subscriber seeds a *rescaled* copy under
a release name in a torrent of its own; another seeds an unrelated film under a confusingly
similar release name; a third seeds something that is not media at all. The audit must find
the first (``served``, identified by content, with its piece proofs) and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.collect.bittorrent.discover import (
    choose,
    full_scrape_url,
    parse_full_scrape,
)
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.collect.bittorrent.tracker_http import TrackerError
from netwarden.collect.candidates import parse_release, title_similarity
from netwarden.digest.vpdq import vpdq_from_bytes
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.store import Store, open_store
from perceptual.synthetic import encode_video, photo, scene_frames

from .conftest import make_scope
from .swarm import MadeTorrent, make_torrent, opentracker, seeders

TRACKER = "127.77.0.10"


def _media_torrent(tmp: Path, name: str, data: bytes) -> MadeTorrent:
    """A v1 torrent of one file holding ``data`` (16 KiB pieces)."""
    return make_torrent(tmp, name, len(data), piece_length=16 * 1024, content=data)


def bank_and_releases(tmp: Path) -> tuple[Store, BankStore, list[MadeTorrent]]:
    """A bank that knows the film "Брат" only by its vPDQ signal and title, and three
    torrents nobody banked: a rescaled re-release, an unrelated film under a sequel-like name,
    and a file that is not media (shared by the tracker and the DHT discovery tests)."""
    frames = scene_frames(4101, count=75, size=(320, 240), picture=photo)
    original = encode_video(frames)
    rescaled = encode_video(frames, size=(192, 144), bitrate=120_000)
    unrelated = encode_video(scene_frames(8802, count=75, size=(320, 240), picture=photo))
    store = open_store()
    init_key()
    banks = BankStore(store)
    bank = tmp / "films-vpdq.txt"
    bank.write_text(f"vpdq {vpdq_from_bytes(original).signal()} Брат\n", encoding="utf-8")
    assert banks.import_file("films-vpdq", "films", "hma", bank).added == 1
    return store, banks, [_media_torrent(tmp, "Brat.1997.480p.x264-NW.mp4", rescaled),
                          _media_torrent(tmp, "Brat.2.2000.720p.x264.mp4", unrelated),
                          _media_torrent(tmp, "distro-12.iso", b"\7" * 100_000)]


# -- units ---------------------------------------------------------------------------------------

def test_full_scrape_url_and_parse() -> None:
    assert full_scrape_url("http://127.77.0.10:6969/announce") == \
        "http://127.77.0.10:6969/scrape"
    assert full_scrape_url("http://127.77.0.10:6969/announce.php?k=1") == \
        "http://127.77.0.10:6969/scrape.php?k=1"
    assert full_scrape_url("http://127.77.0.10:6969/tracker") is None
    h = bytes(range(20))
    raw = (b"d5:filesd20:" + h + b"d8:completei3e10:downloadedi5e10:incompletei-1eee"
           b"4:junki1ee")
    counts = parse_full_scrape(raw)[h]
    assert (counts.complete, counts.incomplete, counts.downloaded) == (3, 0, 5)
    import gzip

    assert parse_full_scrape(gzip.compress(raw))[h] == counts
    bomb = gzip.compress(b"d5:filesd" + b"0" * (64 * 1024 * 1024))
    for bad in (b"le", b"d14:failure reason4:nopee", b"garbage", bomb, b"\x1f\x8bxx"):
        with pytest.raises(TrackerError):
            parse_full_scrape(bad)


def test_release_names_order_candidates_but_only_by_title() -> None:
    titles = ["Брат", "Левиафан", "Иван Васильевич меняет профессию"]
    score, title = title_similarity(parse_release("Brat.1997.1080p.BDRip.x264-GRP.mkv"), titles)
    assert title == "Брат" and score == 1.0
    score, title = title_similarity(
        parse_release("Ivan.Vasilevich.menyaet.professiyu.1973.720p.mkv"), titles)
    assert title == "Иван Васильевич меняет профессию" and score > 0.8
    score, _ = title_similarity(parse_release("Some.Other.Film.2020.mkv"), titles)
    assert score < 0.5


def test_choose_takes_the_largest_identifiable_file(tmp_path: Path) -> None:
    import libtorrent as lt

    root = tmp_path / "Brat.1997.720p"
    root.mkdir()
    (root / "sample.mp4").write_bytes(b"\0" * 40_000)
    (root / "Brat.1997.720p.mp4").write_bytes(b"\1" * 90_000)
    (root / "readme.nfo").write_bytes(b"\2" * 200_000)
    ct = lt.create_torrent(lt.list_files(str(root)), 16 * 1024, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(tmp_path))
    info = lt.bencode(ct.generate()[b"info"])
    meta = parse_info(info)
    candidate, why = choose(meta, info, ["Брат"], 1 << 20)
    assert candidate is not None, why
    assert candidate.target.path.endswith("Brat.1997.720p.mp4")
    assert candidate.title == "Брат" and candidate.kind == "video"
    small, why = choose(meta, info, ["Брат"], 50_000)
    assert small is not None and small.target.path.endswith("sample.mp4")
    nothing, why = choose(meta, info, ["Брат"], 1_000)
    assert nothing is None and "larger than" in why


# -- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_rereleased_film_is_found_by_content(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    store, banks, (copy, decoy, iso) = bank_and_releases(tmp_path)
    hashes = [copy.btih, decoy.btih, iso.btih]
    with opentracker(tmp_path / "tracker", hashes, TRACKER) as port:  # type: ignore[arg-type]
        announce = f"http://{TRACKER}:{port}/announce"
        with seeders(1, [copy], base="127.77.1.", trackers=[announce]), \
                seeders(1, [decoy, iso], base="127.77.2.", trackers=[announce]):
            scope = make_scope([{"url": announce, "kind": "bittorrent-tracker"}])
            result = run_audit(scope, tmp_path / "run", banks, ledger=Ledger.open(store),
                               store=store, banks=["films-vpdq"])
    served = [f for f in result.findings if f.evidence_level.value == "served"]
    assert [(f.host, f.bank) for f in served] == [("127.77.1.1", "films-vpdq")], \
        [(f.host, f.bank, f.evidence_level.value) for f in result.findings]
    assert not [f for f in result.findings if f.host == "127.77.2.1"]
    lines = [json.loads(x) for x in
             (tmp_path / "run" / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    finding = next(x for x in lines if x["host"] == "127.77.1.1")
    assert finding["match_method"] == "perceptual" and finding["match_algorithm"] == "vpdq"
    assert finding["verification"]["result"] == "verified"
    assert finding["location"].startswith(f"magnet:?xt=urn:btih:{copy.btih}")
    assert finding["digests"]["sha256"]  # the whole file, digested as it arrived
    assert Ledger.open(store).verify().ok
    store.close()


@pytest.mark.parametrize(("key", "value"), [("discover_min_score", 2), ("discover_bytes", 0),
                                            ("discover", "yes")])
def test_bad_discovery_options_are_refused_at_scope_load(key: str, value: object) -> None:
    from netwarden.errors import InputError

    with pytest.raises(InputError) as info:
        make_scope([{"url": "http://127.77.0.10:6969/announce", "kind": "bittorrent-tracker",
                     key: value}])
    assert key in str(info.value)
