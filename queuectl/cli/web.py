"""``web``: serve the dashboard. The web extra is imported only here, when it runs."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.domain.errors import InvalidInput, QueuectlError

#: Bytes read from --token-file at most: a token, not a document.
MAX_TOKEN_FILE = 4096


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None) -> str | None:
    """The token from ``token_file`` (its first line), else ``$QUEUECTL_WEB_TOKEN``."""
    if token_file is None:
        return os.environ.get("QUEUECTL_WEB_TOKEN") or None
    try:
        with token_file.open("rb") as f:
            raw = f.read(MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read --token-file {str(token_file)!r}: {exc.strerror}"
        ) from None
    lines = raw.decode("utf-8", errors="replace").strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(raw) > MAX_TOKEN_FILE or len(token) < 16 or not token.isprintable():
        raise InvalidInput("--token-file must hold one line: a token of 16 to 4096 characters")
    return token


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="TCP port."
)
@click.option("--read-only", is_flag=True, help="Pages only: no action is offered or accepted.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file holding the token every request must carry [default: $QUEUECTL_WEB_TOKEN].",
)
@pass_context
async def web(ctx: Context, host: str, port: int, read_only: bool, token_file: Path | None) -> None:
    """Serve the dashboard (needs the web extra: pip install 'queuectl[web]').

    On an address other than loopback it refuses to start without a token, unless
    --read-only. Open the page it prints; with a token, add ?token=TOKEN once.
    """
    token = read_token(token_file)
    if not is_loopback(host) and token is None and not read_only:
        raise InvalidInput(
            f"--host {host} is not loopback: give --token-file or $QUEUECTL_WEB_TOKEN, "
            "or --read-only"
        )
    try:
        import uvicorn

        from queuectl.web import create_app
    except ImportError as exc:
        raise QueuectlError(
            f"the dashboard needs the web extra ({exc.name} is missing): "
            "pip install 'queuectl[web]'"
        ) from None
    async with ctx.queue(read_only=read_only) as queue:
        app = create_app(queue, read_only=read_only, token=token)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"queuectl dashboard on http://{shown}:{port}/", err=True)
        await server.serve()
