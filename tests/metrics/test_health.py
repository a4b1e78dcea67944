"""/healthz: 200 while the store answers, 503 when it does not (and /metrics with it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.store import open_store
from tests.conftest import FAST, store_url
from tests.metrics.conftest import TOKEN, client_for
from tests.pgsupport import with_params
from tests.postgres.proxy import Proxy


async def test_healthz_is_503_once_the_sqlite_store_is_closed(home: Path, tmp_path: Path) -> None:
    store = await open_store(store_url("sqlite", tmp_path))
    queue = Queue(store, FAST)
    async with client_for(queue) as client:
        assert (await client.get("/healthz")).status_code == 200
        await store.close()
        gone = await client.get("/healthz")
        assert gone.status_code == 503
        assert gone.text.strip()  # says why, on one line
        assert len(gone.text.strip().splitlines()) == 1


@pytest.mark.postgres
async def test_healthz_follows_a_postgres_outage(tmp_path: Path) -> None:
    url = store_url("postgres", tmp_path)
    proxy = Proxy.for_url(url)
    await proxy.start()
    store = await open_store(with_params(proxy.url(url), pool_size="1"))
    try:
        async with client_for(Queue(store, FAST)) as client:
            assert (await client.get("/healthz")).status_code == 200
            async with proxy.outage():
                down = await client.get("/healthz")
                assert down.status_code == 503
                assert "did not answer" in down.text
            assert (await client.get("/healthz")).status_code == 200
            scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert scraped.status_code == 200
    finally:
        await store.close()
        await proxy.close()
