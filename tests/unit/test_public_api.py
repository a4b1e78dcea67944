"""The curated public API: ``queuectl.__all__`` changes only on purpose."""

from __future__ import annotations

import importlib
import subprocess
import sys

import queuectl

PUBLIC_API = {
    "ConfigError",
    "DuplicateJob",
    "EnqueueResult",
    "Enqueued",
    "DuplicateSchedule",
    "Execute",
    "Fire",
    "InvalidInput",
    "InvalidState",
    "Job",
    "JobEvent",
    "JobNotFound",
    "JobSpec",
    "JobState",
    "MemoryStore",
    "Outcome",
    "Queue",
    "QueueInfo",
    "QueuectlError",
    "RunStats",
    "Runner",
    "RunnerInfo",
    "Schedule",
    "ScheduleNotFound",
    "Settings",
    "StopTimeout",
    "Store",
    "StoreError",
    "UniqueConflict",
    "WaitTimeout",
    "handle_signals",
    "open_store",
}


def test_all_is_exactly_the_curated_api() -> None:
    assert set(queuectl.__all__) == PUBLIC_API
    assert len(queuectl.__all__) == len(PUBLIC_API), "no name listed twice"
    assert list(queuectl.__all__) == sorted(queuectl.__all__)


def test_every_public_name_imports() -> None:
    module = importlib.import_module("queuectl")
    for name in queuectl.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from queuectl import *", namespace)
    assert set(namespace) >= PUBLIC_API


def test_errors_share_one_root() -> None:
    for name in ("ConfigError", "DuplicateJob", "InvalidInput", "InvalidState", "JobNotFound"):
        assert issubclass(getattr(queuectl, name), queuectl.QueuectlError), name
    assert issubclass(queuectl.StoreError, queuectl.QueuectlError)
    assert issubclass(queuectl.StopTimeout, queuectl.QueuectlError)


def test_importing_queuectl_does_not_load_the_cli_or_optional_drivers() -> None:
    code = (
        "import sys, queuectl; "
        "print(' '.join(m for m in ('asyncclick', 'asyncpg', 'queuectl.cli') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_package_is_typed() -> None:
    assert queuectl.__file__ is not None
    from pathlib import Path

    assert (Path(queuectl.__file__).parent / "py.typed").is_file()


def test_the_cli_loads_only_what_its_command_needs() -> None:
    # A one-shot command must not pay for the runner, the executor or uvloop.
    code = (
        "import sys; from queuectl.cli import main\n"
        "try:\n    main(['--home', sys.argv[1], 'config', 'get'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = {'queuectl.runner.lifecycle', 'queuectl.runner.executor',"
        " 'queuectl.runner.process', 'uvloop',"
        " 'queuectl.cli.worker', 'queuectl.store.sqlite.store'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        result = subprocess.run(
            [sys.executable, "-c", code, home], capture_output=True, text=True, check=True
        )
    assert result.stdout.strip().splitlines()[-1] == "[]"
