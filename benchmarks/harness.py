"""What every benchmark shares: sizes, temporary homes, timing and child processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

__all__ = [
    "BenchError",
    "Context",
    "Param",
    "RunCost",
    "Sizes",
    "best",
    "fastest_child_run",
    "measured_run",
    "median",
    "queuectl_argv",
    "run_async",
    "run_child",
    "timed_run",
]

#: The PostgreSQL server the PostgreSQL rows use unless told otherwise.
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class BenchError(Exception):
    """A benchmark could not produce a trustworthy figure (its run is reported as failed)."""


@dataclass(frozen=True, slots=True)
class Param:
    """A size a benchmark accepts; ``scaled`` ones are multiplied by ``--scale``."""

    default: int | float | str
    help: str = ""
    scaled: bool = True
    minimum: float = 1


class Sizes:
    """The resolved sizes of one benchmark."""

    def __init__(self, values: Mapping[str, int | float | str]) -> None:
        self._values = dict(values)

    def integer(self, name: str) -> int:
        return int(self._values[name])

    def real(self, name: str) -> float:
        return float(self._values[name])

    def integers(self, name: str) -> list[int]:
        return [int(part) for part in str(self._values[name]).split(",") if part.strip()]

    def names(self, name: str) -> list[str]:
        return [part.strip() for part in str(self._values[name]).split(",") if part.strip()]

    def as_dict(self) -> dict[str, int | float | str]:
        return dict(self._values)


@dataclass
class Context:
    """Options of this run, its scratch directory and the figures shared between benchmarks."""

    scale: float = 1.0
    #: "bench=N" sets a benchmark's first size; "bench.name=V" any of them.
    overrides: Mapping[str, str] = field(default_factory=dict)
    repeat: int = 1
    tmp_base: Path | None = None
    keep: bool = False
    pg_url: str = DEFAULT_PG_URL
    quiet: bool = False
    #: Figures one benchmark leaves for another (depth reads queue overhead's).
    shared: dict[str, Any] = field(default_factory=dict)
    _root: Path | None = None
    _count: int = 0

    # -- sizes --------------------------------------------------------------
    def sizes(self, bench: str, params: Mapping[str, Param]) -> Sizes:
        values: dict[str, int | float | str] = {}
        for name, param in params.items():
            value = param.default
            if param.scaled and isinstance(value, int):
                value = max(int(param.minimum), round(value * self.scale))
            elif param.scaled and isinstance(value, float):
                value = max(param.minimum, value * self.scale)
            values[name] = value
        first = next(iter(params))
        for key, raw in self.overrides.items():
            owner, _, name = key.partition(".")
            if owner != bench:
                continue
            name = name or first
            if name not in params:
                known = ", ".join(params)
                raise BenchError(f"--size {key}: {bench} has no size {name!r} (known: {known})")
            default = params[name].default
            values[name] = type(default)(raw) if not isinstance(default, str) else raw
        return Sizes(values)

    # -- scratch space --------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            base = None if self.tmp_base is None else str(self.tmp_base)
            self._root = Path(tempfile.mkdtemp(prefix="queuectl-bench-", dir=base))
        return self._root

    def home(self, label: str) -> Path:
        """A new empty queuectl home (0700) for one measurement."""
        self._count += 1
        path = self.root / f"{self._count:03d}-{label}"
        path.mkdir(mode=0o700)
        return path

    def cleanup(self) -> None:
        if self._root is not None and not self.keep:
            shutil.rmtree(self._root, ignore_errors=True)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def site(self) -> Path:
        """A compiled copy of the package, as a regular install would have it.

        An editable install (pip install -e) resolves every ``queuectl.*`` import
        through an import hook, and without cached bytecode (PYTHONDONTWRITEBYTECODE)
        every start compiles every module: whole-process figures would measure the
        development set-up, not queuectl. pip compiles bytecode at install; so do we.
        """
        site = self.root / "site"
        if not site.is_dir():
            import compileall

            import queuectl

            shutil.copytree(Path(queuectl.__file__).parent, site / "queuectl")
            compileall.compile_dir(site, quiet=1)
        return site

    def env(self, home: Path, db: str | None = None) -> dict[str, str]:
        """The environment for a queuectl process on ``home`` (and store ``db``).

        It imports the compiled copy (``site``); PYTHONSAFEPATH keeps ``python -m``
        from putting the working directory, maybe the repository, first on the path.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.site())
        env["PYTHONSAFEPATH"] = "1"
        env["QUEUECTL_HOME"] = str(home)
        env.pop("QUEUECTL_HOST", None)
        if db is None:
            env.pop("QUEUECTL_DB", None)
        else:
            env["QUEUECTL_DB"] = db
        return env


