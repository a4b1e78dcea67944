"""Enqueue input: parse and validate job specs before anything is stored."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from queuectl.domain import limits
from queuectl.domain.durations import parse_duration
from queuectl.domain.errors import DuplicateJob, InvalidInput
from queuectl.domain.fields import (
    check_cwd,
    check_env,
    check_on_conflict,
    check_retry_on,
    check_unique_key,
    type_name,
)

__all__ = [
    "JITTER_MODES",
    "JobSpec",
    "iter_lines",
    "parse_json",
    "parse_lines",
    "parse_spec",
    "parse_time",
    "validate_job_id",
    "validate_queue",
]

# Ids end up in file names (logs, sockets) and shell variables: keep them boring.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_QUEUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_RETRIES_LIMIT = limits.MAX_RETRIES
JITTER_MODES = ("none", "full")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated request to enqueue one job; unset fields take the config defaults."""

    command: str
    id: str | None = None
    max_retries: int | None = None
    timeout: float | None = None
    priority: int = 0
    queue: str = "default"
    #: When the job becomes runnable: an aware datetime, or a delay in seconds from now.
    run_at: datetime | None = None
    delay: float | None = None
    #: Ids of jobs that must complete before this one runs.
    after: tuple[str, ...] = ()
    backoff_base: float | None = None
    backoff_max: float | None = None
    backoff_jitter: str | None = None
    #: The absolute directory to run in (None: the runner's) and variables to set.
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    #: Exit codes worth a retry (None: the ``retry-on`` config default, if any).
    retry_on: tuple[int, ...] | None = None
    #: At most one live job per key; ``on_conflict`` says what a second enqueue does.
    unique_key: str | None = None
    on_conflict: str = "ignore"

    def __post_init__(self) -> None:
        _check_command(self.command)
        if self.id is not None:
            validate_job_id(self.id)
        if self.max_retries is not None:
            _check_int("max_retries", self.max_retries, 0, MAX_RETRIES_LIMIT)
        if self.timeout is not None:
            _check_seconds("timeout", self.timeout, low=0, inclusive=False)
        if self.priority != 0 or type(self.priority) is not int:  # bulk input: mostly 0
            _check_int("priority", self.priority, limits.PRIORITY_MIN, limits.PRIORITY_MAX)
        if self.queue != "default":
            validate_queue(self.queue)
        if self.run_at is not None and self.delay is not None:
            raise InvalidInput("give 'run_at' or 'delay', not both")
        if self.run_at is not None and (
            not isinstance(self.run_at, datetime) or self.run_at.utcoffset() is None
        ):
            raise InvalidInput("'run_at' must be a time with a UTC offset")
        if self.run_at is not None:
            _check_run_at(self.run_at)
        if self.delay is not None:
            _check_seconds("delay", self.delay, low=0, inclusive=True)
        if not isinstance(self.after, tuple):
            raise InvalidInput("'after' must be a list of job ids")
        for job_id in self.after:
            validate_job_id(job_id)
        if self.id is not None and self.id in self.after:
            raise InvalidInput(f"job {self.id!r} cannot run after itself")
        if self.backoff_base is not None:
            _check_backoff_base(self.backoff_base)
        if self.backoff_max is not None:
            _check_seconds("backoff_max", self.backoff_max, low=0, inclusive=False)
        if self.backoff_jitter is not None and self.backoff_jitter not in JITTER_MODES:
            raise InvalidInput(f"'backoff_jitter' must be one of {', '.join(JITTER_MODES)}")
        if self.cwd is not None:
            check_cwd(self.cwd)
        if self.env is not None:
            object.__setattr__(self, "env", check_env(self.env))
        if self.retry_on is not None:
            object.__setattr__(self, "retry_on", check_retry_on(self.retry_on))
        if self.unique_key is not None:
            check_unique_key(self.unique_key)
        if self.on_conflict != "ignore":
            check_on_conflict(self.on_conflict)


_FIELDS = frozenset(JobSpec.__dataclass_fields__)


def validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str):
        raise InvalidInput(f"'id' must be a string, not {type_name(job_id)}")
    if not _ID_RE.fullmatch(job_id):
        raise InvalidInput(
            f"invalid job id {job_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return job_id


def validate_queue(queue: object) -> str:
    if not isinstance(queue, str):
        raise InvalidInput(f"'queue' must be a string, not {type_name(queue)}")
    if not _QUEUE_RE.fullmatch(queue):
        raise InvalidInput(
            f"invalid queue name {queue!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return queue


def parse_time(value: object, what: str = "run_at") -> datetime:
    """An ISO 8601 time with a UTC offset (``2026-11-27T20:00:00Z``, ``…+02:00``)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what!r} must be an ISO 8601 string, not {type_name(value)}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{what!r} is not an ISO 8601 time: {value!r}") from None
    if moment.utcoffset() is None:
        raise InvalidInput(f"{what!r} needs a UTC offset, e.g. {value}Z or {value}+02:00")
    return moment


def _duration(name: str) -> Callable[[object], float]:
    def convert(value: object) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value  # range checks are the JobSpec's
        try:
            return parse_duration(value, repr(name))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    return convert


def _after(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"'after' must be a list of job ids, not {type_name(value)}")
    return tuple(value)


# How JSON values become field values; fields not listed are taken as they are.
_CONVERTERS: dict[str, Callable[[object], Any]] = {
    "run_at": parse_time,
    "delay": _duration("delay"),
    "timeout": _duration("timeout"),
    "backoff_max": _duration("backoff_max"),
    "after": _after,
}


def parse_spec(data: object) -> JobSpec:
    """Turn one decoded JSON value into a JobSpec, naming the first problem found."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"a job must be a JSON object, not {type_name(data)}")
    unknown = sorted(data.keys() - _FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(_FIELDS))})")
    if "command" not in data:
        raise InvalidInput("missing required field 'command'")
    if len(data) == 1:  # the common bulk line: {"command": …}
        return JobSpec(data["command"])
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None and key != "command":
            continue
        convert = _CONVERTERS.get(key)
        values[key] = value if convert is None else convert(value)
    if "queue" in values:
        validate_queue(values["queue"])
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
    for number, spec in iter_lines(lines):
        if spec.id is not None:
            if spec.id in seen:
                raise DuplicateJob(spec.id, f"line {number} repeats line {seen[spec.id]}")
            seen[spec.id] = number
        specs.append(spec)
    return specs


def iter_lines(lines: Iterable[str]) -> Iterator[tuple[int, JobSpec]]:
    """Parse JSON lines (blank ones skipped) one at a time, for inputs of any size:
    each job with the number of its line.

    A bad line raises InvalidInput naming its number. Unlike ``parse_lines`` it keeps
    nothing of the lines before: a repeated id is left to the store's unique index.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            spec = parse_json(line)
        except InvalidInput as exc:
            raise InvalidInput(f"line {number}: {exc}") from None
        yield number, spec


def _check_command(command: object) -> None:
    if not isinstance(command, str):
        raise InvalidInput(f"'command' must be a string, not {type_name(command)}")
    if not command.strip():
        raise InvalidInput("'command' must not be empty")
    if "\x00" in command:
        raise InvalidInput("'command' must not contain NUL characters")
    if not command.isascii():
        _check_encodable("command", command)
    # A character is at most 4 bytes in UTF-8: only long commands need measuring.
    if len(command) * 4 > limits.MAX_COMMAND_BYTES:
        size = len(command) if command.isascii() else len(command.encode("utf-8"))
        if size > limits.MAX_COMMAND_BYTES:
            raise InvalidInput(
                f"'command' is {size} bytes; the most a system runs as one argument is "
                f"{limits.MAX_COMMAND_BYTES} (put a long script in a file and run that)"
            )


def _check_encodable(name: str, text: str) -> None:
    # JSON's "\udc80" and argv bytes that are not UTF-8 (decoded with surrogateescape)
    # give lone surrogates, which no store can save: refuse them here, as bad input.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{name!r} must be valid UTF-8 text (bad character at position {exc.start})"
        ) from None


def _check_int(name: str, value: object, low: int, high: int) -> None:
    problem = limits.int_problem(value, low, high)
    if problem is not None:
        shown = _shown(value) if type(value) is int else type_name(value)
        raise InvalidInput(f"{name!r} {problem}, not {shown}")


def _check_seconds(name: str, value: object, *, low: float, inclusive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name!r} must be a number of seconds, not {type_name(value)}")
    problem = limits.duration_problem(value, low=low, inclusive=inclusive)
    if problem is not None:
        raise InvalidInput(f"{name!r} {problem}, not {_shown(value)}")


def _check_backoff_base(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"'backoff_base' must be a number, not {type_name(value)}")
    if not 1 <= value <= limits.MAX_BACKOFF_BASE:  # False for NaN too
        raise InvalidInput(
            f"'backoff_base' must be between 1 and {limits.MAX_BACKOFF_BASE:g}, not {_shown(value)}"
        )


def _check_run_at(moment: datetime) -> None:
    latest = datetime.now(UTC) + timedelta(seconds=limits.MAX_DURATION)
    try:
        in_bounds = limits.MIN_RUN_AT <= moment <= latest
    except OverflowError:  # an offset that moves it past the range of datetimes
        in_bounds = False
    if not in_bounds:
        raise InvalidInput(
            f"'run_at' must be between {limits.MIN_RUN_AT.year} and 10 years from now, "
            f"not {moment.isoformat()}"
        )


def _shown(value: object) -> str:
    """A number as given (shortened: it may have thousands of digits), else its type."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 24 else text[:20] + "…"
    return type_name(value)
