"""``queuectl schedule …`` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CLI


def schedules(cli: CLI) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(
        cli("schedule", "list", "--json", check=True).stdout
    )
    return listed


def test_bad_expressions_and_zones_exit_2_and_store_nothing(cli: CLI) -> None:
    """Every bad value is the parser's (tests/unit/test_cron.py has the rest): the CLI
    gives its reason in one line, exits 2, and creates nothing."""
    for args, reason in [
        (["s", "x * * * *", "--", "true"], "bad cron expression 'x * * * *': Bad minute"),
        (["s", "* * * * *", "--tz", "Mars/Olympus", "--", "true"], "unknown time zone"),
        (["bad name", "* * * * *", "--", "true"], "invalid schedule name"),
        (["s", "* * * * *", "--job", '{"command": "x", "id": "a"}'], "cannot have 'id'"),
        (["s", "* * * * *"], "give the command after --"),
    ]:
        result = cli("schedule", "add", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert reason in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    if cli.db.endswith(".db"):
        assert not (cli.home / "queuectl.db").exists()  # not even created
    assert schedules(cli) == []


def test_add_list_show_run_pause_resume_remove(cli: CLI) -> None:
    added = cli(
        "schedule", "add", "nightly", "30 2 * * *", "--tz", "Europe/Berlin", "--no-overlap",
        "--queue", "ops", "--retries", "2", "--", "echo", "a b",
        check=True,
    )  # fmt: skip
    assert added.stdout.startswith("nightly: next at 20")
    cli("schedule", "add", "report", "@daily", "--job", '{"command": "make report"}', check=True)

    (nightly, report) = schedules(cli)
    # Its directory is where ``schedule add`` ran, as for ``add``.
    here = os.getcwd()
    assert nightly["job"] == {
        "command": "echo 'a b'", "max_retries": 2, "queue": "ops", "cwd": here
    }  # fmt: skip
    assert (nightly["cron"], nightly["timezone"], nightly["no_overlap"]) == (
        "30 2 * * *", "Europe/Berlin", True,
    )  # fmt: skip
    assert str(nightly["next_fire_at"]).endswith(":30:00.000Z")  # 2:30 in Berlin
    assert report["catch_up"] == "latest"

    table = cli("schedule", "list", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "CRON", "ZONE"]
    assert table[1].startswith("nightly")

    job_id = cli("schedule", "run", "nightly", check=True).stdout.strip()
    job = json.loads(cli("show", job_id, "--json", check=True).stdout)
    assert (job["command"], job["queue"], job["max_retries"]) == ("echo 'a b'", "ops", 2)
    shown = json.loads(cli("schedule", "show", "nightly", "--json", check=True).stdout)
    assert (shown["last_job_id"], shown["last_job_state"]) == (job_id, "pending")
    assert [(f["kind"], f["job_id"]) for f in shown["history"]] == [("run", job_id)]
    human = cli("schedule", "show", "nightly", check=True).stdout
    assert f"run now job {job_id}" in " ".join(human.split())

    cli("schedule", "pause", "nightly", check=True)
    assert schedules(cli)[0]["paused"] is True
    assert "paused" in cli("schedule", "list", check=True).stdout
    cli("schedule", "resume", "nightly", check=True)
    assert schedules(cli)[0]["paused"] is False

    again = cli("schedule", "add", "nightly", "0 3 * * *", "--", "true")
    assert again.returncode == 1
    assert "exists already" in again.stderr
    cli("schedule", "add", "nightly", "0 3 * * *", "--replace", "--", "true", check=True)
    shown = json.loads(cli("schedule", "show", "nightly", "--json", check=True).stdout)
    assert (shown["cron"], shown["job"]) == ("0 3 * * *", {"command": "true", "cwd": here})
    assert [f["job_id"] for f in shown["history"]] == [job_id]  # history kept

    cli("schedule", "remove", "nightly", check=True)
    assert [s["name"] for s in schedules(cli)] == ["report"]
    for command in ("show", "run"):  # every store's refusals: tests/store/test_schedules.py
        gone = cli("schedule", command, "nightly")
        assert gone.returncode == 1, command
        assert "no schedule named 'nightly'" in gone.stderr


def test_add_takes_the_job_options_of_add_and_run_fires_them(cli: CLI, tmp_path: Path) -> None:
    """cwd, env, retry-on and the unique key reach the template and the job it makes;
    ``--job JSON`` with job options is refused (exit 2, nothing stored)."""
    env = {**cli.env, "FROM_HERE": "copied"}
    added = subprocess.run(
        [
            sys.executable, "-m", "queuectl", "schedule", "add", "sync", "*/15 * * * *",
            "--cwd", str(tmp_path), "--env", "MODE=full", "--env", "FROM_HERE",
            "--retry-on", "75", "--unique", "sync", "--", "./sync.sh",
        ],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    cli("schedule", "add", "bare", "@daily", "--no-cwd", "--", "true", check=True)
    (bare, sync) = schedules(cli)
    assert bare["job"] == {"command": "true"}
    assert sync["job"] == {
        "command": "./sync.sh",
        "cwd": str(tmp_path),
        "env": {"FROM_HERE": "copied", "MODE": "full"},
        "retry_on": [75],
        "unique_key": "sync",
    }
    job_id = cli("schedule", "run", "sync", check=True).stdout.strip()
    job = json.loads(cli("show", job_id, "--json", check=True).stdout)
    assert (job["cwd"], job["env"], job["retry_on"], job["unique_key"]) == (
        str(tmp_path), {"FROM_HERE": "copied", "MODE": "full"}, [75], "sync",
    )  # fmt: skip
    # The key is live now: a run fails and records nothing.
    again = cli("schedule", "run", "sync")
    assert again.returncode == 1
    assert f"held by live job '{job_id}'" in again.stderr
    shown = json.loads(cli("schedule", "show", "sync", "--json", check=True).stdout)
    assert [f["job_id"] for f in shown["history"]] == [job_id]

    for option in (["--env", "A=1"], ["--no-cwd"], ["--unique", "k"]):
        mixed = cli("schedule", "add", "j", "@daily", *option, "--job", '{"command": "x"}')
        assert mixed.returncode == 2, option
        assert "either as --job JSON or as options" in mixed.stderr
    assert [s["name"] for s in schedules(cli)] == ["bare", "sync"]
