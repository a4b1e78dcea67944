"""queuectl: a background job queue for shell commands, on SQLite or PostgreSQL.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from typing import TYPE_CHECKING, Any

# Names are imported when first used (PEP 562): `import queuectl` stays cheap, and a
# CLI command pays only for what it touches.
_WHERE = {
    "ConfigError": "queuectl.errors",
    "DuplicateJob": "queuectl.errors",
    "Execute": "queuectl.slots",
    "InvalidInput": "queuectl.errors",
    "InvalidState": "queuectl.errors",
    "Job": "queuectl.models",
    "JobEvent": "queuectl.runstats",
    "JobNotFound": "queuectl.errors",
    "JobSpec": "queuectl.spec",
    "JobState": "queuectl.models",
    "MemoryStore": "queuectl.store.memory",
    "Outcome": "queuectl.models",
    "QueuectlError": "queuectl.errors",
    "Queue": "queuectl.api",
    "RunStats": "queuectl.runstats",
    "Runner": "queuectl.runner",
    "RunnerInfo": "queuectl.models",
    "Settings": "queuectl.config",
    "StopTimeout": "queuectl.stopping",
    "Store": "queuectl.store",
    "StoreError": "queuectl.errors",
    "WaitTimeout": "queuectl.watching",
    "handle_signals": "queuectl.signals",
    "open_store": "queuectl.store",
}

if TYPE_CHECKING:
    from queuectl.api import Queue
    from queuectl.config import Settings
    from queuectl.errors import (
        ConfigError,
        DuplicateJob,
        InvalidInput,
        InvalidState,
        JobNotFound,
        QueuectlError,
        StoreError,
    )
    from queuectl.models import Job, JobState, Outcome, RunnerInfo
    from queuectl.runner import Execute, JobEvent, Runner, RunStats
    from queuectl.signals import handle_signals
    from queuectl.spec import JobSpec
    from queuectl.stopping import StopTimeout
    from queuectl.store import Store, open_store
    from queuectl.store.memory import MemoryStore
    from queuectl.watching import WaitTimeout


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
    "Execute",
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
    "QueuectlError",
    "RunStats",
    "Runner",
    "RunnerInfo",
    "Settings",
    "StopTimeout",
    "Store",
    "StoreError",
    "WaitTimeout",
    "handle_signals",
    "open_store",
]
