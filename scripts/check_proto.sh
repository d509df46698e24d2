#!/usr/bin/env bash
# Proto checks for CI: `buf lint` (STANDARD, see buf.yaml) on proto/, `buf breaking`
# against main, and drift between proto/ and the committed stubs in
# service/grpc/gen (regenerated into a temporary directory with
# scripts/gen_proto.sh and compared file by file).
# buf comes from the npm registry (@bufbuild/buf), installed into ./node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION="1.75.0"
if [ ! -x node_modules/.bin/buf ] || [ "$(node_modules/.bin/buf --version)" != "$BUF_VERSION" ]; then
  npm install --no-save --no-package-lock --silent "@bufbuild/buf@${BUF_VERSION}"
fi
node_modules/.bin/buf lint
echo "buf lint: ok"

# Wire compatibility against the contract on main (FILE rules, see buf.yaml), once
# main has one. On main itself this compares the tree with its own last commit.
AGAINST_REF="${LOOPY_BUF_AGAINST:-main}"
if git rev-parse --verify --quiet "${AGAINST_REF}:buf.yaml" >/dev/null 2>&1; then
  node_modules/.bin/buf breaking --against ".git#ref=${AGAINST_REF}"
  echo "buf breaking (against ${AGAINST_REF}): ok"
else
  echo "buf breaking: skipped (${AGAINST_REF} has no buf.yaml yet)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/gen_proto.sh "$tmp/gen" >/dev/null
if ! diff -r -x __pycache__ "$tmp/gen" service/grpc/gen; then
  echo "service/grpc/gen is out of date with proto/: run scripts/gen_proto.sh" >&2
  exit 1
fi
echo "generated stubs: up to date"
