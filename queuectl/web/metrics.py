"""``/metrics`` and ``/healthz`` as Starlette routes, for the dashboard or an embedder.

``/metrics`` is the Prometheus text of ``queuectl.api.metrics``: store-wide figures,
the same whichever process serves them (see that module). With a token it asks for
``Authorization: Bearer <token>``, which Prometheus sends from its ``authorization``
scrape setting. ``/healthz`` stays open: 200 when the store answers a read, 503 when not.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from queuectl.api import metrics
from queuectl.api.queue import Queue
from queuectl.domain.errors import QueuectlError

__all__ = ["metrics_routes"]


def metrics_routes(queue: Queue, *, token: str | None) -> list[BaseRoute]:
    """The ``/metrics`` route (behind ``token`` when one is given) and ``/healthz``."""
    expected = None if token is None else f"Bearer {token}".encode()

    async def serve_metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "a bearer token is required\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="queuectl"'},
                )
        try:
            body = await metrics.scrape(queue)
        except QueuectlError as exc:
            return PlainTextResponse(f"reading the store failed: {exc}\n", status_code=503)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def serve_health(request: Request) -> Response:
        problem = await metrics.healthy(queue)
        if problem is not None:
            return PlainTextResponse(problem + "\n", status_code=503)
        return PlainTextResponse("ok\n")

    return [
        Route("/metrics", serve_metrics, methods=["GET"]),
        Route("/healthz", serve_health, methods=["GET"]),
    ]
