"""Checks of the job fields that say where and how a job runs, and when it may repeat.

``cwd`` and ``env`` place the command; ``retry_on`` limits which exits retry;
``unique_key`` and ``on_conflict`` keep one live job per key. Each check returns the
value as a job keeps it, or raises InvalidInput naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from queuectl.domain import limits
from queuectl.domain.errors import InvalidInput
from queuectl.domain.models import NO_ENV

__all__ = [
    "ON_CONFLICT_MODES",
    "check_cwd",
    "check_env",
    "check_on_conflict",
    "check_retry_on",
    "check_unique_key",
    "type_name",
]

#: What an enqueue does when a live job holds its unique key: "ignore" stores nothing
#: and answers with the job there (not an error), "error" fails the enqueue.
ON_CONFLICT_MODES = ("ignore", "error")


def type_name(value: object) -> str:
    """How a JSON value's type is named in error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _text(name: str, value: str) -> int:
    """The UTF-8 size of ``value``; InvalidInput for NUL or text no store can save."""
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters")
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{name} must be valid UTF-8 text (bad character at position {exc.start})"
        ) from None


def check_cwd(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'cwd' must be a string, not {type_name(value)}")
    if not value.startswith("/"):
        raise InvalidInput(f"'cwd' must be an absolute path, not {value[:200]!r}")
    size = _text("'cwd'", value)
    if size > limits.MAX_CWD_BYTES:
        raise InvalidInput(f"'cwd' is {size} bytes; the most is {limits.MAX_CWD_BYTES}")
    return value


def check_env(value: object) -> Mapping[str, str]:
    """A read-only copy of ``value``: string keys (no ``=``, not empty) to strings."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"'env' must be an object of strings, not {type_name(value)}")
    if not value:
        return NO_ENV
    if len(value) > limits.MAX_ENV_ENTRIES:
        raise InvalidInput(
            f"'env' has {len(value)} variables; the most is {limits.MAX_ENV_ENTRIES}"
        )
    total = 0
    for key, text in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("'env' keys must be non-empty strings")
        if "=" in key:
            raise InvalidInput(f"'env' key {key[:100]!r} must not contain '='")
        if not isinstance(text, str):
            raise InvalidInput(
                f"'env' value of {key[:100]!r} must be a string, not {type_name(text)}"
            )
        total += _text(f"'env' key {key[:100]!r}", key) + _text(
            f"'env' value of {key[:100]!r}", text
        )
        total += 2  # '=' and the terminating NUL
    if total > limits.MAX_ENV_BYTES:
        raise InvalidInput(f"'env' is {total} bytes; the most is {limits.MAX_ENV_BYTES}")
    return MappingProxyType(dict(value))


def check_retry_on(value: object) -> tuple[int, ...]:
    """The exit codes, sorted, each once."""
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"'retry_on' must be a list of exit codes, not {type_name(value)}")
    if len(value) > limits.MAX_RETRY_ON:
        raise InvalidInput(
            f"'retry_on' lists {len(value)} codes; the most is {limits.MAX_RETRY_ON}"
        )
    for code in value:
        problem = limits.int_problem(code, 0, 255)
        if problem is not None:
            shown = repr(code)[:24] if type(code) is int else type_name(code)
            raise InvalidInput(f"'retry_on' exit codes {problem}, not {shown}")
    return tuple(sorted(set(value)))


def check_unique_key(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'unique_key' must be a string, not {type_name(value)}")
    if not 1 <= len(value) <= limits.MAX_UNIQUE_KEY:
        raise InvalidInput(
            f"'unique_key' must be 1-{limits.MAX_UNIQUE_KEY} characters, not {len(value)}"
        )
    _text("'unique_key'", value)
    return value


def check_on_conflict(value: object) -> str:
    if value not in ON_CONFLICT_MODES:
        shown = repr(value)[:40] if isinstance(value, str) else type_name(value)
        raise InvalidInput(
            f"'on_conflict' must be one of {', '.join(ON_CONFLICT_MODES)}, not {shown}"
        )
    assert isinstance(value, str)
    return value
