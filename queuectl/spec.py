"""Enqueue input: parse and validate job specs before anything is stored."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from queuectl.errors import DuplicateJob, InvalidInput

__all__ = ["JobSpec", "parse_json", "parse_lines", "parse_spec", "validate_job_id"]

# Ids end up in file names (logs, sockets) and shell variables: keep them boring.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_QUEUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_INT32 = 2**31
MAX_RETRIES_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated request to enqueue one job; unset fields take the config defaults."""

    command: str
    id: str | None = None
    max_retries: int | None = None
    timeout: float | None = None
    priority: int = 0
    queue: str = "default"

    def __post_init__(self) -> None:
        _check_command(self.command)
        if self.id is not None:
            validate_job_id(self.id)
        if self.max_retries is not None:
            _check_int("max_retries", self.max_retries, 0, MAX_RETRIES_LIMIT)
        if self.timeout is not None:
            _check_positive("timeout", self.timeout)
        _check_int("priority", self.priority, -_INT32, _INT32 - 1)
        if not isinstance(self.queue, str) or not _QUEUE_RE.fullmatch(self.queue):
            raise InvalidInput(
                f"invalid queue name {self.queue!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )


_FIELDS = tuple(JobSpec.__dataclass_fields__)


def validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str):
        raise InvalidInput(f"'id' must be a string, not {_type_name(job_id)}")
    if not _ID_RE.fullmatch(job_id):
        raise InvalidInput(
            f"invalid job id {job_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return job_id


def parse_spec(data: object) -> JobSpec:
    """Turn one decoded JSON value into a JobSpec, naming the first problem found."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"a job must be a JSON object, not {_type_name(data)}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(_FIELDS))})")
    if "command" not in data:
        raise InvalidInput("missing required field 'command'")
    values: dict[str, Any] = {k: v for k, v in data.items() if v is not None or k == "command"}
    if "queue" in values and not isinstance(values["queue"], str):
        raise InvalidInput(f"'queue' must be a string, not {_type_name(values['queue'])}")
    return JobSpec(**values)


def parse_json(text: str) -> JobSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError):
        # json raises these, not JSONDecodeError, for integers past Python's digit
        # limit and for deep nesting: user input all the same, never a traceback.
        raise InvalidInput("malformed JSON: a number too long or nesting too deep") from None
    return parse_spec(data)


def parse_lines(lines: Iterable[str]) -> list[JobSpec]:
    """Parse JSON lines (blank ones skipped), all of them before any is stored.

    A bad line raises InvalidInput and an id given twice raises DuplicateJob, both
    naming the line number.
    """
    specs: list[JobSpec] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            spec = parse_json(line)
        except InvalidInput as exc:
            raise InvalidInput(f"line {number}: {exc}") from None
        if spec.id is not None:
            if spec.id in seen:
                raise DuplicateJob(spec.id, f"line {number} repeats line {seen[spec.id]}")
            seen[spec.id] = number
        specs.append(spec)
    return specs


def _check_command(command: object) -> None:
    if not isinstance(command, str):
        raise InvalidInput(f"'command' must be a string, not {_type_name(command)}")
    if not command.strip():
        raise InvalidInput("'command' must not be empty")
    if "\x00" in command:
        raise InvalidInput("'command' must not contain NUL characters")
    try:
        command.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON "\\ud800") cannot be stored or passed to a shell.
        raise InvalidInput("'command' must be valid UTF-8 (it holds a lone surrogate)") from None


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name!r} must be an integer, not {_type_name(value)}")
    if not low <= value <= high:
        raise InvalidInput(f"{name!r} must be between {low} and {high}, not {value}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name!r} must be a number of seconds, not {_type_name(value)}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{name!r} must be a positive number of seconds, not {value}")


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
