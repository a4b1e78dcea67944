"""Tests that must run alone while the suite runs on several pytest-xdist workers.

A test marked ``serial`` (speed or latency bounds that a busy neighbour could push
over) holds an exclusive lock for its whole run (set-up, call, tear-down); every other
test holds the same lock shared. The lock is a file in the run's base temporary
directory, which the workers of one run share and no other run sees. A turnstile
taken before the lock makes a waiting serial test block new shared holders, so it
cannot starve. Without xdist every test runs alone anyway and nothing is locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def _hold(directory: Path, alone: bool) -> Iterator[None]:
    with (
        (directory / "serial.turnstile").open("a") as turnstile,
        (directory / "serial.lock").open("a") as lock,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return (yield)
    # A worker's base temp is <the run's base temp>/<worker id>: the parent is shared.
    run_dir = item.config._tmp_path_factory.getbasetemp().parent  # type: ignore[attr-defined]
    with _hold(run_dir, alone=item.get_closest_marker("serial") is not None):
        return (yield)
