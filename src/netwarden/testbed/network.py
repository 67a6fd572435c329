"""The demo operator network: real servers on loopback serving generated files, and its banks.

``DemoNetwork`` builds, from a seed, everything an audit needs and knows the right answer:

* the operator's own FTP store (pyftpdlib) on 127.77.0.10 and three subscribers' HTTP servers
  (Python's http.server with directory listings) on 127.77.1.1-3;
* files of random bytes: exact copies of bank items, renamed copies, decoys (a bank item's
  *name* with other bytes) and benign files, with Russian names in UTF-8 and one FTP name in
  cp1251, as old Russian servers still serve them;
* ``scope.toml`` covering 127.77.0.0/16 with every server as a service, a films catalog
  (``films.csv``) and a CSAM stand-in list (``csam-standin.txt``; synthetic random bytes);
* generated drawings (Pillow shapes, blurred: never real images) banked by PDQ in an HMA file
  (``csam-pdq.txt``) and served *transformed* — resized 50 %, JPEG quality 60, cropped by 5 %
  of the area — which only perceptual matching finds; a decoy drawing that must not match;
  and a benign drawing whose near-duplicate is in the PDQ bank (a known false positive) but
  which the allow-list bank (``allow-list.txt``, category ``allow-list``) suppresses;
* ``expected``: exactly the (host, location, reference id) findings an audit must report.

Everything is synthetic and on loopback, and every server stops when the block ends, also on
an exception.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

from PIL import Image, ImageDraw, ImageFilter

from netwarden.collect.base import location_url
from netwarden.digest import MultiDigest
from netwarden.digest.pdq import pdq_from_bytes
from netwarden.scope import load_scope
from netwarden.testbed.servers import Gate, RunningServer, ServerGroup, serve_ftp, serve_http

FTP_HOST = "127.77.0.10"
HTTP_HOSTS = ("127.77.1.1", "127.77.1.2", "127.77.1.3")
PREFIX = "127.77.0.0/16"

Role = Literal["exact", "renamed", "transformed", "decoy", "benign"]


class BankFile(NamedTuple):
    """A generated reference bank: ``bank import --name N --category C --format F PATH``."""

    name: str
    category: str
    format: str
    path: Path


class Expected(NamedTuple):
    """One finding an audit must report."""

    host: str
    location: str
    reference_id: str


@dataclass(frozen=True)
class Reference:
    """A bank item: its id, title, bytes' seed and size (bytes are regenerated, never kept)."""

    bank: str
    reference_id: str
    title: str
    extension: str
    size: int
    digests: dict[str, str]
    content_seed: int


@dataclass(frozen=True)
class Plant:
    """A file placed on a server: where, what role, and which reference it copies (if any)."""

    host: str
    scheme: str
    raw_path: bytes
    role: Role
    size: int
    reference: Reference | None
    location: str


_FILM_TITLES = [
    ("Брат 2", "Kinokompaniya STV", ".mkv", 420_000),
    ("Левиафан", "Non-Stop Production", ".avi", 310_000),
    ("Сталкер", "Mosfilm", ".avi", 1_600_000),
    ("Иван Васильевич меняет профессию", "Mosfilm", ".mkv", 250_000),
    ("Ирония судьбы", "Mosfilm", ".mp4", 2_300_000),
    ("Движение вверх", "Trite Studio", ".mkv", 380_000),  # in the bank, served nowhere
]
_CSAM_SIZES = [180_000, 220_000, 150_000]


