"""`spertmt serve`: extraction as an HTTP service with dynamic batching, metrics and back-pressure
(app.py: the ASGI application; batching.py: the batcher; metrics.py: Prometheus' text format;
ray_serve.py: the same application on Ray Serve's replicas).
Needs `pip install 'spertmt[serve]'` (Starlette and uvicorn); imports no torch."""

from .app import ServeSettings, build_app, create_app

__all__ = ["ServeSettings", "build_app", "create_app"]
