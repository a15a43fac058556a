#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/wire -x).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -eq 0 ]]; then
  scripts/setup.sh --with-peers
else
  scripts/setup.sh
fi
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python -m pytest "$@"
