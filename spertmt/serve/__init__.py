"""`spertmt serve`: extraction as an HTTP service with dynamic batching, metrics and back-pressure
(app.py: the ASGI application; batching.py: the batcher; metrics.py: Prometheus' text format).
Needs `pip install 'spertmt[serve]'` (Starlette and uvicorn); imports no torch."""

from .app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
