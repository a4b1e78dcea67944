"""The SQL of one keyset page of jobs (``Store.browse_jobs``), shared by the SQL stores.

Statements use ``:name`` parameters (the fields of JobPage); a store gives its jobs
table, its job columns and its substring test. A page is the rows after a job id,
whose ``seq`` the unique id index gives; a bounded text search reads a window of
``scan`` rows and a second statement says where that window ended.
"""

from __future__ import annotations

from queuectl.domain.models import Job
from queuectl.store.base import FoundJobs, JobPage

__all__ = ["browse_statements", "found_jobs"]

#: Past every seq: where a page of the newest jobs starts.
_SEQ_END = 2**63 - 1


def browse_statements(
    page: JobPage, *, table: str, columns: str, contains: str
) -> tuple[str, str | None]:
    """The page's statement and, for a bounded text search, the one that finds where
    the rows it read end (how many it read, and the last one's id). ``contains`` is the
    dialect's test that ``{text}`` is in ``{column}``."""
    cmp, order, edge = ("<", "DESC", _SEQ_END) if page.newest else (">", "", 0)
    where = [f"seq {cmp} coalesce((SELECT seq FROM {table} WHERE id = :after), {edge})"]
    if page.state is not None:
        where.append("state = :state")
    if page.queue is not None:
        where.append("queue = :queue")
    match = " OR ".join(contains.format(column=c, text=":text") for c in ("id", "command"))
    end = None
    if not page.text:
        rows = f"WHERE {' AND '.join(where)}"
    elif page.scan is None:
        rows = f"WHERE {' AND '.join(where)} AND ({match})"
    else:
        window = (
            f"SELECT seq, id, command FROM {table} WHERE {' AND '.join(where)} "
            f"ORDER BY seq {order} LIMIT :scan"
        )
        rows = (
            f"WHERE seq IN (SELECT seq FROM ({window}) AS r WHERE {match} "
            f"ORDER BY seq {order} LIMIT :limit)"
        )
        last = "min" if page.newest else "max"
        end = (
            f"SELECT w.n, j.id FROM (SELECT count(*) AS n, {last}(seq) AS s FROM ({window}) "
            f"AS r) AS w LEFT JOIN {table} AS j ON j.seq = w.s"
        )
    return f"SELECT {columns} FROM {table} {rows} ORDER BY seq {order} LIMIT :limit", end


def found_jobs(page: JobPage, jobs: list[Job], window: tuple[int, str | None] | None) -> FoundJobs:
    """The page and where the next starts: after its last job when it is full, else
    after the last job a bounded search read (``window``: how many, and that one's id)
    when it read all it may."""
    if len(jobs) == page.limit:
        return FoundJobs(jobs, jobs[-1].id)
    if window is not None and window[0] == page.scan:
        return FoundJobs(jobs, window[1])
    return FoundJobs(jobs, None)
