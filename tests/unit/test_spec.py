"""Enqueue input: every bad job spec is refused with a message naming the problem."""

from __future__ import annotations

import json

import pytest

from queuectl.domain.errors import DuplicateJob, InvalidInput
from queuectl.domain.spec import JobSpec, parse_json, parse_lines, parse_spec, validate_job_id


def test_minimal_spec_takes_defaults() -> None:
    spec = parse_json('{"command": "echo hi"}')
    assert spec == JobSpec(command="echo hi")
    assert (spec.id, spec.max_retries, spec.timeout, spec.priority) == (None, None, None, 0)


def test_full_spec_keeps_every_field() -> None:
    text = json.dumps(
        {
            "id": "job-1.a_b",
            "command": "sleep 5",
            "max_retries": 5,
            "timeout": 2.5,
            "priority": -3,
            "queue": "mail",
        }
    )
    assert parse_json(text) == JobSpec(
        command="sleep 5", id="job-1.a_b", max_retries=5, timeout=2.5, priority=-3, queue="mail"
    )


def test_null_optional_fields_mean_unset() -> None:
    spec = parse_json('{"command": "true", "id": null, "max_retries": null, "timeout": null}')
    assert spec == JobSpec(command="true")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed JSON"),
        ("{", "malformed JSON"),
        ("{'command': 'x'}", "malformed JSON"),
        ('{"command": "x",}', "malformed JSON"),
        ('{"command": "x"} trailing', "malformed JSON"),
        ("[" * 100_000, "malformed JSON"),
        ('{"command": "x", "priority": ' + "9" * 5000 + "}", "malformed JSON"),
    ],
)
def test_malformed_json_is_invalid_input(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_json(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('["echo hi"]', "an array"),
        ('"echo hi"', "a string"),
        ("42", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ],
)
def test_non_object_is_refused_naming_its_type(text: str, kind: str) -> None:
    with pytest.raises(InvalidInput, match=f"must be a JSON object, not {kind}"):
        parse_json(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "missing required field 'command'"),
        ({"id": "x"}, "missing required field 'command'"),
        ({"command": ""}, "'command' must not be empty"),
        ({"command": "   "}, "'command' must not be empty"),
        ({"command": "\t\n"}, "'command' must not be empty"),
        ({"command": None}, "'command' must be a string, not null"),
        ({"command": 42}, "'command' must be a string, not a number"),
        ({"command": True}, "'command' must be a string, not a boolean"),
        ({"command": ["echo", "hi"]}, "'command' must be a string, not an array"),
        ({"command": {"sh": "x"}}, "'command' must be a string, not an object"),
        ({"command": "echo \x00"}, "NUL"),
        ({"command": "echo \ud800"}, "'command' must be valid UTF-8"),
    ],
)
def test_bad_command_is_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_spec(data)


def test_lone_surrogate_in_json_command_is_refused() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_json('{"command": "echo \\ud800"}')


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", "must be an integer, not a string"),
        (3.0, "must be an integer, not a number"),
        (2.5, "must be an integer, not a number"),
        (True, "must be an integer, not a boolean"),
        (False, "must be an integer, not a boolean"),
        ([3], "must be an integer, not an array"),
        ({"n": 3}, "must be an integer, not an object"),
        (-1, "must be between 0 and 1000, not -1"),
        (1001, "must be between 0 and 1000, not 1001"),
        (10**30, "must be between 0 and 1000"),
    ],
)
def test_bad_max_retries_is_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"'max_retries' {message}"):
        parse_spec({"command": "true", "max_retries": value})


@pytest.mark.parametrize("value", [0, 1, 1000])
def test_max_retries_range_bounds_are_accepted(value: int) -> None:
    assert parse_spec({"command": "true", "max_retries": value}).max_retries == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "must be > 0 seconds"),
        (-1, "must be > 0 seconds"),
        (True, "must be a number of seconds or a duration"),
        ("soon", "'soon' is not a duration"),
        ("-5m", "'-5m' is not a duration"),
    ],
)
def test_bad_timeout_is_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"'timeout' {message}"):
        parse_spec({"command": "true", "timeout": value})


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_timeout_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"'timeout' must be (a finite number|at most|> 0)"):
        parse_json('{"command": "true", "timeout": ' + text + "}")


@pytest.mark.parametrize("value", [True, 1.5, "1", 2**31])
def test_bad_priority_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="'priority'"):
        parse_spec({"command": "true", "priority": value})


@pytest.mark.parametrize("value", ["", "a b", "../x", 7, "x" * 65])
def test_bad_queue_name_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="queue"):
        parse_spec({"command": "true", "queue": value})


@pytest.mark.parametrize("field", ["cmd", "Command", "retries", "delay_seconds", ""])
def test_unknown_field_is_refused_by_name(field: str) -> None:
    with pytest.raises(InvalidInput, match=f"unknown field {field!r}"):
        parse_spec({"command": "true", field: 1})


def test_unknown_field_is_reported_before_a_missing_command() -> None:
    with pytest.raises(InvalidInput, match="unknown field 'cmd'"):
        parse_spec({"cmd": "true"})


@pytest.mark.parametrize(
    "job_id",
    [
        "",
        "../x",
        "..",
        ".",
        ".hidden",
        "a/b",
        "/etc/passwd",
        "a\\b",
        "-rf",
        "_x",
        "a b",
        "a\nb",
        "x\n",
        "é",
        "x" * 129,
        "a\x00b",
    ],
)
def test_bad_id_is_refused(job_id: str) -> None:
    with pytest.raises(InvalidInput, match="invalid job id"):
        parse_spec({"command": "true", "id": job_id})


