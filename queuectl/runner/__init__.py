"""The engine: one event loop runs N workers that claim jobs through the store, run
them and record their outcomes (``lifecycle.Runner``)."""
