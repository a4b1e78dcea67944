"""``status``, ``list`` and ``dlq``: what a user sees, in human form and as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.acceptance.helpers import Gate, QueueCtl, parse_utc, shell_path

TIME_FIELDS = ("run_at", "created_at", "updated_at", "started_at", "finished_at")
STATES = ["pending", "processing", "completed", "failed", "dead", "cancelled"]


def _one_of_each(qctl: QueueCtl) -> dict[str, str]:
    """A completed job, a dead one (exit 3, 'oops' on stderr), then two pending ones."""
    qctl.ok(
        "enqueue",
        "-",
        input=_lines(
            {"id": "ok", "command": "true"},
            {"id": "broken", "command": "echo oops >&2; exit 3", "max_retries": 0},
        ),
    )
    qctl.ok("worker", "start", "--burst")
    qctl.ok(
        "enqueue",
        "-",
        input=_lines(
            {"id": "later", "command": "echo Hello World"}, {"id": "later-still", "command": "true"}
        ),
    )
    return {"completed": "ok", "dead": "broken", "pending": "later"}


def _lines(*jobs: Mapping[str, object]) -> str:
    return "".join(json.dumps(job) + "\n" for job in jobs)


# -- status -------------------------------------------------------------------------------------
def test_status_without_runners_prints_every_state_and_false(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    out = qctl.ok("status")

    assert out == (
        "Jobs summary:\n"
        "  pending: 2\n"
        "  processing: 0\n"
        "  completed: 1\n"
        "  failed: 0\n"
        "  dead: 1\n"
        "  cancelled: 0\n"
        "Worker manager running: False\n"
    )


def test_status_of_an_empty_queue_shows_zeros(qctl: QueueCtl) -> None:
    assert qctl.json("status") == {
        "jobs": dict.fromkeys(STATES, 0),
        "queues": {},
        "workers": [],
        "paused": [],
    }


def test_status_json_counts_every_state(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    data = qctl.json("status")

    counts = {"pending": 2, "processing": 0, "completed": 1, "failed": 0, "dead": 1, "cancelled": 0}
    assert data == {"jobs": counts, "queues": {"default": counts}, "workers": [], "paused": []}
    assert list(data["jobs"]) == STATES


def test_status_with_two_runners_prints_a_pid_line_for_each(qctl: QueueCtl, scratch: Path) -> None:
    gate = Gate(scratch, "busy")
    qctl.enqueue(gate.command, id="busy")
    first = qctl.start()  # the seed's `worker start`
    gate.wait_started()
    second = qctl.start("--count", "3")

    out = qctl.ok("status")

    assert out == (
        "Jobs summary:\n"
        "  pending: 0\n"
        "  processing: 1\n"
        "  completed: 0\n"
        "  failed: 0\n"
        "  dead: 0\n"
        "  cancelled: 0\n"
        "Worker manager running: True\n"
        f"  manager pid: {first.pid}\n"
        f"  manager pid: {second.pid}\n"
    )
    gate.open()
    qctl.ok("worker", "stop")
    assert (first.wait(), second.wait()) == (0, 0)


def test_status_json_describes_each_live_runner(qctl: QueueCtl) -> None:
    first = qctl.start()
    second = qctl.start("--count", "3")

    data = qctl.json("status")

    workers = data["workers"]
    assert [w["pid"] for w in workers] == [first.pid, second.pid]
    assert [w["concurrency"] for w in workers] == [1, 3]
    for worker in workers:
        assert isinstance(worker["host"], str)
        assert worker["host"]
        parse_utc(worker["started_at"])
    qctl.ok("worker", "stop")
    assert qctl.json("status")["workers"] == []


# -- list ---------------------------------------------------------------------------------------
def test_list_prints_a_table_of_all_jobs_oldest_first(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    lines = qctl.ok("list").splitlines()

    assert lines[0].split() == ["ID", "STATE", "TRIES", "QUEUE", "WHEN", "(UTC)", "COMMAND"]
    rows = [line.split(maxsplit=5) for line in lines[1:]]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("ok", "completed", "1/4"),
        ("broken", "dead", "1/1"),
        ("later", "pending", "0/4"),
        ("later-still", "pending", "0/4"),
    ]
    assert rows[2][3] == "default"
    assert rows[2][5] == "echo Hello World"


def test_list_state_pending_shows_only_pending_jobs(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    lines = qctl.ok("list", "--state", "pending").splitlines()

    assert [line.split()[0] for line in lines[1:]] == ["later", "later-still"]
    assert [job["id"] for job in qctl.json("list", "--state", "pending")] == [
        "later",
        "later-still",
    ]
    assert [job["id"] for job in qctl.json("list", "--state", "dead")] == ["broken"]
    assert qctl.json("list", "--state", "failed") == []


def test_list_json_is_an_array_of_jobs_with_utc_timestamps(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    # Whatever the machine's time zone, timestamps carry an explicit UTC offset.
    data = json.loads(qctl.ok("list", "--json", env={"TZ": "America/New_York"}))

    assert isinstance(data, list)
    assert [job["id"] for job in data] == ["ok", "broken", "later", "later-still"]
    for job in data:
        assert {"id", "command", "state", "attempts", "max_retries", "exit_code"} <= set(job)
        assert {"last_error", *TIME_FIELDS} <= set(job)
        for name in TIME_FIELDS:
            if job[name] is not None:
                parse_utc(job[name])
    dead = data[1]
    assert (dead["state"], dead["attempts"], dead["exit_code"]) == ("dead", 1, 3)
    assert "oops" in dead["last_error"]
    assert parse_utc(dead["finished_at"]) >= parse_utc(dead["started_at"])


def test_list_limit_shows_the_oldest_jobs_only(qctl: QueueCtl) -> None:
    lines = "".join(json.dumps({"id": f"j{i}", "command": "true"}) + "\n" for i in range(5))
    qctl.ok("enqueue", "-", input=lines)

    assert [job["id"] for job in qctl.json("list", "--limit", "2")] == ["j0", "j1"]
    assert [line.split()[0] for line in qctl.ok("list", "--limit", "3").splitlines()[1:]] == [
        "j0",
        "j1",
        "j2",
    ]
    assert qctl.json("list", "--limit", "0") == []
    assert len(qctl.json("list", "--limit", "99")) == 5


def test_list_of_an_empty_queue_succeeds(qctl: QueueCtl) -> None:
    assert qctl.json("list") == []
    assert qctl.ok("list") == ""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("list", "--state", "bogus"), id="state"),
        pytest.param(("list", "--limit", "-1"), id="negative-limit"),
        pytest.param(("list", "--limit", "many"), id="word-limit"),
    ],
)
def test_list_with_bad_options_exits_2(qctl: QueueCtl, args: tuple[str, ...]) -> None:
    message = qctl.fails(2, *args)

    assert args[-1] in message


# -- dlq ----------------------------------------------------------------------------------------
def test_dlq_list_shows_dead_jobs_with_their_last_error(qctl: QueueCtl) -> None:
    _one_of_each(qctl)

    lines = qctl.ok("dlq", "list").splitlines()
    data = qctl.json("dlq", "list")

    assert "LAST ERROR" in lines[0]
    assert len(lines) == 2
    assert lines[1].split()[:3] == ["broken", "dead", "1/1"]
    assert "exit code 3" in lines[1]
    assert [job["id"] for job in data] == ["broken"]
    assert data[0]["exit_code"] == 3
    assert "oops" in data[0]["last_error"]


def test_dlq_list_of_an_empty_dlq_succeeds(qctl: QueueCtl) -> None:
    qctl.enqueue("true")

    assert qctl.json("dlq", "list") == []
    assert qctl.ok("dlq", "list") == ""


def test_dlq_retry_makes_a_dead_job_pending_with_attempts_reset(
    qctl: QueueCtl, scratch: Path
) -> None:
    flag = shell_path(scratch / "flag")
    # Fails the first time, succeeds once retried from the DLQ.
    job_id = qctl.enqueue(f"test -e {flag} || {{ touch {flag}; exit 1; }}", max_retries=0)
    qctl.ok("worker", "start", "--burst")
    assert qctl.job(job_id).state == JobState.DEAD

    out = qctl.ok("dlq", "retry", job_id)

    assert job_id in out
    job = qctl.job(job_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    assert qctl.json("dlq", "list") == []
    qctl.ok("worker", "start", "--burst")
    job = qctl.job(job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)


def test_dlq_retry_of_an_unknown_job_exits_1(qctl: QueueCtl) -> None:
    message = qctl.fails(1, "dlq", "retry", "no-such-job")

    assert "no-such-job" in message


def test_dlq_retry_of_a_job_that_is_not_dead_exits_1_and_changes_nothing(
    qctl: QueueCtl,
) -> None:
    ids = _one_of_each(qctl)
    before = qctl.jobs()

    for state in ("pending", "completed"):
        message = qctl.fails(1, "dlq", "retry", ids[state])
        assert state in message
        assert "not dead" in message

    assert qctl.jobs() == before


def test_list_into_a_closed_pipe_stops_quietly(qctl: QueueCtl) -> None:
    qctl.ok("enqueue", "-", input=_lines(*({"command": "true"} for _ in range(2000))))
    reader = qctl.spawn("list")
    assert reader.stdout is not None
    assert reader.stdout.readline().startswith("ID")

    reader.stdout.close()  # like `queuectl list | head -1`
    reader.wait(timeout=60)

    assert reader.stderr is not None
    assert reader.stderr.read() == ""
