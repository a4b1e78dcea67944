"""PostgreSQL store URLs and the missing-driver message (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.domain.errors import ConfigError

asyncpg = pytest.importorskip("asyncpg")

from queuectl.store.postgres.connection import parse_url  # noqa: E402


def test_defaults() -> None:
    target = parse_url("postgresql://me@db.example:5433/jobs")
    assert target.dsn == "postgresql://me@db.example:5433/jobs"
    assert (target.schema, target.pool_size, target.application_name) == ("queuectl", 4, "queuectl")
    assert target.channel == "queuectl.queuectl"


def test_queuectl_parameters_are_taken_out_and_the_rest_kept() -> None:
    target = parse_url(
        "postgres://me:secret@db/jobs?schema=mail_queue&sslmode=require&pool_size=9"
        "&application_name=billing"
    )
    assert target.dsn == "postgres://me:secret@db/jobs?sslmode=require"
    assert (target.schema, target.pool_size, target.application_name) == (
        "mail_queue",
        9,
        "billing",
    )
    assert target.display.startswith("postgres://me:***@db/jobs?")
    assert "secret" not in target.display


@pytest.mark.parametrize(
    "name",
    [
        "schema=Upper",
        "schema=1abc",
        "schema=pg_toast",
        "schema=a-b",
        "schema=",
        "schema=" + "a" * 49,
    ],
)
def test_bad_schema_names(name: str) -> None:
    with pytest.raises(ConfigError, match="bad schema name"):
        parse_url(f"postgresql://db/jobs?schema={name}")


@pytest.mark.parametrize("size", ["0", "-1", "many"])
def test_bad_pool_size(size: str) -> None:
    with pytest.raises(ConfigError, match="pool_size"):
        parse_url(f"postgresql://db/jobs?pool_size={size}")


def test_missing_driver_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "from queuectl.cli import main\n"
        "main(['--db', 'postgresql://nobody@127.0.0.1:1/none', 'status'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, QUEUECTL_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "queuectl: error: PostgreSQL URLs need the asyncpg driver: "
        "pip install 'queuectl[postgres]'\n"
    )
