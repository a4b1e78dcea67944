"""A reader of the dashboard's live event streams, as a browser's EventSource would read
them. httpx's ASGI transport waits for a response's end, which a live stream never
reaches; this talks ASGI directly. Used by the tests and by the dashboard benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["Event", "read_events"]

Event = tuple[str, dict[str, Any]]


async def read_events(
    app: ASGIApp,
    path: str,
    until: Callable[[list[Event]], bool],
    *,
    within: float = 5.0,
) -> list[Event]:
    """Open ``path``'s event stream as a browser would and read it until ``until`` holds
    of the events so far; then the client goes away. httpx's ASGI transport waits for
    a response's end, which a live stream never reaches, hence this reader."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"text/event-stream")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    events: list[Event] = []
    done = asyncio.Event()
    started = False
    buffer = b""

    async def receive() -> Message:
        nonlocal started
        if not started:
            started = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal buffer
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
            return
        buffer += message.get("body", b"")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
            )
            if "event" in fields:
                events.append((fields["event"], json.loads(fields["data"])))
        if until(events):
            done.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    try:
        await asyncio.wait_for(done.wait(), within)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return events
