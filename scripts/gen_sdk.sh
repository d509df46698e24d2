#!/usr/bin/env bash
# Generate the Python SDK (clients/python/loopy_client) from the HTTP app's
# OpenAPI document. The document is built from service.http.app.create_app with
# an in-memory core, so no server needs to run; it is committed next to the SDK
# as clients/python/openapi.json. With a directory as $1, writes openapi.json
# and loopy_client/ there instead (used by scripts/check_sdk.sh).
# Needs the dev extra (openapi-python-client, ruff).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || { [ -f .venv/bin/activate ] && . .venv/bin/activate; }
OUT_DIR="${1:-clients/python}"
mkdir -p "$OUT_DIR"

LOOPY_SDK_SPEC="$OUT_DIR/openapi.json" python - <<'PY'
import json
import os

import msgspec

import structlog

from service.domain.service import Loopy
from service.http.app import create_app
from service.settings import Settings
from service.stores import open_metadata_store
from tests.support.fakes import MemoryArtifactStore, RecordingDispatcher

# The schema does not depend on the stores; an empty in-memory core is enough.
core = Loopy(open_metadata_store("sqlite://"), MemoryArtifactStore(), RecordingDispatcher())
# Through msgspec first: examples are msgspec.Raw JSON, which the json module can't encode.
schema = json.loads(msgspec.json.encode(create_app(core, Settings()).openapi_schema.to_schema()))

# Byte responses (the PNG chart, artifacts) are declared as plain `type: string`;
# mark them binary so the generator returns bytes (a File), not a mistyped str.
for operations in schema["paths"].values():
    for operation in operations.values():
        for response in operation.get("responses", {}).values():
            for media_type, body in response.get("content", {}).items():
                binary = media_type.startswith("image/") or media_type == "application/octet-stream"
                if binary and body.get("schema") == {"type": "string"}:
                    body["schema"] = {"type": "string", "format": "binary"}
with open(os.environ["LOOPY_SDK_SPEC"], "w", encoding="utf-8") as f:
    json.dump(schema, f, indent=2, sort_keys=True, ensure_ascii=False)
    f.write("\n")
PY

openapi-python-client generate \
  --path "$OUT_DIR/openapi.json" \
  --output-path "$OUT_DIR/loopy_client" \
  --config clients/python/openapi-config.yaml \
  --meta none \
  --overwrite \
  --fail-on-warning
