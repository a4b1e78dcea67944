"""The bounds of every number queuectl accepts, in one place.

Each bound is chosen so that whatever passes at input stays usable by every later
command, on every store: a time computed from it fits a Python datetime and a
PostgreSQL timestamp, a count fits a 32-bit integer column, a delay fits every
timer. Job fields and the config defaults they fall back to share the same bounds,
so a default can never hold what a job may not.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = [
    "MAX_BACKOFF_BASE",
    "MAX_COMMAND_BYTES",
    "MAX_COUNT",
    "MAX_DURATION",
    "MAX_OUTPUT_LIMIT",
    "MAX_QUEUE_CAP",
    "MAX_RETRIES",
    "MAX_WATCH_INTERVAL",
    "MAX_WORKERS",
    "MIN_RUN_AT",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "duration_problem",
    "int_problem",
]

#: The longest duration anywhere: delays, timeouts, backoff caps, leases, grace and
#: poll periods, retention and purge ages, and the waits of CLI options (10 years).
MAX_DURATION = 10 * 365 * 86400.0
#: The earliest ``run_at`` (the Unix epoch); the latest is ``MAX_DURATION`` from now.
MIN_RUN_AT = datetime(1970, 1, 1, tzinfo=UTC)
#: Retries after the first attempt, for a job and for the ``max-retries`` default.
MAX_RETRIES = 1000
#: Priorities are 32-bit signed integers on every store.
PRIORITY_MIN = -(2**31)
PRIORITY_MAX = 2**31 - 1
#: The largest backoff base: beyond it every retry waits the cap anyway.
MAX_BACKOFF_BASE = 1000.0
#: Bytes of output kept per stream of an attempt (``output-limit``).
MAX_OUTPUT_LIMIT = 64 * 1024**2
#: Counts given on the command line (``--limit``, ``--attempt``...).
MAX_COUNT = 2**31 - 1
#: Concurrent workers in one runner (``worker start --count``).
MAX_WORKERS = 4096
#: A queue's cap (``queue limit``): jobs of one queue processing at once, across every
#: runner; a 32-bit integer column on every store.
MAX_QUEUE_CAP = 2**31 - 1
#: The longest refresh period of ``status --watch``.
MAX_WATCH_INTERVAL = 3600.0
#: A command is one argument of ``/bin/sh -c``: Linux refuses an argument longer than
#: MAX_ARG_STRLEN (32 pages, 131072 bytes with its terminating NUL). The same bound
#: applies everywhere, so a job queued on one system runs on any other.
MAX_COMMAND_BYTES = 131072 - 1


def duration_problem(
    seconds: float, *, low: float = 0.0, inclusive: bool = True, high: float = MAX_DURATION
) -> str | None:
    """What is wrong with ``seconds`` as a duration, or None when it is in bounds."""
    try:
        seconds = float(seconds)
    except OverflowError:  # an integer past any float
        seconds = math.inf
    if math.isnan(seconds):
        return "must be a finite number of seconds"
    if seconds < low or (not inclusive and seconds == low):
        op = ">=" if inclusive else ">"
        return f"must be {op} {low:g} seconds"
    if seconds > high:
        if high == MAX_DURATION:
            return f"must be at most {MAX_DURATION:.0f} seconds (3650d, 10 years)"
        return f"must be at most {high:g} seconds"
    return None


def int_problem(value: object, low: int, high: int) -> str | None:
    """What is wrong with ``value`` as an integer in ``[low, high]``, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None
