"""The optional web layer (extra ``web``): the dashboard and ``/metrics``."""
