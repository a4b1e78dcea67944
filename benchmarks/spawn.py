"""Ways to start and reap ``sh -c true`` from Python: the candidates for the dispatch floor.

Each candidate keeps ``concurrency`` children in flight until ``n`` have run, every child
in its own session with stdin/stdout/stderr on /dev/null (a job runner needs at least
that). Each runs in a fresh interpreter so that loops and child watchers do not mix:

    python -m benchmarks.spawn METHOD N CONCURRENCY [COMMAND]   →   {"rate": spawns per second, …}

COMMAND (default ``true``) is what ``sh -c`` runs: the sleep-bound benchmark measures
``sleep 0.05`` this way, with no queue at all.

The result also gives the CPU seconds of the interpreter itself (``own_cpu``) and of
the children it reaped (``children_cpu``): on few cores their sum bounds the rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import select
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["METHODS", "cpu_times"]

ARGV = ["/bin/sh", "-c", "true"]
_DEVNULL = subprocess.DEVNULL

SpawnOne = Callable[[], Awaitable[None]]


class Unavailable(Exception):
    """The method does not exist on this Python or platform."""


async def _workers(n: int, concurrency: int, spawn_one: SpawnOne) -> float:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await spawn_one()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def _asyncio_subprocess() -> None:
    proc = await asyncio.create_subprocess_exec(
        *ARGV, stdin=_DEVNULL, stdout=_DEVNULL, stderr=_DEVNULL, start_new_session=True
    )
    await proc.wait()


def _posix_spawn() -> int:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        return os.posix_spawn(
            ARGV[0],
            ARGV,
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)],
            setsid=True,
        )
    finally:
        os.close(devnull)


async def _pidfd_wait(pid: int) -> None:
    """Wait for ``pid`` to exit by watching its pidfd on the running loop, then reap it."""
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(pid)
    done = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    os.waitpid(pid, 0)  # noqa: ASYNC222 - it has exited: the pidfd said so


async def _posix_spawn_pidfd() -> None:
    await _pidfd_wait(_posix_spawn())


async def _popen_pidfd() -> None:
    # Popen blocks the loop for the vfork+exec: that cost is what this candidate measures.
    proc = subprocess.Popen(  # noqa: ASYNC220
        ARGV, stdin=_DEVNULL, stdout=_DEVNULL, stderr=_DEVNULL, start_new_session=True
    )
    await _pidfd_wait(proc.pid)
    proc.returncode = 0  # reaped by _pidfd_wait


def _run_default_loop(main: Callable[[], Coroutine[Any, Any, float]], watcher: str | None) -> float:
    async def go() -> float:
        if watcher is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                factory = getattr(asyncio, watcher, None)
                setter = getattr(asyncio, "set_child_watcher", None)
                if factory is None or setter is None:
                    raise Unavailable(f"asyncio.{watcher} is gone from Python {sys.version[:4]}")
                child_watcher = factory()
                if hasattr(child_watcher, "attach_loop"):
                    child_watcher.attach_loop(asyncio.get_running_loop())
                setter(child_watcher)
        return await main()

    return asyncio.run(go())


def _run_uvloop(main: Callable[[], Coroutine[Any, Any, float]]) -> float:
    try:
        import uvloop
    except ImportError:
        raise Unavailable("uvloop is not installed") from None
    return uvloop.run(main())


def _thread_pool(n: int, c: int) -> float:
    """subprocess.run in a pool of ``c`` threads, awaited from uvloop."""
    pool = ThreadPoolExecutor(c)

    async def one() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(pool, _run_sync)

    try:
        return _run_uvloop(lambda: _workers(n, c, one))
    finally:
        pool.shutdown()


def _thread_spawn_pidfd(n: int, c: int) -> float:
    """posix_spawn in a pool of ``c`` threads (the spawns overlap), pidfd reaping on uvloop."""
    pool = ThreadPoolExecutor(c)

    async def one() -> None:
        pid = await asyncio.get_running_loop().run_in_executor(pool, _posix_spawn)
        await _pidfd_wait(pid)

    _needs_pidfd()
    try:
        return _run_uvloop(lambda: _workers(n, c, one))
    finally:
        pool.shutdown()


def _thread_popen_pidfd(n: int, c: int) -> float:
    """subprocess.Popen in a pool of ``c`` threads, pidfd reaping on uvloop."""
    pool = ThreadPoolExecutor(c)

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ARGV, stdin=_DEVNULL, stdout=_DEVNULL, stderr=_DEVNULL, start_new_session=True
        )

    async def one() -> None:
        proc = await asyncio.get_running_loop().run_in_executor(pool, popen)
        await _pidfd_wait(proc.pid)
        proc.returncode = 0  # reaped by _pidfd_wait

    _needs_pidfd()
    try:
        return _run_uvloop(lambda: _workers(n, c, one))
    finally:
        pool.shutdown()


def _thread_spawn_wait(n: int, c: int) -> float:
    """posix_spawn then a blocking waitpid, in a pool of ``c`` threads, awaited from uvloop."""
    pool = ThreadPoolExecutor(c)

    def spawn_and_wait() -> None:
        os.waitpid(_posix_spawn(), 0)

    async def one() -> None:
        await asyncio.get_running_loop().run_in_executor(pool, spawn_and_wait)

    try:
        return _run_uvloop(lambda: _workers(n, c, one))
    finally:
        pool.shutdown()


def _run_sync() -> None:
    subprocess.run(ARGV, stdin=_DEVNULL, stdout=_DEVNULL, stderr=_DEVNULL, start_new_session=True)


def _sync_loop(n: int, c: int, spawn: Callable[[], int]) -> float:
    """No event loop at all: ``spawn``, and epoll on the children's pidfds."""
    poller = select.epoll()
    running: dict[int, int] = {}
    started = finished = 0
    start = time.perf_counter()
    while finished < n:
        while started < n and len(running) < c:
            pid = spawn()
            fd = os.pidfd_open(pid)
            poller.register(fd, select.EPOLLIN)
            running[fd] = pid
            started += 1
        for fd, _ in poller.poll():
            poller.unregister(fd)
            os.waitpid(running.pop(fd), 0)
            os.close(fd)
            finished += 1
    poller.close()
    return time.perf_counter() - start


