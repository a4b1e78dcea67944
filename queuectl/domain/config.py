"""Settings: their defaults, the validation of every value, and kebab/snake keys.

Reading and writing ``config.json`` is ``queuectl.host.config_file``'s job.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queuectl.domain import limits
from queuectl.domain.durations import format_seconds, format_size, parse_duration, parse_size
from queuectl.domain.errors import ConfigError, InvalidInput
from queuectl.domain.fields import check_retry_on

__all__ = [
    "Settings",
    "display_value",
    "normalize_key",
    "parse_retention",
    "parse_value",
    "settings_from_mapping",
    "with_setting",
]


@dataclass(frozen=True)
class Settings:
    #: Retries allowed after the first attempt, for jobs that do not say.
    max_retries: int = 3
    #: Failed attempt k waits ``min(backoff_max, backoff_base ** k)`` seconds.
    backoff_base: float = 2.0
    backoff_max: float = 3600.0
    #: ``none`` or ``full`` (a uniform draw between 0 and the delay).
    backoff_jitter: str = "none"
    #: How long a claim stays valid without a heartbeat from its runner.
    lease_seconds: float = 30.0
    #: Default per-job timeout in seconds; None means no timeout.
    job_timeout: float | None = None
    #: Seconds between SIGTERM and SIGKILL when a command must be stopped.
    kill_grace: float = 5.0
    #: Fallback poll period of an idle runner; wake-ups normally come sooner.
    poll_interval: float = 5.0
    #: How long finished jobs are kept, per state (``completed=7d,dead=30d``); None: forever.
    retention: str | None = None
    #: Bytes of output kept per stream of each attempt (head and tail); 0 keeps none.
    output_limit: int = 1024 * 1024
    #: Exit codes worth a retry, for jobs that do not say (``75,111``); None: any.
    retry_on: tuple[int, ...] | None = None

    @property
    def retention_seconds(self) -> dict[str, float]:
        return parse_retention(self.retention) if self.retention else {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _retries(name: str, value: object) -> int:
    # The same bounds as a job's own max_retries: a default no job may hold is no default.
    problem = limits.int_problem(value, 0, limits.MAX_RETRIES)
    if problem is not None:
        raise ConfigError(f"{_kebab(name)} {problem}, not {value!r}")
    assert isinstance(value, int)
    return value


def _backoff_base(name: str, value: object) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and 1 <= value <= limits.MAX_BACKOFF_BASE:  # type: ignore[operator]  # NaN: False
        return float(value)  # type: ignore[arg-type]
    raise ConfigError(
        f"{_kebab(name)} must be a number between 1 and {limits.MAX_BACKOFF_BASE:g}, not {value!r}"
    )


def _optional_seconds(name: str, value: object) -> float | None:
    return None if value is None else _seconds(name, value)


def _jitter(name: str, value: object) -> str:
    if value not in ("none", "full"):
        raise ConfigError(f"{_kebab(name)} must be none or full, not {value!r}")
    return str(value)


def _seconds(name: str, value: object, *, zero: bool = False) -> float:
    """A duration (seconds or ``90s``, ``5m``...) within the bounds of every duration."""
    try:
        seconds = parse_duration(value, _kebab(name))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    problem = limits.duration_problem(seconds, low=0, inclusive=zero)
    if problem is not None:
        raise ConfigError(f"{_kebab(name)} {problem}, not {value!r}")
    return seconds


_FINISHED = ("completed", "dead", "cancelled")


def parse_retention(text: str) -> dict[str, float]:
    """``completed=7d,dead=30d`` as seconds per finished state."""
    result = {}
    for part in text.split(","):
        state, sep, age = part.strip().partition("=")
        if not sep or state.strip() not in _FINISHED:
            raise ConfigError(
                f"retention must look like completed=7d,dead=30d (states: {', '.join(_FINISHED)})"
            )
        result[state.strip()] = _seconds("retention", age.strip())
    return result


def _retention(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"retention must be a string like completed=7d,dead=30d, not {value!r}")
    parse_retention(value)
    return value.replace(" ", "")


def _size(name: str, value: object) -> int:
    try:
        size = parse_size(value)
    except ValueError:
        raise ConfigError(
            f"{_kebab(name)} must be a size in bytes such as 1048576, 512k or 1MiB, not {value!r}"
        ) from None
    if size > limits.MAX_OUTPUT_LIMIT:
        raise ConfigError(
            f"{_kebab(name)} must be at most {format_size(limits.MAX_OUTPUT_LIMIT)}, not {value!r}"
        )
    return size


def _retry_on(name: str, value: object) -> tuple[int, ...] | None:
    """None, or exit codes as a list or as text (``75,111``; ``75`` alone)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    elif isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ConfigError(
                f"retry-on must be exit codes such as 75,111, not {value!r}"
            ) from None
    try:
        return check_retry_on(value)
    except InvalidInput as exc:
        raise ConfigError(str(exc).replace("'retry_on'", "retry-on")) from None


_VALIDATORS: dict[str, Callable[[str, object], Any]] = {
    "output_limit": _size,
    "max_retries": _retries,
    "backoff_base": _backoff_base,
    "backoff_max": _seconds,
    "backoff_jitter": _jitter,
    "retention": _retention,
    "lease_seconds": _seconds,
    "job_timeout": _optional_seconds,
    "kill_grace": lambda n, v: _seconds(n, v, zero=True),
    "poll_interval": _seconds,
    "retry_on": _retry_on,
}
assert set(_VALIDATORS) == {f.name for f in dataclasses.fields(Settings)}

#: Settings shown as durations and as sizes in text (JSON gives seconds and bytes).
_DURATIONS = frozenset(
    {"backoff_max", "lease_seconds", "job_timeout", "kill_grace", "poll_interval"}
)
_SIZES = frozenset({"output_limit"})


def display_value(name: str, value: object) -> str:
    """How text output shows a setting: the form ``config set`` takes back as it is."""
    if value is None:
        return "none"
    if name in _DURATIONS and isinstance(value, int | float):
        return format_seconds(value)
    if name in _SIZES and isinstance(value, int):
        return format_size(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def normalize_key(key: str) -> str:
    """Accept ``max-retries`` or ``max_retries``; raise ConfigError for unknown keys."""
    name = key.strip().replace("-", "_")
    if name not in _VALIDATORS:
        known = ", ".join(_kebab(k) for k in _VALIDATORS)
        raise ConfigError(f"unknown setting {key!r} (known: {known})")
    return name


def parse_value(name: str, text: str) -> Any:
    """Parse a command-line value for setting ``name`` (already normalized)."""
    raw: object
    lowered = text.strip().lower()
    if name == "backoff_jitter":
        raw = lowered
    elif lowered in ("none", "null", "off", ""):
        raw = None
    else:
        try:
            raw = json.loads(lowered)
        except json.JSONDecodeError:
            raw = text
    return _VALIDATORS[name](name, raw)


def settings_from_mapping(data: dict[str, object]) -> Settings:
    """Settings from a decoded ``config.json`` object; ConfigError names a bad key or value."""
    values = {}
    for key, value in data.items():
        name = normalize_key(str(key))
        values[name] = _VALIDATORS[name](name, value)
    return Settings(**values)


def with_setting(settings: Settings, key: str, text: str) -> Settings:
    """``settings`` with one value replaced, parsed and validated from the command line."""
    name = normalize_key(key)
    return dataclasses.replace(settings, **{name: parse_value(name, text)})
