"""Cron expressions in a time zone: validation, the ticks between two times, and what
a firing pass does with the ticks that came due. No I/O.

Parsing and stepping through the calendar are cronsim's: it matches Debian cron at
daylight-saving changes (a daily time that does not exist runs at the first valid
minute after it; a daily time that exists twice runs once, at its first occurrence),
where croniter fires a repeated daily time twice. Schedules whose hour or minute field
starts with ``*`` go by elapsed time at a change, as cron does: an hourly schedule has
one tick less on the spring day and one more in autumn, each an hour of real time
apart. Six fields put seconds first (``*/5 * * * * *``); cronsim leaves them as the
calendar gives them, so here a local time that does not exist is skipped, and, when the
hour and minute fields are fixed, the second occurrence of a repeated local time is
dropped, so that it fires once, as five fields do.

A tick is a whole second since the epoch. A schedule keeps a cursor: every tick up to
it was handled (fired, skipped, or passed over as missed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Literal, NamedTuple

from queuectl.domain.errors import InvalidInput

__all__ = [
    "CATCH_UP",
    "MAX_CATCH_UP",
    "MISFIRE_GRACE",
    "NICKNAMES",
    "CatchUp",
    "Cron",
    "TickPlan",
    "plan_ticks",
]

CatchUp = Literal["none", "latest", "all"]
CATCH_UP: tuple[CatchUp, ...] = ("none", "latest", "all")
#: The most missed ticks ``--catch-up all`` fires; older ones are passed over.
MAX_CATCH_UP = 100
#: A tick fired within this many seconds of its time is on time, whatever the policy:
#: runners that are merely busy never lose ticks. Older ticks were missed.
MISFIRE_GRACE = 10.0
#: Missed ticks counted one by one at most, per pass (past it the count is a floor).
_COUNT_LIMIT = 10_000
_MAX_TEXT = 200

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _zone(name: object) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name or len(name) > _MAX_TEXT:
        raise InvalidInput(f"unknown time zone {name!r}")
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)"
        ) from None


class Cron:
    """A validated cron expression and the zone its times are read in."""

    def __init__(self, expression: object, timezone: object = "UTC") -> None:
        from cronsim import CronSim, CronSimError

        if not isinstance(expression, str) or len(expression) > _MAX_TEXT:
            raise InvalidInput(f"bad cron expression {expression!r}")
        self.expression = " ".join(expression.split())
        self.timezone = str(timezone)
        self._zone = _zone(timezone)
        self._fields = NICKNAMES.get(self.expression.lower(), self.expression)
        if self._fields.startswith("@"):
            names = ", ".join(sorted(NICKNAMES))
            raise InvalidInput(f"bad cron expression {self.expression!r}: use one of {names}")
        try:
            next(CronSim(self._fields, datetime.now(self._zone)))
        except CronSimError as exc:
            raise InvalidInput(f"bad cron expression {self.expression!r}: {exc}") from None
        except StopIteration:
            raise InvalidInput(f"cron expression {self.expression!r} never fires") from None
        except (ValueError, IndexError, OverflowError) as exc:  # what cronsim did not foresee
            raise InvalidInput(f"bad cron expression {self.expression!r}: {exc}") from None
        fields = self._fields.split()
        #: Six fields at a fixed hour and minute: a repeated local time fires once.
        self._once = len(fields) == 6 and not any(f.startswith("*") for f in fields[1:3])

    def _repeat(self, tick: datetime) -> bool:
        """Whether ``tick`` is the second occurrence of a local time that this
        expression must fire once (cronsim handles five fields itself)."""
        return (
            self._once and tick.fold == 1 and tick.utcoffset() != tick.replace(fold=0).utcoffset()
        )

    def after(self, moment: float) -> float | None:
        """The first tick strictly after ``moment`` (None: none within 50 years)."""
        found = self.ticks(moment, math.inf, 1)
        return found[0] if found else None

    def ticks(self, after: float, upto: float, limit: int) -> list[float]:
        """Up to ``limit`` ticks in ``(after, upto]``, oldest first."""
        start = datetime.fromtimestamp(after, self._zone)
        return self._take(start, lambda tick: tick > upto, limit, reverse=False)

    def latest(self, after: float, upto: float, limit: int) -> list[float]:
        """Up to ``limit`` ticks in ``(after, upto]``, newest first."""
        # A start with microseconds makes cronsim's first tick the start itself.
        start = datetime.fromtimestamp(math.floor(upto), self._zone).replace(microsecond=1)
        return self._take(start, lambda tick: tick <= after, limit, reverse=True)

    def _take(
        self, start: datetime, past: Callable[[float], bool], limit: int, *, reverse: bool
    ) -> list[float]:
        """Up to ``limit`` ticks walking from ``start``, until one is ``past`` the end;
        the second occurrences that ``_repeat`` drops are not counted."""
        from cronsim import CronSim

        found: list[float] = []
        walk = CronSim(self._fields, start, reverse=reverse)
        while len(found) < limit:
            try:
                tick = next(walk).timestamp()
            except (StopIteration, OverflowError):
                break
            if self._repeat(datetime.fromtimestamp(tick, self._zone)):
                continue
            if past(tick):
                break
            found.append(tick)
        return found


class TickPlan(NamedTuple):
    """What one firing pass does for one schedule."""

    #: Ticks to fire, oldest first.
    fire: list[float]
    #: Missed ticks passed over (not fired) by the catch-up policy; a floor when huge.
    missed: int
    #: Move the cursor here before firing (missed ticks passed over), or None.
    pass_to: float | None
    #: The first tick after ``now``: when to look again.
    next_at: float | None


def plan_ticks(cron: Cron, cursor: float, now: float, catch_up: CatchUp) -> TickPlan:
    """The ticks after ``cursor`` that are due at ``now``, and what the policy makes of
    them: on-time ticks (within ``MISFIRE_GRACE``) all fire; of the missed ones, none,
    the latest, or the latest ``MAX_CATCH_UP`` fire."""
    grace_start = now - MISFIRE_GRACE
    fire: list[float] = []
    missed, pass_to = 0, None
    if cursor < grace_start:
        keep = {"none": 0, "latest": 1, "all": MAX_CATCH_UP}[catch_up]
        recent = cron.latest(cursor, grace_start, keep) if keep else []
        due = len(cron.ticks(cursor, grace_start, _COUNT_LIMIT))
        missed = max(due - len(recent), 0)
        fire = recent[::-1]
        if not fire and due:
            pass_to = grace_start
    fire += cron.ticks(max(cursor, grace_start), now, MAX_CATCH_UP)
    return TickPlan(fire, missed, pass_to, cron.after(max(now, cursor)))
