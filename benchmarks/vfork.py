"""A floor candidate only: start a child with subprocess's own vfork helper.

``_posixsubprocess.fork_exec`` is private to CPython (its arguments are those of 3.11
to 3.13), which is why queuectl itself never calls it. It stays here as a measuring
stick: on Linux it is the fastest way found to start ``sh -c true`` from Python, so
the dispatch floor uses it where it works. ``load`` returns None elsewhere.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["VforkSpawn", "env_block", "load"]

_VERSIONS = ((3, 11), (3, 12), (3, 13))


def env_block(env: Mapping[str, str]) -> list[bytes]:
    """``KEY=value`` entries, as the helper takes them."""
    return [os.fsencode(f"{key}={value}") for key, value in env.items()]


@functools.cache
def load() -> VforkSpawn | None:
    """The spawner, or None where it cannot be used (checked with one child)."""
    if not sys.platform.startswith("linux") or sys.version_info[:2] not in _VERSIONS:
        return None
    try:
        from _posixsubprocess import fork_exec
    except ImportError:
        return None
    spawner = VforkSpawn(fork_exec)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        pid = spawner.spawn(b"/bin/sh", [b"/bin/sh", b"-c", b":"], [], (devnull,) * 3)
        _, status = os.waitpid(pid, 0)
    except (OSError, TypeError, ValueError):
        return None
    finally:
        os.close(devnull)
    return spawner if os.waitstatus_to_exitcode(status) == 0 else None


class VforkSpawn:
    """Starts a program in a new session, SIGPIPE and SIGXFSZ at their defaults."""

    def __init__(self, fork_exec: Callable[..., int]) -> None:
        self._fork_exec = fork_exec

    def spawn(
        self, path: bytes, argv: list[bytes], env: list[bytes], stdio: tuple[int, ...]
    ) -> int:
        """Start ``path`` with ``stdio`` as its descriptors 0, 1, 2; its pid."""
        errors_r, errors_w = os.pipe()  # the child reports a failed exec here
        try:
            pid = self._fork_exec(*_arguments(path, argv, env, stdio, errors_r, errors_w))
        except BaseException:
            os.close(errors_r)
            raise
        finally:
            os.close(errors_w)
        try:
            report = os.read(errors_r, 4096)  # EOF once the exec succeeded
        finally:
            os.close(errors_r)
        if report:
            os.waitpid(pid, 0)
            raise OSError(f"could not start {path!r}: {report!r}")
        return pid


def _arguments(
    path: bytes, argv: list[bytes], env: list[bytes], stdio: tuple[int, ...], err_r: int, err_w: int
) -> tuple[Any, ...]:
    stdin, stdout, stderr = stdio
    return (
        argv,
        [path],  # executable_list
        True,  # close_fds: all but 0, 1, 2 and err_w
        (err_w,),  # fds_to_keep
        None,  # cwd
        env,
        stdin,  # p2cread
        -1,  # p2cwrite
        -1,  # c2pread
        stdout,  # c2pwrite
        -1,  # errread
        stderr,  # errwrite
        err_r,  # the child closes its copy
        err_w,
        True,  # restore_signals
        True,  # call_setsid
        -1,  # pgid_to_set
        None,  # gid
        None,  # extra_groups
        None,  # uid
        -1,  # child_umask
        None,  # preexec_fn
        True,  # allow_vfork
    )
