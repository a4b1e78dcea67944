"""The pages: overview, jobs, one job, the dead letter queue. Reads only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from queuectl.domain.errors import InvalidInput, JobNotFound
from queuectl.domain.models import FINISHED_STATES, Attempt, AttemptOutput, JobState
from queuectl.web import chart
from queuectl.web.views import STATES, fragment, page, path_of, queue_of

__all__ = [
    "job_parts",
    "listing_filters",
    "overview_parts",
    "queues_parts",
    "routes",
    "rows_parts",
]

PAGE_SIZE = 50
#: Jobs a text search reads for one page at most: a page's time stays bounded at any
#: number of jobs, and "next page" searches on from where it stopped.
SEARCH_SCAN = 20_000
#: What an action's redirect may say, by the code it passes (nothing else is shown).
NOTICES = {
    "requeued": "The job is pending again.",
    "cancelled": "The job is cancelled.",
    "requested": "Cancel requested: the runner stops the job.",
    "removed": "The job is deleted.",
    "unfinished": "Nothing done: the job is not finished.",
    "blocked": "Nothing done: the job runs after a dead or cancelled job.",
    "finished": "Nothing done: the job had finished.",
    "missing": "Nothing done: there is no such job.",
    "retried-all": "Every dead job is pending again.",
    "purged": "The dead jobs are deleted.",
    "paused": "The queue is paused: runners take none of its jobs.",
    "resumed": "The queue is resumed.",
    "capped": "The queue's cap is set.",
    "uncapped": "The queue has no cap now.",
}


async def overview_parts(request: Request) -> dict[str, str]:
    queue = queue_of(request)
    infos = await queue.queue_overview()
    totals = {s: sum(info.counts[JobState(s)] for info in infos) for s in STATES}
    minutes = await queue.outcomes_by_minute(chart.MINUTES)
    rects, top = chart.bars(minutes)
    loads = await queue.runner_loads()
    return {
        "counts": fragment(request, "_counts.html", totals=totals, infos=infos, states=STATES),
        "chart": fragment(
            request,
            "_chart.html",
            bars=rects,
            top=top,
            width=chart.WIDTH,
            height=chart.HEIGHT,
            series=chart.SERIES,
            sums={s: sum(c[s] for _, c in minutes) for s in chart.SERIES},
        ),
        "runners": fragment(request, "_runners.html", loads=loads),
    }


def _live_page(request: Request, name: str, parts: dict[str, str], stream: str) -> Response:
    """A page made of live parts (rendered already, so marked safe) and its stream."""
    return page(
        request,
        name,
        parts={k: Markup(v) for k, v in parts.items()},
        stream=stream,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


async def overview(request: Request) -> Response:
    return _live_page(request, "overview.html", await overview_parts(request), "/live/overview")


def listing_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    state = q.get("state") or None
    if state is not None and state not in STATES:
        raise InvalidInput(f"unknown state {state!r}")
    limit = q.get("limit", str(PAGE_SIZE))
    if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        raise InvalidInput("limit must be a number from 1 to 10000")
    return {
        "state": state,
        "queue": q.get("queue") or None,
        "text": q.get("q") or None,
        "after": q.get("after") or None,
        "limit": int(limit),
        "newest": q.get("order", "newest") != "oldest",
        "scan": SEARCH_SCAN,
    }


async def rows_parts(request: Request, chosen: dict[str, Any], *, dead: bool) -> dict[str, str]:
    found = await queue_of(request).browse(**chosen)
    return {"rows": fragment(request, "_rows.html", jobs=found.jobs, dead=dead)}


async def jobs(request: Request) -> Response:
    return await _listing(request, "jobs.html", {})


async def dlq(request: Request) -> Response:
    return await _listing(request, "dlq.html", {"state": JobState.DEAD.value})


async def _listing(request: Request, name: str, fixed: dict[str, Any]) -> Response:
    try:
        chosen = {**listing_filters(request), **fixed}
    except InvalidInput as exc:
        return page(request, "error.html", 400, message=str(exc))
    found = await queue_of(request).browse(**chosen)
    rows = fragment(request, "_rows.html", jobs=found.jobs, dead="state" in fixed)
    query = {k: v for k, v in request.query_params.items() if k not in ("after", "done")}
    nxt = None if found.next is None else {**query, "after": found.next}
    live = "/live" + path_of(request) + (f"?{request.url.query}" if request.url.query else "")
    return page(
        request,
        name,
        rows=Markup(rows),
        chosen=chosen,
        states=STATES,
        next=nxt,
        searched=bool(chosen["text"]) and len(found.jobs) < chosen["limit"] and nxt is not None,
        scan=SEARCH_SCAN,
        first=query,
        stream=live,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


async def job_parts(
    request: Request, job_id: str, number: int | None
) -> tuple[dict[str, str], Attempt | None, bool]:
    """The job page's live parts; the attempt shown; whether the job is finished."""
    queue = queue_of(request)
    job = await queue.get(job_id)
    history = await queue.attempts(job_id)
    shown = _pick(history, number)
    parts = {
        "summary": fragment(request, "_job.html", job=job),
        "attempts": fragment(request, "_attempts.html", job=job, history=history, shown=shown),
    }
    return parts, shown, job.state in FINISHED_STATES


def _pick(history: list[Attempt], number: int | None) -> Attempt | None:
    if number is None:
        return history[-1] if history else None
    matching = [a for a in history if a.number == number]
    return matching[-1] if matching else None


async def job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    raw = request.query_params.get("attempt")
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 1_000_000):
        return page(request, "error.html", 400, message="attempt must be a positive number")
    number = None if raw is None else int(raw)
    try:
        parts, shown, _ = await job_parts(request, job_id, number)
        output = AttemptOutput()
        if shown is not None:
            output = await queue_of(request).output(job_id, attempt=shown.number)
    except JobNotFound:
        return page(request, "error.html", 404, message=f"no job {job_id!r}")
    state = (await queue_of(request).get(job_id)).state
    seen = tuple(len(output[s].content()) if s in output else 0 for s in (1, 2))
    query = urlencode(
        {**({} if number is None else {"attempt": number}), "out": seen[0], "err": seen[1]}
    )
    return page(
        request,
        "job.html",
        job_id=job_id,
        state=state.value,
        parts={k: Markup(v) for k, v in parts.items()},
        shown=shown,
        stdout=output.stdout,
        stderr=output.stderr,
        stream=f"/live/jobs/{quote(job_id, safe='')}?{query}",
        notice=NOTICES.get(request.query_params.get("done", "")),
        finished=state in FINISHED_STATES,
    )


async def queues_parts(request: Request) -> dict[str, str]:
    infos = await queue_of(request).queue_overview()
    return {"queues": fragment(request, "_queues.html", infos=infos, states=STATES)}


async def queues(request: Request) -> Response:
    return _live_page(request, "queues.html", await queues_parts(request), "/live/queues")


async def confirm(request: Request) -> Response:
    what = request.path_params["what"]
    if what not in ("retry-all", "purge"):
        return page(request, "error.html", 404, message="no such page")
    dead = (await queue_of(request).counts())[JobState.DEAD]
    return page(request, "confirm.html", what=what, dead=dead)


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview, name="overview"),
        Route("/jobs", jobs, name="jobs"),
        Route("/jobs/{job_id:path}", job, name="job"),
        Route("/dlq", dlq, name="dlq"),
        Route("/queues", queues, name="queues"),
        Route("/dlq/{what}", confirm, name="confirm"),
    ]
