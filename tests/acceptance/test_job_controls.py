"""``add`` and ``enqueue`` with a directory, variables, retry codes and unique keys.

Through the real CLI on SQLite and PostgreSQL; the runners run real commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.acceptance.helpers import QueueCtl, assert_no_traceback, wait_until


def add_from(qctl: QueueCtl, where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``queuectl add ARGS`` run from the directory ``where``."""
    result = subprocess.run(
        [sys.executable, "-m", "queuectl", "add", *args],
        cwd=where,
        env=qctl.cli.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_no_traceback(result.stderr)
    return result


# -- the directory and the environment ---------------------------------------------------


def test_add_records_the_callers_directory_and_the_job_runs_there(
    qctl: QueueCtl, scratch: Path
) -> None:
    app = scratch / "app"
    app.mkdir()
    result = add_from(qctl, app, "--", "pwd > where.txt")
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    assert qctl.job(job_id).cwd == str(app)
    qctl.ok("worker", "start", "--burst")
    assert (app / "where.txt").read_text() == f"{app}\n"


def test_add_cwd_and_no_cwd(qctl: QueueCtl, scratch: Path) -> None:
    (scratch / "sub").mkdir()
    given = add_from(qctl, scratch, "--cwd", "sub", "--", "true").stdout.strip()
    assert qctl.job(given).cwd == str(scratch / "sub")  # made absolute
    none = add_from(qctl, scratch, "--no-cwd", "--", "true").stdout.strip()
    assert qctl.job(none).cwd is None
    assert "not both" in add_from(qctl, scratch, "--cwd", "/", "--no-cwd", "--", "true").stderr


def test_enqueue_json_without_cwd_runs_in_the_runners_directory(qctl: QueueCtl) -> None:
    job_id = qctl.enqueue("true")
    assert qctl.job(job_id).cwd is None
    job_id = qctl.enqueue("true", cwd="/tmp")
    assert qctl.job(job_id).cwd == "/tmp"


def test_add_env_sets_variables_and_copies_named_ones(qctl: QueueCtl, scratch: Path) -> None:
    out = scratch / "env.txt"
    env = {**qctl.cli.env, "FROM_CALLER": "copied"}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "queuectl", "add", "--env", "A=1=2", "--env", "FROM_CALLER"),
            *("--", f'printf "%s|" "$A" "$FROM_CALLER" > {out}'),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert dict(qctl.job(result.stdout.strip()).env) == {"A": "1=2", "FROM_CALLER": "copied"}
    qctl.ok("worker", "start", "--burst")
    assert out.read_text() == "1=2|copied|"


def test_add_env_of_a_variable_not_set_here_is_refused(qctl: QueueCtl) -> None:
    error = qctl.fails(2, "add", "--env", "SURELY_NOT_SET_HERE", "--", "true")
    assert "SURELY_NOT_SET_HERE" in error
    assert qctl.jobs() == []


def test_show_and_json_include_the_new_fields(qctl: QueueCtl) -> None:
    job_id = qctl.enqueue(
        "true", cwd="/srv", env={"K": "v"}, retry_on=[111, 75], unique_key="nightly"
    )
    [job] = qctl.json("list")
    assert (job["cwd"], job["env"], job["retry_on"], job["unique_key"]) == (
        "/srv",
        {"K": "v"},
        [75, 111],
        "nightly",
    )
    shown = qctl.json("show", job_id)
    assert (shown["cwd"], shown["env"], shown["unique_key"]) == ("/srv", {"K": "v"}, "nightly")
    text = qctl.ok("show", job_id)
    for line in ("cwd:        /srv", "unique key: nightly", "  K=v"):
        assert line in text, text
    assert "exit 75, 111" in text


def test_a_missing_directory_fails_with_a_clear_error_then_dead(
    qctl: QueueCtl, scratch: Path
) -> None:
    job_id = qctl.enqueue("true", cwd=str(scratch / "gone"), max_retries=0)
    qctl.ok("worker", "start", "--burst")
    job = qctl.job(job_id)
    assert job.state == JobState.DEAD
    assert job.last_error == f"cwd {scratch / 'gone'}: No such file or directory"


