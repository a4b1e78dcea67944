"""Acceptance fixtures: the harness over the real CLI, and the clean-up of its processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.helpers import QueueCtl
from tests.conftest import CLI


@pytest.fixture
def qctl(cli: CLI, tmp_path: Path) -> Iterator[QueueCtl]:
    """The CLI on a fresh home and store; runners and job commands die with the test."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    harness = QueueCtl(cli, scratch)
    try:
        yield harness
    finally:
        harness.cleanup()


@pytest.fixture
def scratch(qctl: QueueCtl) -> Path:
    """A directory for files that jobs write (markers, timestamps, pids)."""
    return qctl.scratch
