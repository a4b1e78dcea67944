"""/metrics and /healthz over HTTP (httpx's ASGI transport), on SQLite and PostgreSQL,
with real runs of shell commands, parsed with prometheus_client's own parser."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx

from queuectl.api.queue import Queue
from queuectl.domain.histograms import BUCKET_NAMES
from queuectl.domain.models import JobState
from queuectl.domain.spec import JobSpec
from tests.helpers import eventually, in_state, run_burst, running
from tests.metrics.conftest import TOKEN, client_for, parse, scrape, value

OUTCOMES = ("completed", "failed", "dead", "cancelled")


async def _run(queue: Queue, concurrency: int = 1) -> None:
    await run_burst(queue.runner(concurrency=concurrency, burst=True))


async def test_metrics_needs_the_bearer_token_healthz_does_not(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).is_success
    health = await client.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    async with client_for(queue, token=None) as open_client:
        assert (await open_client.get("/metrics")).status_code == 200


async def test_job_counts_and_finished_totals_follow_the_store(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    await queue.enqueue_many(
        [
            JobSpec("true", queue="alpha"),
            JobSpec("exit 3", queue="alpha", max_retries=0),
            JobSpec("true"),
        ]
    )
    await _run(queue)
    await queue.enqueue("true", delay=3600)
    samples = await scrape(client)
    assert value(samples, "queuectl_jobs", queue="alpha", state="completed") == 1
    assert value(samples, "queuectl_jobs", queue="alpha", state="dead") == 1
    assert value(samples, "queuectl_jobs", queue="alpha", state="pending") == 0
    assert value(samples, "queuectl_jobs", queue="default", state="pending") == 1
    assert value(samples, "queuectl_jobs_finished_total", queue="alpha", outcome="completed") == 1
    assert value(samples, "queuectl_jobs_finished_total", queue="alpha", outcome="dead") == 1
    assert value(samples, "queuectl_jobs_finished_total", queue="alpha", outcome="failed") == 0
    assert value(samples, "queuectl_jobs_finished_total", queue="default", outcome="completed") == 1
    # Only scheduled work in default: nothing runnable has waited.
    assert value(samples, "queuectl_oldest_runnable_age_seconds", queue="default") == 0
    assert value(samples, "queuectl_runners") == 0


async def test_counters_never_go_down_when_jobs_are_deleted(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    """purge, purge by age (what retention runs) and rm delete jobs; no counter drops."""
    await queue.enqueue_many(
        [JobSpec("true", id="keep"), JobSpec("true", id="gone"), JobSpec("exit 1", max_retries=0)]
        + [JobSpec("sleep 0.01", queue="q") for _ in range(3)]
    )
    await _run(queue, concurrency=2)
    before = await scrape(client)
    counters = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in before
        if s.name.endswith(("_total", "_count", "_sum", "_bucket"))
    }
    assert counters[("queuectl_jobs_finished_total", (("outcome", "completed"), ("queue", "q")))]

    assert (await queue.remove(["gone"]))["gone"] == "removed"
    assert await queue.purge(states=["completed"], queue="q", older_than=0.0) == 3
    assert await queue.purge() == 2  # the rest: "keep" and the dead one
    assert await queue.counts() == dict.fromkeys(JobState, 0)

    after = await scrape(client)
    for s in after:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in counters:
            assert s.value == counters.pop(key), key
    assert counters == {}  # every series is still there, with the same value
    assert value(after, "queuectl_jobs", queue="q", state="completed") == 0


async def test_counters_never_go_down_when_a_runners_retention_deletes_jobs(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    await queue.enqueue_many([JobSpec("true", queue="kept") for _ in range(3)])
    await _run(queue)
    before = await scrape(client)
    settings = dataclasses.replace(queue.settings, retention="completed=0.2s")
    runner = Queue(queue.store, settings).runner()
    async with running(runner):
        await eventually(lambda: _no_jobs(queue), what="retention deleting the completed jobs")
    after = await scrape(client)
    for name, labels in [
        ("queuectl_jobs_finished_total", {"queue": "kept", "outcome": "completed"}),
        ("queuectl_job_duration_seconds_count", {"queue": "kept"}),
        ("queuectl_job_wait_seconds_count", {"queue": "kept"}),
    ]:
        assert value(before, name, **labels) == value(after, name, **labels) == 3
    assert value(after, "queuectl_jobs", queue="kept", state="completed") == 0


async def _no_jobs(queue: Queue) -> bool:
    return sum((await queue.counts()).values()) == 0


async def test_histograms_count_known_durations_and_waits(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    """One slot: ``sleep 0.3`` runs first; ``true`` waits behind it; ``after`` waits for
    it too but counts its wait only from the sleep's completion."""
    first = await queue.enqueue("sleep 0.3", priority=2)
    await queue.enqueue("true", priority=1, id="behind")
    await queue.enqueue("true", after=[first.id], id="dependent")
    await _run(queue)
    samples = await scrape(client)

    def bucket(metric: str, le: str) -> float:
        return value(samples, f"{metric}_bucket", queue="default", le=le)

    duration = "queuectl_job_duration_seconds"
    assert value(samples, f"{duration}_count", queue="default") == 3
    assert bucket(duration, "0.25") == 2  # the two `true`s
    assert bucket(duration, "0.5") == 3  # and the sleep of 0.3 s
    assert bucket(duration, "+Inf") == 3
    assert 0.3 <= value(samples, f"{duration}_sum", queue="default") < 0.5

    wait = "queuectl_job_wait_seconds"
    assert value(samples, f"{wait}_count", queue="default") == 3
    assert bucket(wait, "+Inf") == 3
    # "behind" waited for the sleep (>= 0.3 s); the first and the dependent did not.
    assert bucket(wait, "0.25") == 2
    waited = value(samples, f"{wait}_sum", queue="default")
    assert 0.3 <= waited < 0.3 + 2 * 0.25
    counts = [bucket(wait, le) for le in BUCKET_NAMES]
    assert counts == sorted(counts)  # cumulative


