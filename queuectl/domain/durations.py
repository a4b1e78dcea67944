"""Durations as people write them (``90s``, ``5m``, ``1h30m``, ``7d``) and back."""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "format_seconds", "format_size", "parse_duration", "parse_size"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``90``, ``90s``, ``5m``, ``1h30m``.

    Raises ValueError with a message naming ``what``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of seconds or a duration like 5m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not text or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"{what} {value!r} is not a duration (use seconds or e.g. 90s, 5m, 2h, 7d)"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"{what} must be a number of seconds or a duration like 5m")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a non-negative duration, not {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``45s``, ``4m59s``, ``2h05m``, ``3d04h``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02}h"


def format_seconds(seconds: float) -> str:
    """Exactly (to the microsecond), in a form ``parse_duration`` reads back: ``1h30m``,
    ``2.5s``, ``7d``. Unlike ``format_duration``, nothing is rounded away."""
    micros = round(seconds * 1_000_000)
    whole, fraction = divmod(micros, 1_000_000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if whole or fraction or not parts:
        text = f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")
        parts.append(f"{text}s")
    return "".join(parts)


def format_size(size: int) -> str:
    """Bytes in the largest unit that divides them (``1MiB``, ``512KiB``, ``1000``)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


_SIZE = re.compile(r"(\d+)\s*([kmg]?)(i?b)?")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as ``1048576``, ``512k``, ``1MiB``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if match:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(f"not a size: {value!r}")
