"""The ``queuectl`` command: a thin asyncclick layer over ``queuectl.api.queue``.

Imports stay lazy: each command imports the API pieces it uses, so short commands
start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncclick as click

__all__ = ["main"]


def _subcommand(args: Sequence[str]) -> str | None:
    """The command name in ``args``, skipping the global options and their values."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--home", "--db"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _run(coro: Coroutine[Any, Any, Any], *, fast_loop: bool) -> Any:
    """Run on uvloop for runners (where the loop's speed matters), else asyncio's own
    loop: a one-shot command then does not pay for importing uvloop."""
    if fast_loop:
        try:
            import uvloop
        except ImportError:  # Windows: the default loop
            pass
        else:
            return uvloop.run(coro)
    import asyncio

    return asyncio.run(coro)


def usage_error_line(exc: click.UsageError) -> str:
    """A usage error as one line, like every other error (DESIGN.md: one clear line).

    Click's own rendering spreads it over four (usage, hint, blank, message), which
    breaks scripts that read the first line of stderr as the reason.
    """
    ctx = exc.ctx
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"queuectl: error: {exc.format_message().removesuffix('.')}{hint}"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, turn every error into one line and an exit code."""
    import asyncclick as click

    from queuectl.cli.app import cli
    from queuectl.domain.errors import QueuectlError

    args = list(sys.argv[1:] if argv is None else argv)
    code = 0
    try:
        fast_loop = _subcommand(args) == "worker"
        result = _run(
            cli.main(args, prog_name="queuectl", standalone_mode=False), fast_loop=fast_loop
        )
        # Without standalone mode, click returns the code of an Exit instead of raising.
        if isinstance(result, int):
            code = result
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        code = exc.exit_code
    except click.UsageError as exc:
        click.echo(usage_error_line(exc), err=True)
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        click.echo("queuectl: aborted", err=True)
        code = 130
    except QueuectlError as exc:
        click.echo(f"queuectl: error: {exc}", err=True)
        code = exc.exit_code
    except BrokenPipeError:
        # A reader such as `head` went away: stop quietly, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 141
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a bug: still one line, unless debugging
        if os.environ.get("QUEUECTL_DEBUG"):
            raise
        click.echo(f"queuectl: internal error: {type(exc).__name__}: {exc}", err=True)
        code = 1
    sys.exit(code)