@pytest.mark.parametrize(
    ("job_id", "kind"), [(7, "a number"), (["a"], "an array"), (True, "a boolean")]
)
def test_non_string_id_is_refused(job_id: object, kind: str) -> None:
    with pytest.raises(InvalidInput, match=f"'id' must be a string, not {kind}"):
        parse_spec({"command": "true", "id": job_id})


@pytest.mark.parametrize("job_id", ["a", "0", "my-unique-job", "A.b_c-9", "x" * 128])
def test_good_ids_are_accepted(job_id: str) -> None:
    assert validate_job_id(job_id) == job_id


def test_jobspec_validates_when_built_directly() -> None:
    with pytest.raises(InvalidInput, match="invalid job id"):
        JobSpec(command="true", id="../escape")
    with pytest.raises(InvalidInput, match="'command' must not be empty"):
        JobSpec(command=" ")


# -- bulk input -------------------------------------------------------------------


def test_parse_lines_keeps_order_and_skips_blank_lines() -> None:
    lines = ['{"command": "a"}', "", "   ", '{"command": "b", "id": "b"}', "\n"]
    assert parse_lines(lines) == [JobSpec(command="a"), JobSpec(command="b", id="b")]


def test_parse_lines_of_nothing_is_empty() -> None:
    assert parse_lines(["", "  \n"]) == []


def test_parse_lines_names_the_line_of_malformed_json() -> None:
    lines = ['{"command": "a"}', "", '{"command": "b"', '{"command": "c"}']
    with pytest.raises(InvalidInput, match=r"^line 3: malformed JSON"):
        parse_lines(lines)


def test_parse_lines_names_the_line_of_an_invalid_job() -> None:
    lines = ['{"command": "a"}', '{"command": "b", "max_retries": -2}']
    with pytest.raises(InvalidInput, match=r"^line 2: 'max_retries' must be between"):
        parse_lines(lines)


def test_parse_lines_names_the_line_of_a_non_object() -> None:
    with pytest.raises(InvalidInput, match=r"^line 1: a job must be a JSON object"):
        parse_lines(['["x"]'])


def test_parse_lines_refuses_an_id_repeated_within_the_input() -> None:
    lines = [
        '{"id": "x", "command": "a"}',
        '{"id": "y", "command": "b"}',
        "",
        '{"id": "x", "command": "c"}',
    ]
    with pytest.raises(DuplicateJob, match="line 4 repeats line 1") as caught:
        parse_lines(lines)
    assert caught.value.job_id == "x"
    assert caught.value.exit_code == 1


def test_parse_lines_reports_a_bad_line_even_after_a_duplicate_free_prefix() -> None:
    # Validation covers every line before anything could be stored.
    lines = [json.dumps({"command": f"echo {i}"}) for i in range(100)] + ['{"command": ""}']
    with pytest.raises(InvalidInput, match=r"^line 101: 'command' must not be empty"):
        parse_lines(lines)


def test_invalid_input_exits_2() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json("{")
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


# -- cwd, env, retry_on, unique_key, on_conflict -------------------------------------------


def test_the_new_fields_are_parsed_and_normalised() -> None:
    spec = parse_spec(
        {
            "command": "make",
            "cwd": "/src/app",
            "env": {"A": "1", "B": ""},
            "retry_on": [111, 75, 75],
            "unique_key": "build",
            "on_conflict": "error",
        }
    )
    assert (spec.cwd, dict(spec.env or {}), spec.retry_on) == (
        "/src/app",
        {"A": "1", "B": ""},
        (75, 111),
    )
    assert (spec.unique_key, spec.on_conflict) == ("build", "error")
    assert parse_spec({"command": "x", "retry_on": []}).retry_on == ()


def test_a_specs_env_cannot_be_changed_after_validation() -> None:
    given = {"A": "1"}
    spec = JobSpec("true", env=given)
    given["A"] = "2"
    assert spec.env == {"A": "1"}
    with pytest.raises(TypeError):
        spec.env["A"] = "3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cwd": ""}, "'cwd' must be an absolute path"),
        ({"cwd": "/a\u0000b"}, "'cwd' must not contain NUL"),
        ({"cwd": "/" + "a" * 4095}, "'cwd' is 4096 bytes; the most is 4095"),
        ({"cwd": "/\udc80"}, "'cwd' must be valid UTF-8"),
        ({"env": {"": "x"}}, "'env' keys must be non-empty strings"),
        ({"env": {"A\u0000": "x"}}, "must not contain NUL"),
        ({"env": {"A": None}}, "must be a string, not null"),
        ({"env": "A=1"}, "'env' must be an object of strings, not a string"),
        ({"retry_on": [-1]}, "'retry_on' exit codes must be between 0 and 255, not -1"),
        ({"retry_on": [1.0]}, "must be an integer, not a number"),
        ({"retry_on": "75"}, "'retry_on' must be a list of exit codes, not a string"),
        ({"unique_key": "k" * 201}, "'unique_key' must be 1-200 characters, not 201"),
        ({"on_conflict": "IGNORE"}, "'on_conflict' must be one of ignore, error, not 'IGNORE'"),
    ],
)
def test_bad_new_fields_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_spec({"command": "true", **fields})
    assert message in str(caught.value)
