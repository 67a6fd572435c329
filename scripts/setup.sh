#!/usr/bin/env bash
# Set up everything netwarden needs on a fresh Debian machine with Python >= 3.11:
# the Debian packages its collectors, tests and benchmarks use, and a virtualenv in .venv
# with netwarden installed in editable mode. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  rhash librhash0      # TTH/ED2K in the digest engine (librhash) and its known-answer tests (rhash)
  lftp                 # crawl benchmark baseline
  nginx-light apache2  # a real nginx autoindex and Apache mod_autoindex for the HTTP tests
  openssl              # RFC 3161 test time-stamping authority
  samba smbclient      # a real smbd for the SMB collector's tests; smbclient for its benchmark
  uhub eiskaltdcpp-daemon  # a real ADC hub and real DC clients for the Direct Connect tests
  opentracker          # a real BitTorrent tracker for the BitTorrent tests
  transmission-daemon  # a second real BitTorrent client (seeder) for the BitTorrent tests
  pkg-config cmake g++ libavdevice-dev libavfilter-dev libavformat-dev libavcodec-dev
  libswresample-dev libswscale-dev libavutil-dev  # to build vpdq (the reference vPDQ) for tests
  postgresql           # PostgreSQL back end (tests start a throwaway cluster)
  libpango-1.0-0 libpangoft2-1.0-0  # WeasyPrint, for PDF reports
  poppler-utils        # pdftoppm, to look at PDF reports as pictures
  chromium             # the browser the web UI's Playwright tests drive (never downloaded)
  nodejs               # runs the real OpenID provider (oidc-provider) of the single sign-on tests
)

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  # npm by command, not by package: NodeSource's nodejs ships npm and conflicts with Debian's
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: netwarden needs Python >= 3.11, found {sys.version.split()[0]}")
PY
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.netwarden-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing netwarden and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
