"""The HTTP collector against a real nginx with ``autoindex on`` (Debian's nginx).

The listing parser is also tested on sample pages (test_listing_parsers.py); this walks a real
server's generated indexes, with UTF-8 names, nested directories and a 0-byte file, and checks
every file's digests against what was written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realserver import free_port, missing, serve

pytestmark = pytest.mark.slow

HOST = "127.77.8.1"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_site(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    if not os.path.exists(NGINX):
        missing("nginx is not installed (apt-get install -y nginx-light)")
    root = tmp_path / "www"
    files = {
        "pub/Брат 2 (2000).mkv": os.urandom(150_000),
        "pub/empty.txt": b"",
        "pub/deep/a/b/clip.avi": os.urandom(70_000),
        "pub/deep/notes & more.txt": b"plain text\n" * 100,
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    port = free_port(HOST)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    charset utf-8;
    server {{
        listen {HOST}:{port};
        root {root};
        location / {{ autoindex on; }}
    }}
}}
""", encoding="utf-8")
    with serve([NGINX, "-c", str(conf), "-p", str(tmp_path)], HOST, port,
               tmp_path / "error.log"):
        yield f"http://{HOST}:{port}/pub/", files


def test_walks_a_real_nginx_autoindex(nginx_site: tuple[str, dict[str, bytes]], scope_for: Any,
                                      run_collect: Any, served_exactly: Any) -> None:
    url, files = nginx_site
    records, _ = run_collect(scope_for([url]))
    served_exactly(records, files)
