"""Checks the audit commands make before anything is contacted or written.

Why here and not in the pipeline: they are about what the user typed (an ``--out`` folder, bank
names in a scope) and must fail with exit 2 and the name of the file and key, before a run
starts, rather than produce a run that audited against nothing or mixed two runs in one folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from netwarden.errors import InputError
from netwarden.i18n import N_, _
from netwarden.rundir import RUN_FILES


def prepare_out_dir(out: Path, force: bool) -> Path:
    """Create ``out`` (or accept an empty one); refuse one that holds a run unless ``force``.

    Why: a reused folder had its findings and summary overwritten and its run.log appended, so
    one evidence folder described two runs.
    """
    source = str(out)
    try:
        if out.exists() and not out.is_dir():
            raise InputError(source, N_("exists and is not a directory"), "--out")
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(source, N_("is not writable"), "--out")
        probe = out / ".netwarden-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(source, _("cannot be used as the run directory: {reason}").format(
            reason=exc.strerror or exc), "--out") from None
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held and not force:
        raise InputError(source, _("already holds a run ({files}): choose a new --out, or pass "
                                   "--force to replace that run's files (its ledger entries "
                                   "stay)").format(files=", ".join(held)), "--out")
    for name in held:
        try:
            (out / name).unlink()
        except OSError as exc:
            raise InputError(str(out / name), _("cannot be removed: {reason}").format(
                reason=exc.strerror), "--force") from None
    return out


def check_banks(wanted: Iterable[tuple[str, str, str]], bank_store: Any,
                also: Iterable[str] = ()) -> None:
    """Every bank a scope or campaign names exists (``(name, file, key)`` triples).

    ``also`` names banks that will exist by the time the audit starts (a campaign's
    ``[[banks]]`` files). Why: ``use = ["film"]`` when the bank is ``films`` audited against
    nothing and reported a clean network. A database without any bank is refused too.
    """
    known = {info.name for info in bank_store.list_banks()} | set(also)
    wanted = list(wanted)
    for name, source, key in wanted:
        if name not in known:
            listed = ", ".join(sorted(known)) or _("none: import one with `netwarden bank "
                                                   "import`")
            raise InputError(source, _("no bank named {name!r} in the database (banks: "
                                       "{listed})").format(name=name, listed=listed), key)
    if not known:
        raise InputError("banks", N_("the database holds no bank, so the audit would compare "
                                     "against nothing: import one with `netwarden bank "
                                     "import`"))


def scope_banks(scope: Any) -> list[tuple[str, str, str]]:
    """The ``(name, file, key)`` of each bank a scope's ``[banks] use`` names."""
    return [(name, scope.source, f"banks.use[{i}]") for i, name in enumerate(scope.banks)]


def report_failed_services(services: list[dict[str, Any]], echo: Any) -> int:
    """One line per service that could not be checked; returns how many."""
    failed = [s for s in services if s.get("status") == "failed"]
    for s in failed:
        echo(_("service not checked: {url}: {reason}").format(
            url=s["url"], reason=s.get("reason") or _("no reason recorded")))
    if failed:
        echo(_("{failed} of {total} services could not be checked: the audit is incomplete "
               "(exit 3)").format(failed=len(failed), total=len(services)))
    return len(failed)
