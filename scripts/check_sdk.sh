#!/usr/bin/env bash
# Drift check for CI: regenerate the OpenAPI document and the Python SDK into a
# temporary directory (scripts/gen_sdk.sh) and compare them with the committed
# clients/python/openapi.json and clients/python/loopy_client.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/gen_sdk.sh "$tmp" >/dev/null

status=0
if ! diff -u clients/python/openapi.json "$tmp/openapi.json"; then
  echo "clients/python/openapi.json differs from the HTTP app's OpenAPI document" >&2
  status=1
fi
if ! diff -r -u -x __pycache__ clients/python/loopy_client "$tmp/loopy_client"; then
  echo "clients/python/loopy_client differs from what the OpenAPI document generates" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "the SDK is out of date with the HTTP API: run scripts/gen_sdk.sh and commit the result" >&2
  exit 1
fi
echo "generated SDK: up to date"
