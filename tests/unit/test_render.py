"""Output shapes: the status text of DESIGN.md, JSON jobs, UTC timestamps with a Z."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from queuectl.cli.render import (
    end_text,
    job_details,
    job_row,
    status_json,
    status_text,
    write_job_stream,
)
from queuectl.domain.errors import QueuectlError
from queuectl.domain.models import Attempt, Job, JobState, RunnerInfo, from_epoch, iso
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


ESC = "\x1b[2J"


def test_a_table_row_escapes_control_characters_and_keeps_unicode() -> None:
    job = make_job("a", command=f"echo {ESC} héllo", last_error=f"boom{ESC}\r日本")
    for error in (False, True):
        row = job_row(job, error=error)
        assert "\x1b" not in row
        assert "\r" not in row
    assert job_row(job).endswith("echo \\x1b[2J héllo")
    assert job_row(job, error=True).endswith("boom\\x1b[2J\\x0d日本")


def test_show_escapes_control_characters_line_by_line() -> None:
    job = make_job("a", command=f"printf {ESC}\necho two", last_error=f"first{ESC}\nsecond\x07")
    text = job_details(job, [])
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "command:    printf \\x1b[2J\n            echo two" in text
    assert "last error: first\\x1b[2J\n            second\\x07" in text


def test_json_output_keeps_the_text_as_it_is() -> None:
    job = make_job("a", command=f"echo {ESC}")
    assert json.loads(json.dumps(job.to_dict(), ensure_ascii=False))["command"] == f"echo {ESC}"


async def test_a_row_that_cannot_be_shown_is_reported_and_the_json_still_parses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A time past the last datetime once in UTC (asyncpg reads PostgreSQL's
    # 'infinity' as datetime.max): nothing may be left half-printed because of it.
    beyond = datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))
    bad = make_job("bad", state=JobState.COMPLETED, updated_at=beyond)
    jobs = [make_job("a"), bad, make_job("c")]
    for as_json in (True, False):
        out = io.StringIO()
        with pytest.raises(QueuectlError, match="1 job\\(s\\) could not be shown"):
            await write_job_stream(_jobs(*jobs), as_json=as_json, out=out)
        if as_json:
            assert [j["id"] for j in json.loads(out.getvalue())] == ["a", "c"]
        else:
            assert [row.split()[0] for row in out.getvalue().splitlines()] == ["ID", "a", "c"]
        assert capsys.readouterr().err.startswith("queuectl: error: job bad cannot be shown:")


@pytest.mark.parametrize(
    ("reason", "exit_code", "signal", "shown"),
    [
        ("exit", 3, None, "exit 3"),
        ("signal", None, 9, "signal 9"),
        ("exit", None, 9, "signal 9"),  # as versions before the 'signal' reason recorded it
        ("timeout", None, 15, "timeout (signal 15)"),
        ("cancel", None, 15, "cancel (signal 15)"),
        ("crash", None, None, "crash"),
    ],
)
def test_show_names_how_an_attempt_ended_as_the_runner_lines_do(
    reason: str, exit_code: int | None, signal: int | None, shown: str
) -> None:
    assert end_text(reason, exit_code, signal) == shown
    attempt = Attempt(1, 1, from_epoch(EPOCH), ended_at=from_epoch(EPOCH + 1))
    attempt = attempt._replace(reason=reason, exit_code=exit_code, signal=signal)
    assert f" {shown} " in job_details(make_job("a"), [attempt])


def test_schedule_details_show_skips_and_escape_the_command() -> None:
    from queuectl.cli.schedule_render import schedule_details, schedule_rows
    from queuectl.domain.models import JobState, from_epoch
    from queuectl.domain.schedule import Fire, Schedule

    t = 1_700_000_040.0
    schedule = Schedule(
        name="s",
        cron="* * * * *",
        timezone="UTC",
        job='{"command": "echo \\u001b[31mred", "queue": "ops"}',
        catch_up="latest",
        no_overlap=True,
        paused=False,
        created_at=from_epoch(t),
        updated_at=from_epoch(t),
        cursor=from_epoch(t + 120),
        last_fire_at=from_epoch(t),
        last_job_id="j1",
        last_job_state=JobState.PROCESSING,
        missed=0,
        skipped=2,
    )
    history = [
        Fire("s", from_epoch(t + 120), "tick", "skipped", None, from_epoch(t + 120), "overlap"),
        Fire("s", from_epoch(t + 60), "tick", "skipped", "k1", from_epoch(t + 60), "unique"),
        Fire("s", from_epoch(t), "tick", "fired", "j1", from_epoch(t)),
    ]
    text = schedule_details(schedule, history, t + 130)
    assert "\x1b" not in text
    assert "command:    echo \\x1b[31mred" in text
    assert "skipped:    2 tick(s) skipped (last job unfinished, or key held)" in text
    lines = text.splitlines()
    assert lines[-3:] == [
        "  2023-11-14T22:16:00.000Z  tick     skipped: the last job was unfinished",
        "  2023-11-14T22:15:00.000Z  tick     skipped: its unique key was held by job k1",
        "  2023-11-14T22:14:00.000Z  tick     job j1",
    ]
    (row,) = schedule_rows([schedule], t + 130)[1:]
    assert row.split()[-2:] == ["j1", "(processing)"]
