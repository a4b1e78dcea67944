"""The scheduling features through the real CLI."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.conftest import CLI
from tests.faults.helpers import job_of, jobs_of, lines
from tests.helpers import eventually
from tests.processes import Runners

# Each word must reach the program as one argument, byte for byte.
_QUOTING_CASES = [
    ["a b", "  two  spaces  "],
    ["it's", 'say "hi"', "back\\slash"],
    ["$HOME", "${PATH}", "`id`", "$(id)"],
    ["x;y", "a && b", "a | b", "> out", "*", "~"],
    ["naïve", "日本語", "emoji 🎉"],
    ["", "-n", "--", "#not a comment"],
]


@pytest.mark.parametrize(
    "words", _QUOTING_CASES, ids=["spaces", "quotes", "dollar", "ops", "utf8", "edge"]
)
def test_add_passes_each_word_as_one_argument(cli: CLI, tmp_path: Path, words: list[str]) -> None:
    out = tmp_path / "argv.json"
    script = f"import json, sys; open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))"
    job_id = cli("add", "--", sys.executable, "-c", script, *words, check=True).stdout.strip()
    assert cli("worker", "start", "--burst", timeout=60).returncode == 0
    assert json.loads(out.read_text(encoding="utf-8")) == words
    listed = json.loads(cli("list", "--json", check=True).stdout)
    assert [j["id"] for j in listed] == [job_id]


def test_add_with_one_word_runs_it_as_a_command_line(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli("add", "--", f"echo one two | tr ' ' '\\n' > {out}", check=True)
    assert cli("worker", "start", "--burst", timeout=60).returncode == 0
    assert lines(out) == ["one", "two"]


def test_add_sets_every_field(cli: CLI) -> None:
    cli("add", "--id", "first", "--", "true", check=True)
    args = [
        "--id", "full", "--retries", "7", "--priority", "3", "--delay", "2h",
        "--timeout", "90s", "--queue", "mail", "--after", "first",
        "--backoff-base", "3", "--backoff-max", "10m", "--backoff-jitter", "full",
    ]  # fmt: skip
    assert cli("add", *args, "--", "echo", "hi", check=True).stdout.strip() == "full"
    (job,) = json.loads(cli("list", "--queue", "mail", "--json", check=True).stdout)
    assert job["command"] == "echo hi"
    assert (job["max_retries"], job["priority"], job["timeout"], job["queue"]) == (7, 3, 90, "mail")
    assert (job["after"], job["backoff_base"], job["backoff_max"]) == (["first"], 3, 600)
    assert job["backoff_jitter"] == "full"
    assert job["state"] == "pending"
    run_at = job["run_at"].replace("Z", "+00:00")
    created = job["created_at"].replace("Z", "+00:00")
    from datetime import datetime

    gap = datetime.fromisoformat(run_at) - datetime.fromisoformat(created)
    assert 7190 < gap.total_seconds() < 7210
    assert "after 1 job(s)" in cli("list", "--queue", "mail", check=True).stdout
    cli("add", "--delay", "2h", "--", "true", check=True)
    shown = cli("list", "--queue", "default", check=True).stdout
    assert "in 1h59m" in shown or "in 2h00m" in shown


@pytest.mark.parametrize(
    "args",
    [
        ["--delay", "soon", "--", "true"],
        ["--at", "tomorrow", "--", "true"],
        ["--priority", "high", "--", "true"],
        ["--queue", "bad name", "--", "true"],
        ["--id", "../escape", "--", "true"],
        ["--delay", "5m", "--at", "2030-01-01T00:00:00Z", "--", "true"],
    ],
)
def test_add_rejects_bad_options_and_stores_nothing(cli: CLI, args: list[str]) -> None:
    result = cli("add", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("list", "--json", check=True).stdout) == []


async def test_a_delayed_job_starts_on_time_with_an_idle_runner(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    cli("config", "set", "poll-interval", "600", check=True)
    runner = runners.start()
    await eventually(lambda: _has_runner(cli, runner.pid), what="the runner to register")
    started = tmp_path / "started"
    cli("add", "--id", "later", "--delay", "2", "--", f"date +%s.%N > {started}", check=True)
    await eventually(lambda: started.exists() and started.read_text().strip() != "", within=30)
    job = await job_of(cli, "later")
    began = float(started.read_text())
    assert began >= job.run_at.timestamp()
    # Woken by its timer for run_at, not by the 600 s fallback poll.
    assert began - job.run_at.timestamp() < 5


async def _has_runner(cli: CLI, pid: int) -> bool:
    from tests.faults.helpers import has_runner

    return await has_runner(cli, pid)


async def test_runners_consume_only_their_queues_and_status_counts_each(
    cli: CLI, runners: Runners
) -> None:
    for name in ("mail", "mail", "video"):
        cli("add", "--queue", name, "--", "true", check=True)
    cli("add", "--", "true", check=True)
    assert runners.start("--burst", "--queue", "mail").wait(timeout=60) == 0
    jobs = (await jobs_of(cli)).values()
    done = sorted(j.queue for j in jobs if j.state == JobState.COMPLETED)
    assert done == ["mail", "mail"]
    status = cli("status", check=True).stdout
    assert "Queues:" in status
    assert "  mail: pending 0, processing 0, completed 2" in status
    assert "  video: pending 1," in status
    as_json = json.loads(cli("status", "--queue", "video", "--json", check=True).stdout)
    assert as_json["jobs"]["pending"] == 1
    assert list(as_json["queues"]) == ["video"]
    assert runners.start("--burst", "-q", "video", "-q", "default").wait(timeout=60) == 0
    assert all(j.state == JobState.COMPLETED for j in (await jobs_of(cli)).values())


def test_purge_through_the_cli(cli: CLI) -> None:
    cli("add", "--retries", "0", "--", "false", check=True)
    cli("add", "--", "true", check=True)
    cli("add", "--delay", "1h", "--", "true", check=True)
    assert cli("worker", "start", "--burst", timeout=60).returncode == 0
    assert cli("purge", "--older-than", "1h", check=True).stdout.strip() == "purged 0 job(s)"
    assert cli("purge", "--state", "completed", check=True).stdout.strip() == "purged 1 job(s)"
    assert cli("purge", check=True).stdout.strip() == "purged 1 job(s)"
    assert [j["state"] for j in json.loads(cli("list", "--json", check=True).stdout)] == ["pending"]
    assert cli("purge", "--older-than", "soon").returncode == 2


def test_retention_setting_is_validated(cli: CLI) -> None:
    assert cli("config", "set", "retention", "completed=7d,dead=30d", check=True).returncode == 0
    assert cli("config", "get", "retention", check=True).stdout.strip() == "completed=7d,dead=30d"
    before = cli("config", "get", "--json", check=True).stdout
    assert cli("config", "set", "retention", "pending=1d").returncode == 2
    assert cli("config", "get", "--json", check=True).stdout == before


async def test_runner_purges_by_retention(cli: CLI, runners: Runners) -> None:
    cli("add", "--", "true", check=True)
    cli("config", "set", "retention", "completed=1s", check=True)
    started = time.monotonic()
    runner = runners.start()
    await eventually(lambda: _empty(cli), within=60, what="the retention purge")
    assert time.monotonic() - started < 60
    runner.terminate()
    assert runner.wait(timeout=30) == 0


async def _empty(cli: CLI) -> bool:
    return not await jobs_of(cli)
