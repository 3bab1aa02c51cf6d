#!/usr/bin/env bash
# Idempotent set-up of gold-router in ./.venv. `tools/setup.sh` installs what serving needs;
# `tools/setup.sh --test` adds the test extra, the QuickFIX binding (built once per machine; pip's
# wheel cache makes later runs quick), Debian's prometheus (promtool + a real server), Debian's
# chromium + chromium-driver (the console's headless-browser test) and Debian's nats-server (the
# JetStream cluster tests start real ones).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {   # apt_install PKG... : only as root, only when missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} (needs root)" >&2
  fi
}

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PY" -m venv .venv
  fi
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
if [ $want_test = 1 ]; then
  "$VPY" -m pip install -q --disable-pip-version-check -e '.[test]'
  if ! "$VPY" -c 'import quickfix' 2>/dev/null; then
    command -v g++ >/dev/null || apt_install g++
    echo "setup: installing the QuickFIX binding (a source build: ~9 minutes the first time on a machine)"
    "$VPY" -m pip install -q --disable-pip-version-check 'quickfix==1.16.0'
  fi
  command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_install prometheus
  command -v cc >/dev/null || apt_install gcc
  command -v openssl >/dev/null || apt_install openssl
  # The console's browser test: Debian's chromium and its chromedriver (Selenium, from the test extra,
  # is given the driver's path; its own driver download cannot work offline).
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || apt_install chromium chromium-driver
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
else
  "$VPY" -m pip install -q --disable-pip-version-check -e .
fi

# Compile the numba kernels into their on-disk cache now (about a minute cold on 2 cores), so neither
# the first test nor `serve`'s start pays for it; with a warm cache this takes a second or two.
"$VPY" - <<'PY'
import time
from router.config import load_config
from router.orders.core_books import make_engine
t = time.perf_counter()
config = load_config()
make_engine(config.catalogue, config.fx).warm_up()
print(f"setup: matching kernels ready ({time.perf_counter() - t:.1f} s)")
PY
