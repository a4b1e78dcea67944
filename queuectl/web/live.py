"""Live updates over server-sent events: each open page holds one stream.

A stream re-renders its page's live parts whenever the store may have changed and
sends those that did, as ``swap`` events (HTML from the same templates as the page);
a running job's output goes as ``append`` events (text, shown as text). The store is
read only while a stream is open: every ``poll`` seconds (finishes are not announced
by any store), and at once on a wake-up the store does announce (PostgreSQL's
notifications for new work, cancels and stops). No page open, no reads.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from queuectl.api.queue import Queue
from queuectl.domain.errors import InvalidInput, JobNotFound
from queuectl.domain.text import printable
from queuectl.web import pages
from queuectl.web.views import queue_of

__all__ = ["Wakes", "routes"]

#: A comment line now and then: proxies keep the stream open, and a closed one is noticed.
KEEPALIVE = 15.0


class Wakes:
    """The store's wake-ups, shared by the open streams: subscribed while any is open."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._events: set[asyncio.Event] = set()
        self._subscription: Any = None
        self._lock = asyncio.Lock()

    @property
    def watching(self) -> int:
        """How many streams are open (the store is read only while some are)."""
        return len(self._events)

    def _wake(self, kind: str) -> None:
        for event in self._events:
            event.set()

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        async with self._lock:
            if not self._events:
                with contextlib.suppress(Exception):  # a store without wake-ups: poll only
                    self._subscription = await self._queue.on_wake(self._wake)
            self._events.add(event)
        try:
            yield event
        finally:
            async with self._lock:
                self._events.discard(event)
                if not self._events and self._subscription is not None:
                    subscription, self._subscription = self._subscription, None
                    await subscription.close()


def _event(name: str, data: dict[str, str]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


Render = Callable[[], Awaitable[dict[str, str]]]


async def _swaps(
    request: Request,
    render: Render,
    out: asyncio.Queue[str],
    version: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Send the parts that changed, each time the store may have changed. With
    ``version`` (a cheap read), the parts are rendered again only when it changes: a
    page of many rows is not read and rendered twice a second for nothing."""
    wakes: Wakes = request.app.state.wakes
    poll: float = request.app.state.poll
    sent: dict[str, str] = {}
    seen: object = None
    async with wakes.watch() as woken:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), poll)
            woken.clear()
            if version is not None:
                now = await version()
                if sent and now == seen:
                    continue
                seen = now
            try:
                parts = await render()
            except JobNotFound:
                await out.put(_event("end", {}))
                return
            for key, html in parts.items():
                if sent.get(key) != html:
                    sent[key] = html
                    await out.put(_event("swap", {"id": key, "html": html}))


async def _output(
    queue: Queue, job_id: str, number: int | None, seen: tuple[int, int], out: asyncio.Queue[str]
) -> None:
    """Append what the attempt writes after the ``seen`` bytes the page shows."""
    skip = {1: seen[0], 2: seen[1]}
    decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in (1, 2)}
    async for stream, data in queue.follow(job_id, attempt=number, poll=0.25):
        if skip[stream]:
            cut = min(skip[stream], len(data))
            data, skip[stream] = data[cut:], skip[stream] - cut
        text = decoders[stream].decode(data)
        if text:
            target = "stdout" if stream == 1 else "stderr"
            shown = printable(text, keep="\n\t")
            await out.put(_event("append", {"id": target, "text": shown}))


Worker = Callable[[asyncio.Queue[str]], Coroutine[Any, Any, None]]


def _stream(request: Request, *workers: Worker) -> Response:
    out: asyncio.Queue[str] = asyncio.Queue()

    async def events() -> AsyncIterator[str]:
        tasks = [asyncio.create_task(work(out)) for work in workers]
        try:
            yield ": open\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(out.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
    )


async def overview(request: Request) -> Response:
    return _stream(request, lambda out: _swaps(request, lambda: pages.overview_parts(request), out))


async def queues(request: Request) -> Response:
    return _stream(request, lambda out: _swaps(request, lambda: pages.queues_parts(request), out))


async def listing(request: Request, fixed: dict[str, Any]) -> Response:
    try:
        chosen = {**pages.listing_filters(request), **fixed}
    except InvalidInput as exc:
        return Response(str(exc), 400)
    dead = bool(fixed)

    async def render() -> dict[str, str]:
        return await pages.rows_parts(request, chosen, dead=dead)

    # Jobs change state with the kept counts: a cheap read says when to render again.
    counts = queue_of(request).queue_counts
    return _stream(request, lambda out: _swaps(request, render, out, counts))


async def jobs(request: Request) -> Response:
    return await listing(request, {})


async def dlq(request: Request) -> Response:
    return await listing(request, {"state": "dead"})


async def job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    raw = request.query_params.get("attempt")
    number = int(raw) if raw is not None and raw.isdigit() else None
    try:
        _, shown, finished = await pages.job_parts(request, job_id, number)
    except JobNotFound:
        return Response("no such job", 404)
    workers: list[Worker] = []

    async def render() -> dict[str, str]:
        return (await pages.job_parts(request, job_id, number))[0]

    workers.append(lambda out: _swaps(request, render, out))
    running = shown is not None and shown.ended_at is None
    if running or (shown is None and not finished):
        queue = queue_of(request)
        seen = (_int(request, "out"), _int(request, "err"))
        follow = None if shown is None else shown.number
        workers.append(lambda out: _output(queue, job_id, follow, seen, out))
    return _stream(request, *workers)


def _int(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "0")
    return int(raw) if raw.isdigit() and len(raw) < 12 else 0


def routes() -> list[BaseRoute]:
    return [
        Route("/live/overview", overview),
        Route("/live/jobs", jobs),
        Route("/live/dlq", dlq),
        Route("/live/queues", queues),
        Route("/live/jobs/{job_id:path}", job),
    ]
