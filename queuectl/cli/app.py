"""The root command group, its global options and the shared context."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncclick as click

if TYPE_CHECKING:
    from queuectl.api import Queue
    from queuectl.config import Settings

__all__ = ["Context", "cli", "pass_context"]


@dataclass
class Context:
    home_arg: str | None
    db: str | None

    @property
    def home(self) -> Path:
        from queuectl.paths import resolve_home

        return resolve_home(self.home_arg)

    def settings(self) -> Settings:
        from queuectl.config import Settings, load_settings

        home = self.home
        return load_settings(home) if home.is_dir() else Settings()

    @contextlib.asynccontextmanager
    async def queue(self) -> AsyncIterator[Queue]:
        from queuectl.api import Queue

        async with Queue.open(self.db, home=self.home) as queue:
            yield queue


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    envvar="QUEUECTL_HOME",
    metavar="DIR",
    help="Directory for the database, config and runtime files [default: ~/.queuectl].",
)
@click.option(
    "--db",
    envvar="QUEUECTL_DB",
    metavar="URL",
    help="Store: a file path, sqlite:///file.db or postgresql://… [default: HOME/queuectl.db].",
)
@click.version_option(package_name="queuectl", prog_name="queuectl")
@click.pass_context
def cli(ctx: click.Context, home: str | None, db: str | None) -> None:
    """queuectl: a background job queue for shell commands."""
    ctx.obj = Context(home_arg=home, db=db)


def _register() -> None:
    from queuectl.cli import add, control, dlq, jobs, logs, purge, settings, show, status, worker

    cli.add_command(jobs.enqueue)
    cli.add_command(logs.logs)
    cli.add_command(show.show)
    cli.add_command(control.wait)
    cli.add_command(control.cancel)
    cli.add_command(add.add)
    cli.add_command(purge.purge)
    cli.add_command(jobs.list_jobs)
    cli.add_command(worker.worker)
    cli.add_command(status.status)
    cli.add_command(dlq.dlq)
    cli.add_command(settings.config)


_register()
