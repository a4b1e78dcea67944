"""queuectl: a background job queue for shell commands, on SQLite or PostgreSQL.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from queuectl.api import Queue, StopTimeout
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
from queuectl.runner import Execute, Runner, RunStats
from queuectl.signals import handle_signals
from queuectl.spec import JobSpec
from queuectl.store import Store, open_store
from queuectl.store.memory import MemoryStore

__all__ = [
    "ConfigError",
    "DuplicateJob",
    "Execute",
    "InvalidInput",
    "InvalidState",
    "Job",
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
    "handle_signals",
    "open_store",
]
