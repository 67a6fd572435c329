"""CSAM is headlined on its own legal track in the analysts' UI (issue 12): the dashboard names
the CSAM findings first, a CSAM finding's page says which law judges it, and a copyright
finding's page does not; a finding lists every bank match of its copy."""

from __future__ import annotations

from .conftest import Site, login


def test_csam_is_headlined_on_its_own_track(site: Site) -> None:
    client = site.client()
    login(client, "alice")
    csam = [f for f in site.seed.findings if f["track"] == "csam"]
    films = [f for f in site.seed.findings if f["track"] == "copyright"]
    assert csam and films
    home = client.get("/")
    assert home.status_code == 200
    assert 'id="csam-headline"' in home.text and f"CSAM: {len(csam)} finding(s)" in home.text
    page = client.get(f"/findings/{csam[0]['id']}")
    assert page.status_code == 200 and 'id="csam-headline"' in page.text
    assert "§2258A" in page.text and "15.1" in page.text
    for m in csam[0]["matches"]:
        assert f"{m['bank']}/{m['reference']}" in page.text
    film = client.get(f"/findings/{films[0]['id']}")
    assert film.status_code == 200 and 'id="csam-headline"' not in film.text
    listing = client.get("/findings")
    assert listing.status_code == 200 and 'title="CSAM legal track"' in listing.text
