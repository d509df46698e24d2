"""LOOPY_* variables become typed settings; a value that does not fit names its variable."""

from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings


def test_values_are_typed_by_their_field() -> None:
    settings = load_settings(
        {
            "LOOPY_HTTP_PORT": " 8123 ",
            "LOOPY_HEARTBEAT_TIMEOUT_S": "2.5",
            "LOOPY_S3_SECURE": "true",
            "LOOPY_DATA_DIR": "/srv/loopy",
            "LOOPY_BROKER_URL": "",  # empty: the default
        }
    )
    assert settings.http_port == 8123 and settings.heartbeat_timeout_s == 2.5
    assert settings.s3_secure is True and settings.data_dir == "/srv/loopy"
    assert settings.broker_url == ""


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("yes", True), ("On", True), ("TRUE", True), ("0", False), ("off", False)],
)
def test_booleans_take_the_usual_words(raw: str, value: bool) -> None:
    assert load_settings({"LOOPY_UNSAFE_NO_SANDBOX": raw}).unsafe_no_sandbox is value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOOPY_HTTP_PORT": "eighty"}, "LOOPY_HTTP_PORT='eighty': expected `int`"),
        ({"LOOPY_READY_CACHE_S": "soon"}, "LOOPY_READY_CACHE_S='soon': expected `float`"),
        ({"LOOPY_UNSAFE_NO_SANDBOX": "maybe"}, "LOOPY_UNSAFE_NO_SANDBOX='maybe': expected `bool`"),
        (
            {"LOOPY_WORKER_RUN_OPTIONS": "{not json"},
            "LOOPY_WORKER_RUN_OPTIONS must be a JSON object",
        ),
        (
            {"LOOPY_WORKER_RUN_OPTIONS": "[1, 2]"},
            "LOOPY_WORKER_RUN_OPTIONS='[1, 2]': expected `object`",
        ),
    ],
)
def test_a_value_that_does_not_fit_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)  # callers that catch ValueError still do


def test_worker_run_options_are_a_json_object() -> None:
    options = '{"model_dim": 32, "threads": 1}'
    settings = load_settings({"LOOPY_WORKER_RUN_OPTIONS": options})
    assert settings.worker_run_options == {"model_dim": 32, "threads": 1}
    assert load_settings({}).worker_run_options == {}


def test_overrides_win_over_the_environment() -> None:
    settings = load_settings({"LOOPY_HTTP_PORT": "9000"}, http_port=9001, log_level="warning")
    assert (settings.http_port, settings.log_level) == (9001, "warning")
