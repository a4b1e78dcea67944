"""Bounds (``domain.limits``): every numeric job field and config key, the wrong types
nothing is coerced from, and the forms ``config get`` shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queuectl.domain import limits
from queuectl.domain.config import Settings, display_value, with_setting
from queuectl.domain.durations import format_seconds, format_size, parse_duration, parse_size
from queuectl.domain.errors import ConfigError, InvalidInput
from queuectl.domain.spec import parse_json, parse_spec

TOP = limits.MAX_DURATION
YEARS_11 = 11 * 365 * 86400

#: For every numeric job field: values at its bounds (accepted) and past them (refused).
JOB_FIELDS: dict[str, tuple[list[Any], list[Any]]] = {
    "delay": ([0, TOP, "3650d"], [-1, TOP + 1, "3651d", "9999999999d", 1e308, 10**400]),
    "timeout": ([1e-3, TOP, "3650d"], [0, -1, TOP + 1, "3651d", 1e308]),
    "max_retries": ([0, limits.MAX_RETRIES], [-1, limits.MAX_RETRIES + 1, 10**30]),
    "priority": (
        [limits.PRIORITY_MIN, limits.PRIORITY_MAX],
        [limits.PRIORITY_MIN - 1, limits.PRIORITY_MAX + 1],
    ),
    "backoff_base": ([1, limits.MAX_BACKOFF_BASE], [0.5, limits.MAX_BACKOFF_BASE + 1, 1e308]),
    "backoff_max": ([1e-3, TOP, "3650d"], [0, TOP + 1, "3651d", 1e308]),
}


def _cases(accepted: bool) -> list[Any]:
    return [
        pytest.param(name, value, id=f"{name}={str(value)[:20]}")
        for name, (good, bad) in JOB_FIELDS.items()
        for value in (good if accepted else bad)
    ]


@pytest.mark.parametrize(("name", "value"), _cases(accepted=True))
def test_a_job_field_at_its_bound_is_accepted(name: str, value: Any) -> None:
    spec = parse_spec({"command": "true", name: value})
    assert getattr(spec, name) is not None


@pytest.mark.parametrize(("name", "value"), _cases(accepted=False))
def test_a_job_field_past_its_bound_is_refused_naming_it(name: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=f"^'{name}' must be"):
        parse_spec({"command": "true", name: value})


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("name", ["delay", "timeout", "backoff_base", "backoff_max"])
def test_non_finite_numbers_are_refused_for_every_float_field(name: str, text: str) -> None:
    with pytest.raises(InvalidInput, match=f"^'{name}' must be"):
        parse_json(f'{{"command": "true", "{name}": {text}}}')


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_run_at_is_bounded_to_the_epoch_and_ten_years_from_now() -> None:
    now = datetime.now(UTC)
    for moment in ("1970-01-01T00:00:00Z", _iso(now + timedelta(days=3649))):
        assert parse_spec({"command": "true", "run_at": moment}).run_at is not None
    for moment in (
        "1969-12-31T23:59:59Z",
        _iso(now + timedelta(seconds=YEARS_11)),
        "9999-12-31T23:59:59-05:00",  # past the last datetime once in UTC
        "0001-01-01T00:00:00+05:00",  # before the first one
    ):
        with pytest.raises(InvalidInput, match=r"^'run_at' must be between 1970 and 10 years"):
            parse_spec({"command": "true", "run_at": moment})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("after", "a", "'after' must be a list of job ids, not a string"),
        ("after", {"a": 1}, "'after' must be a list"),
        ("after", ["a", 1], "'id' must be a string, not a number"),
        ("after", [["a"]], "'id' must be a string, not an array"),
        ("max_retries", True, "'max_retries' must be an integer, not a boolean"),
        ("max_retries", 2.0, "'max_retries' must be an integer, not a number"),
        ("max_retries", "2", "'max_retries' must be an integer, not a string"),
        ("priority", False, "'priority' must be an integer, not a boolean"),
        ("priority", 1.0, "'priority' must be an integer, not a number"),
        ("priority", "1", "'priority' must be an integer, not a string"),
        ("timeout", True, "'timeout' must be a number of seconds or a duration"),
        ("timeout", [5], "'timeout' must be a number of seconds or a duration"),
        ("delay", False, "'delay' must be a number of seconds or a duration"),
        ("delay", {"s": 1}, "'delay' must be a number of seconds or a duration"),
        ("backoff_base", True, "'backoff_base' must be a number, not a boolean"),
        ("backoff_base", "2", "'backoff_base' must be a number, not a string"),
        ("backoff_max", True, "'backoff_max' must be a number of seconds or a duration"),
        ("backoff_jitter", ["full"], "'backoff_jitter' must be one of"),
        ("backoff_jitter", True, "'backoff_jitter' must be one of"),
        ("run_at", 1700000000, "'run_at' must be an ISO 8601 string, not a number"),
        ("id", 5, "'id' must be a string, not a number"),
        ("queue", ["q"], "'queue' must be a string, not an array"),
        ("command", ["echo", "hi"], "'command' must be a string, not an array"),
    ],
)
def test_wrong_types_are_refused_not_coerced(name: str, value: Any, message: str) -> None:
    data = {"command": "true", name: value}
    with pytest.raises(InvalidInput) as caught:
        parse_json(json.dumps(data))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_command_up_to_the_argument_limit_is_accepted_one_byte_more_is_not() -> None:
    assert parse_spec({"command": "x" * limits.MAX_COMMAND_BYTES}).command
    with pytest.raises(InvalidInput, match=r"^'command' is 131072 bytes; the most .* is 131071"):
        parse_spec({"command": "x" * (limits.MAX_COMMAND_BYTES + 1)})


def test_the_command_limit_counts_utf8_bytes_not_characters() -> None:
    characters = limits.MAX_COMMAND_BYTES // 2 + 1  # each "é" is 2 bytes
    with pytest.raises(InvalidInput, match=r"^'command' is 131072 bytes"):
        parse_spec({"command": "é" * characters})


#: Every config key: a value at its bound (accepted) and one past it (refused).
CONFIG_KEYS: dict[str, tuple[list[str], list[str]]] = {
    "max-retries": (["0", "1000"], ["-1", "1001", "1e3", "true"]),
    "backoff-base": (["1", "1000"], ["0.5", "1001", "nan", "inf", "true"]),
    "backoff-max": (["0.001", "3650d"], ["0", "3651d", "1e12", "nan", "inf"]),
    "lease-seconds": (["0.001", "3650d"], ["0", "3651d", "1e12", "nan"]),
    "job-timeout": (["none", "0.001", "3650d"], ["0", "3651d", "1e12", "nan"]),
    "kill-grace": (["0", "3650d"], ["-1", "3651d", "1e12", "nan"]),
    "poll-interval": (["0.001", "3650d"], ["0", "3651d", "1e12", "nan"]),
    "output-limit": (["0", "64MiB"], ["-1", "65MiB", "1g", "1.5"]),
    "retry-on": (["75", "75,111", "0,255", "none"], ["256", "-1", "x", "75,abc", "1.5"]),
    "retention": (["completed=3650d", "dead=1s"], ["completed=3651d", "dead=1e12", "dead=0"]),
    "backoff-jitter": (["none", "full"], ["half", "1"]),
}


def test_every_setting_has_bound_cases() -> None:
    keys = {name.replace("_", "-") for name in Settings().to_dict()}
    assert keys == set(CONFIG_KEYS)


@pytest.mark.parametrize(
    ("key", "text"),
    [pytest.param(k, t, id=f"{k}={t}") for k, (good, _) in CONFIG_KEYS.items() for t in good],
)
def test_a_setting_at_its_bound_is_accepted(key: str, text: str) -> None:
    with_setting(Settings(), key, text)


@pytest.mark.parametrize(
    ("key", "text"),
    [pytest.param(k, t, id=f"{k}={t}") for k, (_, bad) in CONFIG_KEYS.items() for t in bad],
)
def test_a_setting_past_its_bound_is_refused_naming_it(key: str, text: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key.split('-')[0]}"):
        with_setting(Settings(), key, text)


@pytest.mark.parametrize(
    ("key", "field", "values"),
    [
        ("max-retries", "max_retries", [0, 1000, 1001, -1]),
        ("backoff-base", "backoff_base", [1, 1000, 1001, 0.5]),
        ("backoff-max", "backoff_max", [0.001, TOP, TOP + 1, 0]),
        ("job-timeout", "timeout", [0.001, TOP, TOP + 1, 0]),
    ],
)
def test_a_default_and_the_job_field_it_stands_for_share_their_bounds(
    key: str, field: str, values: list[float]
) -> None:
    for value in values:
        try:
            with_setting(Settings(), key, repr(value))
        except ConfigError:
            as_default = False
        else:
            as_default = True
        try:
            parse_spec({"command": "true", field: value})
        except InvalidInput:
            in_a_job = False
        else:
            in_a_job = True
        assert as_default == in_a_job, (key, value)


@pytest.mark.parametrize(
    "seconds", [0, 0.001, 0.25, 1, 59.5, 60, 90, 3600, 5400, 86400, 7 * 86400 + 1.5, TOP]
)
def test_durations_are_shown_exactly_in_a_form_that_parses_back(seconds: float) -> None:
    assert parse_duration(format_seconds(seconds)) == seconds


@pytest.mark.parametrize("size", [0, 1, 1000, 1024, 1536, 1024**2, 64 * 1024**2, 1024**3])
def test_sizes_are_shown_in_a_form_that_parses_back(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_config_text_shows_durations_and_sizes_that_config_set_takes_back() -> None:
    settings = Settings(backoff_max=5400.0, lease_seconds=0.5, output_limit=512 * 1024)
    shown = {name: display_value(name, v) for name, v in settings.to_dict().items()}
    assert shown["backoff_max"] == "1h30m"
    assert shown["lease_seconds"] == "0.5s"
    assert shown["kill_grace"] == "5s"
    assert shown["output_limit"] == "512KiB"
    assert shown["job_timeout"] == "none"
    assert shown["max_retries"] == "3"
    again = Settings()
    for name, text in shown.items():
        again = with_setting(again, name, text)
    assert again == settings


#: The sized job fields: values at their bounds (accepted) and just past them (refused).
_ENV_AT_SIZE = {"K": "v" * (limits.MAX_ENV_BYTES - 3)}  # "K=" + value + NUL
SIZED_FIELDS: dict[str, tuple[list[Any], list[Any]]] = {
    "cwd": (["/" + "d" * (limits.MAX_CWD_BYTES - 1)], ["/" + "d" * limits.MAX_CWD_BYTES]),
    "env": (
        [{f"K{i}": "" for i in range(limits.MAX_ENV_ENTRIES)}, _ENV_AT_SIZE],
        [
            {f"K{i}": "" for i in range(limits.MAX_ENV_ENTRIES + 1)},
            {"K": "v" * (limits.MAX_ENV_BYTES - 2)},
        ],
    ),
    "retry_on": ([[0, 255], list(range(256))], [[256], [-1], [*range(256), 0]]),
    "unique_key": (["k", "k" * limits.MAX_UNIQUE_KEY], ["", "k" * (limits.MAX_UNIQUE_KEY + 1)]),
}


def _sized(accepted: bool) -> list[Any]:
    return [
        pytest.param(name, value, id=f"{name}-{n}")
        for name, (good, bad) in SIZED_FIELDS.items()
        for n, value in enumerate(good if accepted else bad)
    ]


@pytest.mark.parametrize(("name", "value"), _sized(accepted=True))
def test_a_sized_job_field_at_its_bound_is_accepted(name: str, value: Any) -> None:
    spec = parse_spec({"command": "true", name: value})
    assert getattr(spec, name) is not None


@pytest.mark.parametrize(("name", "value"), _sized(accepted=False))
def test_a_sized_job_field_past_its_bound_is_refused_naming_it(name: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=f"^'{name}'"):
        parse_spec({"command": "true", name: value})
