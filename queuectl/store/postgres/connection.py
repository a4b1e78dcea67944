"""PostgreSQL URLs and errors: what queuectl reads from a URL, which failures to retry.

A store URL is a libpq-style URL (``postgresql://user:pass@host:5432/db`` or
``postgres://…``) with optional query parameters of queuectl's own, removed before the
rest goes to asyncpg:

- ``schema=NAME``: the schema holding this queue's tables (default ``queuectl``), so
  several queues can share one database;
- ``pool_size=N``: the most connections one store opens (default 4, see store.py);
- ``application_name=NAME``: how the connections show in ``pg_stat_activity``
  (default ``queuectl``; the listening connection adds `` listener``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from queuectl.domain.errors import ConfigError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

#: A connection of its own or one lent by the pool: both run the same queries.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

__all__ = [
    "DRIVER_ERRORS",
    "Conn",
    "PgTarget",
    "describe",
    "is_transient",
    "parse_url",
    "quote_ident",
]

DEFAULT_SCHEMA = "queuectl"
DEFAULT_POOL_SIZE = 4
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")

# Failures that say nothing about the statement itself: the connection or the server
# went away, is starting or stopping, or the transaction lost a race. Another try on a
# fresh connection may well succeed.
_TRANSIENT_PG: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, incl. "closed in the middle of operation"
    asyncpg.exceptions.OperatorInterventionError,  # 57: terminated, shutting down, starting
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.TransactionRollbackError,  # 40: serialization failure, deadlock
)


#: Everything the driver raises about a connection or a statement.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class PgTarget:
    """Where a store connects, and the queuectl options its URL carries."""

    #: The URL without queuectl's own parameters, for asyncpg.
    dsn: str
    schema: str
    pool_size: int
    application_name: str
    #: The URL with its password hidden, for messages.
    display: str

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this queue (one per schema)."""
        return f"queuectl.{self.schema}"


def parse_url(url: str) -> PgTarget:
    """Split a ``postgresql://`` URL into asyncpg's DSN and queuectl's options."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {url!r}")
    ours = {"schema": DEFAULT_SCHEMA, "pool_size": str(DEFAULT_POOL_SIZE)}
    ours["application_name"] = "queuectl"
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ours:
            ours[key] = value
        else:
            rest.append((key, value))
    schema = ours["schema"]
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise ConfigError(
            f"bad schema name {schema!r} in the store URL: use up to 48 lowercase letters, "
            "digits and underscores, not starting with a digit or pg_"
        )
    try:
        pool_size = int(ours["pool_size"])
    except ValueError:
        pool_size = 0
    if pool_size < 1:
        raise ConfigError(
            f"pool_size in the store URL must be an integer >= 1, not {ours['pool_size']!r}"
        )
    dsn = urlunsplit(parts._replace(query=urlencode(rest)))
    return PgTarget(
        dsn=dsn,
        schema=schema,
        pool_size=pool_size,
        application_name=ours["application_name"][:63] or "queuectl",
        display=_redact(url),
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def quote_ident(name: str) -> str:
    """Quote an identifier that ``parse_url`` has validated (no quotes inside)."""
    return '"' + name.replace('"', '""') + '"'


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost connection or server hiccup worth another try."""
    if isinstance(exc, _TRANSIENT_PG):
        return True
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # e.g. "cannot switch to state 12; another operation (2) is in progress": the
        # server closed the connection while idle and the driver has not noticed yet.
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # e.g. "cannot call Connection.fetch(): connection is closed"
        return "closed" in str(exc) or "terminat" in str(exc)
    return isinstance(exc, OSError | TimeoutError)


def describe(exc: BaseException) -> str:
    """One line about a driver error, without a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return f"the connection broke ({text})"
    return f"{text} ({name})" if text else name
