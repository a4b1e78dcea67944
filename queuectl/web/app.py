"""The application factory: routes, templates and the guard around them."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from queuectl.api.queue import Queue
from queuectl.web import actions, live, pages
from queuectl.web.metrics import metrics_routes
from queuectl.web.security import Guard
from queuectl.web.views import filters

__all__ = ["create_app"]

HERE = Path(__file__).parent


def create_app(
    queue: Queue,
    *,
    read_only: bool = False,
    token: str | None = None,
    poll: float = 0.5,
) -> Starlette:
    """The dashboard over ``queue`` as an ASGI application (mount it where you like).

    ``read_only``: pages only, no action is offered or accepted. ``token``: every
    request must carry it (``Authorization: Bearer``, or a browser's cookie set by
    opening a page with ``?token=``). ``poll``: how often an open page's live stream
    reads the store, in seconds; nothing is read while no page is open.
    """
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters())
    routes: list[BaseRoute] = [
        *pages.routes(),
        *live.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # The guard asks for the token (when set) on /metrics as on every page.
        *metrics_routes(queue, token=None),
    ]
    if not read_only:
        routes.extend(actions.routes())
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)])
    app.state.queue = queue
    app.state.env = env
    app.state.read_only = read_only
    app.state.poll = poll
    app.state.wakes = live.Wakes(queue)
    return app
