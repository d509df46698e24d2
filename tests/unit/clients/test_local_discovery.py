"""Where clients find Loopy without flags: the same data dir as the server's commands,
the running API's record there, LOOPY_URL / LOOPY_API_KEY first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from loopy_sdk.local import default_data_dir, discover

from service.settings import load_settings, mask_url


@pytest.mark.parametrize(
    "env",
    [
        {"HOME": "/home/ada"},
        {"HOME": "/home/ada", "XDG_DATA_HOME": "/data/xdg"},
        {"HOME": "/home/ada", "XDG_DATA_HOME": "/data/xdg", "LOOPY_DATA_DIR": "/srv/loopy"},
    ],
)
def test_clients_and_server_agree_on_the_data_dir(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HOME", "XDG_DATA_HOME", "LOOPY_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert str(default_data_dir()) == load_settings().data_dir


def test_discover_prefers_variables_then_the_running_api(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "admin.key").write_text("loopy_admin\n")
    record = {"pid": os.getpid(), "http_url": "http://127.0.0.1:18000"}
    (tmp_path / "run" / "api.json").write_text(json.dumps(record))
    env = {"LOOPY_DATA_DIR": str(tmp_path)}

    found = discover(env)
    assert (found.url, found.api_key) == ("http://127.0.0.1:18000", "loopy_admin")

    chosen = discover({**env, "LOOPY_URL": "http://remote:9/", "LOOPY_API_KEY": "loopy_k"})
    assert (chosen.url, chosen.api_key, chosen.url_from) == (
        "http://remote:9",
        "loopy_k",
        "LOOPY_URL",
    )


def test_a_dead_api_record_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    dead = {"pid": 2**22 + 12345, "http_url": "http://127.0.0.1:18000"}  # above pid_max
    (tmp_path / "run" / "api.json").write_text(json.dumps(dead))
    found = discover({"LOOPY_DATA_DIR": str(tmp_path), "LOOPY_HTTP_PORT": "8123"})
    assert found.url == "http://127.0.0.1:8123" and found.api_key == ""


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://loopy:pw@db:5432/loopy", "postgresql://loopy:***@db:5432/loopy"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("amqp://guest@mq//", "amqp://guest@mq//"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("", ""),
    ],
)
def test_mask_url_hides_only_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown
