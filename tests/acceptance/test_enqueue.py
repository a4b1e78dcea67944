"""``enqueue``: one job as JSON, or JSON lines from stdin or a file; bad input stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.acceptance.helpers import QueueCtl, parse_utc


def test_seed_example_enqueue_prints_a_generated_id(qctl: QueueCtl) -> None:
    out = qctl.ok("enqueue", '{"command": "echo Hello World"}')

    job_id = out.strip()
    assert out == job_id + "\n"
    [job] = qctl.json("list")
    assert job["id"] == job_id
    assert job["command"] == "echo Hello World"
    assert job["state"] == "pending"
    assert job["attempts"] == 0
    assert job["max_retries"] == 3  # the default from config
    parse_utc(job["created_at"])


def test_seed_example_enqueue_with_id_and_max_retries(qctl: QueueCtl) -> None:
    out = qctl.ok("enqueue", '{"id": "my-unique-job", "command": "sleep 5", "max_retries": 5}')

    assert out == "my-unique-job\n"
    [job] = qctl.json("list")
    assert (job["id"], job["command"], job["max_retries"]) == ("my-unique-job", "sleep 5", 5)
    assert job["state"] == "pending"


def test_enqueue_takes_max_retries_from_config_when_the_job_does_not_say(qctl: QueueCtl) -> None:
    qctl.ok("config", "set", "max-retries", "5")

    job_id = qctl.enqueue("true")

    assert qctl.job(job_id).max_retries == 5


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param('{"command": "true"', "malformed JSON", id="truncated"),
        pytest.param("{bad json}", "malformed JSON", id="not-json"),
        pytest.param("", "malformed JSON", id="empty-argument"),
        pytest.param('["true"]', "must be a JSON object", id="array"),
        pytest.param('"true"', "must be a JSON object", id="string"),
        pytest.param("42", "must be a JSON object", id="number"),
        pytest.param("null", "must be a JSON object", id="null"),
        pytest.param("{}", "'command'", id="missing-command"),
        pytest.param('{"id": "x"}', "'command'", id="only-id"),
        pytest.param('{"command": ""}', "'command' must not be empty", id="empty-command"),
        pytest.param('{"command": "  \\t "}', "'command' must not be empty", id="blank-command"),
        pytest.param('{"command": 5}', "'command' must be a string", id="number-command"),
        pytest.param('{"command": null}', "'command' must be a string", id="null-command"),
        pytest.param('{"command": ["ls"]}', "'command' must be a string", id="array-command"),
        # A lone surrogate: escaped in the JSON, or a byte that is not UTF-8 in argv.
        pytest.param('{"command": "echo \\udc80"}', "'command'", id="surrogate-escape"),
        pytest.param('{"command": "echo \udcff"}', "'command'", id="non-utf8-byte"),
        pytest.param('{"command": "true", "max_retries": -1}', "'max_retries'", id="negative"),
        pytest.param('{"command": "true", "max_retries": "3"}', "'max_retries'", id="string"),
        pytest.param('{"command": "true", "max_retries": 1.5}', "'max_retries'", id="fraction"),
        pytest.param('{"command": "true", "max_retries": true}', "'max_retries'", id="boolean"),
        pytest.param(
            '{"command": "true", "colour": "red"}', "unknown field 'colour'", id="unknown"
        ),
        pytest.param('{"command": "true", "id": ""}', "invalid job id", id="empty-id"),
        pytest.param('{"command": "true", "id": 7}', "'id' must be a string", id="number-id"),
    ],
)
def test_bad_job_exits_2_naming_the_problem_and_stores_nothing(
    qctl: QueueCtl, text: str, problem: str
) -> None:
    message = qctl.fails(2, "enqueue", text)

    assert problem in message
    assert qctl.jobs() == []


def test_enqueue_without_any_job_is_a_usage_error(qctl: QueueCtl) -> None:
    message = qctl.fails(2, "enqueue")

    assert "JSON" in message
    assert qctl.jobs() == []


def test_duplicate_id_exits_1_and_leaves_the_first_job_untouched(qctl: QueueCtl) -> None:
    qctl.enqueue("echo first", id="dup", max_retries=1)
    before = qctl.job("dup")

    message = qctl.fails(1, "enqueue", '{"id": "dup", "command": "echo second", "max_retries": 4}')

    assert "dup" in message
    assert "duplicate" in message
    assert qctl.jobs() == [before]


# -- bulk enqueue -------------------------------------------------------------------------------
def _lines(*jobs: dict[str, object] | str) -> str:
    return "".join((job if isinstance(job, str) else json.dumps(job)) + "\n" for job in jobs)


BULK = _lines(
    {"id": "first", "command": "echo 1"},
    "",
    {"command": "echo 2", "max_retries": 0},
    "   ",
    {"id": "third", "command": "echo 3"},
)


def _enqueue_lines(qctl: QueueCtl, text: str, source: str, scratch: Path, *, code: int = 0) -> str:
    """Feed JSON lines through stdin (``enqueue -``) or a file (``enqueue --file F``)."""
    args: tuple[str, ...]
    stdin: str | None
    if source == "stdin":
        args, stdin = ("enqueue", "-"), text
    else:
        path = scratch / "jobs.jsonl"
        path.write_text(text)
        args, stdin = ("enqueue", "--file", str(path)), None
    if code == 0:
        return qctl.ok(*args, input=stdin)
    return qctl.fails(code, *args, input=stdin)


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_bulk_enqueue_skips_blank_lines_and_prints_the_ids_in_order(
    qctl: QueueCtl, scratch: Path, source: str
) -> None:
    out = _enqueue_lines(qctl, BULK, source, scratch)

    ids = out.splitlines()
    assert len(ids) == 3
    assert ids[0] == "first"
    assert ids[2] == "third"
    jobs = qctl.jobs()
    assert [job.id for job in jobs] == ids
    assert [job.command for job in jobs] == ["echo 1", "echo 2", "echo 3"]
    assert jobs[1].max_retries == 0
    assert {job.state for job in jobs} == {JobState.PENDING}


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_bulk_enqueue_with_a_bad_line_exits_2_naming_it_and_stores_nothing(
    qctl: QueueCtl, scratch: Path, source: str
) -> None:
    text = BULK + _lines('{"command": ""}', {"command": "echo after"})

    message = _enqueue_lines(qctl, text, source, scratch, code=2)

    assert "line 6" in message
    assert "empty" in message
    assert qctl.jobs() == []


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_bulk_enqueue_with_malformed_json_exits_2_naming_the_line(
    qctl: QueueCtl, scratch: Path, source: str
) -> None:
    message = _enqueue_lines(qctl, _lines({"command": "true"}, "{oops"), source, scratch, code=2)

    assert "line 2" in message
    assert "malformed JSON" in message
    assert qctl.jobs() == []


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_bulk_enqueue_with_an_id_repeated_in_the_input_exits_1_and_stores_nothing(
    qctl: QueueCtl, scratch: Path, source: str
) -> None:
    text = _lines(
        {"id": "a", "command": "true"}, {"id": "b", "command": "true"}, {"id": "a", "command": "x"}
    )

    message = _enqueue_lines(qctl, text, source, scratch, code=1)

    assert "'a'" in message
    assert "line 3" in message
    assert qctl.jobs() == []


def test_bulk_enqueue_with_an_id_that_exists_already_exits_1_and_stores_nothing(
    qctl: QueueCtl,
) -> None:
    qctl.enqueue("echo old", id="taken")
    before = qctl.jobs()

    message = qctl.fails(
        1, "enqueue", "-", input=_lines({"command": "echo new"}, {"id": "taken", "command": "x"})
    )

    assert "taken" in message
    assert qctl.jobs() == before


def test_bulk_enqueue_of_empty_input_stores_nothing_and_succeeds(qctl: QueueCtl) -> None:
    assert qctl.ok("enqueue", "-", input="\n  \n") == ""
    assert qctl.jobs() == []


def test_bulk_enqueue_from_a_missing_file_exits_2(qctl: QueueCtl, scratch: Path) -> None:
    message = qctl.fails(2, "enqueue", "--file", str(scratch / "missing.jsonl"))

    assert "missing.jsonl" in message
    assert qctl.jobs() == []