def drawing(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A generated picture: blurred coloured discs on a coloured ground (never a real image).

    Blurred, because PDQ hashes the low frequencies: hard-edged clip art is far more
    sensitive to crops than photographs are, and these stand in for photographs.
    """
    r = random.Random(seed)
    w, h = size
    image = Image.new("RGB", size, tuple(r.randrange(256) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    for _ in range(10):
        cx, cy, rad = r.randrange(w), r.randrange(h), r.randrange(h // 6, h // 2)
        pen.ellipse([cx - rad, cy - rad, cx + rad, cy + rad],
                    fill=tuple(r.randrange(256) for _ in range(3)))
    return image.filter(ImageFilter.GaussianBlur(r.choice([4, 8, 12])))


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """The image encoded in memory."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def transform(image: Image.Image, how: str) -> bytes:
    """The transforms the accuracy table and the testbed use, encoded."""
    w, h = image.size
    if how == "resize50":
        return encode(image.resize((w // 2, h // 2), Image.Resampling.BILINEAR), "JPEG",
                      quality=90)
    if how == "jpeg60":
        return encode(image, "JPEG", quality=60)
    if how == "crop5":  # 5 % of the area: 1.25 % off each edge
        dx, dy = round(w * 0.0125), round(h * 0.0125)
        return encode(image.crop((dx, dy, w - dx, h - dy)), "PNG")
    if how == "flip":
        return encode(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG")
    if how == "rotate90":
        return encode(image.transpose(Image.Transpose.ROTATE_90), "PNG")
    raise ValueError(f"unknown transform {how!r}")


# (drawing seed, transform, host index, path): the perceptual plants (see _plant_images).
_IMAGE_PLANTS = [(101, "resize50", 1, "/share/photos/beach_small.jpg"),
                 (202, "jpeg60", 2, "/dl/pic_0007.jpg"),
                 (303, "crop5", 0, "/incoming/scan-0193.png")]
_DECOY_SEED = 404
_ALLOWED_SEED = 305  # quality 100: the allow-list, not the quality gate, must stop it


def _bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _digests(data: bytes) -> dict[str, str]:
    engine = MultiDigest()
    engine.update(data)
    result = engine.finalize().as_dict()
    result.pop("size", None)
    return {k: str(v) for k, v in result.items()}


class DemoNetwork:
    """Start with ``with DemoNetwork(workdir) as net:``; see the module docstring."""

    def __init__(self, workdir: Path, seed: int = 7, *, prefix_octet: int = 77,
                 operator: str = "Example Telecom (demo)", gate: Gate | None = None) -> None:
        """``prefix_octet`` and ``operator`` let a campaign start many operators side by side:
        operator k on 127.<prefix_octet>.0.0/16 (the default is the demo's 127.77.0.0/16).

        ``gate`` holds the subscribers' HTTP file transfers until the test releases it, so a
        test can act on an audit that is certainly still running (see ``Gate``); the scope's
        read timeouts are then raised above the gate's longest hold."""
        if not 1 <= prefix_octet <= 254:
            raise ValueError("prefix_octet must be between 1 and 254")
        self.workdir = Path(workdir)
        self.seed = seed
        self.operator = operator
        self.ftp_host = f"127.{prefix_octet}.0.10"
        self.http_hosts = tuple(f"127.{prefix_octet}.1.{n}" for n in (1, 2, 3))
        self.prefix = f"127.{prefix_octet}.0.0/16"
        self.nas_ip = f"127.{prefix_octet}.0.1"
        self.scope_path = self.workdir / "scope.toml"
        self.banks: list[BankFile] = []
        self.references: list[Reference] = []
        self.image_references: list[Reference] = []
        self._known_false_positive: str | None = None
        self._allowed_pdq: str | None = None
        self.plants: list[Plant] = []
        self.servers: list[RunningServer] = []
        self._group: ServerGroup | None = None
        self.gate = gate

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> DemoNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Generate files, start the servers and write the scope and bank files."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        rng = random.Random(self.seed)
        self._make_references(rng)
        roots = {host: self.workdir / "served" / host
                 for host in (self.ftp_host, *self.http_hosts)}
        group = ServerGroup()
        self._group = group
        try:
            for root in roots.values():
                root.mkdir(parents=True, exist_ok=True)
            self.servers.append(group.add(serve_ftp(roots[self.ftp_host], self.ftp_host)))
            for host in self.http_hosts:
                self.servers.append(group.add(serve_http(roots[host], host, gate=self.gate)))
            self._plant_all(rng, roots)
            self._plant_images(roots)
            self._write_banks()
            self._write_attribution_logs()
            self._write_scope()
            load_scope(self.scope_path)  # the generated scope must be valid
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server (idempotent)."""
        if self._group is not None:
            group, self._group = self._group, None
            group.close()

    # -- content -------------------------------------------------------------------------------
    def _make_references(self, rng: random.Random) -> None:
        self.references = []
        for i, (title, _holder, ext, size) in enumerate(_FILM_TITLES, start=1):
            seed = rng.getrandbits(64)
            self.references.append(Reference("films", f"FILM-{i:04d}", title, ext, size,
                                             _digests(_bytes(seed, size)), seed))
        for i, size in enumerate(_CSAM_SIZES, start=1):
            seed = rng.getrandbits(64)
            digests = _digests(_bytes(seed, size))
            # plain banks have no ids: the digest's text is the reference id
            ref_id = digests["md5"] if i == 3 else digests["sha256"]
            self.references.append(Reference("csam-standin", ref_id, f"standin-{i}", ".jpg",
                                              size, digests, seed))

    def _place(self, roots: dict[str, Path], host: str, raw_path: bytes, data: bytes,
               role: Role, reference: Reference | None) -> None:
        root = os.fsencode(roots[host])
        target = root + raw_path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
        server = next(s for s in self.servers if s.host == host)
        self.plants.append(Plant(host, server.kind, raw_path, role, len(data), reference,
                                 location_url(server.kind, host, server.port, raw_path)))

    def _plant_all(self, rng: random.Random, roots: dict[str, Path]) -> None:
        films = [r for r in self.references if r.bank == "films"]
        csam = [r for r in self.references if r.bank == "csam-standin"]
        brat, leviafan, stalker, ivan, ironiya, _unserved = films

        def copy(host: str, path: str | bytes, ref: Reference, role: Role) -> None:
            raw = path.encode("utf-8") if isinstance(path, str) else path
            self._place(roots, host, raw, _bytes(ref.content_seed, ref.size), role, ref)

        def other(host: str, path: str | bytes, size: int, role: Role) -> None:
            raw = path.encode("utf-8") if isinstance(path, str) else path
            self._place(roots, host, raw, _bytes(rng.getrandbits(64), size), role, None)

        ftp, sub1, sub2, sub3 = self.ftp_host, *self.http_hosts
        # The operator's own store.
        copy(ftp, f"/films/{brat.title} (2000){brat.extension}", brat, "exact")
        copy(ftp, f"/films/новинки/{leviafan.title}{leviafan.extension}", leviafan, "exact")
        copy(ftp, b"/old/" + f"{stalker.title} (1979){stalker.extension}".encode(
            "cp1251"), stalker, "exact")  # a legacy cp1251 name
        copy(ftp, "/incoming/upload_0042.bin", ironiya, "renamed")
        other(ftp, f"/films/{ivan.title}{ivan.extension}", 330_000, "decoy")
        other(ftp, "/docs/прайс-лист.pdf", 120_000, "benign")
        other(ftp, "/docs/readme.txt", 2_000, "benign")
        other(ftp, "/pub/firmware/router-fw-2.1.bin", 1_200_000, "benign")
        # Subscriber 1: a film share.
        copy(sub1, f"/share/{ivan.title}{ivan.extension}", ivan, "exact")
        copy(sub1, "/share/video/movie.avi", leviafan, "renamed")
        other(sub1, f"/share/video/{stalker.title}{stalker.extension}", 640_000, "decoy")
        other(sub1, "/share/Отпуск 2025.jpg", 260_000, "benign")
        copy(sub1, "/share/photos/IMG_0001.jpg", csam[0], "exact")
        # Subscriber 2: renamed copies and a decoy.
        copy(sub2, "/dl/holiday.jpg", csam[1], "renamed")
        copy(sub2, "/dl/архив/x17.dat", brat, "renamed")
        other(sub2, f"/dl/{brat.title} (2000){brat.extension}", 410_000, "decoy")
        other(sub2, "/dl/notes.txt", 4_000, "benign")
        other(sub2, "/dl/empty.txt", 0, "benign")
        # Subscriber 3: one deep renamed copy among benign files.
        copy(sub3, "/a/b/c/IMG_2093.jpg", csam[2], "renamed")
        other(sub3, "/a/b/cat.jpg", 90_000, "benign")
        other(sub3, "/index-files/report.docx", 75_000, "benign")
        # A subscriber's hand-written index page that links outside the authorized prefixes:
        # the audit must record the link as refused and never contact it.
        other(sub3, "/mirror/clip.avi", 50_000, "benign")
        (roots[sub3] / "mirror" / "index.html").write_text(
            '<html><body><h1>Index of /mirror/</h1><ul><li><a href="clip.avi">clip.avi</a>'
            '</li><li><a href="http://10.20.30.40/pub/film.avi">film.avi (mirror)</a></li>'
            "</ul></body></html>\n", encoding="utf-8")

    def _plant_images(self, roots: dict[str, Path]) -> None:
        """Banked drawings served only as transformed copies, a decoy and an allow-listed one."""
        hosts = (self.ftp_host, *self.http_hosts)
        self.image_references = []
        for n, (seed, how, host_index, path) in enumerate(_IMAGE_PLANTS, start=1):
            picture = drawing(seed)
            pdq = pdq_from_bytes(encode(picture)).hex
            ref = Reference("csam-pdq", pdq, f"drawing-{n}", ".png", 0, {"pdq": pdq}, seed)
            self.image_references.append(ref)
            self._place(roots, hosts[host_index], path.encode(), transform(picture, how),
                        "transformed", ref)
        self._place(roots, self.http_hosts[2], b"/a/b/drawing.jpg",
                    encode(drawing(_DECOY_SEED), "JPEG", quality=85), "decoy", None)
        allowed = encode(drawing(_ALLOWED_SEED))
        self._allowed_pdq = pdq_from_bytes(allowed).hex
        # The PDQ bank holds a near-duplicate of this benign picture (4 bits flipped): a
        # known false positive that only the allow-list keeps out of the findings.
        value = int(self._allowed_pdq, 16) ^ 0b1000_0100_0010_0001
        self._known_false_positive = f"{value:064x}"
        self._place(roots, self.http_hosts[1], b"/dl/logo.png", allowed, "benign", None)

    # -- files for the audit -------------------------------------------------------------------
    def _write_banks(self) -> None:
        films_path = self.workdir / "films.csv"
        with films_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["reference_id", "title", "rights_holder", "md5", "sha1", "sha256",
                             "ed2k", "tth", "btih"])
            holders = {title: holder for title, holder, _e, _s in _FILM_TITLES}
            for ref in self.references:
                if ref.bank == "films":
                    d = ref.digests
                    writer.writerow([ref.reference_id, ref.title, holders[ref.title], d["md5"],
                                     d["sha1"], d["sha256"], d.get("ed2k", ""),
                                     d.get("tth", ""), ""])
        csam_path = self.workdir / "csam-standin.txt"
        lines = ["# Synthetic CSAM stand-in list for the netwarden demo: digests of random",
                 "# bytes generated by the testbed. No real material is involved."]
        lines += [ref.reference_id for ref in self.references if ref.bank == "csam-standin"]
        csam_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        pdq_path = self.workdir / "csam-pdq.txt"
        lines = ["# Synthetic PDQ list (ThreatExchange/HMA text format): hashes of generated",
                 "# drawings; no real images are involved."]
        lines += [f"pdq {ref.reference_id} {ref.title}" for ref in self.image_references]
        lines.append(f"pdq {self._known_false_positive}")
        pdq_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        allow_path = self.workdir / "allow-list.txt"
        allow_path.write_text(f"# known-good pictures\npdq {self._allowed_pdq} logo\n",
                              encoding="utf-8")
        self.banks = [BankFile("films", "film", "catalog", films_path),
                      BankFile("csam-standin", "csam", "plain", csam_path),
                      BankFile("csam-pdq", "csam", "hma", pdq_path),
                      BankFile("allow-list", "allow-list", "hma", allow_path)]

    # RFC 7422 deterministic NAT in front of the second subscriber host (see below)
    CGNAT_INSIDE = "100.64.0.0/24"
    CGNAT_PORTS = 1024

    def _write_attribution_logs(self) -> None:
        """Provider logs and a pseudonym key, so every kind of answer shows up in the demo.

        * the first subscriber host has a FreeRADIUS accounting session covering the audit;
        * the second is a carrier-grade NAT address (RFC 7422 deterministic NAT, computed from
          its parameters): the port its server listens on belongs to one inside address, whose
          DHCP lease (ISC ``dhcpd.leases``) names the subscriber's router;
        * the third has no log at all, so its findings must come out *not attributed*, with the
          reason.
        """
        now = datetime.now(UTC).replace(microsecond=0)
        logs = self.workdir / "logs"
        (logs / "radius").mkdir(parents=True, exist_ok=True)

        def record(status: str, user: str, ip: str, session: str, moment: datetime) -> str:
            return (f"{moment.strftime('%a %b %e %H:%M:%S %Y')}\n"
                    f"\tAcct-Status-Type = {status}\n\tUser-Name = \"{user}\"\n"
                    f"\tAcct-Session-Id = \"{session}\"\n\tFramed-IP-Address = {ip}\n"
                    f"\tNAS-IP-Address = {self.nas_ip}\n"
                    f"\tEvent-Timestamp = \"{moment.strftime('%b %e %Y %H:%M:%S')} UTC\"\n\n")

        host = self.http_hosts[0]
        text = record("Start", "demo-subscriber-001", host, "demo-0001", now - timedelta(hours=1))
        text += record("Interim-Update", "demo-subscriber-001", host, "demo-0001",
                       now - timedelta(minutes=10))
        (logs / "radius" / "detail").write_text(text, encoding="utf-8")

        nat_host = self.http_hosts[1]
        port = next(s.port for s in self.servers if s.host == nat_host)
        inside = ipaddress.ip_network(self.CGNAT_INSIDE)
        private = inside.network_address + (port - 1024) // self.CGNAT_PORTS

        def lease_time(moment: datetime) -> str:
            return f"{(moment.weekday() + 1) % 7} {moment.strftime('%Y/%m/%d %H:%M:%S')}"

        (logs / "dhcpd.leases").write_text(
            "# generated by netwarden.testbed: one lease behind the CGNAT address\n"
            f"lease {private} {{\n  starts {lease_time(now - timedelta(hours=2))};\n"
            f"  ends {lease_time(now + timedelta(hours=6))};\n  binding state active;\n"
            "  hardware ethernet 02:00:5e:00:01:02;\n  client-hostname \"demo-cpe-002\";\n}\n",
            encoding="utf-8")
        key = self.workdir / "pseudonym.key"
        secret = random.Random(self.seed).getrandbits(128)
        key.write_text(f"demo-pseudonym-key-{secret:032x}\n", encoding="utf-8")

    def _write_scope(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        # a held transfer must outlast no timeout of the auditor's (see Gate)
        wait = 10 if self.gate is None else int(self.gate.max_hold) + 60
        services = "\n".join(
            f'[[services]]\nurl = "{s.url}"' + ('\nencoding = "cp1251"' if s.kind == "ftp"
                                               else "") + "\n" for s in self.servers)
        text = f"""# Generated by netwarden.testbed for the demo: a synthetic network on loopback.
[check]
id = "DEMO-{self.seed:04d}"
authorization = "Demonstration on a synthetic loopback test network (netwarden testbed)"
not_before = {(now - timedelta(hours=1)).strftime(stamp)}
not_after = {(now + timedelta(days=1)).strftime(stamp)}
jurisdiction = "ru"

[operator]
name = "{self.operator}"
asn = [64512]
prefixes = ["{self.prefix}"]
infrastructure = ["{self.ftp_host}"]

{services}
[attribution]
radius = ["logs/radius/detail"]
dhcp = [{{ path = "logs/dhcpd.leases" }}]
pseudonym_key = "pseudonym.key"
clock_skew = "2s"

[[attribution.cgnat]]
format = "rfc7422"
inside = "{self.CGNAT_INSIDE}"
outside = "{self.http_hosts[1]}/32"
ports_per_subscriber = {self.CGNAT_PORTS}
first_port = 1024

[banks]
use = ["films", "csam-standin", "csam-pdq", "allow-list"]

[limits]
connect_timeout = 5
read_timeout = {wait}
min_speed_seconds = {max(60, wait)}
phase_timeout = {max(300, wait)}
max_file_size = 67108864
"""
        self.scope_path.write_text(text, encoding="utf-8")

    # -- the answer ----------------------------------------------------------------------------
    @property
    def expected(self) -> set[Expected]:
        """The findings an audit must report: every exact, renamed and transformed copy."""
        return {Expected(p.host, p.location, p.reference.reference_id) for p in self.plants
                if p.role in ("exact", "renamed", "transformed") and p.reference is not None}

    @property
    def ftp_url(self) -> str:
        return next(s.url for s in self.servers if s.kind == "ftp")

    @property
    def http_urls(self) -> list[str]:
        return [s.url for s in self.servers if s.kind == "http"]
