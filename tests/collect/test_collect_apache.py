"""The HTTP collector against a real Apache httpd with mod_autoindex (Debian's apache2),
in both of its listing styles: ``FancyIndexing`` (a table) and plain lists."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realserver import free_port, missing, serve

pytestmark = pytest.mark.slow

HOST = "127.77.8.2"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")


@pytest.fixture(params=["FancyIndexing HTMLTable", "None"], ids=["fancy-table", "plain"])
def apache_site(request: pytest.FixtureRequest, tmp_path: Path
                ) -> Iterator[tuple[str, dict[str, bytes]]]:
    if not os.path.exists(APACHE):
        missing("Apache is not installed (apt-get install -y apache2)")
    root = tmp_path / "www"
    files = {
        "pub/Левиафан.avi": os.urandom(120_000),
        "pub/empty.bin": b"",
        "pub/sub/dir/x y.bin": os.urandom(40_000),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    port = free_port(HOST)
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"""
ServerRoot "{tmp_path}"
PidFile "{tmp_path}/httpd.pid"
ErrorLog "{tmp_path}/error.log"
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule dir_module {MODULES}/mod_dir.so
LoadModule mime_module {MODULES}/mod_mime.so
LoadModule autoindex_module {MODULES}/mod_autoindex.so
TypesConfig /etc/mime.types
ServerName {HOST}
Listen {HOST}:{port}
DocumentRoot "{root}"
AddDefaultCharset UTF-8
<Directory "{root}">
    Options +Indexes
    IndexOptions {request.param} Charset=UTF-8
    Require all granted
</Directory>
""", encoding="utf-8")
    env = {**os.environ, "APACHE_RUN_USER": "root", "APACHE_RUN_GROUP": "root"}
    with serve([APACHE, "-X", "-f", str(conf)], HOST, port, tmp_path / "error.log", env=env):
        yield f"http://{HOST}:{port}/pub/", files


def test_walks_a_real_apache_autoindex(apache_site: tuple[str, dict[str, bytes]],
                                       scope_for: Any, run_collect: Any,
                                       served_exactly: Any) -> None:
    url, files = apache_site
    records, _ = run_collect(scope_for([url]))
    served_exactly(records, files)
