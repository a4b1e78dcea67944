"""Option types whose values are bounded as the domain bounds them (``domain.limits``)."""

from __future__ import annotations

from typing import Any

import asyncclick as click

from queuectl.domain.durations import parse_duration
from queuectl.domain.limits import MAX_COUNT, MAX_DURATION, duration_problem

__all__ = ["COUNT", "Seconds"]

#: A count such as ``--limit``: what every store can hold as an integer.
COUNT = click.IntRange(0, MAX_COUNT)


class Seconds(click.ParamType[float]):
    """Seconds, or a duration such as ``90s`` or ``5m``, within ``[low, high]``.

    click's FloatRange lets NaN through and has no upper bound by default: a wait of
    ``1e308`` seconds would overflow the first timer built from it.
    """

    name = "seconds"

    def __init__(self, low: float = 0.0, high: float = MAX_DURATION) -> None:
        self.low = low
        self.high = high

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value  # a default, already converted
        try:
            seconds = parse_duration(value, "value")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        problem = duration_problem(seconds, low=self.low, high=self.high)
        if problem is not None:
            self.fail(f"{problem}, not {value!r}", param, ctx)
        return seconds