# -- exit codes that retry ---------------------------------------------------------------


def test_retry_on_sends_other_exit_codes_to_the_dlq_at_once(qctl: QueueCtl) -> None:
    job_id = qctl.ok("add", "--retries", "3", "--retry-on", "75", "--", "exit 3").strip()
    qctl.ok("worker", "start", "--burst")
    job = qctl.job(job_id)
    assert (job.state, job.attempts, job.exit_code) == (JobState.DEAD, 1, 3)
    assert job.last_error is not None
    assert job.last_error.startswith("no retry: exit code 3 is not in retry_on (75)")


def test_retry_on_retries_a_listed_code(qctl: QueueCtl) -> None:
    job_id = qctl.enqueue("exit 75", max_retries=1, retry_on=[75], backoff_max=0.01)
    qctl.ok("worker", "start", "--burst")
    job = qctl.job(job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 2)
    assert job.last_error == "exit code 75"


def test_config_retry_on_is_the_default_for_new_jobs(qctl: QueueCtl) -> None:
    qctl.ok("config", "set", "retry-on", "75,111")
    assert qctl.job(qctl.enqueue("true")).retry_on == (75, 111)
    assert qctl.job(qctl.enqueue("true", retry_on=[1])).retry_on == (1,)


# -- unique keys -------------------------------------------------------------------------


def test_add_unique_twice_prints_the_first_jobs_id_and_stores_one(qctl: QueueCtl) -> None:
    first = qctl.ok("add", "--unique", "sync", "--", "true").strip()
    result = qctl.run("add", "--unique", "sync", "--", "echo other")
    assert result.returncode == 0
    assert result.stdout == f"{first}\n"
    assert result.stderr == f"queued already as {first}\n"
    assert [j.id for j in qctl.jobs()] == [first]


def test_on_conflict_error_exits_1_and_stores_nothing(qctl: QueueCtl) -> None:
    first = qctl.ok("add", "--unique", "sync", "--", "true").strip()
    error = qctl.fails(1, "add", "--unique", "sync", "--on-conflict", "error", "--", "true")
    assert first in error
    assert "sync" in error
    error = qctl.fails(
        1, "enqueue", json.dumps({"command": "true", "unique_key": "sync", "on_conflict": "error"})
    )
    assert first in error
    assert [j.id for j in qctl.jobs()] == [first]


def test_a_completed_job_frees_its_key(qctl: QueueCtl) -> None:
    first = qctl.ok("add", "--unique", "sync", "--", "true").strip()
    qctl.ok("worker", "start", "--burst")
    second = qctl.ok("add", "--unique", "sync", "--", "true").strip()
    assert second != first
    assert len(qctl.jobs()) == 2


