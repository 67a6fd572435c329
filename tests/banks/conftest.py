"""Fixtures for bank tests: a fresh SQLite store and real .torrent files made by libtorrent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.store import open_store
from realserver import missing

try:  # a test dependency (pip libtorrent); without it only the torrent tests skip
    import libtorrent as lt
except ImportError:  # pragma: no cover
    lt = None

KINDS = {"v1": "v1_only", "v2": "v2_only", "hybrid": None}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'netwarden.sqlite'}"


@pytest.fixture
def banks(db_url: str) -> Iterator[BankStore]:
    store = open_store(db_url)
    yield BankStore(store)
    store.close()


def make_content(root: Path, sizes: dict[str, int]) -> Path:
    """Random files (synthetic content) under ``root``; returns ``root``."""
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def make_torrent(content: Path, kind: str, piece_length: int = 16384) -> bytes:
    """A real metainfo file for ``content`` (file or directory) made by libtorrent."""
    if lt is None:
        missing("libtorrent is not installed (pip install libtorrent)")
    flag = KINDS[kind]
    flags = getattr(lt.create_torrent, flag) if flag else 0
    ct = lt.create_torrent(lt.list_files(str(content)), piece_length, flags)
    lt.set_piece_hashes(ct, str(content.parent))
    return lt.bencode(ct.generate())
