"""Integration fixtures: a scratch directory for commands, and queues on a steerable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.store import open_store
from tests.conftest import FAST, store_url
from tests.helpers import Clock


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Where test commands write what they saw (runs, pids, timestamps)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> Clock:
    """Real time plus an offset the test can advance past backoff delays and leases."""
    return Clock()


@pytest.fixture
async def clocked_queue(
    store_kind: str, home: Path, tmp_path: Path, clock: Clock
) -> AsyncIterator[Queue]:
    """The ``queue`` fixture's stores and settings, with time taken from ``clock``."""
    store = await open_store(store_url(store_kind, tmp_path), clock=clock)
    try:
        yield Queue(store, FAST)
    finally:
        await store.close()
