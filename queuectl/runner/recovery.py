"""Giving back the jobs of runners that died or stopped renewing their leases.

An interrupted attempt counts (its command did start): the job goes back to pending at
once, or to the DLQ when no attempts are left, with a ``last_error`` naming the runner.
Before a job is given back, any copy of its command still running on this host is
terminated, so one crash does not leave two copies of a job running at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from queuectl.domain.models import Job, Outcome, RunnerInfo
from queuectl.domain.retry import RetryPolicy
from queuectl.host.procinfo import find_processes_with_env, is_alive, kill_process_groups
from queuectl.runner.outcomes import finish_for
from queuectl.runner.shell import claim_value
from queuectl.store.base import Store

__all__ = ["Recovery", "recover"]

log = logging.getLogger("queuectl.runner")

#: A remote runner silent for this many leases is dropped from the registry.
_FORGET_AFTER_LEASES = 10


@dataclass(frozen=True, slots=True)
class Recovery:
    #: Jobs given back by this pass.
    recovered: int
    #: The other runners of this host that are alive (to watch for their exit).
    local_peers: list[RunnerInfo]


async def recover(
    store: Store, me: RunnerInfo, *, lease_seconds: float, kill_grace: float, policy: RetryPolicy
) -> Recovery:
    """One recovery pass over the registry and the expired leases."""
    recovered = 0
    peers = []
    now = store.now()
    runners = {r.id: r for r in await store.list_runners()}
    for runner in runners.values():
        if runner.id == me.id:
            continue
        if runner.host == me.host and not is_alive(runner.pid, runner.pid_start):
            await _end_orphans("QUEUECTL_RUNNER_ID", runner.id, kill_grace)
            reason = f"its runner {runner.id} (pid {runner.pid} on {runner.host}) died"
            recovered += await _give_back(store, await store.claims_of(runner.id), reason, policy)
            await store.unregister_runner(runner.id)
        elif runner.host == me.host:
            peers.append(runner)
        elif runner.heartbeat_at.timestamp() < now - _FORGET_AFTER_LEASES * lease_seconds:
            await store.unregister_runner(runner.id)
    for job in await store.expired_claims():
        if job.runner_id == me.id:
            continue  # ours and running: the heartbeat renews it
        claim = claim_value(job.id, job.token, job.runner_id or "")
        await _end_orphans("QUEUECTL_CLAIM", claim, kill_grace)
        owner = runners.get(job.runner_id or "")
        who = f"runner {job.runner_id}" + (f" (pid {owner.pid} on {owner.host})" if owner else "")
        reason = f"the lease of {who} expired"
        recovered += await _give_back(store, [job], reason, policy)
    return Recovery(recovered, peers)


async def _end_orphans(name: str, value: str, grace: float) -> None:
    pids = await asyncio.to_thread(find_processes_with_env, name, value)
    if pids:
        log.warning("terminating %d leftover process(es) of %s=%s", len(pids), name, value)
        await asyncio.to_thread(kill_process_groups, pids, grace)


async def _give_back(store: Store, jobs: list[Job], reason: str, policy: RetryPolicy) -> int:
    finishes = []
    for job in jobs:
        if job.cancel_requested:  # it was being cancelled: finish that instead
            outcome = Outcome(exit_code=None, reason="cancel", error=f"cancelled ({reason})")
        else:
            error = f"attempt {job.attempts} interrupted: {reason}"
            outcome = Outcome(exit_code=None, reason="crash", error=error)
        finishes.append(finish_for(job, outcome, policy)[1])
    if not finishes:
        return 0
    done = await store.finish(finishes)
    for job in jobs:
        if job.id in done:
            log.warning("recovered job %s: %s", job.id, reason)
    return len(done)
