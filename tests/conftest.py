"""Shared fixtures: a private home per test, stores of every kind, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.store import Store, open_store
from tests import pgsupport

#: The ``serial`` marker's lock when the suite runs on several xdist workers.
pytest_plugins = ["tests.parallel"]

#: Every store the contract and integration tests run against.
STORE_KINDS = ["memory", "sqlite", "postgres"]
#: Stores that other processes can share (the CLI and multi-process tests).
SHARED_STORE_KINDS = ["sqlite", "postgres"]


def _kind_params(kinds: list[str]) -> list[object]:
    """Fixture params; the postgres ones carry the ``postgres`` marker (-m 'not postgres')."""
    return [pytest.param(k, marks=pytest.mark.postgres) if k == "postgres" else k for k in kinds]


# Fast settings for tests: short leases so recovery tests do not wait 30 s.
FAST = Settings(backoff_base=1.0, lease_seconds=2.0, kill_grace=1.0, poll_interval=5.0)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch the real ~/.queuectl or inherit a store from the environment."""
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "default-home"))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.delenv("QUEUECTL_HOST", raising=False)


@pytest.fixture(autouse=True)
def _drop_pg_schemas() -> Iterator[None]:
    """Drop the PostgreSQL schemas a test was given (see ``store_url``)."""
    yield
    pgsupport.drop_created()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def store_url(kind: str, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return str(tmp_path / "home" / "queuectl.db")
    if kind == "postgres":
        # A schema private to this test (same URL for every call in it), dropped after
        # it; skips, or fails under CI=true, when the server is unreachable.
        return pgsupport.schema_url(tmp_path)
    raise AssertionError(kind)


@pytest.fixture(params=_kind_params(STORE_KINDS))
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=_kind_params(SHARED_STORE_KINDS))
def shared_store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_kind: str, home: Path, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(store_url(store_kind, tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def queue(store: Store) -> Queue:
    return Queue(store, FAST)


@dataclass
class CLI:
    """Runs the real ``queuectl`` command in a subprocess against one home and store."""

    home: Path
    db: str
    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, check: bool | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"queuectl {' '.join(args)} exited {result.returncode}: {result.stderr}"
            )
        return result

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", "queuectl", *args], env=self.env, text=True, **kwargs
        )
        return proc


@pytest.fixture
def cli(shared_store_kind: str, home: Path, tmp_path: Path) -> CLI:
    env = dict(os.environ)
    env["QUEUECTL_HOME"] = str(home)
    env["QUEUECTL_DB"] = store_url(shared_store_kind, tmp_path)
    env.pop("QUEUECTL_HOST", None)
    return CLI(home=home, db=env["QUEUECTL_DB"], env=env)


from tests.processes import runners  # noqa: E402  (the fixture, shared by all suites)

__all__ = ["CLI", "runners"]
