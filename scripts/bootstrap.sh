#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, and does nothing when it is already there:
# uv (from PyPI), the locked Python environment, the MicroPython VM (npm ci), Node.js and Mosquitto
# (Debian packages, when missing and we are root), and Chromium for the platform page tests.
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

if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (the platform page's tests drive it headless through playwright-core)"
  apt_install chromium
fi

uv sync --frozen --quiet

if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
