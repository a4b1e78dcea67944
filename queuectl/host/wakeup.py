"""Wake-ups between processes on one host: one Unix datagram socket per runner.

An enqueuer sends a one-byte datagram to every registered runner after its commit; a
runner's socket is watched by the event loop, so an idle runner sleeps on it and wakes
within a millisecond without polling. On Linux the sockets live in the abstract
namespace (no files, no path-length limit); elsewhere in a private temporary directory.
Datagrams are hints: losing one only delays a job until the fallback poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from queuectl.domain.models import WakeKind

__all__ = ["WakeListener", "send_wakes"]

_MESSAGES: dict[WakeKind, bytes] = {"jobs": b"j", "control": b"c", "schedules": b"s"}
_KINDS: dict[bytes, WakeKind] = {v: k for k, v in _MESSAGES.items()}
_ABSTRACT = sys.platform == "linux"


def _socket_dir() -> Path:
    import tempfile  # only where abstract sockets are not available

    path = Path(tempfile.gettempdir()) / f"queuectl-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _to_os(address: str) -> str:
    # "@name" is how ss(8) shows abstract addresses; the kernel wants a leading NUL.
    return "\0" + address[1:] if address.startswith("@") else address


class WakeListener:
    """A bound datagram socket that calls ``on_wake`` from the event loop."""

    def __init__(self, on_wake: Callable[[WakeKind], None]) -> None:
        self._on_wake = on_wake
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        name = f"queuectl-{uuid.uuid4().hex}"
        self.address = f"@{name}" if _ABSTRACT else str(_socket_dir() / f"{name[9:25]}.sock")
        self._sock.bind(_to_os(self.address))
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        kinds: set[WakeKind] = set()
        while True:
            try:
                data = self._sock.recv(64)
            except (BlockingIOError, InterruptedError):
                break
            kinds.add(_KINDS.get(data[:1], "jobs"))
        for kind in kinds:
            self._on_wake(kind)

    async def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        if not _ABSTRACT:
            with contextlib.suppress(OSError):
                os.unlink(self.address)


def send_wakes(addresses: Iterable[str], kind: WakeKind = "jobs") -> None:
    """Send a wake-up to each address; unreachable or busy listeners are skipped."""
    message = _MESSAGES[kind]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for address in addresses:
            # Refused: the runner is gone. Would block: it has wake-ups queued already.
            with contextlib.suppress(OSError):
                sock.sendto(message, _to_os(address))
