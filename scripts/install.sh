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

# bubblewrap seals agent code (trainer/runner/sandbox.py); a worker without it refuses to
# train. Installed here when missing: as root with apt-get; otherwise say how.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq bubblewrap
  else
    echo "bubblewrap (bwrap) is missing: workers will refuse to train (SANDBOX_UNAVAILABLE)." >&2
    echo "Install it as root: sudo apt-get install bubblewrap (dnf/yum: bubblewrap," >&2
    echo "apk: bubblewrap), or point LOOPY_SANDBOX_BWRAP at a bwrap executable." >&2
  fi
fi
