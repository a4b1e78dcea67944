"""What pages and live fragments share: rendering a template, formatting values."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from queuectl.api.queue import Queue
from queuectl.domain.durations import format_duration
from queuectl.domain.models import JobState, iso
from queuectl.domain.text import printable

__all__ = ["STATES", "filters", "fragment", "page", "path_of", "queue_of", "root_of"]

STATES = [s.value for s in JobState]


def queue_of(request: Request) -> Queue:
    queue: Queue = request.app.state.queue
    return queue


def fragment(request: Request, name: str, **context: Any) -> str:
    """A template rendered to text (a whole page, or a part a live stream swaps in)."""
    from queuectl.web.security import csrf_token

    template = request.app.state.env.get_template(name)
    context.setdefault("csrf", csrf_token(request))
    context.setdefault("root", root_of(request))
    text: str = template.render(read_only=request.app.state.read_only, **context)
    return text


def root_of(request: Request) -> str:
    """Where the dashboard is mounted ("" at the root): every link starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def path_of(request: Request) -> str:
    """The request's path inside the dashboard (without where it is mounted)."""
    return request.url.path.removeprefix(root_of(request)) or "/"


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    stream = context.pop("stream", None)
    context["stream"] = None if stream is None else root_of(request) + stream
    context.setdefault("notice", None)
    return HTMLResponse(
        fragment(request, name, path=path_of(request), **context),
        status_code=status,
    )


def _when(moment: datetime | None) -> str:
    text = iso(moment)
    return "" if text is None else text.replace("T", " ")[:19]


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return format_duration(max(0.0, time.time() - moment.timestamp())) + " ago"


def _shown(text: object) -> str:
    """Job text made inert for a page: control characters (ANSI escapes) as escapes;
    the template's autoescape then takes care of HTML."""
    return "" if text is None else printable(str(text))


def _shown_output(text: object) -> str:
    """Output keeps its lines and tabs; everything else a terminal acts on is escaped."""
    return "" if text is None else printable(str(text), keep="\n\t")


def filters() -> dict[str, Callable[..., str]]:
    return {
        "when": _when,
        "ago": _ago,
        "duration": format_duration,
        "shown": _shown,
        "shown_output": _shown_output,
    }
