"""Starting a command as a daemon: its own session, no terminal, its output to a file.

The child calls ``setsid`` before it runs (``start_new_session``), so closing the
terminal sends it no SIGHUP and job control does not reach it; stdin is /dev/null and
stdout and stderr go to one log file. Whoever starts it waits for a sign of life of its
own choosing (``worker start --detach`` waits for the registry entry): a detached
process that died at start-up is then reported, not silently lost.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

from queuectl.domain.errors import QueuectlError

__all__ = ["LOGS_DIR", "Detached", "detach"]

#: Where detached runners' logs go, inside the home.
LOGS_DIR = "logs"


class Detached:
    """A detached process: its pid, its log, and whether it has exited already."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.log = log

    def exit_code(self) -> int | None:
        """Its exit code if it has exited (reaped here), else None."""
        return self._proc.poll()

    def last_line(self) -> str:
        """The last line of its log (why it exited, usually)."""
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""


def detach(argv: Sequence[str], home: Path, name: str) -> Detached:
    """Start ``argv`` detached, logging to ``home/logs/<name>-<pid>.log`` (0600)."""
    logs = home / LOGS_DIR
    try:
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Named once the pid is known: the file is created first, renamed after.
        starting = logs / f"{name}-starting-{secrets.token_hex(4)}.log"
        fd = os.open(starting, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    except OSError as exc:
        raise QueuectlError(f"cannot create a log file in {logs}: {exc.strerror}") from None
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
        )
    except OSError as exc:
        starting.unlink(missing_ok=True)
        raise QueuectlError(f"cannot start {argv[0]}: {exc.strerror}") from None
    finally:
        os.close(fd)
    log = logs / f"{name}-{proc.pid}.log"
    os.replace(starting, log)
    return Detached(proc, log)
