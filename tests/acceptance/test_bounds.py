"""Every number the CLI takes is bounded at input, the same on SQLite and PostgreSQL.

The refusals run the real ``main`` in this process (hundreds of cases: a subprocess
each would cost seconds for nothing the test is about); what must work afterwards,
including a runner, runs as the user runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from queuectl.cli import main
from queuectl.domain.limits import MAX_COMMAND_BYTES
from queuectl.domain.models import JobState
from tests.acceptance.helpers import QueueCtl
from tests.conftest import CLI

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(cli: CLI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``queuectl ARGS`` in this process on the test's home and store: (code, out, err)."""
    monkeypatch.setenv("QUEUECTL_HOME", str(cli.home))
    monkeypatch.setenv("QUEUECTL_DB", cli.db)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        code = exited.value.code
        assert isinstance(code, int)
        return code, out, err

    return call


#: Each numeric option of each command, with a value past its bound.
OPTIONS = [
    ("add", "--delay", "3651d", "--", "true"),
    ("add", "--delay", "9999999999d", "--", "true"),
    ("add", "--delay", "1e308", "--", "true"),
    ("add", "--at", "9999-12-31T00:00:00Z", "--", "true"),
    ("add", "--at", "1969-01-01T00:00:00Z", "--", "true"),
    ("add", "--timeout", "0", "--", "true"),
    ("add", "--timeout", "3651d", "--", "true"),
    ("add", "--timeout", "nan", "--", "true"),
    ("add", "--retries", "1001", "--", "true"),
    ("add", "--retries", "-1", "--", "true"),
    ("add", "--priority", "2147483648", "--", "true"),
    ("add", "--priority", "-2147483649", "--", "true"),
    ("add", "--backoff-base", "1001", "--", "true"),
    ("add", "--backoff-base", "nan", "--", "true"),
    ("add", "--backoff-max", "3651d", "--", "true"),
    ("add", "--backoff-max", "0", "--", "true"),
    ("list", "--limit", "2147483648"),
    ("list", "--limit", "-1"),
    ("dlq", "list", "--limit", "2147483648"),
    ("logs", "j", "--attempt", "2147483648"),
    ("logs", "j", "--attempt", "0"),
    ("logs", "j", "--tail", "2147483648"),
    ("logs", "j", "--tail", "-1"),
    ("wait", "j", "--timeout", "1e308"),
    ("wait", "j", "--timeout", "nan"),
    ("wait", "j", "--timeout", "-1"),
    ("worker", "stop", "--timeout", "1e308"),
    ("worker", "stop", "--timeout", "nan"),
    ("worker", "start", "--count", "4097"),
    ("worker", "start", "--count", "0"),
    ("status", "--interval", "nan"),
    ("status", "--interval", "3601"),
    ("status", "--interval", "0.01"),
    ("purge", "--older-than", "9999999999d"),
    ("purge", "--older-than", "inf"),
]


@pytest.mark.parametrize("args", OPTIONS, ids=" ".join)
def test_a_numeric_option_past_its_bound_exits_2_with_one_line(run: Run, args: list[str]) -> None:
    code, out, err = run(*args)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith("queuectl: error: "), err
    assert run("list", "--json")[1] == "[]\n"


#: Each numeric job field, in enqueue's JSON, with a value past its bound.
FIELDS = [
    {"delay": 1e308},
    {"delay": "9999999999d"},
    {"delay": -1},
    {"run_at": "9999-12-31T23:59:59Z"},
    {"run_at": "0001-01-01T00:00:00+05:00"},
    {"timeout": 1e308},
    {"timeout": 0},
    {"max_retries": 1001},
    {"max_retries": True},
    {"priority": 2**31},
    {"priority": 1.5},
    {"backoff_base": 1e308},
    {"backoff_base": 0.5},
    {"backoff_max": 1e308},
    {"backoff_max": 0},
    {"after": "a"},
]


@pytest.mark.parametrize("field", FIELDS, ids=json.dumps)
def test_a_job_field_past_its_bound_exits_2_and_stores_nothing(
    run: Run, field: dict[str, object]
) -> None:
    code, out, err = run("enqueue", json.dumps({"command": "true", **field}))
    assert (code, out) == (2, "")
    assert err.startswith(f"queuectl: error: '{next(iter(field))}' must"), err
    assert run("list", "--json")[1] == "[]\n"


