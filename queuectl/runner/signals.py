"""SIGINT/SIGTERM for a runner in the foreground: first drains, second stops hard.

Installed only by the CLI (or an embedder who asks): a library must not take over its
host application's signals. The previous handlers are restored on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Protocol

__all__ = ["Stoppable", "handle_signals"]

log = logging.getLogger("queuectl.runner")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stoppable(Protocol):
    """A runner, as far as signals are concerned."""

    def stop(self, *, hard: bool = False) -> None: ...


@contextlib.contextmanager
def handle_signals(runner: Stoppable) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    received = 0

    def on_signal(sig: signal.Signals) -> None:
        # Handlers only set state; the runner does the work in its own tasks.
        nonlocal received
        received += 1
        if received > 1:
            log.warning("%s again: ending running commands, giving their jobs back", sig.name)
            runner.stop(hard=True)
        else:
            log.warning("%s: draining (running jobs finish; again to stop now)", sig.name)
            runner.stop()

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])
