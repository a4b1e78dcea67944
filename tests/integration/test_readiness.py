"""One epoll set for many short-lived descriptors, on the default loop and on uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop

from queuectl.runner.readiness import Readiness

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Runs a coroutine function to the end on a fresh loop of each kind."""
    loop = LOOPS[request.param]()
    yield lambda fn: loop.run_until_complete(asyncio.wait_for(fn(loop), 10))
    loop.close()


@pytest.fixture
def pipes() -> Iterator[list[tuple[int, int]]]:
    made: list[tuple[int, int]] = []
    yield made
    for pair in made:
        for fd in pair:
            with contextlib.suppress(OSError):
                os.close(fd)


def settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def test_calls_back_while_readable_until_removed(
    run: Callable[..., Any], pipes: list[tuple[int, int]]
) -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> list[bytes]:
        readiness = Readiness(loop)
        r, w = os.pipe()
        pipes.append((r, w))
        got: list[bytes] = []
        eof = loop.create_future()

        def readable() -> None:
            data = os.read(r, 3)  # less than is there: readiness must come again
            if data:
                got.append(data)
            else:
                readiness.remove(r)
                eof.set_result(None)

        readiness.add(r, readable)
        os.write(w, b"abcdefgh")
        os.close(w)
        pipes[-1] = (r, -1)
        await eof
        readiness.close()
        return got

    assert run(scenario) == [b"abc", b"def", b"gh"]


def test_a_removed_descriptor_is_not_called(
    run: Callable[..., Any], pipes: list[tuple[int, int]]
) -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> list[str]:
        readiness = Readiness(loop)
        (r1, w1), (r2, w2) = os.pipe(), os.pipe()
        pipes.extend([(r1, w1), (r2, w2)])
        calls: list[str] = []
        second = loop.create_future()
        readiness.add(r1, lambda: calls.append("first"))
        readiness.add(r2, lambda: settle(second))
        readiness.remove(r1)
        os.write(w1, b"x")
        os.write(w2, b"x")
        await second  # the loop has polled the set with both pipes readable
        readiness.remove(r2)
        readiness.close()
        return calls

    assert run(scenario) == []


def test_a_failing_callback_is_reported_and_others_still_run(
    run: Callable[..., Any], pipes: list[tuple[int, int]]
) -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> tuple[list[str], bool]:
        reported: list[str] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
        readiness = Readiness(loop)
        (r1, w1), (r2, w2) = os.pipe(), os.pipe()
        pipes.extend([(r1, w1), (r2, w2)])
        other = loop.create_future()

        def fails() -> None:
            readiness.remove(r1)
            raise RuntimeError("boom")

        readiness.add(r1, fails)
        readiness.add(r2, lambda: settle(other))
        os.write(w1, b"x")
        os.write(w2, b"x")
        await other
        readiness.remove(r2)
        readiness.close()
        return reported, other.done()

    reported, other_ran = run(scenario)
    assert other_ran
    assert len(reported) == 1
    assert "readiness callback" in reported[0]
