"""``config get`` and ``config set``: kebab or snake keys, validation, atomic saves."""

from __future__ import annotations

import pytest

from tests.acceptance.helpers import QueueCtl

SNAKE_KEYS = {
    "max_retries",
    "backoff_base",
    "lease_seconds",
    "job_timeout",
    "kill_grace",
    "poll_interval",
    "backoff_max",
    "backoff_jitter",
    "retention",
    "output_limit",
    "retry_on",
}


def test_config_get_prints_every_setting_with_defaults(qctl: QueueCtl) -> None:
    lines = qctl.ok("config", "get").splitlines()

    settings = dict(line.split(" = ") for line in lines)
    assert settings["max-retries"] == "3"
    assert settings["backoff-base"] == "2"
    assert set(settings) == {key.replace("_", "-") for key in SNAKE_KEYS}


def test_config_get_json_prints_an_object_with_snake_case_keys(qctl: QueueCtl) -> None:
    data = qctl.json("config", "get")

    assert set(data) == SNAKE_KEYS
    assert data["max_retries"] == 3
    assert data["backoff_base"] == 2


def test_seed_examples_config_set_max_retries_and_backoff_base(qctl: QueueCtl) -> None:
    assert qctl.ok("config", "set", "max-retries", "5") == "max-retries = 5\n"
    assert qctl.ok("config", "set", "backoff-base", "3") == "backoff-base = 3\n"

    data = qctl.json("config", "get")
    assert (data["max_retries"], data["backoff_base"]) == (5, 3)
    assert (qctl.cli.home / "config.json").is_file()


@pytest.mark.parametrize("key", ["max-retries", "max_retries"])
def test_config_get_key_prints_the_value_alone(qctl: QueueCtl, key: str) -> None:
    qctl.ok("config", "set", "max-retries", "7")

    assert qctl.ok("config", "get", key) == "7\n"


@pytest.mark.parametrize(("key", "shown"), [("backoff_base", "1.5"), ("poll-interval", "0.25s")])
def test_config_set_accepts_kebab_and_snake_keys(qctl: QueueCtl, key: str, shown: str) -> None:
    qctl.ok("config", "set", key, shown)

    assert qctl.ok("config", "get", key.replace("_", "-")) == f"{shown}\n"
    assert qctl.ok("config", "get", key.replace("-", "_")) == f"{shown}\n"


def test_config_get_unknown_key_exits_2(qctl: QueueCtl) -> None:
    message = qctl.fails(2, "config", "get", "colour")

    assert "colour" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("colour", "red", id="unknown-key"),
        pytest.param("max-retries", "-1", id="negative-retries"),
        pytest.param("max-retries", "1.5", id="fractional-retries"),
        pytest.param("max-retries", "many", id="word-retries"),
        pytest.param("max-retries", "true", id="boolean-retries"),
        pytest.param("backoff-base", "0.5", id="base-below-1"),
        pytest.param("backoff-base", "-2", id="negative-base"),
        pytest.param("backoff-base", "nan", id="nan-base"),
        pytest.param("backoff_base", "fast", id="word-base"),
    ],
)
def test_bad_config_set_exits_2_and_leaves_config_json_unchanged(
    qctl: QueueCtl, key: str, value: str
) -> None:
    path = qctl.cli.home / "config.json"
    qctl.ok("config", "set", "max-retries", "4")
    before = path.read_bytes()

    message = qctl.fails(2, "config", "set", key, value)

    assert key in message or key.replace("_", "-") in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in qctl.cli.home.iterdir() if p.name.startswith(".config")) == []


def test_bad_config_set_on_a_fresh_home_creates_no_config_json(qctl: QueueCtl) -> None:
    qctl.fails(2, "config", "set", "max-retries", "-1")

    assert not (qctl.cli.home / "config.json").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "not valid JSON", id="malformed"),
        pytest.param("[1, 2]", "JSON object", id="array"),
        pytest.param('{"max_retries": -3}', "max-retries", id="bad-value"),
    ],
)
def test_corrupt_config_json_gives_a_clear_error_without_traceback(
    qctl: QueueCtl, content: str, problem: str
) -> None:
    path = qctl.cli.home / "config.json"
    path.write_text(content)

    message = qctl.fails(2, "config", "get")

    assert "config.json" in message
    assert problem in message


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("config", "set", "max-retries", "2"), id="config-set"),
        pytest.param(("enqueue", '{"command": "true"}'), id="enqueue"),
        pytest.param(("worker", "start", "--burst"), id="worker-start"),
        pytest.param(("status",), id="status"),
    ],
)
def test_corrupt_config_json_stops_other_commands_and_changes_nothing(
    qctl: QueueCtl, args: tuple[str, ...]
) -> None:
    path = qctl.cli.home / "config.json"
    path.write_text("{not json")

    message = qctl.fails(2, *args)

    assert "config.json" in message
    assert path.read_text() == "{not json"
    assert qctl.jobs() == []
