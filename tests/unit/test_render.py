"""Output shapes: the status text of DESIGN.md, JSON jobs, UTC timestamps with a Z."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from queuectl.cli.render import status_json, status_text, write_job_stream
from queuectl.domain.models import Job, JobState, RunnerInfo, from_epoch, iso
from tests.helpers import EPOCH, job_record, runner_info

COUNTS = {
    JobState.PENDING: 5,
    JobState.PROCESSING: 2,
    JobState.COMPLETED: 52,
    JobState.FAILED: 0,
    JobState.DEAD: 1,
}


def make_job(job_id: str = "j1", **changes: object) -> Job:
    return job_record(job_id, at=EPOCH + 0.123, **{"command": "echo hi", **changes})


@pytest.fixture
def new_york_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test with a local time zone far from UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_status_text_has_the_design_shape() -> None:
    runner = runner_info("r1", EPOCH, pid=12345, host="here")
    assert status_text(COUNTS, [runner], "here") == (
        "Jobs summary:\n"
        "  pending: 5\n"
        "  processing: 2\n"
        "  completed: 52\n"
        "  failed: 0\n"
        "  dead: 1\n"
        "  cancelled: 0\n"
        "Worker manager running: True\n"
        "  manager pid: 12345"
    )


def test_status_text_without_runners() -> None:
    text = status_text(dict.fromkeys(JobState, 0), [], "here")
    assert text.splitlines() == [
        "Jobs summary:",
        "  pending: 0",
        "  processing: 0",
        "  completed: 0",
        "  failed: 0",
        "  dead: 0",
        "  cancelled: 0",
        "Worker manager running: False",
    ]


def test_status_text_lists_every_runner() -> None:
    runners = [runner_info(f"r{pid}", EPOCH, pid=pid, host="here") for pid in (11, 22, 33)]
    lines = status_text(COUNTS, runners, "here").splitlines()
    assert lines[-4:] == [
        "Worker manager running: True",
        "  manager pid: 11",
        "  manager pid: 22",
        "  manager pid: 33",
    ]


def test_status_text_fills_missing_states_with_zero() -> None:
    text = status_text({JobState.DEAD: 2}, [], "here")
    assert "  pending: 0\n" in text
    assert "  dead: 2\n" in text


def test_status_json_shape() -> None:
    runner = runner_info("r1", EPOCH, pid=12345, host="here", concurrency=4)
    data = json.loads(status_json(COUNTS, [runner]))
    assert data["jobs"] == {
        "pending": 5,
        "processing": 2,
        "completed": 52,
        "failed": 0,
        "dead": 1,
        "cancelled": 0,
    }
    (worker,) = data["workers"]
    assert worker["pid"] == 12345
    assert worker["host"] == "here"
    assert worker["concurrency"] == 4
    assert worker["started_at"] == "2023-11-14T22:13:20.000Z"


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    assert iso(from_epoch(EPOCH + 0.1239)) == "2023-11-14T22:13:20.123Z"
    assert iso(None) is None


def test_iso_converts_other_offsets_to_utc() -> None:
    moment = datetime(2026, 11, 27, 21, 13, 27, 123000, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-11-27T20:13:27.123Z"


@pytest.mark.usefixtures("new_york_time")
def test_iso_ignores_the_local_time_zone() -> None:
    assert time.localtime(EPOCH).tm_hour != time.gmtime(EPOCH).tm_hour
    assert iso(from_epoch(EPOCH)) == "2023-11-14T22:13:20.000Z"
    assert from_epoch(EPOCH).tzinfo == UTC


@pytest.mark.usefixtures("new_york_time")
def test_job_json_timestamps_are_utc_with_z() -> None:
    data = make_job(started_at=from_epoch(EPOCH + 1.5), finished_at=None).to_dict()
    for key in ("run_at", "created_at", "updated_at"):
        assert data[key] == "2023-11-14T22:13:20.123Z"
    assert data["started_at"] == "2023-11-14T22:13:21.500Z"
    assert data["finished_at"] is None
    assert data["state"] == "pending"


def test_job_json_has_the_design_fields() -> None:
    data = make_job().to_dict()
    assert {
        "id",
        "command",
        "state",
        "attempts",
        "max_retries",
        "run_at",
        "created_at",
        "updated_at",
        "exit_code",
        "last_error",
    } <= set(data)
    json.dumps(data)  # serialisable as is


async def _jobs(*jobs: Job) -> AsyncIterator[Job]:
    for job in jobs:
        yield job


async def test_job_stream_as_json_is_an_array() -> None:
    out = io.StringIO()
    count = await write_job_stream(_jobs(make_job("a"), make_job("b")), as_json=True, out=out)
    assert count == 2
    assert [j["id"] for j in json.loads(out.getvalue())] == ["a", "b"]


async def test_empty_job_stream_as_json_is_an_empty_array() -> None:
    out = io.StringIO()
    assert await write_job_stream(_jobs(), as_json=True, out=out) == 0
    assert json.loads(out.getvalue()) == []


async def test_job_stream_as_table_has_a_header_and_a_row_per_job() -> None:
    out = io.StringIO()
    await write_job_stream(_jobs(make_job("a"), make_job("b")), as_json=False, out=out)
    header, *rows = out.getvalue().splitlines()
    assert header.split()[:2] == ["ID", "STATE"]
    assert [row.split()[0] for row in rows] == ["a", "b"]
    assert "2023-11-14T22:13:20.123Z" in rows[0]


def test_runner_info_json_has_utc_times() -> None:
    info: RunnerInfo = runner_info("r", EPOCH, pid=1, host="h")
    assert info.to_dict()["heartbeat_at"] == "2023-11-14T22:13:20.000Z"
