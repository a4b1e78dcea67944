"""PostgreSQL for the tests: the server to use, a fresh schema per test, clean-up.

The server is ``$QUEUECTL_TEST_PG`` (default: the local one, trust auth). When it cannot
be reached, PostgreSQL tests skip with the reason, except under ``CI=true``, where they
fail: CI must prove the PostgreSQL store, not silently leave it out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")

PG_URL = os.environ.get("QUEUECTL_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/test"
_SCHEMA = re.compile(r"qt_(\d+)_[0-9a-f]+")

_problem: str | None = None
_checked = False
#: Schemas handed out during the current test, dropped after it.
created: list[str] = []


def in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a thread with its own event loop.

    Usable from sync code and from inside a running loop (fixtures of either kind).
    """

    async def main() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _check() -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[dev]')"

    async def probe() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await _drop_stale(conn)
        finally:
            await conn.close()

    try:
        in_thread(probe)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _drop_stale(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Drop test schemas left by test processes that no longer run (crashed runs)."""
    rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qt\\_%'")
    for row in rows:
        match = _SCHEMA.fullmatch(row["nspname"])
        if match and not _pid_alive(int(match.group(1))):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{row["nspname"]}" CASCADE')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def require_server() -> None:
    """Skip (or, under CI=true, fail) the current test when PostgreSQL is unreachable."""
    global _problem, _checked
    if not _checked:
        _problem, _checked = _check(), True
    if _problem is None:
        return
    reason = f"PostgreSQL unreachable at {PG_URL} ({_problem}); set QUEUECTL_TEST_PG"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}. CI=true requires the PostgreSQL tests to run.", pytrace=False)
    pytest.skip(reason)


def with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def schema_for(tmp_path: Path) -> str:
    """A schema name unique to one test (and to this test process)."""
    digest = hashlib.sha1(str(tmp_path).encode()).hexdigest()[:10]
    return f"qt_{os.getpid()}_{digest}"


def schema_url(tmp_path: Path) -> str:
    """The URL of this test's private schema (created by the store on first use).

    The application name is the schema's, so that a test can find (and kill) the
    connections of its own queue in pg_stat_activity.
    """
    require_server()
    schema = schema_for(tmp_path)
    if schema not in created:
        created.append(schema)
    return with_params(PG_URL, schema=schema, application_name=schema)


def drop_created() -> None:
    if not created:
        return
    names, created[:] = list(created), []

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            for name in names:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    in_thread(drop)


def plan_section(lines: list[str], cte: str) -> str:
    """The lines of an EXPLAIN (text) that plan one CTE of the statement."""
    start = next(n for n, line in enumerate(lines) if line.strip() == f"CTE {cte}")
    depth = len(lines[start]) - len(lines[start].lstrip())
    end = next(
        (
            n
            for n in range(start + 1, len(lines))
            if len(lines[n]) - len(lines[n].lstrip()) <= depth
        ),
        len(lines),
    )
    return "\n".join(lines[start:end])
