"""What keeps the dashboard safe to open: headers, the token, CSRF on every action.

Job text is attacker-shaped (whoever enqueues controls it), so pages allow no inline
script at all (the CSP), and every action is a POST carrying a token that only a page
the dashboard rendered can know (double submit: a SameSite=Strict cookie and a form
field that must match).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSRF_COOKIE", "TOKEN_COOKIE", "Guard", "csrf_ok", "csrf_token"]

CSRF_COOKIE = "queuectl_csrf"
TOKEN_COOKIE = "queuectl_token"
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def csrf_token(request: Request) -> str:
    """The page's CSRF token: the cookie's, or a new one that the response will set."""
    token = request.cookies.get(CSRF_COOKIE) or request.scope.get("queuectl.csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.scope["queuectl.csrf"] = token
    return str(token)


def csrf_ok(request: Request, field: object) -> bool:
    """Whether a POST carries the cookie's token, and comes from this origin if it says."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(field, str):
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(request.url):
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())


def _origin(url: URL) -> str:
    return f"{url.scheme}://{url.netloc}"


#: Paths answered without the token: a load balancer's health check knows no secret.
OPEN_PATHS = frozenset({"/healthz"})


def _open(scope: Scope) -> bool:
    """Whether the request is for an open path, wherever the dashboard is mounted."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path in OPEN_PATHS


class Guard:
    """ASGI middleware: the token check (when one is set), then security headers and
    the CSRF cookie on every response."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.token is not None and not _open(scope) and not self._authorised(request):
            await self._refuse(request)(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                fresh = scope.get("queuectl.csrf")
                if fresh:
                    cookie = f"{CSRF_COOKIE}={fresh}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_guarded)

    def _authorised(self, request: Request) -> bool:
        assert self.token is not None
        given = request.cookies.get(TOKEN_COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _refuse(self, request: Request) -> Response:
        """A link with ``?token=…`` logs a browser in (a cookie, then the same page
        without the token in its address); anything else without the token is 401."""
        assert self.token is not None
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
            return response
        refused = PlainTextResponse("a token is needed: open the dashboard with ?token=…\n", 401)
        for k, v in HEADERS.items():
            refused.headers[k] = v
        return refused
