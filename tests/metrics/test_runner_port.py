"""``worker start --metrics-port``: /metrics and /healthz from a runner, over a real
socket, in the runner's own process and loop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx

from tests.conftest import CLI
from tests.helpers import eventually
from tests.metrics.conftest import parse, value
from tests.processes import Runners


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_runner_serves_metrics_and_health_on_its_port(cli: CLI, runners: Runners) -> None:
    port = _free_port()
    cli("enqueue", '{"id": "a", "command": "true", "queue": "web"}', check=True)
    proc = runners.start("--metrics-port", str(port), "--quiet")
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:

        async def answers() -> bool:
            assert proc.poll() is None, runners.log(proc)
            try:
                return (await client.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False  # not listening yet

        await eventually(answers, what="the runner's metrics port")

        async def completed() -> bool:
            samples = parse((await client.get("/metrics")).text)
            return value(samples, "queuectl_jobs", queue="web", state="completed") == 1

        await eventually(completed, what="job a counted as completed")
        samples = parse((await client.get("/metrics")).text)
        assert value(samples, "queuectl_runners") == 1
        assert value(samples, "queuectl_runner_slots", state="idle") == 1
        assert value(samples, "queuectl_jobs_finished_total", queue="web", outcome="completed") == 1
        assert (await client.get("/nope")).status_code == 404
        assert (await client.post("/metrics")).status_code == 405
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in runners.log(proc)


def test_metrics_port_is_bounded_and_a_taken_one_fails_cleanly(cli: CLI) -> None:
    for bad in ("0", "65536", "-1", "http"):
        result = cli("worker", "start", "--burst", "--metrics-port", bad)
        assert result.returncode == 2, (bad, result.stderr)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("worker", "start", "--burst", "--metrics-port", str(port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in lines[0]


def test_a_worker_without_the_flag_does_not_import_prometheus_client() -> None:
    code = (
        "import sys, queuectl.cli.worker, queuectl.runner.lifecycle; "
        "print('prometheus_client' in sys.modules, 'queuectl.api.metrics' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
