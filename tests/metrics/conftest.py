"""Metrics tests: a queue on SQLite and PostgreSQL, scraped over HTTP as Prometheus would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.applications import Starlette

from queuectl.api.queue import Queue
from queuectl.store import open_store
from queuectl.web.metrics import metrics_routes
from tests.conftest import FAST, store_url

TOKEN = "s3cret-token"


@pytest.fixture
async def queue(shared_store_kind: str, home: Path, tmp_path: Path) -> AsyncIterator[Queue]:
    store = await open_store(store_url(shared_store_kind, tmp_path))
    try:
        yield Queue(store, FAST)
    finally:
        await store.close()


def client_for(queue: Queue, token: str | None = TOKEN) -> httpx.AsyncClient:
    app = Starlette(routes=metrics_routes(queue, token=token))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(queue: Queue) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(queue) as http:
        yield http


def parse(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition (the parser refuses malformed text)."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample of ``name`` with exactly these labels (KeyError if none)."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    if len(found) != 1:
        raise KeyError(f"{name}{labels}: {len(found)} samples")
    return found[0]


def series(samples: list[Sample]) -> Iterator[tuple[str, dict[str, str]]]:
    for s in samples:
        yield s.name, s.labels


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)
