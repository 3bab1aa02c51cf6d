#!/usr/bin/env bash
# The README's second command: set up (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --test
# The interop, Prometheus, browser and NATS tests skip where their peer is missing; the whole suite must not pass
# by skipping them, so a missing peer is an error here.
missing=()
.venv/bin/python -c 'import quickfix' 2>/dev/null || missing+=("the quickfix binding")
for tool in promtool prometheus cc openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# The console's browser test uses exactly these paths (tests/shell/test_console.py).
[ -x /usr/bin/chromium ] || missing+=("chromium (/usr/bin/chromium)")
[ -x /usr/bin/chromedriver ] || missing+=("chromium-driver (/usr/bin/chromedriver)")
.venv/bin/python -c 'import selenium' 2>/dev/null || missing+=("selenium (the test extra)")
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=("nats-server")
.venv/bin/python -c 'import nats' 2>/dev/null || missing+=("nats-py (the cluster extra)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "test set-up incomplete, missing: ${missing[*]} (run as root so apt-get can install them)" >&2
  exit 1
fi
exec .venv/bin/python -m pytest "$@"
