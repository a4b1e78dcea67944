"""The SQLite store's plumbing: opening, migrating, and one serialised connection.

aiosqlite runs every call on one thread per connection, so two coroutines must never
interleave a transaction on it: every operation runs under one lock, and SQLite errors
become StoreError with a message that says what is wrong with the file. The store holds
one ``SQLiteConnection``; the modules beside it run their statements through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from queuectl.domain.errors import StoreError, StoreGone
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Conn", "SQLiteConnection"]

T = TypeVar("T")
Conn = aiosqlite.Connection

#: SQLite's default: a commit that takes the log past this many pages checkpoints it.
_AUTOCHECKPOINT = 1000


def _explain(path: Path, exc: sqlite3.Error) -> StoreError:
    message = str(exc)
    lowered = message.lower()
    if "not a database" in lowered or "malformed" in lowered:
        text = f"{path} is not a usable queuectl database ({message}); move it aside"
    elif "readonly" in lowered or "read-only" in lowered:
        text = f"{path} is read-only ({message})"
    elif "full" in lowered or ("i/o error" in lowered and _disk_nearly_full(path)):
        text = f"the disk holding {path} is full ({message}); nothing was changed"
    elif "locked" in lowered or "busy" in lowered:
        text = f"{path} stayed locked by another process for too long ({message})"
    elif "unable to open" in lowered:
        text = f"cannot open {path} ({message})"
    else:
        text = f"{path}: {message}"
    return StoreError(text)


def _disk_nearly_full(path: Path) -> bool:
    # SQLite reports a failed write to a full disk as a plain I/O error.
    import shutil

    try:
        return shutil.disk_usage(path.parent).free < 1024 * 1024
    except OSError:
        return False


class SQLiteConnection:
    """One SQLite file in WAL mode, behind a lock."""

    def __init__(self, conn: Conn, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._log_holders = 0  # runners checkpointing this connection's log from the side
        self._identity = _identity(path)  # the file it opened (its device and inode)

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> SQLiteConnection:
        """Open (creating it 0600 if need be) and migrate the database at ``path``.

        ``read_only``: open an existing, current database for reading only, so that a
        read-only home or a full disk does not stop it; a database that does not exist
        yet or needs migrating is opened as usual (that needs to write).
        """
        if sqlite3.sqlite_version_info < (3, 35):
            raise StoreError(f"queuectl needs SQLite 3.35 or newer, found {sqlite3.sqlite_version}")
        if read_only and _exists(path):
            db = await cls._open_read_only(path)
            if db is not None:
                return db
        _create_private(path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        db = cls(conn, path)
        try:
            # Run again when busy: processes creating one database together meet at
            # the switch to WAL, which waits for no one; every step can run twice.
            await db.call(db._prepare)
        except BaseException:
            await conn.close()
            raise
        return db

    @classmethod
    async def _open_read_only(cls, path: Path) -> SQLiteConnection | None:
        """The database opened read-only, or None when it needs creating or migrating.

        In WAL mode a reader needs the shared-memory file beside the database (``-shm``).
        When it cannot be made (a read-only directory, a full disk) and the log (``-wal``)
        is absent or empty, no connection has the database open, the file holds every commit,
        and no writer can start either (it would need both files): the file is then read
        as immutable, without locks.
        """
        logged = _size(Path(f"{path}-wal"))  # before a failed open leaves an empty one
        try:
            return await cls._connect_read_only(path, "mode=ro")
        except StoreError:
            if logged:
                raise
        return await cls._connect_read_only(path, "mode=ro&immutable=1")

    @classmethod
    async def _connect_read_only(cls, path: Path, options: str) -> SQLiteConnection | None:
        uri = f"{Path(path).as_uri()}?{options}"
        try:
            conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        db = cls(conn, path)
        try:
            version = await db.call(db._check_read_only, retry=False)
        except BaseException:
            await conn.close()
            raise
        if version == SCHEMA_VERSION:
            return db
        await conn.close()
        return None

    async def _check_read_only(self, conn: Conn) -> int:
        await conn.execute(sql.BUSY_TIMEOUT)
        version = await self._user_version(conn)
        self._refuse_newer(version)
        return version

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer queuectl (schema version {version}; "
                f"this one knows up to {SCHEMA_VERSION}): upgrade queuectl"
            )

    async def _prepare(self, conn: Conn) -> None:
        # A current database needs no more than the connection's settings and its
        # version read: WAL mode is a property of the file, set when it was created
        # (or migrated), so a one-shot command does not ask again.
        await conn.executescript(sql.PRAGMAS)
        version = await self._user_version(conn)
        self._refuse_newer(version)
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            rows = await conn.execute_fetchall(sql.COUNT_OBJECTS)
            # Objects and version are committed together: objects seen with version 0
            # read before them are another process's migration that just committed.
            if next(iter(rows))[0]:
                if await self._user_version(conn) != SCHEMA_VERSION:
                    raise StoreError(f"{self.path} is an SQLite database but not a queuectl one")
                return
        rows = await conn.execute_fetchall(sql.JOURNAL_MODE)
        if next(iter(rows))[0] != "wal":
            await conn.execute(sql.USE_WAL)
        await self._migrate(conn)

    @staticmethod
    async def _user_version(conn: Conn) -> int:
        rows = await conn.execute_fetchall(sql.USER_VERSION)
        return int(next(iter(rows))[0])

    async def _migrate(self, conn: Conn) -> None:
        # BEGIN IMMEDIATE takes the write lock, so runners starting together migrate once.
        await conn.execute(sql.BEGIN_WRITE)
        try:
            version = await self._user_version(conn)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    await conn.execute(statement)
            await conn.execute(sql.set_user_version(SCHEMA_VERSION))
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise

    async def close(self) -> None:
        await self._conn.close()

    def check_identity(self) -> None:
        """StoreGone if the file at ``path`` is no longer the one this connection opened.

        Deleted or replaced, the open file lives on unseen: every other process opens
        the new one (or creates it), so what is written here is lost to them.
        """
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            raise StoreGone(f"{self.path} was deleted while in use") from None
        except OSError as exc:
            raise StoreError(f"cannot check {self.path}: {exc.strerror}") from None
        if now != self._identity:
            raise StoreGone(f"{self.path} was replaced by another file while in use")

    def total_changes(self) -> int:
        """Rows written since it opened (a cheap "wrote since?")."""
        return int(self._conn.total_changes)

    async def hold_checkpoints(self, pages: int) -> None:
        """Let this connection's commits checkpoint only past ``pages`` of log, while at
        least one holder (a runner checkpointing from the side) has not released."""
        self._log_holders += 1
        if self._log_holders == 1:
            try:
                await self.fetch(sql.wal_autocheckpoint(pages))
            except BaseException:
                self._log_holders -= 1
                raise

    async def release_checkpoints(self) -> None:
        """Undo one ``hold_checkpoints``; the last one restores SQLite's default."""
        self._log_holders -= 1
        if self._log_holders == 0:
            await self.fetch(sql.wal_autocheckpoint(_AUTOCHECKPOINT))

    async def call(self, fn: Callable[[Conn], Awaitable[T]], *, retry: bool = True) -> T:
        """Run ``fn`` alone on the connection, mapping SQLite errors to StoreError.

        SQLITE_BUSY can outlast the busy timeout under heavy contention; ``fn`` is one
        statement or a whole transaction, so it is safe to run again.
        """
        delay = 0.05
        async with self._lock:
            for attempt in range(6):
                try:
                    return await fn(self._conn)
                except sqlite3.OperationalError as exc:
                    await self._rollback()
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not (retry and busy) or attempt == 5:
                        raise _explain(self.path, exc) from None
                except sqlite3.IntegrityError:
                    await self._rollback()
                    raise
                except sqlite3.Error as exc:
                    await self._rollback()
                    raise _explain(self.path, exc) from None
                except BaseException:
                    await self._rollback()
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.rollback()

    async def fetch(self, statement: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """One statement, in a transaction of its own; its rows."""

        async def run(conn: Conn) -> list[Any]:
            return list(await conn.execute_fetchall(statement, params))

        return await self.call(run)

    async def transaction(self, fn: Callable[[Conn], Awaitable[T]], *, retry: bool = True) -> T:
        """Run ``fn`` in one write transaction, alone on the connection (``call``)."""

        async def run(conn: Conn) -> T:
            await conn.execute(sql.BEGIN_WRITE)
            result = await fn(conn)
            await conn.commit()
            return result

        return await self.call(run, retry=retry)


def _exists(path: Path) -> bool:
    return path.is_file()


def _size(path: Path) -> int:
    """The size of the file at ``path``, 0 when there is none."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would follow the umask)."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if not path.parent.is_dir():
        raise StoreError(f"cannot open {path}: directory {path.parent} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    os.close(fd)
