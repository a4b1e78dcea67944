"""Damaged, foreign and unusable files: one clear line, a non-zero exit, nothing changed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI

pytestmark = pytest.mark.parametrize("shared_store_kind", ["sqlite"], indirect=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _job(command: str = "true") -> str:
    return json.dumps({"command": command})


def test_database_from_a_newer_schema_is_refused(cli: CLI) -> None:
    cli("enqueue", _job(), check=True)
    with contextlib.closing(sqlite3.connect(cli.db)) as conn:
        conn.execute("PRAGMA user_version = 99")
    before = _digest(Path(cli.db))
    for args in (("status",), ("enqueue", _job()), ("worker", "start", "--burst")):
        _assert_clean_failure(cli(*args), "newer queuectl", "upgrade")
    assert _digest(Path(cli.db)) == before


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 100, os.urandom(16384), b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text", "random", "bad-header"],
)
def test_corrupt_or_foreign_file_is_refused(cli: CLI, content: bytes) -> None:
    db = Path(cli.db)
    db.write_bytes(content)
    for args in (("status",), ("enqueue", _job()), ("list",)):
        _assert_clean_failure(cli(*args), str(db))
    assert db.read_bytes() == content


def test_sqlite_database_of_another_program_is_left_alone(cli: CLI) -> None:
    db = Path(cli.db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
    before = _digest(db)
    _assert_clean_failure(cli("enqueue", _job()), "not a queuectl one")
    assert _digest(db) == before


def test_home_that_is_a_file_is_refused(cli: CLI, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    env = {**cli.env, "QUEUECTL_HOME": str(not_a_dir)}
    env.pop("QUEUECTL_DB")
    for home_args in ([], ["--home", str(not_a_dir / "sub")]):
        result = subprocess.run(
            [*_queuectl(), *home_args, "enqueue", _job()], env=env, capture_output=True, text=True
        )
        _assert_clean_failure(result, "home")
    assert not_a_dir.read_text() == "x"


def _queuectl() -> list[str]:
    import sys

    return [sys.executable, "-m", "queuectl"]


def test_files_are_private(cli: CLI, tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "home"
    env = {**cli.env, "QUEUECTL_HOME": str(home)}
    env.pop("QUEUECTL_DB")
    for args in (["enqueue", _job()], ["config", "set", "max-retries", "4"]):
        subprocess.run([*_queuectl(), *args], env=env, check=True, capture_output=True)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("queuectl.db", "config.json"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    for extra in home.glob("queuectl.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra.name


# -- cases that need a file system of their own (root only) --------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (needs root; skipped otherwise)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _env_for(cli: CLI, home: Path) -> dict[str, str]:
    env = {**cli.env, "QUEUECTL_HOME": str(home)}
    env.pop("QUEUECTL_DB")
    return env


def _run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_queuectl(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_full_disk_fails_cleanly_and_stores_nothing(cli: CLI, small_fs: Path) -> None:
    home = small_fs / "home"
    env = _env_for(cli, home)
    assert _run(env, "enqueue", _job()).returncode == 0
    assert _run(env, "config", "set", "max-retries", "4").returncode == 0
    config_before = (home / "config.json").read_text()
    # Fill the disk, leaving a few KiB.
    with open(small_fs / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)
    bulk = "".join(_job(f"echo {'x' * 200} {i}") + "\n" for i in range(20_000))
    _assert_clean_failure(_run(env, "enqueue", "-", stdin=bulk), "is full")
    _assert_clean_failure(_run(env, "config", "set", "max-retries", "7"), "No space left")
    assert (home / "config.json").read_text() == config_before
    (small_fs / "filler").unlink()
    listed = json.loads(_run(env, "list", "--json").stdout)
    assert len(listed) == 1


def test_read_only_database_and_home_fail_cleanly(cli: CLI, small_fs: Path) -> None:
    home = small_fs / "home"
    env = _env_for(cli, home)
    assert _run(env, "enqueue", _job()).returncode == 0
    assert _run(env, "config", "set", "max-retries", "4").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    for args in (("enqueue", _job()), ("config", "set", "max-retries", "5"), ("worker", "start")):
        result = _run(env, *args)
        _assert_clean_failure(result)
        assert "writable" in result.stderr or "read-only" in result.stderr, result.stderr
    subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    assert len(json.loads(_run(env, "list", "--json").stdout)) == 1
    assert json.loads(_run(env, "config", "get", "max-retries", "--json").stdout) == 4


# -- reading commands on a home where nothing can be written ---------------------------

READERS: tuple[tuple[str, ...], ...] = (
    ("list",),
    ("list", "--json"),
    ("show", "done"),
    ("status",),
    ("status", "--json"),
    ("logs", "done"),
    ("config", "get"),
    ("dlq", "list"),
    ("wait", "done"),
)


def _home_with_history(cli: CLI, home: Path) -> dict[str, str]:
    """A home whose store holds a finished job with output, and a pending one."""
    env = _env_for(cli, home)
    assert _run(env, "add", "--id", "done", "--", "echo", "printed").returncode == 0
    assert _run(env, "worker", "start", "--burst").returncode == 0
    assert _run(env, "add", "--id", "later", "--", "true").returncode == 0
    return env


def _assert_readers_work(env: dict[str, str]) -> None:
    for args in READERS:
        result = _run(env, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert _run(env, "logs", "done").stdout == "printed\n"
    listed = json.loads(_run(env, "list", "--json").stdout)
    assert [(job["id"], job["state"]) for job in listed] == [
        ("done", "completed"),
        ("later", "pending"),
    ]


def test_reading_commands_work_on_a_read_only_home(cli: CLI, small_fs: Path) -> None:
    # Tests run as root, whom file modes do not stop: the whole file system is remounted
    # read-only instead, which stops root too.
    env = _home_with_history(cli, small_fs / "home")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)

    _assert_readers_work(env)
    _assert_clean_failure(_run(env, "add", "--", "true"), "writable")


def test_reading_commands_work_on_a_full_disk(cli: CLI, small_fs: Path) -> None:
    env = _home_with_history(cli, small_fs / "home")
    with open(small_fs / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)

    _assert_readers_work(env)
    _assert_clean_failure(_run(env, "add", "--", "true"), "is full")


def test_a_read_only_view_sees_the_commits_of_a_live_writer(
    cli: CLI, small_fs: Path, tmp_path: Path
) -> None:
    home = small_fs / "home"
    env = _home_with_history(cli, home)
    view = tmp_path / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(home), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        # A connection left open keeps the log and the shared memory in use, as a
        # runner does: the reader must go through them, not read the file as immutable.
        writer = sqlite3.connect(home / "queuectl.db")
        try:
            writer.execute("SELECT count(*) FROM jobs").fetchall()
            assert (home / "queuectl.db-wal").exists()
            assert _run(env, "add", "--id", "fresh", "--", "true").returncode == 0
            view_env = {**env, "QUEUECTL_HOME": str(view)}
            shown = json.loads(_run(view_env, "show", "fresh", "--json").stdout)
            assert shown["state"] == "pending"
            _assert_clean_failure(_run(view_env, "add", "--", "true"), "writable")
        finally:
            writer.close()
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
