"""``config get`` and ``config set``."""

from __future__ import annotations

import json

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import config_keys


@click.group()
def config() -> None:
    """Read and change settings (config.json in the home)."""


@config.command("get")
@click.argument("key", required=False, shell_complete=config_keys)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (snake_case keys).")
@pass_context
def config_get(ctx: Context, key: str | None, as_json: bool) -> None:
    """Show all settings, or the value of one (kebab-case or snake_case).

    Text shows durations and sizes as `config set` takes them (1h, 1MiB); JSON gives
    numbers, in seconds and bytes, with the snake_case keys of config.json.
    """
    from queuectl.domain.config import display_value, normalize_key

    values = ctx.settings().to_dict()
    if key is not None:
        name = normalize_key(key)
        value = values[name]
        click.echo(json.dumps(value) if as_json else display_value(name, value))
    elif as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
    else:
        for name, value in values.items():
            click.echo(f"{name.replace('_', '-')} = {display_value(name, value)}")


# Unknown "options" are values: `config set max-retries -1` must reach validation and
# say what is wrong with -1, not complain about an option named -1.
@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key", shell_complete=config_keys)
@click.argument("value")
@pass_context
def config_set(ctx: Context, key: str, value: str) -> None:
    """Validate and save one setting; a bad key or value changes nothing."""
    from queuectl.domain.config import display_value, normalize_key
    from queuectl.host.config_file import update_setting
    from queuectl.host.paths import ensure_home

    name = normalize_key(key)
    settings = update_setting(ensure_home(ctx.home), name, value)
    click.echo(f"{name.replace('_', '-')} = {display_value(name, settings.to_dict()[name])}")
