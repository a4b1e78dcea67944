"""glibc's ``posix_spawn`` called through ctypes, so that the GIL is free while a child starts.

``os.posix_spawn`` holds the GIL until the child has called ``exec``: the parent is
suspended for the whole vfork window (0.1 to 0.4 ms on a busy two-core machine), and
with it every other thread of the process. A ctypes call releases the GIL, so a
spawning thread no longer stops the event loop or the store's thread. Only on Linux
with glibc 2.26 or newer (the first with ``POSIX_SPAWN_SETSID``); ``load`` returns
None elsewhere and the caller keeps ``os.posix_spawn``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ctypes

__all__ = ["EnvBlocks", "LibcSpawn", "env_block", "load"]

# <spawn.h> flag values, which are not part of the ABI of other C libraries.
_SETSIGDEF = 0x04
_SETSIGMASK = 0x08
_SETSID = 0x80
# Larger than glibc's posix_spawnattr_t (336 bytes on x86-64), file actions (80) and
# sigset_t (128), whatever the architecture.
_ATTR_SIZE = 1024
_ACTIONS_SIZE = 256
_SIGSET_SIZE = 256
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
#: Room kept after the base environment for a job's own variables.
_EXTRA_SLOTS = 16


def load(default_signals: Iterable[int]) -> LibcSpawn | None:
    """The spawner, or None where this C library cannot be used this way."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    name, _, number = version.partition(" ")
    try:
        major, minor = (int(part) for part in number.split(".")[:2])
    except ValueError:
        return None
    if name != "glibc" or (major, minor) < (2, 26):
        return None
    try:
        return LibcSpawn(default_signals)
    except (ImportError, OSError, AttributeError):
        return None


def env_block(env: Mapping[str, str]) -> list[bytes]:
    """``KEY=value`` entries, checked as ``os.posix_spawn`` checks them."""
    block = []
    for key, value in env.items():
        # os.fsencode's encoding, in one call per entry (a spawn encodes several).
        entry = f"{key}={value}".encode(_FS_ENCODING, _FS_ERRORS)
        if not key or "=" in key or b"\0" in entry:
            raise ValueError(f"illegal environment variable {key!r}")
        block.append(entry)
    return block


class EnvBlocks:
    """``env_block`` of the last mapping given, encoded again only for another object.

    Callers pass the same mapping while it is unchanged, and get the same list back:
    ``LibcSpawn.spawn`` then reuses its array too.
    """

    def __init__(self) -> None:
        self._source: Mapping[str, str] | None = None
        self._block: list[bytes] = []

    def __call__(self, env: Mapping[str, str]) -> list[bytes]:
        if env is not self._source:
            self._source, self._block = env, env_block(env)
        return self._block


class LibcSpawn:
    """Starts a program in a new session with its signals at their defaults.

    Per start it costs about as much CPU as ``os.posix_spawn``: only ``posix_spawn``
    itself frees the GIL (the calls that build file actions keep it: freeing it is a
    chance for another thread to take it), and the environment array is reused while
    the base environment stays the same list.
    """

    def __init__(self, default_signals: Iterable[int]) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        holding = ctypes.PyDLL(None)  # functions that keep the GIL: they never block
        self._ctypes = ctypes
        self._lock = threading.Lock()  # the buffers below serve one start at a time
        self._spawn = libc.posix_spawn
        self._spawn.argtypes = [
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_char_p),
        ]
        self._actions_init = holding.posix_spawn_file_actions_init
        self._actions_dup2 = holding.posix_spawn_file_actions_adddup2
        self._actions_destroy = holding.posix_spawn_file_actions_destroy
        self._actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
        self._pid = ctypes.c_int()
        self._base: list[bytes] | None = None  # the list self._envp starts with
        self._envp = (ctypes.c_char_p * 1)()
        # One set of attributes serves every child: posix_spawn only reads them.
        self._attr = ctypes.create_string_buffer(_ATTR_SIZE)
        self._defaults = ctypes.create_string_buffer(_SIGSET_SIZE)
        self._mask = ctypes.create_string_buffer(_SIGSET_SIZE)
        libc.sigemptyset(self._defaults)
        for sig in default_signals:
            libc.sigaddset(self._defaults, int(sig))
        libc.sigemptyset(self._mask)  # the child starts with no signal blocked
        checks = (
            libc.posix_spawnattr_init(self._attr),
            libc.posix_spawnattr_setflags(
                self._attr, ctypes.c_short(_SETSID | _SETSIGDEF | _SETSIGMASK)
            ),
            libc.posix_spawnattr_setsigdefault(self._attr, self._defaults),
            libc.posix_spawnattr_setsigmask(self._attr, self._mask),
        )
        for code in checks:
            if code:
                raise OSError(code, os.strerror(code))

    def spawn(
        self,
        path: bytes,
        argv: list[bytes],
        envp: list[bytes],
        stdio: tuple[int, ...],
        extra: Sequence[bytes] = (),
    ) -> int:
        """Start ``path``; its pid. ``stdio`` become its descriptors 0, 1, 2…

        The environment is ``envp`` then ``extra``. Pass the same ``envp`` list, never
        changed in place, to reuse its array.
        """
        ctypes = self._ctypes
        if any(b"\0" in arg for arg in argv) or b"\0" in path:
            raise ValueError("embedded null byte")
        c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
        with self._lock:
            c_envp = self._environment(envp, extra)
            actions = self._actions
            code = self._actions_init(actions)
            if code:
                raise OSError(code, os.strerror(code))
            try:
                for target, fd in enumerate(stdio):
                    code = self._actions_dup2(actions, fd, target)
                    if code:
                        raise OSError(code, os.strerror(code))
                pid = self._pid
                code = self._spawn(ctypes.byref(pid), path, actions, self._attr, c_argv, c_envp)
            finally:
                self._actions_destroy(actions)
            if code:
                raise OSError(code, os.strerror(code), path.decode(errors="replace"))
            return int(pid.value)

    def _environment(self, base: list[bytes], extra: Sequence[bytes]) -> ctypes.Array[Any]:
        """The NULL-terminated array of ``base`` then ``extra``; ``base`` is set once."""
        size = len(base) + len(extra) + 1
        envp = self._envp
        if base is not self._base or size > len(envp):
            room = len(base) + max(len(extra), _EXTRA_SLOTS) + 1
            envp = self._envp = (self._ctypes.c_char_p * room)(*base)
            self._base = base
        start = len(base)
        for offset, entry in enumerate(extra):
            envp[start + offset] = entry
        envp[start + len(extra)] = None
        return envp
