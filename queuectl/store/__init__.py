"""Open a store by URL; each backend is imported only when its scheme is used."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from queuectl.domain.errors import ConfigError, StoreError
from queuectl.store.base import Finish, Heartbeat, NewJob, Store, Subscription, WakeKind

__all__ = [
    "Finish",
    "Heartbeat",
    "NewJob",
    "Store",
    "Subscription",
    "WakeKind",
    "open_store",
    "sqlite_path",
]


def sqlite_path(url: str) -> Path | None:
    """The file an SQLite URL names, or None when the URL is not for SQLite.

    Accepted: a bare path, ``sqlite:///relative.db`` and ``sqlite:////absolute.db``.
    """
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"bad SQLite URL {url!r}: use sqlite:///file.db or sqlite:////abs.db")
        return Path(rest[1:]).expanduser().absolute()
    if "://" in url:
        return None
    return Path(url).expanduser().absolute()


async def open_store(
    url: str, *, clock: Callable[[], float] | None = None, read_only: bool = False
) -> Store:
    """Open the store ``url`` names: an SQLite file, ``memory://`` or ``postgresql://…``.

    ``clock`` replaces the store's time source (tests). By default SQLite and memory
    stores use this host's clock and PostgreSQL uses the database server's.
    ``read_only``: the caller only reads; an SQLite file is then opened read-only when
    it can be (a read-only home, a full disk), and writing through it fails.
    """
    if url == "memory://":
        from queuectl.store.memory import MemoryStore

        return MemoryStore(clock=clock or time.time)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        return await _open_postgres(url, clock)
    path = sqlite_path(url)
    if path is not None:
        from queuectl.store.sqlite.store import SQLiteStore

        return await SQLiteStore.open(path, clock=clock or time.time, read_only=read_only)
    raise ConfigError(
        f"unsupported store URL scheme {scheme!r} (use a file path, sqlite:/// or postgresql://)"
    )


async def _open_postgres(url: str, clock: Callable[[], float] | None) -> Store:
    try:
        from queuectl.store.postgres.store import PostgresStore
    except ImportError as exc:
        if exc.name != "asyncpg":
            raise
        raise StoreError(
            "PostgreSQL URLs need the asyncpg driver: pip install 'queuectl[postgres]'"
        ) from None
    return await PostgresStore.open(url, clock=clock)
