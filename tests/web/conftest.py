"""The dashboard's fixtures: a queue on a shared store (SQLite, PostgreSQL), an HTTP
client over the ASGI application, and a reader of its live event streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from queuectl.api.queue import Queue
from tests.conftest import FAST, store_url
from tests.web.sse import Event, read_events

__all__ = ["Event", "client_for", "csrf_of", "read_events"]


@pytest.fixture
async def web_queue(shared_store_kind: str, home: Path, tmp_path: Path) -> AsyncIterator[Queue]:
    async with Queue.open(store_url(shared_store_kind, tmp_path), settings=FAST) as queue:
        yield queue


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080"
    )


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The CSRF token a browser would hold after opening a page."""
    if "queuectl_csrf" not in client.cookies:
        (await client.get("/")).raise_for_status()
    return str(client.cookies["queuectl_csrf"])