def test_a_bulk_input_with_one_field_past_its_bound_stores_nothing(qctl: QueueCtl) -> None:
    lines = "\n".join(json.dumps({"command": "true", **f}) for f in [{}, {"delay": 1e308}])
    message = qctl.fails(2, "enqueue", "-", input=lines + "\n")
    assert message.startswith("queuectl: error: line 2: 'delay' must be at most")
    assert qctl.jobs() == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max-retries", "1001"),
        ("backoff-base", "1001"),
        ("backoff-max", "3651d"),
        ("lease-seconds", "1e12"),
        ("job-timeout", "1e12"),
        ("kill-grace", "1e12"),
        ("poll-interval", "1e12"),
        ("output-limit", "1g"),
        ("retention", "completed=1e12"),
        ("backoff-jitter", "half"),
    ],
)
def test_a_setting_past_its_bound_exits_2_and_changes_nothing(
    run: Run, key: str, value: str
) -> None:
    before = run("config", "get", "--json")[1]
    code, out, err = run("config", "set", key, value)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"queuectl: error: {key}"), err
    assert run("config", "get", "--json")[1] == before


def test_jobs_and_settings_at_every_bound_work_with_every_later_command(
    qctl: QueueCtl, run: Run
) -> None:
    """The values at the bounds are stored as given on either store, and nothing that
    reads or runs them overflows: the reading commands, and a runner whose every
    duration setting is at its maximum."""
    for key in ("backoff-max", "lease-seconds", "job-timeout", "kill-grace", "poll-interval"):
        assert run("config", "set", key, "3650d")[0] == 0
    for key, value in (
        ("max-retries", "1000"),
        ("backoff-base", "1000"),
        ("output-limit", "64MiB"),
    ):
        assert run("config", "set", key, value)[0] == 0
    assert run("config", "set", "retention", "completed=3650d,dead=3650d")[0] == 0
    latest = (datetime.now(UTC) + timedelta(days=3649)).isoformat()
    far: dict[str, object] = {"id": "far", "command": "true", "delay": "3650d"}
    far |= {"timeout": "3650d", "max_retries": 1000, "priority": 2**31 - 1}
    far |= {"backoff_base": 1000, "backoff_max": "3650d"}
    for job in (
        far,
        {"id": "low", "command": "true", "priority": -(2**31), "run_at": latest},
        {"id": "old", "command": "true", "run_at": "1970-01-01T00:00:00Z"},
    ):
        assert run("enqueue", json.dumps(job))[0] == 0

    shown = qctl.json("show", "far")
    assert (shown["max_retries"], shown["priority"], shown["timeout"]) == (
        1000,
        2**31 - 1,
        3650 * 86400,
    )
    assert shown["backoff_max"] == 3650 * 86400
    for args in (
        ("list",),
        ("list", "--json"),
        ("show", "far"),
        ("show", "low"),
        ("dlq", "list"),
        ("status",),
        ("config", "get"),
    ):
        code, _, err = run(*args)
        assert code == 0, (args, err)
        assert "error" not in err, (args, err)
    assert [job["id"] for job in json.loads(run("list", "--json")[1])] == ["far", "low", "old"]

    # `old` is due: a burst runner with every duration at its bound runs it and exits.
    qctl.ok("worker", "start", "--burst", "--queue", "default")
    assert qctl.job("old").state == JobState.COMPLETED
    assert qctl.job("far").state == JobState.PENDING
    assert run("purge", "--older-than", "3650d")[0] == 0


def test_a_command_longer_than_one_argument_may_be_is_refused_everywhere(
    qctl: QueueCtl, tmp_path: Path
) -> None:
    half = "x" * (MAX_COMMAND_BYTES // 2)
    # Words that fit the argument limit one by one, but not once joined into one command.
    message = qctl.fails(2, "add", "--", "echo", half, half)
    assert message.startswith("queuectl: error: 'command' is 131076 bytes; the most")
    too_long = json.dumps({"command": "true " + "x" * (MAX_COMMAND_BYTES - 4)})
    qctl.fails(2, "enqueue", "-", input=f'{{"command": "true"}}\n{too_long}\n')
    (tmp_path / "jobs.jsonl").write_text(too_long + "\n")
    qctl.fails(2, "enqueue", "--file", str(tmp_path / "jobs.jsonl"))
    assert qctl.jobs() == []

    # The longest accepted command really runs: the bound is what the system allows.
    longest = "true " + "x" * (MAX_COMMAND_BYTES - 5)
    qctl.ok("enqueue", "-", input=json.dumps({"id": "longest", "command": longest}) + "\n")
    qctl.ok("worker", "start", "--burst")
    assert qctl.job("longest").state == JobState.COMPLETED
