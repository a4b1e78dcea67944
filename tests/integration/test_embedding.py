"""The embedding API: open a queue, enqueue, run a Runner in our own loop, custom execute."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
from pathlib import Path

import pytest

import queuectl
from queuectl import DuplicateJob, InvalidInput, Job, JobState, Outcome, Queue, Settings
from queuectl.domain.spec import validate_job_id
from tests.helpers import eventually, run_burst, running


async def test_open_on_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with Queue.open(str(path)) as queue:
        job = await queue.enqueue("true")
        await run_burst(queue.runner(burst=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with Queue.open(str(path)) as again:  # the state is on disk
        assert (await again.get(job.id)).state == JobState.COMPLETED


async def test_open_on_an_absolute_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "q.db"
    path.parent.mkdir()
    async with Queue.open(f"sqlite:///{path}") as queue:  # sqlite:////tmp/...
        await queue.enqueue("true", id="abs")
    assert path.is_file()
    async with Queue.open(str(path)) as queue:
        assert (await queue.get("abs")).command == "true"


async def test_open_on_a_relative_sqlite_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with Queue.open("sqlite:///relative.db") as queue:
        await queue.enqueue("true", id="rel")
    assert (tmp_path / "relative.db").is_file()


async def test_open_on_a_home_creates_it_private_and_reads_its_config(tmp_path: Path) -> None:
    home = tmp_path / "app-home"
    async with Queue.open(home=home) as queue:
        await queue.enqueue("true", id="first")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "queuectl.db").is_file()
    (home / "config.json").write_text(json.dumps({"max-retries": 7, "backoff-base": 3}))
    async with Queue.open(home=home) as queue:
        assert queue.settings == Settings(max_retries=7, backoff_base=3)
        job = await queue.enqueue("true")
        assert job.max_retries == 7
        assert [j.id async for j in queue.jobs()] == ["first", job.id]


async def test_open_on_memory_url() -> None:
    async with Queue.open("memory://", settings=Settings(max_retries=1)) as queue:
        job = await queue.enqueue("true")
        assert isinstance(queue.store, queuectl.MemoryStore)
        assert job.max_retries == 1


async def test_enqueue_accepts_strings_mappings_and_specs(queue: Queue) -> None:
    a = await queue.enqueue("echo a", id="a", max_retries=0)
    b = await queue.enqueue({"command": "echo b", "id": "b", "priority": 2})
    c = await queue.enqueue(queuectl.JobSpec(command="echo c", id="c", timeout=5))
    assert (a.max_retries, b.priority, c.timeout) == (0, 2, 5)
    assert b.max_retries == queue.settings.max_retries
    generated = [(await queue.enqueue("echo d")).id for _ in range(2)]
    assert generated[0] != generated[1]
    assert all(validate_job_id(job_id) for job_id in generated)
    with pytest.raises(InvalidInput, match="unknown field"):
        await queue.enqueue("echo e", retries=3)
    with pytest.raises(InvalidInput):
        await queue.enqueue({"command": ""})
    assert sum((await queue.counts()).values()) == 5


async def test_enqueue_many_is_all_or_nothing(queue: Queue) -> None:
    await queue.enqueue("true", id="taken")
    with pytest.raises(DuplicateJob):
        await queue.enqueue_many(["true", {"command": "true", "id": "taken"}, "true"])
    with pytest.raises(DuplicateJob):
        await queue.enqueue_many([{"command": "a", "id": "x"}, {"command": "b", "id": "x"}])
    with pytest.raises(InvalidInput):
        await queue.enqueue_many(["true", {"command": "true", "max_retries": -1}])
    assert [j.id async for j in queue.jobs()] == ["taken"]
    ids = await queue.enqueue_many(["true", {"command": "false", "id": "named"}])
    assert ids[1] == "named"
    assert [j.id async for j in queue.jobs()] == ["taken", *ids]


async def test_list_by_state_name_and_unknown_state(queue: Queue) -> None:
    await queue.enqueue("true", id="a")
    assert [j.id async for j in queue.jobs(state="pending")] == ["a"]
    with pytest.raises(InvalidInput, match="unknown state 'bogus'"):
        queue.jobs(state="bogus")


async def test_retry_from_the_dlq_runs_the_job_again(queue: Queue, work: Path) -> None:
    flag = work / "fixed"
    job = await queue.enqueue(f"test -e {flag}", max_retries=0)
    await run_burst(queue.runner(burst=True))
    assert [j.id async for j in queue.dead()] == [job.id]
    flag.touch()
    retried = await queue.retry(job.id)
    assert (retried.state, retried.attempts) == (JobState.PENDING, 0)
    await run_burst(queue.runner(burst=True))
    done = await queue.get(job.id)
    assert (done.state, done.attempts) == (JobState.COMPLETED, 1)
    with pytest.raises(queuectl.InvalidState):
        await queue.retry(job.id)
    with pytest.raises(queuectl.JobNotFound):
        await queue.retry("ghost")


async def test_a_runner_in_our_own_loop_picks_up_jobs_as_they_come(
    queue: Queue, work: Path
) -> None:
    runner = queue.runner(concurrency=2)
    async with running(runner):
        # ``runner.info`` is set just before the registration commits: await the entry.
        async def registered() -> bool:
            return bool(await queue.runners())

        await eventually(registered, what="the runner to register")
        (live,) = await queue.runners()
        assert live.id == runner.id
        for name in ("one", "two", "three"):
            await queue.enqueue(f"touch {work}/{name}", id=name)
        for name in ("one", "two", "three"):
            await eventually((work / name).exists)
    assert (await queue.counts())[JobState.COMPLETED] == 3
    assert await queue.runners() == []


async def test_a_runner_installs_no_signal_handlers(queue: Queue, work: Path) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    job = await queue.enqueue(f"touch {work}/started; sleep 0.3")
    async with running(queue.runner()):
        await eventually(lambda: (work / "started").exists())
        during = {sig: signal.getsignal(sig) for sig in before}
    assert during == before
    assert (await queue.get(job.id)).state == JobState.COMPLETED


async def test_handle_signals_is_opt_in_and_restores_handlers(queue: Queue) -> None:
    before = signal.getsignal(signal.SIGTERM)
    runner = queue.runner()
    with queuectl.handle_signals(runner):
        assert signal.getsignal(signal.SIGTERM) != before
        signal.raise_signal(signal.SIGTERM)
        await eventually(lambda: runner.stopping)
    assert signal.getsignal(signal.SIGTERM) == before


# -- custom execute -----------------------------------------------------------------


async def test_custom_execute_returning_none_completes(queue: Queue) -> None:
    seen: list[Job] = []

    async def execute(job: Job) -> None:
        seen.append(job)
        await asyncio.sleep(0)

    job = await queue.enqueue("python work, not a shell command")
    stats = await run_burst(queue.runner(burst=True, execute=execute))
    assert stats.completed == 1
    assert [(j.id, j.state, j.attempts) for j in seen] == [(job.id, JobState.PROCESSING, 1)]
    done = await queue.get(job.id)
    assert (done.state, done.exit_code, done.last_error) == (JobState.COMPLETED, 0, None)


async def test_custom_execute_returning_an_outcome_is_recorded(queue: Queue) -> None:
    async def execute(job: Job) -> Outcome:
        return Outcome(exit_code=3, error=f"{job.command} said no")

    job = await queue.enqueue("ask", max_retries=0)
    await run_burst(queue.runner(burst=True, execute=execute))
    dead = await queue.get(job.id)
    assert (dead.state, dead.exit_code, dead.last_error) == (JobState.DEAD, 3, "ask said no")


async def test_custom_execute_that_raises_is_a_failed_attempt(queue: Queue) -> None:
    calls = 0

    async def execute(job: Job) -> Outcome:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"kaput #{calls}")

    job = await queue.enqueue("explode", max_retries=1)
    stats = await run_burst(queue.runner(burst=True, execute=execute))
    dead = await queue.get(job.id)
    assert calls == 2
    assert (dead.state, dead.attempts, dead.exit_code) == (JobState.DEAD, 2, None)
    assert dead.last_error == "RuntimeError: kaput #2"
    assert (stats.failed, stats.dead) == (1, 1)


async def test_custom_execute_runs_concurrently_up_to_the_count(queue: Queue) -> None:
    active = 0
    peak = 0
    all_in = asyncio.Event()

    async def execute(job: Job) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if peak == 3:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 10)
        active -= 1

    await queue.enqueue_many([f"task {i}" for i in range(6)])
    stats = await run_burst(queue.runner(concurrency=3, burst=True, execute=execute))
    assert (stats.completed, peak) == (6, 3)


async def test_hard_stop_cancels_a_custom_execute_and_gives_the_job_back(queue: Queue) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def execute(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job = await queue.enqueue("forever")
    runner = queue.runner(execute=execute)
    async with running(runner) as task:
        await asyncio.wait_for(started.wait(), 10)
        runner.stop(hard=True)
        await asyncio.wait_for(task, 10)
    assert cancelled.is_set()
    back = await queue.get(job.id)
    assert (back.state, back.attempts) == (JobState.PENDING, 0)


# -- stopping runners through the queue -----------------------------------------------


def gated(work: Path) -> str:
    return f"touch {work}/started; while [ ! -e {work}/gate ]; do sleep 0.01; done"


async def test_stop_runners_drains_a_runner_and_returns_once_it_has_exited(
    queue: Queue, work: Path
) -> None:
    job = await queue.enqueue(gated(work))
    runner = queue.runner()
    async with running(runner) as task:
        await eventually(lambda: (work / "started").exists())
        stopping = asyncio.create_task(queue.stop_runners(drain_timeout=30, poll=0.01))
        await eventually(lambda: runner.stopping)
        assert not stopping.done()
        (work / "gate").touch()
        stopped = await asyncio.wait_for(stopping, 30)
        # It has left the registry, the last thing it awaits: its task ends next.
        await asyncio.wait_for(task, 5)
    assert [r.id for r in stopped] == [runner.id]
    assert (await queue.get(job.id)).state == JobState.COMPLETED


async def test_stop_runners_hard_gives_the_running_job_back(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(gated(work))
    async with running(queue.runner()) as task:
        await eventually(lambda: (work / "started").exists())
        await asyncio.wait_for(queue.stop_runners(hard=True, poll=0.01), 30)
        await asyncio.wait_for(task, 5)  # as above: it has left the registry
    back = await queue.get(job.id)
    assert (back.state, back.attempts) == (JobState.PENDING, 0)


async def test_stop_runners_times_out_while_a_job_runs_on(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(gated(work))
    runner = queue.runner()
    async with running(runner):
        await eventually(lambda: (work / "started").exists())
        with pytest.raises(queuectl.StopTimeout, match="still draining"):
            await queue.stop_runners(drain_timeout=0.3, poll=0.01)
        assert runner.stopping
        (work / "gate").touch()
    assert (await queue.get(job.id)).state == JobState.COMPLETED


async def test_stop_runners_with_no_runner_returns_nothing(queue: Queue) -> None:
    assert await queue.stop_runners(drain_timeout=1) == []


def test_the_embedding_example_runs() -> None:
    """examples/embed.py is documentation: it must keep working as the API changes."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "embed.py"
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "runner: 4 completed, 1 dead" in result.stdout
    assert "will-fail: dead after 2 attempts: exit code 7" in result.stdout
    assert "python jobs: ['completed', 'completed', 'dead']" in result.stdout
    assert "python runner: 2 completed, 1 dead" in result.stdout
