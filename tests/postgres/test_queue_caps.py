"""A cap under truly concurrent claims: many connections claiming the same capped queue
at once, in READ COMMITTED, where each claim's snapshot alone would let it pass."""

from __future__ import annotations

import asyncio

import pytest

from queuectl.domain.models import JobState
from queuectl.store import Finish, NewJob, open_store
from queuectl.store.postgres.store import PostgresStore

pytestmark = pytest.mark.postgres

CLAIMERS = 8
CAP = 3


async def test_concurrent_claims_never_pass_the_cap(pg_store: PostgresStore, pg_url: str) -> None:
    await pg_store.enqueue([NewJob(f"c{i}", "true", 0, queue="capped") for i in range(60)])
    await pg_store.enqueue([NewJob(f"o{i}", "true", 0, queue="other") for i in range(400)])
    await pg_store.set_cap("capped", CAP)
    stores = [await open_store(pg_url) for _ in range(CLAIMERS)]
    try:
        held: list[list[Finish]] = [[] for _ in stores]
        most, claimed_capped = 0, 0
        while claimed_capped < 60:
            # Every claimer finishes what it holds and claims again, all at the same time.
            rounds = await asyncio.gather(
                *(store.exchange(held[n], f"r{n}", 8, 30.0) for n, store in enumerate(stores))
            )
            running = await pg_store.count_jobs()
            most = max(most, running["capped"][JobState.PROCESSING])
            for n, (_, taken) in enumerate(rounds):
                held[n] = [Finish(j.id, j.token, JobState.COMPLETED) for j in taken]
                claimed_capped += sum(1 for j in taken if j.queue == "capped")
        assert most == CAP
        counts = await pg_store.count_jobs()
        assert counts["capped"][JobState.PROCESSING] <= CAP
    finally:
        for store in stores:
            await store.close()
