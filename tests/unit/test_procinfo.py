"""Process identity on this host: a pid names one process only with its start time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from queuectl.host.procinfo import is_alive, process_start

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def test_a_live_process_is_alive_with_its_own_start_time() -> None:
    start = process_start(os.getpid())
    assert isinstance(start, int)
    assert is_alive(os.getpid(), start)
    assert is_alive(os.getpid())


def test_a_reused_pid_is_not_mistaken_for_the_process_that_had_it() -> None:
    # Same pid, another start time: what a registry entry of a dead runner looks like
    # after the kernel gave its pid to a new process.
    start = process_start(os.getpid())
    assert start is not None
    assert not is_alive(os.getpid(), start - 1)


def test_an_exited_process_is_dead_even_as_an_unreaped_zombie() -> None:
    proc = subprocess.Popen(["true"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not is_alive(proc.pid)
    proc.wait()
    assert not is_alive(proc.pid)
