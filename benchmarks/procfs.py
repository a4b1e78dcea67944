"""Reading a process's CPU time and memory from /proc (Linux), and sampling it."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MemorySampler", "cpu_seconds", "cpu_split", "memory_kb"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[bytes]:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    # The command name may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(b")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (its reaped children excluded)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_split(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children) of ``pid``, user + system.

    Read from a zombie (exited, not yet reaped) these are the final figures.
    """
    fields = _stat_fields(pid)
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return own / _TICKS, children / _TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """The Vm* lines of /proc/<pid>/status in kB (VmRSS, VmHWM, …); {} once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("Vm"):
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[name] = int(parts[0])
    return values


@dataclass
class MemorySampler:
    """Samples VmRSS and VmHWM of a process every ``interval`` seconds in a thread."""

    pid: int
    interval: float = 0.05
    #: (seconds since start, VmRSS kB)
    samples: list[tuple[float, int]] = field(default_factory=list)
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            values = memory_kb(self.pid)
            if "VmRSS" in values:
                self.samples.append((time.perf_counter() - start, values["VmRSS"]))
                self.peak_kb = max(self.peak_kb, values.get("VmHWM", 0), values["VmRSS"])
            self._stop.wait(self.interval)

    def rss_at(self, fraction: float) -> int:
        """VmRSS at ``fraction`` (0..1) of the sampled time span."""
        if not self.samples:
            return 0
        when = self.samples[-1][0] * fraction
        for t, rss in self.samples:
            if t >= when:
                return rss
        return self.samples[-1][1]
