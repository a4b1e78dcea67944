"""Where queuectl keeps its files: the home directory and the default store URL."""

from __future__ import annotations

import os
from pathlib import Path

from queuectl.domain.errors import StoreError

__all__ = ["DB_FILE", "default_db_url", "ensure_home", "resolve_home"]

DB_FILE = "queuectl.db"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home directory: the argument, else ``$QUEUECTL_HOME``, else ``~/.queuectl``."""
    chosen = home if home is not None else os.environ.get("QUEUECTL_HOME") or "~/.queuectl"
    return Path(chosen).expanduser().absolute()


def ensure_home(home: Path) -> Path:
    """Create the home (0700) if needed, and check that it is a usable directory."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"home {home} exists and is not a directory") from None
    except OSError as exc:
        raise StoreError(f"cannot create home {home}: {exc.strerror}") from None
    if not home.is_dir():
        raise StoreError(f"home {home} is not a directory")
    if not os.access(home, os.W_OK | os.X_OK):
        raise StoreError(f"home {home} is not writable")
    return home


def default_db_url(db: str | None, home: Path) -> str:
    """The store URL: the argument, else ``$QUEUECTL_DB``, else the SQLite file in the home."""
    chosen = db if db is not None else os.environ.get("QUEUECTL_DB")
    return chosen or str(home / DB_FILE)