def _vfork_spawner() -> Callable[[], int]:
    """subprocess's own helper (vfork, and a pipe for exec errors): a floor only."""
    from benchmarks import vfork

    spawner = vfork.load()
    if spawner is None:
        raise Unavailable("_posixsubprocess.fork_exec is not usable here")
    path, argv = os.fsencode(ARGV[0]), [os.fsencode(arg) for arg in ARGV]
    env = vfork.env_block(os.environ)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)  # for the whole run
    return lambda: spawner.spawn(path, argv, env, (devnull, devnull, devnull))


def _needs_pidfd() -> None:
    if not hasattr(os, "pidfd_open"):
        raise Unavailable("os.pidfd_open needs Linux ≥ 5.3")


def _pidfd_method(
    run: Callable[[Callable[[], Coroutine[Any, Any, float]]], float], spawn_one: SpawnOne
) -> Callable[[int, int], float]:
    def method(n: int, c: int) -> float:
        _needs_pidfd()
        return run(lambda: _workers(n, c, spawn_one))

    return method


def _loop_method(
    run: Callable[[Callable[[], Coroutine[Any, Any, float]]], float],
) -> Callable[[int, int], float]:
    return lambda n, c: run(lambda: _workers(n, c, _asyncio_subprocess))


def _sync_method(n: int, c: int) -> float:
    _needs_pidfd()
    return _sync_loop(n, c, _posix_spawn)


def _sync_vfork_method(n: int, c: int) -> float:
    _needs_pidfd()
    return _sync_loop(n, c, _vfork_spawner())


#: name → (description, function(n, concurrency) → seconds)
METHODS: dict[str, tuple[str, Callable[[int, int], float]]] = {
    "asyncio-threaded": (
        "default loop, create_subprocess_exec, ThreadedChildWatcher (3.11's default)",
        _loop_method(lambda main: _run_default_loop(main, "ThreadedChildWatcher")),
    ),
    "asyncio-pidfd": (
        "default loop, create_subprocess_exec, PidfdChildWatcher",
        _loop_method(lambda main: _run_default_loop(main, "PidfdChildWatcher")),
    ),
    "uvloop": (
        "uvloop, create_subprocess_exec (libuv's spawn)",
        _loop_method(_run_uvloop),
    ),
    "uvloop-threads": (
        "uvloop, subprocess.run in a pool of `concurrency` threads",
        _thread_pool,
    ),
    "uvloop-threads-posix_spawn": (
        "uvloop, os.posix_spawn + waitpid in a pool of `concurrency` threads",
        _thread_spawn_wait,
    ),
    "uvloop-threadspawn-pidfd": (
        "uvloop, os.posix_spawn in a thread pool, pidfd reader + waitpid on the loop",
        _thread_spawn_pidfd,
    ),
    "uvloop-threadpopen-pidfd": (
        "uvloop, subprocess.Popen in a thread pool, pidfd reader + waitpid on the loop",
        _thread_popen_pidfd,
    ),
    "uvloop-popen-pidfd": (
        "uvloop, subprocess.Popen (vfork) + pidfd reader + waitpid",
        _pidfd_method(_run_uvloop, _popen_pidfd),
    ),
    "uvloop-posix_spawn-pidfd": (
        "uvloop, os.posix_spawn + pidfd reader + waitpid",
        _pidfd_method(_run_uvloop, _posix_spawn_pidfd),
    ),
    "asyncio-posix_spawn-pidfd": (
        "default loop, os.posix_spawn + pidfd reader + waitpid",
        _pidfd_method(lambda main: _run_default_loop(main, None), _posix_spawn_pidfd),
    ),
    "sync-posix_spawn-epoll": (
        "no event loop: os.posix_spawn + epoll on pidfds + waitpid",
        _sync_method,
    ),
    "sync-vfork-epoll": (
        "no event loop: subprocess's vfork helper (fork_exec) + epoll on pidfds + waitpid",
        _sync_vfork_method,
    ),
}


def main(argv: list[str]) -> None:
    method, n, concurrency = argv[0], int(argv[1]), int(argv[2])
    if len(argv) > 3:
        ARGV[2] = argv[3]  # in place: every method reads this list
    own, children = cpu_times()
    try:
        elapsed = METHODS[method][1](n, concurrency)
    except Unavailable as exc:
        print(json.dumps({"skip": str(exc)}))
        return
    own_after, children_after = cpu_times()
    result = {
        "rate": n / elapsed,
        "seconds": elapsed,
        "own_cpu": own_after - own,
        "children_cpu": children_after - children,
    }
    print(json.dumps(result))


def cpu_times() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its reaped children."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime, theirs.ru_utime + theirs.ru_stime


if __name__ == "__main__":
    main(sys.argv[1:])