def queuectl_argv() -> list[str]:
    """How a user starts queuectl: the installed console script, else ``python -m``."""
    script = Path(sys.executable).parent / "queuectl"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "queuectl"]


def timed_run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 600,
) -> float:
    """Wall time of one whole process, in seconds; a non-zero exit is a BenchError."""
    start = time.perf_counter()
    result = subprocess.run(
        list(argv),
        env=None if env is None else dict(env),
        input=input,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        _failed(argv, result.returncode, result.stderr)
    return elapsed


class RunCost(NamedTuple):
    """A whole process's wall time and where its CPU went (None where unmeasurable)."""

    seconds: float
    #: CPU seconds of the process itself (all its threads), user + system.
    own_cpu: float | None = None
    #: CPU seconds of the children it started and reaped (the commands it ran).
    children_cpu: float | None = None


def measured_run(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 600
) -> RunCost:
    """Like ``timed_run``, and also the process's own CPU beside its children's.

    The exited process is read from /proc before it is reaped (``waitid`` with
    ``WNOWAIT``), so the figures are final. Without that (not Linux) only time is given.
    """
    from benchmarks.procfs import cpu_split

    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        own = children = None
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
                elapsed = time.perf_counter() - start
                with contextlib.suppress(OSError):
                    own, children = cpu_split(proc.pid)
                proc.wait()
            else:
                proc.wait()
                elapsed = time.perf_counter() - start
        finally:
            killer.cancel()
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0 and elapsed >= timeout:
            raise BenchError(f"{' '.join(argv[:4])} … killed after {timeout:g} s")
        if proc.returncode != 0:
            errors.seek(0)
            _failed(argv, proc.returncode, errors.read())
    return RunCost(elapsed, own, children)


def _failed(argv: Sequence[str], code: int, stderr: bytes) -> None:
    tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
    raise BenchError(f"{' '.join(argv[:4])} … exited {code}: {' | '.join(tail)}")


def run_child(module: str, *args: object, timeout: float = 600) -> dict[str, Any]:
    """Run ``python -m module args…`` and return the JSON object on its last stdout line."""
    argv = [sys.executable, "-m", module, *(str(a) for a in args)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise BenchError(f"{module} {' '.join(map(str, args))} exited {result.returncode}: {tail}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def fastest_child_run(ctx: Context, module: str, *args: object) -> dict[str, Any]:
    """The result with the highest rate of ``ctx.repeat`` runs of ``module``, or its skip."""
    best: dict[str, Any] | None = None
    for _ in range(max(1, ctx.repeat)):
        result = run_child(module, *args)
        if "skip" in result:
            return result
        if best is None or float(result["rate"]) > float(best["rate"]):
            best = result
    assert best is not None
    return best


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def best(measure: Callable[[], float], repeat: int, *, higher: bool = True) -> float:
    """The best of ``repeat`` measurements (noise on a busy machine only ever slows down)."""
    values = [measure() for _ in range(max(1, repeat))]
    return max(values) if higher else min(values)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop, as queuectl's CLI does (the default loop without it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
