#!/usr/bin/env bash
# The test suite (what README calls "run the tests").
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
python -m pytest -q "$@"
