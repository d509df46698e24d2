"""`loopy serve` that cannot start says why, naming the store or broker by its URL
with the password masked, and exits 1 (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SECRET = "s3cret-Pa55"

pytestmark = pytest.mark.timeout(120)


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOOPY_")}
    environ.update(
        {
            "LOOPY_DATA_DIR": str(tmp_path),
            "LOOPY_HTTP_PORT": "0",
            "LOOPY_GRPC_PORT": "0",
            "LOOPY_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=90,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_unreachable_database_is_named_with_the_password_masked(tmp_path: Path) -> None:
    url = f"postgresql://loopy:{SECRET}@127.0.0.1:1/loopy"
    result = serve(tmp_path, LOOPY_DATABASE_URL=url)
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("loopy serve: cannot open the metadata store at ")
    assert "postgresql://loopy:***@127.0.0.1:1/loopy" in line and "LOOPY_DATABASE_URL" in line
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_unreachable_broker_is_named_with_the_password_masked(tmp_path: Path) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:1/0"
    result = serve(tmp_path, LOOPY_BROKER_URL=url)
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("loopy serve: cannot reach the broker at redis://:***@127.0.0.1:1/0")
    assert "LOOPY_BROKER_URL" in line
    assert SECRET not in result.stderr + result.stdout
