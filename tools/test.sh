#!/usr/bin/env bash
# The README's second command: set up (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --test
exec .venv/bin/python -m pytest "$@"
