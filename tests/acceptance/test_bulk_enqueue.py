"""``enqueue -`` of inputs many chunks long: one transaction, bounded memory, errors by line.

The API takes a bulk input ``BULK_CHUNK`` jobs at a time; these inputs span several
chunks, so that what holds for one chunk is shown to hold across them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from queuectl.api.queue import BULK_CHUNK
from queuectl.domain.models import JobState
from tests.acceptance.helpers import QueueCtl
from tests.conftest import CLI

#: Lines in an input of several chunks.
LONG = 3 * BULK_CHUNK + 500


def _lines(count: int, **special: dict[str, object]) -> str:
    """``count`` JSON lines of ``echo N`` jobs; ``special`` replaces line N (1-based)."""
    chosen = {int(number[1:]): job for number, job in special.items()}
    return "".join(
        json.dumps(chosen.get(n, {"command": f"echo {n}"})) + "\n" for n in range(1, count + 1)
    )


def test_a_bad_line_after_several_chunks_stores_nothing_and_names_it(qctl: QueueCtl) -> None:
    text = _lines(LONG, l1={"id": "first", "command": "true"}, l15201={"command": ""})

    message = qctl.fails(2, "enqueue", "-", input=text)

    assert "line 15201" in message
    assert "empty" in message
    assert qctl.counts()[JobState.PENDING] == 0


def test_an_id_repeated_chunks_apart_stores_nothing_and_names_the_repeat(qctl: QueueCtl) -> None:
    text = _lines(
        LONG, l3={"id": "twice", "command": "true"}, l12345={"id": "twice", "command": "x"}
    )

    message = qctl.fails(1, "enqueue", "-", input=text)

    assert "'twice'" in message
    assert "line 12345" in message
    assert qctl.counts()[JobState.PENDING] == 0


def test_after_a_job_of_an_earlier_chunk_links_it_and_after_a_missing_one_names_the_line(
    qctl: QueueCtl,
) -> None:
    text = _lines(
        LONG, l2={"id": "root", "command": "true"}, l15000={"command": "true", "after": ["root"]}
    )

    ids = qctl.ok("enqueue", "-", input=text).split()

    assert len(ids) == LONG
    waiting = qctl.job(ids[14999])
    assert waiting.after == ("root",)
    assert qctl.job("root").state == JobState.PENDING
    bad = _lines(LONG, l11000={"command": "true", "after": ["nowhere"]})
    message = qctl.fails(1, "enqueue", "-", input=bad)
    assert "line 11000" in message
    assert "'nowhere'" in message
    assert qctl.counts()[JobState.PENDING] == LONG  # the first input's jobs only


def _peak_rss_mb(cli: CLI, text: str) -> float:
    """The peak resident memory of one ``queuectl enqueue -`` fed ``text`` (Linux)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "enqueue", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    assert proc.stdin is not None
    assert proc.stderr is not None
    proc.stdin.write(text.encode())
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read().decode()
    proc.stderr.close()
    return usage.ru_maxrss / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_bulk_enqueue_memory_does_not_grow_with_the_input(qctl: QueueCtl) -> None:
    small = _peak_rss_mb(qctl.cli, _lines(BULK_CHUNK))
    large = _peak_rss_mb(qctl.cli, _lines(12 * BULK_CHUNK))

    # Holding the input whole took about 0.8 KB a line: 11 chunks more would add 45 MB.
    assert large - small < 20, (small, large)
    assert qctl.counts()[JobState.PENDING] == 13 * BULK_CHUNK


def test_an_error_within_one_chunk_names_its_line_once(qctl: QueueCtl) -> None:
    repeated = _lines(3, l1={"id": "a", "command": "true"}, l3={"id": "a", "command": "x"})
    forward = _lines(
        2, l1={"id": "a", "command": "true", "after": ["b"]}, l2={"id": "b", "command": "true"}
    )

    assert qctl.fails(1, "enqueue", "-", input=repeated).startswith("queuectl: error: line 3: dup")
    assert qctl.fails(2, "enqueue", "-", input=forward).startswith("queuectl: error: line 1: job")
