"""The dashboard: a Starlette application over a Queue (``pip install 'queuectl[web]'``).

Mount ``create_app(queue)`` in your own ASGI application, or run ``queuectl web``.
"""

from queuectl.web.app import create_app

__all__ = ["create_app"]
