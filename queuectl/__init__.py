"""queuectl: a background job queue for shell commands, on SQLite or PostgreSQL.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from typing import TYPE_CHECKING, Any

# Names are imported when first used (PEP 562): `import queuectl` stays cheap, and a
# CLI command pays only for what it touches.
_WHERE = {
    "ConfigError": "queuectl.domain.errors",
    "DuplicateJob": "queuectl.domain.errors",
    "EnqueueResult": "queuectl.api.queue",
    "Enqueued": "queuectl.api.queue",
    "DuplicateSchedule": "queuectl.domain.errors",
    "Execute": "queuectl.runner.executor",
    "Fire": "queuectl.domain.schedule",
    "InvalidInput": "queuectl.domain.errors",
    "InvalidState": "queuectl.domain.errors",
    "Job": "queuectl.domain.models",
    "JobEvent": "queuectl.runner.events",
    "JobNotFound": "queuectl.domain.errors",
    "JobSpec": "queuectl.domain.spec",
    "JobState": "queuectl.domain.models",
    "MemoryStore": "queuectl.store.memory",
    "Outcome": "queuectl.domain.models",
    "QueuectlError": "queuectl.domain.errors",
    "Queue": "queuectl.api.queue",
    "QueueInfo": "queuectl.domain.models",
    "RunStats": "queuectl.runner.events",
    "Runner": "queuectl.runner.lifecycle",
    "RunnerInfo": "queuectl.domain.models",
    "Schedule": "queuectl.domain.schedule",
    "ScheduleNotFound": "queuectl.domain.errors",
    "Settings": "queuectl.domain.config",
    "StopTimeout": "queuectl.runner.stopping",
    "Store": "queuectl.store",
    "StoreError": "queuectl.domain.errors",
    "UniqueConflict": "queuectl.domain.errors",
    "WaitTimeout": "queuectl.api.watching",
    "handle_signals": "queuectl.runner.signals",
    "open_store": "queuectl.store",
}

if TYPE_CHECKING:
    from queuectl.api.queue import Enqueued, EnqueueResult, Queue
    from queuectl.api.watching import WaitTimeout
    from queuectl.domain.config import Settings
    from queuectl.domain.errors import (
        ConfigError,
        DuplicateJob,
        DuplicateSchedule,
        InvalidInput,
        InvalidState,
        JobNotFound,
        QueuectlError,
        ScheduleNotFound,
        StoreError,
        UniqueConflict,
    )
    from queuectl.domain.models import Job, JobState, Outcome, QueueInfo, RunnerInfo
    from queuectl.domain.schedule import Fire, Schedule
    from queuectl.domain.spec import JobSpec
    from queuectl.runner.lifecycle import Execute, JobEvent, Runner, RunStats
    from queuectl.runner.signals import handle_signals
    from queuectl.runner.stopping import StopTimeout
    from queuectl.store import Store, open_store
    from queuectl.store.memory import MemoryStore


def __getattr__(name: str) -> Any:
    import importlib

    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'queuectl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ConfigError",
    "DuplicateJob",
    "DuplicateSchedule",
    "EnqueueResult",
    "Enqueued",
    "Execute",
    "Fire",
    "InvalidInput",
    "InvalidState",
    "Job",
    "JobEvent",
    "JobNotFound",
    "JobSpec",
    "JobState",
    "MemoryStore",
    "Outcome",
    "Queue",
    "QueueInfo",
    "QueuectlError",
    "RunStats",
    "Runner",
    "RunnerInfo",
    "Schedule",
    "ScheduleNotFound",
    "Settings",
    "StopTimeout",
    "Store",
    "StoreError",
    "UniqueConflict",
    "WaitTimeout",
    "handle_signals",
    "open_store",
]