async def test_label_values_come_only_from_queues_states_and_outcomes(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    job_id = "job-id-that-must-not-show"
    await queue.enqueue("echo a-command-that-must-not-show", id=job_id, queue="web")
    await queue.enqueue("exit 1", queue="batch", max_retries=0)
    await _run(queue)
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert job_id not in response.text
    assert "a-command-that-must-not-show" not in response.text
    allowed = {
        "queue": {"web", "batch"},
        "state": {s.value for s in JobState} | {"busy", "idle"},
        "outcome": set(OUTCOMES),
        "le": set(BUCKET_NAMES),
    }
    samples = parse(response.text)
    assert samples
    for s in samples:
        for label, text in s.labels.items():
            assert text in allowed[label], (s.name, label, text)


async def test_runners_slots_and_the_oldest_runnable_age(
    queue: Queue, client: httpx.AsyncClient
) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=100)
    await queue.enqueue_many(
        [
            JobSpec("sleep 30", id="busy", queue="run"),
            JobSpec("true", queue="old", run_at=long_ago),
            JobSpec("true", queue="old", priority=5),  # newer, claimed first
        ]
    )
    runner = queue.runner(concurrency=3, queues=["run"])
    async with running(runner):
        await eventually(lambda: in_state(queue.store, "busy", JobState.PROCESSING))
        samples = await scrape(client)
        runner.stop(hard=True)
    assert value(samples, "queuectl_runners") == 1
    assert value(samples, "queuectl_runner_slots", state="busy") == 1
    assert value(samples, "queuectl_runner_slots", state="idle") == 2
    assert 100 <= value(samples, "queuectl_oldest_runnable_age_seconds", queue="old") < 130
    assert value(samples, "queuectl_oldest_runnable_age_seconds", queue="run") == 0
