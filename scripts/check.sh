#!/usr/bin/env bash
# Static checks: lint, format, types, proto lint and generated-code drift.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check service trainer tests bench
ruff format --check service trainer tests bench
mypy service trainer
bash scripts/check_proto.sh
