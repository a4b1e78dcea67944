"""Cron expressions and the catch-up plan: pure functions, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queuectl.domain.cron import MAX_CATCH_UP, MISFIRE_GRACE, Cron, plan_ticks
from queuectl.domain.errors import InvalidInput
from queuectl.domain.schedule import ScheduleSpec, template_json, template_spec
from queuectl.domain.spec import JobSpec, parse_spec

T = datetime(2026, 1, 1, tzinfo=UTC).timestamp()  # a Thursday, 00:00 UTC


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("x * * * *", "Bad minute"),
        ("61 * * * *", "Bad minute"),
        ("* 24 * * *", "Bad hour"),
        ("* * * *", "Wrong number of fields"),
        ("* * * * * * *", "Wrong number of fields"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("0 0 * * blursday", "Bad day-of-week"),
        ("@fortnightly", "use one of @annually"),
        ("", "Wrong number of fields"),
        ("*" * 300, "bad cron expression"),
    ],
)
def test_bad_expressions_are_refused_with_the_parsers_reason(expression: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        Cron(expression)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "Europe/", "x" * 300])
def test_unknown_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidInput, match="unknown time zone"):
        Cron("* * * * *", zone)


@pytest.mark.parametrize(
    ("expression", "first"),
    [
        ("@hourly", "2026-01-01T01:00:00+00:00"),
        ("@daily", "2026-01-02T00:00:00+00:00"),
        ("@midnight", "2026-01-02T00:00:00+00:00"),
        ("@weekly", "2026-01-04T00:00:00+00:00"),  # Sunday
        ("@monthly", "2026-02-01T00:00:00+00:00"),
        ("@yearly", "2027-01-01T00:00:00+00:00"),
        ("@annually", "2027-01-01T00:00:00+00:00"),
        ("*/15 9-17 * jan-mar mon-fri", "2026-01-01T09:00:00+00:00"),
        ("0 12 1,15 * *", "2026-01-01T12:00:00+00:00"),
        ("*/10 * * * * *", "2026-01-01T00:00:10+00:00"),  # six fields: seconds first
    ],
)
def test_fields_names_nicknames_and_seconds(expression: str, first: str) -> None:
    tick = Cron(expression).after(T)
    assert tick is not None
    assert datetime.fromtimestamp(tick, UTC).isoformat() == first


def test_ticks_and_latest_walk_both_ways() -> None:
    cron = Cron("*/10 * * * * *")
    assert cron.ticks(T, T + 35, 10) == [T + 10, T + 20, T + 30]
    assert cron.latest(T, T + 30, 10) == [T + 30, T + 20, T + 10]  # upto is included
    assert cron.latest(T - 1, T + 35, 2) == [T + 30, T + 20]


def test_on_time_ticks_all_fire_whatever_the_policy() -> None:
    cron = Cron("* * * * * *")
    for policy in ("none", "latest", "all"):
        plan = plan_ticks(cron, T, T + 3.5, policy)
        assert plan.fire == [T + 1, T + 2, T + 3]
        assert (plan.missed, plan.pass_to, plan.next_at) == (0, None, T + 4)


def test_missed_ticks_follow_the_policy() -> None:
    cron = Cron("* * * * *")
    now = T + 5 * 60 + MISFIRE_GRACE + 1  # ticks at 1..5 minutes missed
    none = plan_ticks(cron, T, now, "none")
    assert (none.fire, none.missed, none.pass_to) == ([], 5, now - MISFIRE_GRACE)
    latest = plan_ticks(cron, T, now, "latest")
    assert (latest.fire, latest.missed, latest.pass_to) == ([T + 300], 4, None)
    every = plan_ticks(cron, T, now, "all")
    assert (every.fire, every.missed) == ([T + 60 * i for i in range(1, 6)], 0)
    capped = plan_ticks(cron, T, T + 500 * 60 + 30, "all")
    assert len(capped.fire) == MAX_CATCH_UP
    assert capped.missed == 400


def test_template_round_trips_through_enqueue_json() -> None:
    spec = parse_spec({"command": "make", "queue": "ops", "timeout": "5m", "priority": 2})
    assert template_spec(template_json(spec)) == spec
    assert template_json(JobSpec("true")) == '{"command": "true"}'
    for field in ({"id": "x"}, {"delay": 5}, {"after": ["a"]}):
        with pytest.raises(InvalidInput, match="cannot have"):
            ScheduleSpec("s", Cron("@daily"), parse_spec({"command": "x", **field}))
    with pytest.raises(InvalidInput, match="invalid schedule name"):
        ScheduleSpec("-s", Cron("@daily"), JobSpec("x"))


def test_six_fields_skip_a_missing_time_and_fire_a_repeated_one_once() -> None:
    """Documented: a six-field daily time that does not exist is skipped (five fields
    move it); one that happens twice fires once, at its first occurrence, like five."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    spring = datetime(2026, 3, 28, 12, tzinfo=berlin).timestamp()
    autumn = datetime(2026, 10, 24, 12, tzinfo=berlin).timestamp()
    six, five = Cron("0 30 2 * * *", "Europe/Berlin"), Cron("30 2 * * *", "Europe/Berlin")

    def local(ticks: list[float]) -> list[str]:
        return [datetime.fromtimestamp(t, berlin).strftime("%d %H:%M %z") for t in ticks]

    assert local(six.ticks(spring, spring + 2 * 86400, 9)) == ["30 02:30 +0200"]
    assert local(five.ticks(spring, spring + 2 * 86400, 9)) == ["29 03:00 +0200", "30 02:30 +0200"]
    assert local(six.ticks(autumn, autumn + 86400, 9)) == ["25 02:30 +0200"]
    assert local(six.latest(autumn, autumn + 86400, 9)) == ["25 02:30 +0200"]
    assert local(five.ticks(autumn, autumn + 86400, 9)) == ["25 02:30 +0200"]
    # Seconds and minutes that are not fixed go by elapsed time: both 02:xx hours fire.
    every = Cron("0 */30 2 * * *", "Europe/Berlin")
    assert local(every.ticks(autumn, autumn + 86400, 9)) == [
        "25 02:00 +0200",
        "25 02:30 +0200",
        "25 02:00 +0100",
        "25 02:30 +0100",
    ]
