"""Soak test: many jobs with random failures while runners are killed and restarted.

    python -m benchmarks.soak --jobs 20000 --runners 3 --count 8

Not part of the test suite. Every job writes a line when an attempt starts and when
it ends; at the end the books are checked: every job completed or dead, none lost, and
a job's command completed twice only if a runner was killed while holding that job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState

# Attempts up to FAIL fail; the job's FAIL is drawn at enqueue time.
_COMMAND = (
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $QUEUECTL_RUNNER_ID start" >> {log}; '
    "sleep {pause}; "
    'if [ "$QUEUECTL_ATTEMPT" -le {fail} ]; then exit 1; fi; '
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $QUEUECTL_RUNNER_ID ok" >> {log}'
)


@dataclass
class Chaos:
    home: Path
    count: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed_pids: set[int] = field(default_factory=set)
    kills: int = 0
    terms: int = 0
    starts: int = 0

    def start(self) -> None:
        env = {**os.environ, "QUEUECTL_HOME": str(self.home)}
        log = open(self.home / f"runner-{self.starts}.log", "wb")  # noqa: SIM115
        cmd = [sys.executable, "-m", "queuectl", "worker", "start", "--count", str(self.count)]
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
        self.starts += 1

    def strike(self, rng: random.Random) -> None:
        """Kill (or sometimes gracefully stop) one live runner, and start a replacement."""
        live = [p for p in self.procs if p.poll() is None]
        if not live:
            return
        victim = rng.choice(live)
        if rng.random() < 0.8:
            victim.send_signal(signal.SIGKILL)
            self.killed_pids.add(victim.pid)
            self.kills += 1
        else:
            victim.send_signal(signal.SIGTERM)
            self.terms += 1
        self.start()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=120)


async def soak(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="queuectl-soak-"))
    log = home / "attempts.log"
    config = {"max_retries": 2, "backoff_base": 1.0, "lease_seconds": 5.0, "kill_grace": 1.0}
    (home / "config.json").write_text(json.dumps(config))
    fails = {f"j{i}": rng.choices([0, 1, 2, 3], weights=[85, 8, 4, 3])[0] for i in range(args.jobs)}
    async with Queue.open(home=home) as queue:
        await queue.enqueue_many(
            {"id": job_id, "command": _COMMAND.format(log=log, pause=args.pause, fail=fail)}
            for job_id, fail in fails.items()
        )
    chaos = Chaos(home, args.count)
    for _ in range(args.runners):
        chaos.start()
    started = time.monotonic()
    runner_ids: dict[int, str] = {}
    async with Queue.open(home=home) as queue:
        while True:
            await asyncio.sleep(rng.uniform(args.kill_every / 2, args.kill_every * 1.5))
            for runner in await queue.runners():
                runner_ids[runner.pid] = runner.id
            counts = await queue.counts()
            active = sum(
                counts[s] for s in (JobState.PENDING, JobState.PROCESSING, JobState.FAILED)
            )
            shown = {state.value: n for state, n in counts.items()}
            print(f"  {time.monotonic() - started:6.1f}s  active {active:6}  {shown}")
            if not active:
                break
            chaos.strike(rng)
        elapsed = time.monotonic() - started
        chaos.stop_all()
        jobs = {job.id: job async for job in queue.jobs()}
    killed_runners = {runner_ids[pid] for pid in chaos.killed_pids if pid in runner_ids}
    return _check_books(jobs, fails, log, killed_runners, chaos, elapsed, args)


def _check_books(
    jobs: Mapping[str, object],
    fails: dict[str, int],
    log: Path,
    killed_runners: set[str],
    chaos: Chaos,
    elapsed: float,
    args: argparse.Namespace,
) -> int:
    from queuectl.domain.models import Job

    oks: dict[str, list[str]] = defaultdict(list)
    starts: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        job_id, _attempt, runner_id, what = line.split()
        if what == "ok":
            oks[job_id].append(runner_id)
        else:
            starts[job_id] += 1
    problems = []
    states: Counter[str] = Counter()
    duplicates = 0
    for job_id in fails:
        job = jobs.get(job_id)
        if not isinstance(job, Job):
            problems.append(f"{job_id}: lost")
            continue
        states[job.state.value] += 1
        if job.state not in (JobState.COMPLETED, JobState.DEAD):
            problems.append(f"{job_id}: left {job.state.value}")
        if job.state == JobState.COMPLETED and not oks[job_id]:
            problems.append(f"{job_id}: completed without a successful run")
        if len(oks[job_id]) > 1:
            duplicates += 1
            # Only a crash of the runner that ran it first can explain a second success.
            if not set(oks[job_id][:-1]) <= killed_runners:
                problems.append(f"{job_id}: ran to success twice without a crash: {oks[job_id]}")
    print(
        f"\n{args.jobs} jobs, {chaos.starts} runner starts, {chaos.kills} SIGKILLs, "
        f"{chaos.terms} SIGTERMs, {elapsed:.1f}s ({args.jobs / elapsed:.0f} jobs/s)\n"
        f"final states: {dict(states)}; attempts started: {sum(starts.values())}; "
        f"jobs completed twice after a crash: {duplicates}"
    )
    for problem in problems[:20]:
        print("PROBLEM", problem)
    print("books balance" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runners", type=int, default=3)
    parser.add_argument("--count", type=int, default=8, help="workers per runner")
    parser.add_argument("--pause", type=float, default=0.01, help="seconds each job sleeps")
    parser.add_argument("--kill-every", type=float, default=2.0, help="mean seconds between kills")
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(soak(parser.parse_args())))


if __name__ == "__main__":
    main()
