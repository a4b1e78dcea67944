"""The exceptions queuectl raises; the CLI maps each family to an exit code."""

from __future__ import annotations


class QueuectlError(Exception):
    """Root of every error queuectl raises on purpose.

    ``exit_code`` is what the CLI exits with: 1 when an operation failed,
    2 when the input or the usage was bad.
    """

    exit_code = 1


class InvalidInput(QueuectlError):
    """The caller's input is malformed; nothing was changed."""

    exit_code = 2


class ConfigError(QueuectlError):
    """A setting is unknown or invalid, or config.json cannot be read."""

    exit_code = 2


class JobNotFound(QueuectlError):
    """No job has the given id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class DuplicateJob(QueuectlError):
    """A job with this id exists already (or the id repeats in one bulk input)."""

    def __init__(self, job_id: str, detail: str = "a job with this id exists already") -> None:
        super().__init__(f"duplicate job id {job_id!r}: {detail}")
        self.job_id = job_id


class InvalidState(QueuectlError):
    """The job exists but is not in a state that allows the operation."""


class StoreError(QueuectlError):
    """The store cannot be opened or used (damaged file, newer schema, full disk...)."""


class StoreGone(StoreError):
    """The store a runner opened is no longer at its address (deleted or replaced)."""


class StaleClaim(QueuectlError):
    """A runner tried to record the outcome of a claim it no longer holds."""


class UniqueConflict(QueuectlError):
    """A live job holds the unique key already: an enqueue with ``on_conflict`` "error",
    or a finished job run again while another job holds its key."""

    def __init__(
        self, key: str, existing_id: str, detail: str | None = None, *, job_id: str | None = None
    ) -> None:
        text = f"unique key {key!r} is held by live job {existing_id!r}"
        super().__init__(text if detail is None else f"{text}: {detail}")
        self.key = key
        self.existing_id = existing_id
        #: The job refused, when it was being enqueued.
        self.job_id = job_id


class ScheduleNotFound(QueuectlError):
    """No schedule has the given name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name


class DuplicateSchedule(QueuectlError):
    """A schedule with this name exists already (``--replace`` updates it)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a schedule named {name!r} exists already (--replace updates it)")
        self.name = name
