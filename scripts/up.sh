#!/usr/bin/env bash
# Install (if needed) and start Loopy on its embedded default: API on :8000 (HTTP) and
# :50051 (gRPC), one local worker, SQLite + local artifacts in the data dir that every
# `loopy` command uses (`loopy config` shows it; LOOPY_DATA_DIR or --data-dir moves it),
# demo harness and baseline track ready. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/loopy up "$@"
