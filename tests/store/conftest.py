"""The contract suite's stores: every kind, on a frozen clock the test moves by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from queuectl.store import Store, open_store
from tests.conftest import store_url
from tests.helpers import EPOCH, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(start=EPOCH)


@pytest.fixture
async def store(store_kind: str, home: Path, tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    """Overrides the shared fixture: the same stores, but their time is ``clock``."""
    opened = await open_store(store_url(store_kind, tmp_path), clock=clock)
    try:
        yield opened
    finally:
        await opened.close()
