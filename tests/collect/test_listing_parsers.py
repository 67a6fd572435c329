"""Listing parsers on the formats real servers write (samples from vsftpd, ProFTPD, IIS,
pyftpdlib MLSD, nginx autoindex, Apache mod_autoindex, Python http.server)."""

from __future__ import annotations

from netwarden.collect.base import location_url, unsafe_name_reason
from netwarden.collect.ftp_list import parse_list_line, parse_mlsd_line
from netwarden.collect.html_index import index_links
from netwarden.collect.names import decode_name, legacy_encoding
from netwarden.testbed.hostile import _APACHE_INDEX, _NGINX_INDEX


def test_unix_list_lines() -> None:
    entry = parse_list_line(b"-rw-r--r--    1 1000     1000      1048576 Mar 05 14:22 film one.mkv")
    assert entry is not None
    assert (entry.raw_name, entry.type, entry.size) == (b"film one.mkv", "file", 1048576)
    entry = parse_list_line(b"drwxr-xr-x   2 ftp  ftp  4096 Jan  1  2024 \xd4\xe8\xeb\xfc\xec\xfb")
    assert entry is not None and entry.type == "dir" and entry.raw_name == "Фильмы".encode(
        "cp1251")
    entry = parse_list_line(b"lrwxrwxrwx 1 root root 7 Jan 1 12:00 latest -> v2/file.bin")
    assert entry is not None and entry.type == "link"
    assert (entry.raw_name, entry.link_target) == (b"latest", b"v2/file.bin")
    # vsftpd without group column, ACL marker
    entry = parse_list_line(b"-rw-r--r--+ 1 ftp 42 Jan 01 2024 x.bin")
    assert entry is not None and entry.size == 42 and entry.raw_name == b"x.bin"
    assert parse_list_line(b"total 12") is None
    assert parse_list_line(b"garbage line") is None


def test_dos_list_lines() -> None:
    entry = parse_list_line(b"01-31-24  12:00PM       <DIR>          Old Films")
    assert entry is not None and (entry.type, entry.raw_name) == ("dir", b"Old Films")
    entry = parse_list_line(b"11-05-2023  09:14             2345678 movie.avi")
    assert entry is not None and (entry.type, entry.size) == ("file", 2345678)


def test_mlsd_lines() -> None:
    entry = parse_mlsd_line(b"type=file;size=0;modify=20240101120000;perm=r; empty file.bin")
    assert entry is not None and (entry.raw_name, entry.size, entry.type) == (
        b"empty file.bin", 0, "file")
    entry = parse_mlsd_line(b"Type=dir;Modify=20240101120000; sub")
    assert entry is not None and entry.type == "dir"
    assert parse_mlsd_line(b"type=cdir; .") is None
    assert parse_mlsd_line(b"type=pdir; ..") is None
    assert parse_mlsd_line(b"nospace") is None


def test_index_links_of_three_servers() -> None:
    python = ('<ul>\n<li><a href="%D0%9A%D0%B8%D0%BD%D0%BE/">Кино/</a></li>\n'
              '<li><a href="a%20b.txt">a b.txt</a></li>\n</ul>')
    assert index_links(python, 100) == (["%D0%9A%D0%B8%D0%BD%D0%BE/", "a%20b.txt"], False)
    links, cut = index_links(_NGINX_INDEX, 100)
    assert links == ["../", "%D0%9A%D0%B8%D0%BD%D0%BE/", "file%201.bin"] and not cut
    links, _ = index_links(_APACHE_INDEX, 100)
    assert "?C=N;O=D" in links and "/" in links and "a%20b&c.txt" in links
    # icon and name link to the same file: listed once
    assert links.count("%D0%A4%D0%B8%D0%BB%D1%8C%D0%BC.avi") == 1
    links, cut = index_links(_APACHE_INDEX, 3)
    assert len(links) == 3 and cut


def test_names_and_locations() -> None:
    raw = "Сталкер.avi".encode("cp1251")
    assert decode_name(raw) == ("Сталкер.avi", "cp1251")
    assert decode_name("Сталкер.avi".encode()) == ("Сталкер.avi", "utf-8")
    assert decode_name(raw, legacy_encoding("koi8-r"))[1] == "koi8-r"
    assert legacy_encoding("no-such-codec") == "cp1251"
    assert location_url("ftp", "127.77.0.10", 21, b"/old/" + raw) == (
        "ftp://127.77.0.10:21/old/%D1%F2%E0%EB%EA%E5%F0.avi")
    assert location_url("http", "::1", 80, b"/a b?#%") == "http://[::1]:80/a%20b%3F%23%25"
    for bad in ("..", ".", "", "../../etc/passwd", "a/b", "a\\b", "x\x00y", "x\ny"):
        assert unsafe_name_reason(bad), bad
    assert unsafe_name_reason("..hidden") is None
