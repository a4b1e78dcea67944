"""``queuectl web`` as a real process on a free port, for the CLI and browser tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import CLI
from tests.faults.helpers import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(cli: CLI, *args: str, timeout: float = 20.0) -> Iterator[str]:
    """Run ``queuectl web`` until the block ends; yields its base URL once it answers."""
    port = free_port()
    log_path = cli.home / f"web-{port}.log"
    with log_path.open("w") as log:
        proc = cli.popen("web", "--port", str(port), *args, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{url}/static/style.css", timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "queuectl web did not answer"
                time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)
