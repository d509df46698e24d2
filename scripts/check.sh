#!/usr/bin/env bash
# Static checks: lint, format, types, proto lint and generated-code drift.
set -euo pipefail
cd "$(dirname "$0")/.."
LINTED="service trainer tests bench clients/cli.py clients/mcp clients/python/loopy_sdk"
ruff check $LINTED
ruff format --check $LINTED
mypy service trainer
MYPYPATH=clients/python mypy -p loopy_sdk
MYPYPATH=clients/python mypy --explicit-package-bases clients/mcp/server.py
bash scripts/check_proto.sh
bash scripts/check_sdk.sh
