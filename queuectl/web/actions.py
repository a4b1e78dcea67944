"""The actions: POSTs only, each checked against CSRF, then one Queue call, then a
redirect back (303) with a fixed notice code. Not mounted at all in read-only mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from queuectl.api.queue import Queue
from queuectl.domain.errors import InvalidInput
from queuectl.domain.models import JobState
from queuectl.web.security import csrf_ok
from queuectl.web.views import queue_of, root_of

__all__ = ["routes"]

#: Bytes a form may post: an id and a token, never more.
MAX_FORM = 8192
#: Jobs per requeue when retrying the whole dead letter queue.
_BATCH = 500


async def _retry(queue: Queue, job_id: str) -> str:
    return (await queue.requeue([job_id]))[job_id]


async def _cancel(queue: Queue, job_id: str) -> str:
    return (await queue.cancel([job_id]))[job_id]


async def _delete(queue: Queue, job_id: str) -> str:
    return (await queue.remove([job_id]))[job_id]


JOB_ACTIONS: dict[str, Callable[[Queue, str], Awaitable[str]]] = {
    "retry": _retry,
    "cancel": _cancel,
    "delete": _delete,
}


async def _form(request: Request) -> tuple[dict[str, str], Response | None]:
    """The posted fields (an urlencoded form, as the pages send; no multipart parser is
    needed) and, when the CSRF check fails, the refusal."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}, PlainTextResponse("refused: the form is too large\n", 413)
    fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), max_num_fields=20))
    if not csrf_ok(request, fields.get("csrf")):
        return fields, PlainTextResponse(
            "refused: the form's CSRF token is missing or wrong\n", 403
        )
    return fields, None


async def job_action(request: Request) -> Response:
    action = JOB_ACTIONS.get(request.path_params["action"])
    if action is None:
        return PlainTextResponse("no such action\n", 404)
    fields, refused = await _form(request)
    if refused is not None:
        return refused
    job_id = fields.get("id", "")
    done = await action(queue_of(request), job_id)
    back = fields.get("back") == "dlq"
    if back or done == "removed":
        return RedirectResponse(
            root_of(request) + f"/{'dlq' if back else 'jobs'}?done={done}", status_code=303
        )
    return RedirectResponse(
        root_of(request) + f"/jobs/{quote(job_id, safe='')}?done={done}", status_code=303
    )


async def retry_all(request: Request) -> Response:
    _, refused = await _form(request)
    if refused is not None:
        return refused
    queue = queue_of(request)
    while True:
        ids = [job.id async for job in queue.jobs(state=JobState.DEAD, limit=_BATCH)]
        if not ids:
            break
        results = await queue.requeue(ids)
        if not any(r == "requeued" for r in results.values()):
            break  # the rest are blocked: they stay dead
    return RedirectResponse(root_of(request) + "/dlq?done=retried-all", status_code=303)


async def purge(request: Request) -> Response:
    _, refused = await _form(request)
    if refused is not None:
        return refused
    await queue_of(request).purge(states=[JobState.DEAD])
    return RedirectResponse(root_of(request) + "/dlq?done=purged", status_code=303)


async def queue_action(request: Request) -> Response:
    """Pause, resume, or set the cap of (``cap`` empty: clear) the queue ``name``."""
    fields, refused = await _form(request)
    if refused is not None:
        return refused
    queue, name, action = queue_of(request), fields.get("name", ""), request.path_params["action"]
    try:
        if action == "pause":
            await queue.pause_queues([name])
            done = "paused"
        elif action == "resume":
            await queue.resume_queues([name])
            done = "resumed"
        elif action == "cap":
            raw = fields.get("cap", "").strip()
            if raw and not raw.isdigit():
                raise InvalidInput("the cap must be a whole number (empty: no cap)")
            await queue.limit_queue(name, int(raw) if raw else None)
            done = "capped" if raw else "uncapped"
        else:
            return PlainTextResponse("no such action\n", 404)
    except InvalidInput as exc:
        return PlainTextResponse(f"refused: {exc}\n", 400)
    return RedirectResponse(root_of(request) + f"/queues?done={done}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/actions/queue/{action}", queue_action, methods=["POST"]),
        Route("/actions/{action}", job_action, methods=["POST"]),
        Route("/dlq/retry-all", retry_all, methods=["POST"]),
        Route("/dlq/purge", purge, methods=["POST"]),
    ]
