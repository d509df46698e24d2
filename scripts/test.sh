#!/usr/bin/env bash
# The test suite (what README calls "run the tests"). Installs first when .venv is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || bash scripts/install.sh
  . .venv/bin/activate
fi
python -m pytest -q "$@"
