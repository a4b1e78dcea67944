"""The browsing reads of the Store contract (the dashboard's): keyset pages of jobs, on
every store."""

from __future__ import annotations

from typing import Any

from queuectl.domain.models import JobState
from queuectl.store import Store
from queuectl.store.base import JobPage
from tests.store.test_contract import new


async def ids_of(store: Store, **kwargs: Any) -> list[str]:
    return [job.id for job in (await store.browse_jobs(JobPage(**kwargs))).jobs]


async def test_pages_follow_each_other_newest_first_after_a_job_id(store: Store) -> None:
    await store.enqueue([new(f"j{n}") for n in range(7)])
    first = await ids_of(store, limit=3)
    second = await ids_of(store, limit=3, after=first[-1])
    third = await ids_of(store, limit=3, after=second[-1])
    assert (first, second, third) == (["j6", "j5", "j4"], ["j3", "j2", "j1"], ["j0"])


async def test_oldest_first_pages_walk_the_other_way(store: Store) -> None:
    await store.enqueue([new(f"j{n}") for n in range(5)])
    assert await ids_of(store, limit=2, newest=False) == ["j0", "j1"]
    assert await ids_of(store, limit=2, newest=False, after="j1") == ["j2", "j3"]


async def test_a_page_after_a_job_that_is_gone_starts_again(store: Store) -> None:
    await store.enqueue([new("a"), new("b")])
    assert await ids_of(store, after="no-such-job") == ["b", "a"]


async def test_filters_by_state_queue_and_text_in_id_or_command(store: Store) -> None:
    await store.enqueue(
        [
            new("alpha", "echo needle"),
            new("beta", "echo hay"),
            new("needle-id", "true"),
            new("gamma", "echo other")._replace(queue="mail"),
        ]
    )
    await store.cancel(["beta"])
    assert await ids_of(store, text="needle") == ["needle-id", "alpha"]
    assert await ids_of(store, state=JobState.CANCELLED) == ["beta"]
    assert await ids_of(store, queue="mail") == ["gamma"]
    assert await ids_of(store, queue="mail", text="needle") == []
    assert await ids_of(store, state=JobState.PENDING, text="echo") == ["gamma", "alpha"]
    # Text is matched as is: no pattern characters.
    assert await ids_of(store, text="%") == []


async def test_the_next_page_starts_after_the_last_job_or_is_none(store: Store) -> None:
    await store.enqueue([new(f"j{n}") for n in range(4)])
    assert (await store.browse_jobs(JobPage(limit=2))).next == "j2"
    assert (await store.browse_jobs(JobPage(limit=5))).next is None
    assert (await store.browse_jobs(JobPage(limit=5, text="j"))).next is None


async def test_a_bounded_search_reads_a_window_and_says_where_to_go_on(store: Store) -> None:
    await store.enqueue(
        [new(f"j{n}", "echo needle" if n in (1, 6) else "true") for n in range(8)]
        + [new("other", "echo needle")._replace(queue="mail")]
    )
    # Newest first, three jobs of the default queue a page: j7 j6 j5, then j4 j3 j2...
    first = await store.browse_jobs(JobPage(queue="default", text="needle", scan=3, limit=5))
    assert ([j.id for j in first.jobs], first.next) == (["j6"], "j5")
    second = await store.browse_jobs(
        JobPage(queue="default", text="needle", scan=3, limit=5, after=first.next)
    )
    assert ([j.id for j in second.jobs], second.next) == ([], "j2")
    third = await store.browse_jobs(
        JobPage(queue="default", text="needle", scan=3, limit=5, after=second.next)
    )
    assert ([j.id for j in third.jobs], third.next) == (["j1"], None)
    # A full page ends the window early; oldest first walks the other way.
    full = await store.browse_jobs(JobPage(text="needle", scan=100, limit=1, newest=False))
    assert ([j.id for j in full.jobs], full.next) == (["j1"], "j1")
