"""``ncmec``: hash sharing through the ``threatexchange`` library's exchange clients.

The file given to ``bank import`` is a small JSON configuration naming the exchange, not the
hashes themselves::

    {"exchange": "ncmec", "environment": "https://exdsapi.ncmec.org/...",
     "credentials_env": "NCMEC_CREDENTIALS"}          # "user:password" in that variable
    {"exchange": "file", "filename": "/path/signals.txt", "signal_type": "pdq"}

``ncmec`` uses threatexchange's ``NCMECSignalExchangeAPI`` (credentials from the environment
variable, never from the file); ``file`` its ``LocalFileSignalExchangeAPI`` — the same fetch
interface, which is how the tests exercise this path offline. Each fetched (signal type,
signal) becomes an entry; signals of types netwarden does not match are reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netwarden.banks.formats._signals import SignalError, entry_for
from netwarden.banks.formats.base import BankEntry, BankFormat, LineProblem, open_regular_file
from netwarden.errors import InputError

MAX_CONFIG_BYTES = 64 * 1024


def _signal_types() -> list[Any]:
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal

    return [PdqSignal, VideoMD5Signal]


def _client(config: dict[str, Any], source: str) -> Any:
    kind = config.get("exchange")
    if kind == "file":
        from threatexchange.exchanges.impl.file_api import (
            FileCollaborationConfig,
            LocalFileSignalExchangeAPI,
        )

        filename = config.get("filename")
        if not isinstance(filename, str):
            raise InputError(source, "exchange 'file' needs a 'filename'")
        collab = FileCollaborationConfig(name="netwarden", api="local_file", enabled=True,
                                         filename=filename,
                                         signal_type=config.get("signal_type"))
        return LocalFileSignalExchangeAPI.for_collab(collab)
    if kind == "ncmec":
        from threatexchange.exchanges.clients.ncmec.hash_api import NCMECEnvironment
        from threatexchange.exchanges.impl.ncmec_api import (
            NCMECCollabConfig,
            NCMECCredentials,
            NCMECSignalExchangeAPI,
        )

        variable = config.get("credentials_env", "NCMEC_CREDENTIALS")
        secret = os.environ.get(str(variable), "")
        user, _, password = secret.partition(":")
        if not user or not password:
            raise InputError(source, f"NCMEC credentials missing: set {variable} to "
                                     "'user:password'")
        try:
            environment = NCMECEnvironment(config.get("environment"))
        except ValueError:
            raise InputError(source, f"unknown NCMEC environment {config.get('environment')!r}"
                             ) from None
        ncmec = NCMECCollabConfig(name="netwarden", enabled=True, environment=environment)
        return NCMECSignalExchangeAPI.for_collab(ncmec, NCMECCredentials(user, password))
    raise InputError(source, f"unknown exchange {kind!r} (known: ncmec, file)")


class NcmecFormat(BankFormat):
    name = "ncmec"
    description = "NCMEC hash sharing (or a file exchange) via threatexchange; JSON config"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        source = str(path)
        with open_regular_file(path) as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        try:
            config = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(source, f"not a JSON exchange configuration: {exc}") from None
        if not isinstance(config, dict) or len(raw) > MAX_CONFIG_BYTES:
            raise InputError(source, "exchange configuration must be a small JSON object")
        client = _client(config, source)
        try:
            for delta in client.fetch_iter(_signal_types(), None):
                for key, metadata in delta.updates.items():
                    if metadata is None:
                        continue  # a deletion: nothing to import
                    signal_type, signal = key if isinstance(key, tuple) else (None, key)
                    try:
                        yield entry_for(str(signal_type), str(signal))
                    except SignalError as exc:
                        yield LineProblem(source, f"{signal_type} {str(signal)[:80]}: {exc}")
        except (AssertionError, OSError) as exc:
            raise InputError(source, f"exchange fetch failed: {exc}") from None
