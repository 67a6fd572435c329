"""What banks there are: names, categories, counts and each bank's import history.

Read-only; the counts are those the importer keeps on the ``banks`` row (counting a
10-million-row index would be a full scan).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from netwarden.banks.importer import ImportRecord
from netwarden.banks.models import Bank, BankImport
from netwarden.errors import InputError
from netwarden.store.base import Store

__all__ = ["BankCatalog", "BankInfo"]


@dataclass(frozen=True)
class BankInfo:
    """One bank: its counts by algorithm and, from :meth:`BankCatalog.show`, its imports."""

    name: str
    category: str
    created_at: datetime
    references: int
    digests: int
    algorithms: dict[str, int]
    imports: tuple[ImportRecord, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        for item in data["imports"]:
            item["imported_at"] = item["imported_at"].isoformat()
        return data


class BankCatalog:
    """The banks of an open :class:`~netwarden.store.Store`, for listing and showing."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list_banks(self) -> list[BankInfo]:
        """Every bank with its counts, by name."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*Bank.__table__.c).order_by(Bank.name)).all()
            return [_info(row) for row in rows]

    def show(self, name: str) -> BankInfo:
        """One bank with its import history; InputError if there is no such bank."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(*Bank.__table__.c).where(Bank.name == name)).first()
            if row is None:
                raise InputError(name, "no such bank")
            imports = conn.execute(select(*BankImport.__table__.c)
                                   .where(BankImport.bank_id == row.id)
                                   .order_by(BankImport.id)).all()
            return _info(row, tuple(
                ImportRecord(_utc(i.imported_at), i.format, i.source, i.source_sha256, i.added,
                             i.duplicates, i.bad) for i in imports))


def _utc(value: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive: they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _info(row: Any, imports: tuple[ImportRecord, ...] = ()) -> BankInfo:
    return BankInfo(name=row.name, category=row.category, created_at=_utc(row.created_at),
                    references=row.reference_count, digests=row.digest_count,
                    algorithms=dict(sorted((row.algorithm_counts or {}).items())),
                    imports=imports)
