"""The ``queue`` commands and ``status`` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLI


def test_queue_list_shows_counts_settings_and_age(cli: CLI) -> None:
    cli("add", "--queue", "mail", "--", "true", check=True)
    cli("add", "--queue", "mail", "--delay", "1h", "--", "true", check=True)
    assert cli("queue", "pause", "later", "mail", check=True).stdout == (
        "later: paused\nmail: paused\n"
    )
    assert cli("queue", "limit", "mail", "3", check=True).stdout == "mail: at most 3 at once\n"
    head, later, mail = cli("queue", "list", check=True).stdout.splitlines()
    assert head.split() == [
        "QUEUE", "PENDING", "PROCESSING", "COMPLETED", "FAILED", "DEAD", "CANCELLED",
        "PAUSED", "CAP", "OLDEST",
    ]  # fmt: skip
    assert later.split() == ["later", "0", "0", "0", "0", "0", "0", "yes", "-", "-"]
    assert mail.split()[:9] == ["mail", "2", "0", "0", "0", "0", "0", "yes", "3"]
    assert mail.split()[9].endswith("s")  # seconds since the due job became due
    listed = json.loads(cli("queue", "list", "--json", check=True).stdout)
    assert [q["name"] for q in listed] == ["later", "mail"]
    assert listed[1]["counts"]["pending"] == 2
    assert (listed[1]["paused"], listed[1]["cap"]) == (True, 3)
    assert listed[0]["oldest_runnable_age"] is None
    assert listed[1]["oldest_runnable_age"] >= 0
    status = cli("status", check=True).stdout
    assert "Paused queues: later, mail" in status
    as_json = json.loads(cli("status", "--json", check=True).stdout)
    assert as_json["paused"] == ["later", "mail"]
    assert set(as_json) == {"jobs", "queues", "workers", "paused"}
    cli("queue", "resume", "later", "mail", check=True)
    assert cli("queue", "limit", "mail", "none", check=True).stdout == "mail: no limit\n"
    assert json.loads(cli("status", "--json", check=True).stdout)["paused"] == []
    assert [q["name"] for q in json.loads(cli("queue", "list", "--json").stdout)] == ["mail"]


@pytest.mark.parametrize(
    "args",
    [
        ["limit", "q", "0"],
        ["limit", "q", "-3"],
        ["limit", "q", "2147483648"],
        ["limit", "q", "1.5"],
        ["limit", "q", "lots"],
        ["limit", "q"],
        ["limit", "bad name", "3"],
        ["pause"],
        ["pause", "ok", "bad/name"],
        ["resume", "-x"],
    ],
)
def test_bad_queue_input_exits_2_and_stores_nothing(cli: CLI, args: list[str]) -> None:
    result = cli("queue", *args)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("queuectl: error: ")
    assert json.loads(cli("queue", "list", "--json", check=True).stdout) == []
