"""An asyncio application that queues shell commands and Python work, and runs them.

Run it with ``python examples/embed.py``; it uses a temporary SQLite file.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from queuectl import Job, Outcome, Queue, Settings


async def shell_jobs(db: str) -> None:
    """Enqueue shell commands and process them with a runner in this event loop."""
    async with Queue.open(db, settings=Settings(max_retries=1, backoff_base=1)) as queue:
        ok = await queue.enqueue("echo hello from a job")
        bad = await queue.enqueue("exit 7", id="will-fail")
        await queue.enqueue_many(["sleep 0.2", "sleep 0.2", "true"])

        runner = queue.runner(concurrency=4, burst=True)  # burst: return when done
        stats = await runner.run()
        print(f"runner: {stats.completed} completed, {stats.dead} dead")

        print(
            "ok:",
            (await queue.get(ok.id)).state,
            "printed",
            repr((await queue.output(ok.id)).stdout),
        )
        failed = await queue.get(bad.id)
        print("will-fail:", failed.state, "after", failed.attempts, "attempts:", failed.last_error)
        print("counts:", {state.value: n for state, n in (await queue.counts()).items()})


async def python_jobs(db: str) -> None:
    """A custom ``execute`` runs Python coroutines instead of shell commands."""

    async def execute(job: Job) -> Outcome | None:
        if job.command == "divide":
            return Outcome(exit_code=1, error="cannot divide by zero")
        await asyncio.sleep(0.01)  # the job's real work goes here
        return None  # success

    async with Queue.open(db) as queue:
        ids = await queue.enqueue_many(
            ["resize image-1", "resize image-2", {"command": "divide", "max_retries": 0}]
        )
        runner = queue.runner(concurrency=2, execute=execute)
        task = asyncio.create_task(runner.run())  # a long-lived runner beside the app
        jobs = await queue.wait(ids, within=30)  # the application waits for its jobs
        runner.stop()  # graceful: anything still running finishes first
        stats = await task
        print("python jobs:", [job.state.value for job in jobs])
        print(f"python runner: {stats.completed} completed, {stats.dead} dead")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await shell_jobs(str(Path(tmp) / "shell.db"))
        await python_jobs(str(Path(tmp) / "python.db"))


if __name__ == "__main__":
    asyncio.run(main())
