"""The async facade that the CLI and embedding applications share."""

from queuectl.api.queue import Queue

__all__ = ["Queue"]
