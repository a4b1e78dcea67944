"""``config.json`` in the home: read it, and write it atomically."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from queuectl.domain.config import Settings, settings_from_mapping, with_setting
from queuectl.domain.errors import ConfigError

__all__ = ["CONFIG_FILE", "load_settings", "save_settings", "update_setting"]

CONFIG_FILE = "config.json"


def load_settings(home: Path) -> Settings:
    """The home's settings; the defaults when it has no config.json."""
    path = home / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        # Decoding happens here, not in the read, so bad UTF-8 is reported like bad JSON.
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ConfigError(f"{path} is not valid JSON; fix it or delete it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object; fix it or delete it")
    try:
        return settings_from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_settings(home: Path, settings: Settings) -> None:
    """Write config.json atomically: a temporary file, fsync, then rename over the old one."""
    import tempfile  # only saving needs it

    path = home / CONFIG_FILE
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=home)
    except OSError as exc:
        # A missing or unwritable home: nothing was written, say so in one line.
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with contextlib.suppress(OSError):
        dir_fd = os.open(home, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def update_setting(home: Path, key: str, text: str) -> Settings:
    """Validate one new value and save; on any error nothing is written."""
    settings = with_setting(load_settings(home), key, text)
    save_settings(home, settings)
    return settings
