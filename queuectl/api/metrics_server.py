"""A tiny HTTP server for ``/metrics`` and ``/healthz``, in the caller's event loop.

``worker start --metrics-port`` serves the runner's store this way, beside the runner
and in its loop: no thread, no web framework (the ``metrics`` extra is
prometheus_client alone), and nothing imported unless the flag is given. It answers
GET only, one request per connection, and reads at most a few KiB of request.
"""

from __future__ import annotations

import asyncio
import contextlib

from queuectl.api import metrics
from queuectl.api.queue import Queue
from queuectl.domain.errors import QueuectlError

__all__ = ["serve_metrics"]

#: The most bytes of request head read; a scraper sends a few hundred.
_MAX_HEAD = 8192
#: How long a client may take to send its request.
_READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


async def serve_metrics(queue: Queue, host: str, port: int) -> asyncio.Server:
    """Start serving (close the server when done); QueuectlError when it cannot bind."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, kind, body = await _answer(queue, reader)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    try:
        return await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
    except OSError as exc:
        raise QueuectlError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None


async def _answer(queue: Queue, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
    """Status, content type and body for the request ``reader`` holds."""
    text = "text/plain; charset=utf-8"
    try:
        async with asyncio.timeout(_READ_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        return 400, text, b"request head too long\n"
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) != 3:
        return 400, text, b"malformed request line\n"
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if target not in (b"/metrics", b"/healthz"):
        return 404, text, b"not found: try /metrics or /healthz\n"
    if method != b"GET":
        return 405, text, b"only GET\n"
    if target == b"/healthz":
        problem = await metrics.healthy(queue)
        return (200, text, b"ok\n") if problem is None else (503, text, f"{problem}\n".encode())
    try:
        return 200, metrics.CONTENT_TYPE, await metrics.scrape(queue)
    except QueuectlError as exc:
        return 503, text, f"reading the store failed: {exc}\n".encode()
