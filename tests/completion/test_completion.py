"""Shell completion: the scripts, and the values completed from a real store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI


def complete(cli: CLI, words: str, *, shell: str = "bash") -> list[str]:
    """What queuectl offers for the last word of ``words`` (its protocol for ``shell``)."""
    env = {**cli.env, "_QUEUECTL_COMPLETE": f"{shell}_complete"}
    if shell == "fish":
        env["COMP_WORDS"], env["COMP_CWORD"] = words, words.split(" ")[-1]
    else:
        env["COMP_WORDS"], env["COMP_CWORD"] = words, str(len(words.split(" ")) - 1)
    result = subprocess.run(
        [sys.executable, "-m", "queuectl"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = [line for line in result.stdout.splitlines() if line]
    if shell == "bash":  # type,value
        return [line.split(",", 1)[1] for line in lines]
    if shell == "zsh":  # type, value and help, one line each
        return result.stdout.splitlines()[1::3]
    return [line.split(",", 1)[1].split("\t")[0] for line in lines]  # type,value<TAB>help


@pytest.mark.parametrize(
    ("shell", "marks"),
    [
        ("bash", ["_queuectl_completion()", "complete -o nosort -F _queuectl_completion queuectl"]),
        ("zsh", ["#compdef queuectl", "compdef _queuectl_completion queuectl"]),
        ("fish", ["function _queuectl_completion", "complete --no-files --command queuectl"]),
    ],
)
def test_completion_prints_each_shells_script(cli: CLI, shell: str, marks: list[str]) -> None:
    script = cli("completion", shell, check=True).stdout
    for mark in marks:
        assert mark in script
    assert "_QUEUECTL_COMPLETE" in script


def test_an_unknown_shell_is_refused(cli: CLI) -> None:
    result = cli("completion", "tcsh")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1


def test_commands_and_options_complete(cli: CLI) -> None:
    assert complete(cli, "queuectl qu") == ["queue"]
    assert complete(cli, "queuectl queue p") == ["pause"]
    assert "--count" in complete(cli, "queuectl worker start --")


def test_job_ids_queue_names_and_config_keys_come_from_the_store(cli: CLI) -> None:
    for job_id, queue in (("build-1", "mail"), ("build-2", "video"), ("other", "mail")):
        cli("add", "--id", job_id, "--queue", queue, "--", "true", check=True)
    cli("queue", "pause", "media", check=True)  # a queue with a setting and no job
    assert complete(cli, "queuectl show bu") == ["build-1", "build-2"]
    assert complete(cli, "queuectl cancel build-1 b") == ["build-1", "build-2"]
    assert complete(cli, "queuectl logs x") == []
    assert complete(cli, "queuectl queue resume m") == ["mail", "media"]
    assert complete(cli, "queuectl list --queue v") == ["video"]
    assert complete(cli, "queuectl config set max") == ["max-retries"]
    assert complete(cli, "queuectl show bu", shell="zsh") == ["build-1", "build-2"]
    assert complete(cli, "queuectl show bu", shell="fish") == ["build-1", "build-2"]


def test_completion_offers_no_value_without_a_store(cli: CLI) -> None:
    env_db = cli.db
    if "://" not in env_db:  # SQLite: a file that is not there
        cli.env["QUEUECTL_DB"] = env_db + ".missing"
    else:
        cli.env["QUEUECTL_DB"] = "postgresql://127.0.0.1:1/none"
    assert complete(cli, "queuectl show a") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_bash(cli: CLI) -> None:
    cli("add", "--id", "build-1", "--", "true", check=True)
    script = (
        f'eval "$({sys.executable} -m queuectl completion bash)"; '
        "COMP_WORDS=(queuectl show bu); COMP_CWORD=2; _queuectl_completion queuectl; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    # The script runs `queuectl` itself: the one installed beside this Python.
    path = f"{Path(sys.executable).parent}{os.pathsep}{cli.env.get('PATH', '')}"
    env = {**cli.env, "PATH": path}
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["build-1"], result.stderr
