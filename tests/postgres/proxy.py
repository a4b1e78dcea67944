"""A TCP proxy in front of the test server, to stage network faults deterministically.

Stores under test connect through it. ``outage()`` drops every connection and refuses
new ones until it ends (a server restart, as clients see it, without touching the real
server that other tests share). ``lose_next_reply()`` lets the next request reach the
server but drops its reply together with the connection: the statement commits, the
client never hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lose_reply = False
        #: Set when an armed ``lose_next_reply`` has dropped a reply.
        self.reply_lost = asyncio.Event()

    @classmethod
    def for_url(cls, url: str) -> Proxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, url: str) -> str:
        """``url`` rewritten to go through the proxy."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections; the open ones stay (``cut`` drops them)."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def cut(self) -> None:
        """Drop every open connection at once."""
        for client, server in list(self._links):
            client.transport.abort()
            server.transport.abort()
        self._links.clear()

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Refuse connections and drop the open ones for the duration of the block."""
        await self.stop_listening()
        self.cut()
        try:
            yield
        finally:
            await self.start()

    def lose_next_reply(self) -> None:
        self.reply_lost.clear()
        self._lose_reply = True

    async def close(self) -> None:
        server = self._server
        await self.stop_listening()
        self.cut()
        if server is not None:
            # Since Python 3.12 this waits for the server's connections too: after cut.
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # stopped listening while this one was connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, link, upstream=True)),
            asyncio.create_task(self._pipe(up_reader, writer, link, upstream=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if not upstream and self._lose_reply:
                    self._lose_reply = False
                    self.reply_lost.set()
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(link)
            for side in link:
                side.transport.abort()
