"""Where a client finds Loopy when nobody said: LOOPY_URL / LOOPY_API_KEY first,
else the service that `loopy up` / `loopy serve` runs on this machine's data dir.

The data-dir rule is the server's (service/settings.py: LOOPY_DATA_DIR, else
$XDG_DATA_HOME/loopy, else ~/.local/share/loopy); a test keeps the two equal.
A running API writes `run/api.json` there (its URL and pid) and `loopy up`
writes the admin key to `admin.key`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
ENDPOINT_FILE = Path("run") / "api.json"
ADMIN_KEY_FILE = "admin.key"


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("LOOPY_DATA_DIR"):
        return Path(env["LOOPY_DATA_DIR"])
    xdg = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(xdg) / "loopy"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_endpoint(data_dir: Path) -> dict[str, object] | None:
    """The record of the API serving this data dir, if its process is alive."""
    try:
        record = json.loads((data_dir / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not pid_alive(int(record.get("pid", 0) or 0)):
        return None
    return record


@dataclass(frozen=True)
class Target:
    """Where to connect and with which key, and where each came from (for messages)."""

    url: str
    api_key: str
    url_from: str
    key_from: str
    data_dir: Path


def discover(environ: dict[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    data_dir = default_data_dir(env)
    record = running_endpoint(data_dir)
    if env.get("LOOPY_URL"):
        url, url_from = env["LOOPY_URL"], "LOOPY_URL"
    elif record and record.get("http_url"):
        url, url_from = str(record["http_url"]), str(data_dir / ENDPOINT_FILE)
    else:
        host = env.get("LOOPY_HTTP_HOST") or "127.0.0.1"
        port = env.get("LOOPY_HTTP_PORT") or "8000"
        url, url_from = f"http://{host}:{port}", "the default (no LOOPY_URL, no running `loopy up`)"
    key, key_from = env.get("LOOPY_API_KEY", ""), "LOOPY_API_KEY"
    if not key:
        key_path = data_dir / ADMIN_KEY_FILE
        key_from = str(key_path)
        try:
            key = key_path.read_text().strip()
        except OSError:
            key = ""
    return Target(
        url=url.rstrip("/"), api_key=key, url_from=url_from, key_from=key_from, data_dir=data_dir
    )
