"""Settings: defaults, key spellings, validation, atomic saves, damaged config files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from queuectl.domain.config import Settings, normalize_key, parse_value
from queuectl.domain.errors import ConfigError
from queuectl.host.config_file import CONFIG_FILE, load_settings, save_settings, update_setting


def test_defaults_without_a_config_file(home: Path) -> None:
    settings = load_settings(home)
    assert settings == Settings()
    assert settings.max_retries == 3
    assert settings.backoff_base == 2
    assert settings.job_timeout is None
    assert not (home / CONFIG_FILE).exists()


def test_to_dict_has_snake_case_keys() -> None:
    assert set(Settings().to_dict()) == {
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


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("max-retries", "max_retries"),
        ("max_retries", "max_retries"),
        ("backoff-base", "backoff_base"),
        ("backoff_base", "backoff_base"),
        ("job-timeout", "job_timeout"),
        (" lease-seconds ", "lease_seconds"),
    ],
)
def test_keys_in_kebab_or_snake_case(key: str, name: str) -> None:
    assert normalize_key(key) == name


@pytest.mark.parametrize(
    "key", ["retries", "max retries", "MAX_RETRIES", "", "to_dict", "__slots__"]
)
def test_unknown_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="unknown setting") as caught:
        normalize_key(key)
    assert caught.value.exit_code == 2
    assert "max-retries" in str(caught.value)  # it lists the known keys


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("max_retries", "5", 5),
        ("max_retries", "0", 0),
        ("backoff_base", "3", 3.0),
        ("backoff_base", "1", 1.0),
        ("backoff_base", "1.5", 1.5),
        ("job_timeout", "none", None),
        ("job_timeout", "30", 30.0),
        ("kill_grace", "0", 0.0),
        ("lease_seconds", "0.5", 0.5),
    ],
)
def test_values_parse_from_the_command_line(name: str, text: str, value: object) -> None:
    assert parse_value(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("max_retries", "-1"),
        ("max_retries", "2.5"),
        ("max_retries", "three"),
        ("max_retries", "true"),
        ("max_retries", "none"),
        ("backoff_base", "0.5"),
        ("backoff_base", "0"),
        ("backoff_base", "-2"),
        ("backoff_base", "nan"),
        ("backoff_base", "1e999"),
        ("backoff_base", "false"),
        ("lease_seconds", "0"),
        ("poll_interval", "-1"),
        ("job_timeout", "0"),
        ("kill_grace", "-0.1"),
    ],
)
def test_invalid_values_are_config_errors(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=name.replace("_", "-")):
        parse_value(name, text)


def test_save_then_load_round_trips(home: Path) -> None:
    settings = Settings(max_retries=5, backoff_base=3, job_timeout=12.5)
    save_settings(home, settings)
    assert load_settings(home) == settings
    assert json.loads((home / CONFIG_FILE).read_text())["max_retries"] == 5


def test_save_is_private_and_leaves_no_temporary_files(home: Path) -> None:
    for retries in range(3):
        save_settings(home, Settings(max_retries=retries))
    assert [p.name for p in home.iterdir()] == [CONFIG_FILE]
    assert stat.S_IMODE((home / CONFIG_FILE).stat().st_mode) == 0o600


def test_update_setting_saves_one_value_and_keeps_the_others(home: Path) -> None:
    update_setting(home, "backoff-base", "3")
    update_setting(home, "max_retries", "5")
    assert load_settings(home) == Settings(max_retries=5, backoff_base=3)


def test_a_bad_update_changes_nothing(home: Path) -> None:
    update_setting(home, "max-retries", "5")
    before = (home / CONFIG_FILE).read_bytes()
    with pytest.raises(ConfigError):
        update_setting(home, "max-retries", "-5")
    with pytest.raises(ConfigError):
        update_setting(home, "no-such-key", "1")
    assert (home / CONFIG_FILE).read_bytes() == before
    assert [p.name for p in home.iterdir()] == [CONFIG_FILE]


def test_a_bad_first_update_creates_no_file(home: Path) -> None:
    with pytest.raises(ConfigError):
        update_setting(home, "backoff-base", "0")
    assert list(home.iterdir()) == []


def test_config_file_may_use_kebab_keys(home: Path) -> None:
    (home / CONFIG_FILE).write_text('{"max-retries": 7, "backoff_base": 4}')
    assert load_settings(home) == Settings(max_retries=7, backoff_base=4)


@pytest.mark.parametrize(
    "text",
    ["", "{", "not json", '{"max_retries": 3,}', "\xff\xfe"],
)
def test_corrupt_config_is_a_config_error(home: Path, text: str) -> None:
    (home / CONFIG_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings(home)


@pytest.mark.parametrize("text", ["[]", "3", '"max_retries"', "null"])
def test_non_object_config_is_a_config_error(home: Path, text: str) -> None:
    (home / CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        load_settings(home)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"colour": "blue"}, "unknown setting"),
        ({"max_retries": -1}, "max-retries"),
        ({"backoff_base": "2"}, "backoff-base"),
    ],
)
def test_bad_keys_or_values_in_the_file_are_config_errors(
    home: Path, data: dict[str, object], problem: str
) -> None:
    (home / CONFIG_FILE).write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=problem) as caught:
        load_settings(home)
    assert str(home / CONFIG_FILE) in str(caught.value)


def test_unreadable_config_is_a_config_error(home: Path) -> None:
    (home / CONFIG_FILE).mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(home)


def test_unwritable_home_is_a_config_error_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match="cannot write"):
        save_settings(missing, Settings())
    assert not missing.exists()


def test_a_save_that_fails_midway_keeps_the_old_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_settings(home, Settings(max_retries=1))
    before = (home / CONFIG_FILE).read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("queuectl.host.config_file.os.fsync", full_disk)
    with pytest.raises(ConfigError, match="No space left"):
        save_settings(home, Settings(max_retries=2))
    assert (home / CONFIG_FILE).read_bytes() == before
    assert [p.name for p in home.iterdir()] == [CONFIG_FILE]
