#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, and does nothing when it is already there:
# uv (from PyPI), the locked Python environment, the MicroPython VM (npm ci), Node.js, Mosquitto,
# PostgreSQL and Chromium for the platform page tests (Debian packages, when missing and we are
# root; a stopped PostgreSQL cluster is started).
# Used by `make` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "missing $* and not root: install it with your package manager (Debian: apt-get install $*)"
    return 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv==0.13.9 \
    || python3 -m pip install --quiet --user --disable-pip-version-check uv==0.13.9
  export PATH="$HOME/.local/bin:$PATH"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm"
  apt_install nodejs npm
fi

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  say "installing mosquitto (tests start their own brokers on free ports)"
  apt_install mosquitto
fi

# PostgreSQL for the platform ingest (tests create and drop their own databases on 127.0.0.1:5432
# as user postgres without a password). Installed and opened to loopback only when we install it:
# an existing server is left as it is.
if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ ! -d /usr/lib/postgresql ]; then
  say "installing PostgreSQL (platform ingest tests use 127.0.0.1:5432, user postgres)"
  apt_install postgresql
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
  # trust the postgres user from this machine's loopback only, ahead of the packaged rules
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  ver=$(basename "$(dirname "$(dirname "$hba")")")
  pg_ctlcluster --skip-systemctl-redirect "$ver" main restart || pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi
if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  pg_lsclusters --no-header | while read -r ver name _port status _; do
    if [ "$status" != "online" ]; then
      say "starting PostgreSQL cluster $ver/$name"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
    fi
  done
fi

if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (the platform page's tests drive it headless through playwright-core)"
  apt_install chromium
fi

uv sync --frozen --quiet

if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
