"""Keyed pseudonyms of subscriber accounts, and their logged reveal.

An audit's findings, reports and ledger never name a subscriber: they carry
``HMAC-SHA-256(key, account)`` (truncated to 128 bits, prefixed ``ps1_``). The same account
always gets the same pseudonym under one key, so repeated findings link up, yet without the key
nobody can test a guessed account name against a pseudonym (which a plain hash would allow).
The key lives in a file named by the scope (``[attribution] pseudonym_key``), outside the run
directory, so handing out findings never hands out the key.

Revealing needs the key *and* the logs: :func:`reveal` recomputes the pseudonym of every
account the indexed logs know and returns the one that matches. It refuses without a non-empty
legal basis; the caller appends the reveal (who, when, basis) to the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from netwarden.errors import InputError
from netwarden.records import SubscriberReveal

PREFIX = "ps1_"
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 4096
KNOWN_MAX = 65_536  # pseudonyms remembered per key (bounded)


class Pseudonymizer:
    """Turns accounts into pseudonyms with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"pseudonym key must have at least {MIN_KEY_BYTES} bytes")
        self._key = key
        # keyed once; each pseudonym copies the keyed state instead of re-keying (HMAC's
        # inner/outer pads), and recent answers are remembered: an audit names the same
        # accounts again and again
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._known: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> Pseudonymizer:
        """Read the key file (its bytes, surrounding whitespace removed)."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                key = handle.read(MAX_KEY_BYTES + 1).strip()
        except FileNotFoundError:
            raise InputError(str(path), "pseudonym key file not found",
                             "attribution.pseudonym_key") from None
        except OSError as exc:
            raise InputError(str(path), f"pseudonym key file cannot be read: {exc.strerror}",
                             "attribution.pseudonym_key") from None
        if len(key) > MAX_KEY_BYTES:
            raise InputError(str(path), f"pseudonym key longer than {MAX_KEY_BYTES} bytes",
                             "attribution.pseudonym_key")
        if len(key) < MIN_KEY_BYTES:
            raise InputError(str(path), f"pseudonym key shorter than {MIN_KEY_BYTES} bytes; "
                             "generate one with: head -c 32 /dev/urandom | base64",
                             "attribution.pseudonym_key")
        return cls(key)

    def pseudonym(self, account: str) -> str:
        """The pseudonym of ``account`` under this key."""
        known = self._known.get(account)
        if known is not None:
            return known
        mac = self._mac.copy()
        mac.update(account.encode("utf-8"))
        value = PREFIX + mac.hexdigest()[:32]
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known[account] = value
        return value

    def matches(self, pseudonym: str, account: str) -> bool:
        """Constant-time comparison of ``account``'s pseudonym with ``pseudonym``."""
        return hmac.compare_digest(self.pseudonym(account), pseudonym)


@dataclass(frozen=True)
class Reveal:
    """The outcome of a reveal: the account behind a pseudonym, and on what basis."""

    pseudonym: str
    account: str
    basis: str
    revealed_at: datetime
    sources: tuple[str, ...] = field(default_factory=tuple)
    identifier: tuple[str, ...] = field(default_factory=tuple)  # kinds that carry the account

    def record(self, by: str, check_id: str) -> SubscriberReveal:
        """The ledger leaf of this reveal, to append *before* the account is shown.

        Everything but the account: who (``by``), when (``revealed_at``, with its offset), on
        what basis, under which check, the pseudonym, which identifier kinds and logs carry
        the account. The account stays out because ledgers leave the house in bundles; the
        pseudonym already commits to it under the key, so the leaf still says whose it was to
        anyone who holds the key and a court's order.
        """
        return SubscriberReveal(pseudonym=self.pseudonym, basis=self.basis.strip(), by=by,
                                revealed_at=self.revealed_at.astimezone().isoformat(),
                                check_id=check_id,
                                sources=list(self.sources), identifier=list(self.identifier))


def reveal(pseudonymizer: Pseudonymizer, pseudonym: str, basis: str,
           accounts: Iterable[tuple[str, str] | tuple[str, str, str]]) -> Reveal:
    """Find the account behind ``pseudonym`` among ``(account, source[, identifier kind])``.

    A joined subscriber's account may come from several logs and identifiers (RADIUS
    ``User-Name`` and the DHCP relay's remote-id name the same account): every log and every
    identifier kind that carries it is listed in the answer, so the reveal says which
    identifier was revealed and where it stands.

    Raises :class:`InputError` when ``basis`` is empty, the pseudonym is malformed, or no
    account in the logs has that pseudonym under this key.
    """
    if not basis or not basis.strip():
        raise InputError("reveal", "a legal basis is required to reveal a subscriber "
                         "(for example --basis \"court order 12/2026\")", "basis")
    if not pseudonym.startswith(PREFIX) or len(pseudonym) != len(PREFIX) + 32:
        raise InputError("reveal", f"{pseudonym!r} is not a netwarden pseudonym "
                         f"({PREFIX} + 32 hex digits)", "pseudonym")
    found: str | None = None
    sources: list[str] = []
    kinds: list[str] = []
    for item in accounts:
        account, source = item[0], item[1]
        if (found is None or account == found) and pseudonymizer.matches(pseudonym, account):
            found = account
            if source not in sources:
                sources.append(source)
            if len(item) > 2 and item[2] not in kinds:
                kinds.append(item[2])
    if found is None:
        raise InputError("reveal", f"no account in the indexed logs has pseudonym {pseudonym} "
                         "under this key", "pseudonym")
    return Reveal(pseudonym, found, basis.strip(), datetime.now(UTC), tuple(sources),
                  tuple(kinds))
