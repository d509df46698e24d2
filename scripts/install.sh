#!/usr/bin/env bash
# Create .venv and install Loopy with its dev tools. torch is pinned to the CPU
# build 2.13.0 first (constraints.txt): a looser spec pulls gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -c constraints.txt "torch==2.13.0"
python -m pip install --quiet -c constraints.txt -e '.[dev]'
