"""Where queuectl keeps things: ``--home``/``--db``, their variables, SQLite URLs.

These tests name SQLite files on purpose (the URL forms are SQLite's), so they run once,
not once per shared store.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.acceptance.helpers import run_queuectl


@pytest.fixture
def env() -> dict[str, str]:
    """The test's environment without any queuectl variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}


def ok(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    result = run_queuectl(*args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def ids(*args: str, env: dict[str, str], cwd: Path | None = None) -> list[str]:
    """The ids of the jobs in the store the arguments and environment select."""
    return [job["id"] for job in json.loads(ok(*args, "list", "--json", env=env, cwd=cwd))]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


JOB = '{"id": "here", "command": "true"}'


def test_home_flag_wins_over_queuectl_home(env: dict[str, str], tmp_path: Path) -> None:
    env["QUEUECTL_HOME"] = str(tmp_path / "from-env")
    flag_home = tmp_path / "from-flag"

    ok("--home", str(flag_home), "enqueue", JOB, env=env)
    ok("--home", str(flag_home), "config", "set", "max-retries", "9", env=env)

    assert (flag_home / "queuectl.db").is_file()
    assert (flag_home / "config.json").is_file()
    assert not (tmp_path / "from-env").exists()
    assert ids("--home", str(flag_home), env=env) == ["here"]
    assert ok("--home", str(flag_home), "config", "get", "max-retries", env=env) == "9\n"
    assert ok("config", "get", "max-retries", env=env) == "3\n"


def test_queuectl_home_names_the_home_without_a_flag(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "env-home"
    env["QUEUECTL_HOME"] = str(home)

    ok("enqueue", JOB, env=env)

    assert (home / "queuectl.db").is_file()
    assert ids("--home", str(home), env={k: v for k, v in env.items() if k != "QUEUECTL_HOME"})


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("enqueue", JOB), id="enqueue"),
        pytest.param(("config", "set", "max-retries", "1"), id="config-set"),
        pytest.param(("status",), id="status"),
    ],
)
def test_home_is_created_private_on_first_use(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = tmp_path / "deep" / "new-home"

    ok("--home", str(home), *args, env=env)

    assert home.is_dir()
    assert mode(home) == 0o700


def test_db_flag_wins_over_queuectl_db(env: dict[str, str], tmp_path: Path) -> None:
    env["QUEUECTL_HOME"] = str(tmp_path / "home")
    env["QUEUECTL_DB"] = str(tmp_path / "from-env.db")
    flag_db = str(tmp_path / "from-flag.db")

    ok("--db", flag_db, "enqueue", JOB, env=env)

    assert ids("--db", flag_db, env=env) == ["here"]
    assert ids(env=env) == []
    assert not (tmp_path / "home" / "queuectl.db").exists()


def test_queuectl_db_names_the_store_without_a_flag(env: dict[str, str], tmp_path: Path) -> None:
    env["QUEUECTL_HOME"] = str(tmp_path / "home")
    env["QUEUECTL_DB"] = str(tmp_path / "elsewhere.db")

    ok("enqueue", JOB, env=env)

    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "home" / "queuectl.db").exists()
    assert ids("--db", str(tmp_path / "elsewhere.db"), env=env) == ["here"]


def test_sqlite_url_with_three_slashes_is_relative_to_the_working_directory(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["QUEUECTL_HOME"] = str(tmp_path / "home")
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)

    ok("--db", "sqlite:///data/queue.db", "enqueue", JOB, env=env, cwd=work)

    assert (work / "data" / "queue.db").is_file()
    assert ids("--db", str(work / "data" / "queue.db"), env=env) == ["here"]
    env["QUEUECTL_DB"] = "sqlite:///data/queue.db"
    assert ids(env=env, cwd=work) == ["here"]


def test_sqlite_url_with_four_slashes_is_absolute(env: dict[str, str], tmp_path: Path) -> None:
    env["QUEUECTL_HOME"] = str(tmp_path / "home")
    target = tmp_path / "abs" / "queue.db"
    target.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    ok("--db", f"sqlite:///{target}", "enqueue", JOB, env=env, cwd=elsewhere)

    assert str(target).startswith("/")
    assert target.is_file()
    assert ids("--db", str(target), env=env) == ["here"]
    assert list(elsewhere.iterdir()) == []
