"""ledger leaves in blocks of 256 (entry bundle, leaf hashes, inner subtree hashes per row),
a tail of single leaves, and a look-up index brought up to date on read (docs/perf-ledger.md)

Revision ID: 0011_ledger_blocks

The upgrade moves every leaf of ``ledger_leaves`` into ``ledger_bundles`` (full blocks) or
``ledger_tail``; a block's inner subtree hashes (levels 1..7) are the ones stored in
``ledger_nodes``, not recomputed, so a store damaged before the upgrade still fails
``ledger verify`` afterwards; the look-up columns move to ``ledger_index`` as they were. A
gap in the leaf indexes stops the upgrade (it would shift leaves into other positions).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_ledger_blocks"
down_revision = "0010_web_user_prefs"
branch_labels = None
depends_on = None

ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HEIGHT = 8
BLOCK = 1 << HEIGHT
CHUNK = 64 * BLOCK

INDEXES = {
    "ix_ledger_index_type_record": (["record_type", "record_id"], None),
    "ix_ledger_index_run_type": (["run_id", "record_type"], None),
    "ix_ledger_index_match_id": (["match_id"], "match_id IS NOT NULL"),
}
OLD_INDEXES = {
    "ix_ledger_leaves_type_record": (["record_type", "record_id"], None),
    "ix_ledger_leaves_run_type": (["run_id", "record_type"], None),
    "ix_ledger_leaves_match_id": (["match_id"], "match_id IS NOT NULL"),
}


def _where(where: str | None) -> dict[str, Any]:
    return {} if where is None else {"sqlite_where": sa.text(where),
                                     "postgresql_where": sa.text(where)}


def _pack(entries: list[bytes]) -> bytes:
    # netwarden.ledger.storage.pack_entries as of this revision (a migration keeps its own)
    lengths = b"".join(len(e).to_bytes(4, "little") for e in entries)
    return len(entries).to_bytes(4, "little") + lengths + b"".join(entries)


def _unpack(data: bytes) -> list[bytes]:
    count = int.from_bytes(data[:4], "little")
    pos = 4 + 4 * count
    out = []
    for k in range(count):
        length = int.from_bytes(data[4 + 4 * k:8 + 4 * k], "little")
        out.append(data[pos:pos + length])
        pos += length
    return out


def upgrade() -> None:
    op.create_table(
        "ledger_bundles",
        sa.Column("idx", ROWID, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("subtrees", sa.LargeBinary(), nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_tail",
        sa.Column("idx", ROWID, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_index",
        sa.Column("idx", ROWID, primary_key=True, autoincrement=False),
        *_look_up_columns(),
    )
    for name, (columns, where) in INDEXES.items():
        op.create_index(name, "ledger_index", columns, **_where(where))
    conn = op.get_bind()
    leaves = sa.table("ledger_leaves", sa.column("idx"), sa.column("leaf_hash"),
                      sa.column("entry"), sa.column("record_type"), sa.column("record_id"),
                      sa.column("run_id"), sa.column("match_id"))
    nodes = sa.table("ledger_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    top = conn.execute(sa.select(sa.func.max(leaves.c.idx))).scalar()
    size = 0 if top is None else int(top) + 1
    full = size - size % BLOCK
    for lo in range(0, size, CHUNK):
        hi = min(lo + CHUNK, size)
        rows = conn.execute(sa.select(leaves).where(leaves.c.idx >= lo, leaves.c.idx < hi)
                            .order_by(leaves.c.idx)).all()
        if [r.idx for r in rows] != list(range(lo, hi)):
            missing = sorted(set(range(lo, hi)) - {r.idx for r in rows})[:5]
            raise RuntimeError(f"ledger_leaves lacks leaves {missing} (of 0..{size - 1}): the "
                               "ledger is damaged; run `netwarden ledger verify` with the "
                               "previous version before upgrading")
        conn.execute(sa.text("INSERT INTO ledger_index (idx, record_type, record_id, run_id, "
                             "match_id) VALUES (:i, :t, :r, :u, :m)"),
                     [{"i": r.idx, "t": r.record_type, "r": r.record_id, "u": r.run_id,
                       "m": r.match_id} for r in rows])
        inner: dict[tuple[int, int], bytes] = {}
        top_block = min(hi, full)
        for level in range(1, HEIGHT):
            for r in conn.execute(sa.select(nodes.c.idx, nodes.c.hash).where(
                    nodes.c.level == level, nodes.c.idx >= lo >> level,
                    nodes.c.idx < top_block >> level)):
                inner[(level, int(r.idx))] = bytes(r.hash)
        bundles, tail = [], []
        for base in range(lo, hi, BLOCK):
            block = rows[base - lo:base - lo + BLOCK]
            if base + BLOCK <= full:
                blob = b"".join(
                    inner.get((level, i), b"\0" * 32)  # a lost hash stays lost: verify says so
                    for level in range(1, HEIGHT)
                    for i in range(base >> level, (base + BLOCK) >> level))
                bundles.append({"i": base >> HEIGHT,
                                "h": b"".join(bytes(r.leaf_hash) for r in block),
                                "n": blob, "e": _pack([bytes(r.entry) for r in block])})
            else:
                tail += [{"i": r.idx, "h": bytes(r.leaf_hash), "e": bytes(r.entry)}
                         for r in block]
        if bundles:
            conn.execute(sa.text("INSERT INTO ledger_bundles (idx, hashes, subtrees, entries) "
                                 "VALUES (:i, :h, :n, :e)"), bundles)
        if tail:
            conn.execute(sa.text("INSERT INTO ledger_tail (idx, leaf_hash, entry) "
                                 "VALUES (:i, :h, :e)"), tail)
    for level in range(1, HEIGHT):  # now in the blocks' subtrees column
        conn.execute(sa.text("DELETE FROM ledger_nodes WHERE level = :l AND idx < :e"),
                     {"l": level, "e": full >> level})
    for name in OLD_INDEXES:
        op.drop_index(name, "ledger_leaves")
    op.drop_table("ledger_leaves")


def _look_up_columns() -> list[sa.Column[Any]]:
    """What ``entries()`` filters by: in ``ledger_index`` now, in ``ledger_leaves`` before."""
    return [sa.Column("record_type", sa.String(40), nullable=False),
            sa.Column("record_id", sa.String(80)),
            sa.Column("run_id", sa.String(80)),
            sa.Column("match_id", sa.String(80))]


def downgrade() -> None:
    op.create_table(
        "ledger_leaves",
        sa.Column("idx", ROWID, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        *_look_up_columns(),
    )
    for name, (columns, where) in OLD_INDEXES.items():
        op.create_index(name, "ledger_leaves", columns, **_where(where))
    conn = op.get_bind()
    import json

    def look_up(entry: bytes) -> dict[str, Any]:
        value = json.loads(entry)

        def text(key: str) -> str | None:
            v = value.get(key) if isinstance(value, dict) else None
            return v if isinstance(v, str) and v else None

        return {"t": text("record_type") or "", "r": text("id"), "u": text("run_id"),
                "m": text("match_id")}

    insert = sa.text("INSERT INTO ledger_leaves (idx, leaf_hash, entry, record_type, record_id, "
                     "run_id, match_id) VALUES (:i, :h, :e, :t, :r, :u, :m)")
    for b, hashes, inner, entries in conn.execute(sa.text(
            "SELECT idx, hashes, subtrees, entries FROM ledger_bundles ORDER BY idx")).all():
        base = int(b) << HEIGHT
        hashes, inner = bytes(hashes), bytes(inner)
        rows = [{"i": base + j, "h": hashes[32 * j:32 * j + 32], "e": e, **look_up(e)}
                for j, e in enumerate(_unpack(bytes(entries)))]
        if rows:
            conn.execute(insert, rows)
        pos = 0
        for level in range(1, HEIGHT):
            count = BLOCK >> level
            conn.execute(sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                         [{"l": level, "i": (base >> level) + j,
                           "h": inner[pos + 32 * j:pos + 32 * j + 32]} for j in range(count)])
            pos += 32 * count
    rows = [{"i": int(i), "h": bytes(h), "e": bytes(e), **look_up(bytes(e))} for i, h, e in
            conn.execute(sa.text("SELECT idx, leaf_hash, entry FROM ledger_tail")).all()]
    if rows:
        conn.execute(insert, rows)
    for name in INDEXES:
        op.drop_index(name, "ledger_index")
    op.drop_table("ledger_index")
    op.drop_table("ledger_tail")
    op.drop_table("ledger_bundles")
