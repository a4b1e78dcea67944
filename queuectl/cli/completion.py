"""``completion``: the shell script that completes queuectl's command line."""

from __future__ import annotations

import asyncclick as click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    It completes commands and options, and job ids, queue names and config keys from
    the store. Load it from the shell's startup file:

    \b
    bash (~/.bashrc):   eval "$(queuectl completion bash)"
    zsh (~/.zshrc):     eval "$(queuectl completion zsh)"
    fish (~/.config/fish/config.fish):  queuectl completion fish | source
    """
    from asyncclick.shell_completion import get_completion_class

    from queuectl.cli.app import cli

    script_class = get_completion_class(shell)
    assert script_class is not None  # one of SHELLS
    click.echo(script_class(cli, {}, "queuectl", "_QUEUECTL_COMPLETE").source())
