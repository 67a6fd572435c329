"""Shared by the tests that start real third-party servers (nginx, Apache, PostgreSQL, ...).

``missing(hint)``: a real component is not installed. Outside CI the test is skipped with the
install hint, so a developer without it can run the rest; in CI (``CI`` set) it fails, because a
green run that skipped the real end-to-end tests would prove nothing.

``serve(argv, host, port, log)``: run a server in the foreground as a child process, wait until
it accepts connections (bounded), stop it at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest


def missing(hint: str) -> NoReturn:
    """Skip (fail in CI): a real component the test needs is not installed."""
    if os.environ.get("CI"):
        pytest.fail(hint)
    pytest.skip(hint)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serve(argv: list[str], host: str, port: int, log: Path, *,
          env: dict[str, str] | None = None, timeout: float = 10.0,
          cwd: Path | None = None) -> Iterator[None]:
    """Start ``argv``, wait until ``host:port`` accepts, stop it afterwards (always reaped)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=cwd)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"{argv[0]} did not start: {text}") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
