#!/usr/bin/env bash
# The README's first command: set up (idempotent) and run the router on its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/gold-router serve "$@"
