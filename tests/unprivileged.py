"""Run a check as an ordinary user, so that permission tests mean something when run as root.

CI runs as root, and root opens a mode-000 file anyway: a test that skipped there would never
check that an unreadable input gives a clear error. ``unreadable_file`` makes a mode-000 file in
a fresh world-traversable directory; ``as_unprivileged`` calls a function in a forked child
that first drops to ``nobody`` (no exec: the child keeps the interpreter and the modules the
parent already imported, so it needs no read access to the virtualenv under /root) and sends
back the class name and text of the exception the function raised (exceptions with their own
constructors do not survive pickling). Not root: the function simply runs here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


@contextmanager
def unreadable_file(content: bytes) -> Iterator[Path]:
    """A file with mode 000 in a directory anyone may traverse (tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="nw-perm-", dir="/tmp"))
    folder.chmod(0o755)
    path = folder / "locked.bin"
    path.write_bytes(content)
    path.chmod(0)
    try:
        yield path
    finally:
        path.chmod(0o600)
        path.unlink()
        folder.rmdir()


def as_unprivileged(fn: Callable[[], object]) -> tuple[str, str] | None:
    """Call ``fn`` as an unprivileged user: (exception class name, text) it raised, or None."""
    if os.geteuid() != 0:
        try:
            fn()
        except Exception as exc:
            return type(exc).__name__, str(exc)
        return None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, report, exit without cleanup handlers
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                fn()
                answer = ""
            except Exception as exc:
                answer = f"{type(exc).__name__}\n{exc}"
            with os.fdopen(write, "w", encoding="utf-8", errors="replace") as pipe:
                pipe.write(answer or "-")
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, encoding="utf-8") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not answer:
        raise RuntimeError(f"the unprivileged child ended without an answer (status {status})")
    if answer == "-":
        return None
    name, _, text = answer.partition("\n")
    return name, text