def test_bulk_enqueue_follows_on_conflict_line_by_line(qctl: QueueCtl) -> None:
    held = qctl.ok("add", "--unique", "a", "--", "true").strip()
    lines = [
        {"id": "one", "command": "true", "unique_key": "a"},
        {"id": "two", "command": "true", "unique_key": "b"},
        {"id": "three", "command": "true", "unique_key": "b"},
        {"id": "four", "command": "true"},
    ]
    result = qctl.run("enqueue", "-", input="\n".join(map(json.dumps, lines)) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [held, "two", "two", "four"]
    assert result.stderr.splitlines() == [
        f"line 1: queued already as {held}",
        "line 3: queued already as two",
    ]
    assert sorted(j.id for j in qctl.jobs()) == sorted([held, "two", "four"])


def test_bulk_enqueue_with_an_error_conflict_stores_nothing(qctl: QueueCtl) -> None:
    lines = [
        {"command": "true", "unique_key": "b"},
        {"command": "true", "unique_key": "b", "on_conflict": "error"},
    ]
    error = qctl.fails(1, "enqueue", "-", input="\n".join(map(json.dumps, lines)) + "\n")
    assert error.startswith("queuectl: error: line 2: unique key 'b'"), error
    assert qctl.jobs() == []


def test_dlq_retry_refuses_while_the_key_is_live_again(qctl: QueueCtl) -> None:
    dead = qctl.ok("add", "--unique", "k", "--retries", "0", "--", "exit 1").strip()
    qctl.ok("worker", "start", "--burst")
    live = qctl.ok("add", "--unique", "k", "--", "true").strip()
    error = qctl.fails(1, "dlq", "retry", dead)
    assert live in error
    assert "cannot run again" in error
    error = qctl.fails(1, "retry", dead)
    assert "unique key" in error
    assert qctl.job(dead).state == JobState.DEAD


@pytest.mark.parametrize("on_conflict", ["ignore", "error"])
def test_eight_processes_adding_one_key_at_once_store_one_job(
    qctl: QueueCtl, scratch: Path, on_conflict: str
) -> None:
    # Each process loads queuectl, says it is ready, and waits for the same moment (a
    # file appearing) before it enqueues: the eight inserts meet in the store.
    go = scratch / "go"
    script = (
        "import os, sys, time\n"
        "from queuectl.cli import main\n"
        "import queuectl.api.queue, queuectl.cli.add, queuectl.cli.app\n"
        f"open(os.path.join({str(scratch)!r}, f'ready-{{os.getpid()}}'), 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        "main(sys.argv[1:])\n"
    )
    args = ["add", "--unique", "race", "--on-conflict", on_conflict, "--", "true"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env=qctl.cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    wait_until(lambda: len(list(scratch.glob("ready-*"))) == 8, "eight processes ready")
    go.touch()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    jobs = qctl.jobs()
    assert len(jobs) == 1
    if on_conflict == "ignore":
        assert codes == [0] * 8, outputs
        assert {out.strip() for out, _ in outputs} == {jobs[0].id}
        assert sum("queued already" in err for _, err in outputs) == 7
    else:
        assert codes == [0] + [1] * 7, outputs
        assert sum(jobs[0].id in err for _, err in outputs) == 7


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"cwd": "relative/dir"}, "absolute"),
        ({"cwd": 5}, "'cwd' must be a string"),
        ({"env": {"A=B": "x"}}, "must not contain '='"),
        ({"env": {"A": 1}}, "must be a string"),
        ({"env": ["A=1"]}, "'env' must be an object"),
        ({"env": {"A": "x\u0000"}}, "NUL"),
        ({"env": {f"K{i}": "" for i in range(1001)}}, "the most is 1000"),
        ({"env": {"K": "x" * 131072}}, "bytes; the most is"),
        ({"retry_on": [256]}, "between 0 and 255"),
        ({"retry_on": [True]}, "integer"),
        ({"retry_on": 75}, "list of exit codes"),
        ({"retry_on": list(range(257))}, "the most is 256"),
        ({"unique_key": ""}, "1-200 characters"),
        ({"unique_key": "k" * 201}, "1-200 characters"),
        ({"unique_key": 5}, "must be a string"),
        ({"unique_key": "k", "on_conflict": "replace"}, "'on_conflict' must be one of"),
    ],
)
def test_bad_fields_exit_2_and_store_nothing(
    qctl: QueueCtl, fields: dict[str, object], problem: str
) -> None:
    # On stdin: some values are longer than one argument may be.
    error = qctl.fails(2, "enqueue", "-", input=json.dumps({"command": "true", **fields}) + "\n")
    assert problem in error, error
    assert qctl.jobs() == []


def test_bad_add_options_exit_2(qctl: QueueCtl) -> None:
    assert "255" in qctl.fails(2, "add", "--retry-on", "300", "--", "true")
    assert "1-200" in qctl.fails(2, "add", "--unique", "k" * 201, "--", "true")
    assert "non-empty" in qctl.fails(2, "add", "--env", "=x", "--", "true")
    assert qctl.jobs() == []
