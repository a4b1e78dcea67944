"""The root command group, its global options and the shared context."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncclick as click

if TYPE_CHECKING:
    from queuectl.api.queue import Queue
    from queuectl.domain.config import Settings

__all__ = ["Context", "cli", "pass_context"]


@dataclass
class Context:
    home_arg: str | None
    db: str | None

    @property
    def home(self) -> Path:
        from queuectl.host.paths import resolve_home

        return resolve_home(self.home_arg)

    def settings(self) -> Settings:
        from queuectl.domain.config import Settings
        from queuectl.host.config_file import load_settings

        home = self.home
        return load_settings(home) if home.is_dir() else Settings()

    @contextlib.asynccontextmanager
    async def queue(self, *, read_only: bool = False) -> AsyncIterator[Queue]:
        """The queue; ``read_only`` for commands that only read, so that they work on a
        read-only home or a full disk."""
        from queuectl.api.queue import Queue

        async with Queue.open(self.db, home=self.home, read_only=read_only) as queue:
            yield queue


pass_context = click.make_pass_decorator(Context)


# command name -> (module, attribute); a command's module is imported only when it runs.
COMMANDS = {
    "add": ("queuectl.cli.add", "add"),
    "cancel": ("queuectl.cli.control", "cancel"),
    "completion": ("queuectl.cli.completion", "completion"),
    "config": ("queuectl.cli.settings", "config"),
    "dlq": ("queuectl.cli.dlq", "dlq"),
    "enqueue": ("queuectl.cli.jobs", "enqueue"),
    "list": ("queuectl.cli.jobs", "list_jobs"),
    "logs": ("queuectl.cli.logs", "logs"),
    "purge": ("queuectl.cli.purge", "purge"),
    "queue": ("queuectl.cli.queues", "queue"),
    "retry": ("queuectl.cli.finished", "retry"),
    "rm": ("queuectl.cli.finished", "rm"),
    "schedule": ("queuectl.cli.schedule", "schedule"),
    "show": ("queuectl.cli.show", "show"),
    "status": ("queuectl.cli.status", "status"),
    "wait": ("queuectl.cli.control", "wait"),
    "web": ("queuectl.cli.web", "web"),
    "worker": ("queuectl.cli.worker", "worker"),
}


class LazyGroup(click.Group):
    """A group whose subcommands load on use, so `queuectl enqueue` starts fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        import importlib

        command = getattr(importlib.import_module(where[0]), where[1])
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
