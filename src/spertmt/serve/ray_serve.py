"""The same service on Ray Serve: many replicas of `create_app`'s application behind Ray's HTTP
proxy, each replica with its own batcher, queue and metrics, Ray routing the requests among them.

    from ray import serve
    from spertmt.serve.ray_serve import deployment

    serve.run(deployment("runs/c04/onnx", runtime="onnx", num_replicas=2), route_prefix="/")
    # POST http://127.0.0.1:8000/v1/extract, as with `spertmt serve`

`deployment(...)` passes its keywords to `serve.deployment` (`num_replicas`, `autoscaling_config`,
`ray_actor_options`, `max_ongoing_requests`, ...). The application is built on each replica (the
model loads there, not in the driver), so the model folder must be readable where the replicas
run: a shared file system or a hub repo id. Needs `pip install 'ray[serve]'`.
"""

from __future__ import annotations

from .app import ServeSettings, build_app


def deployment(model: str, runtime: str = "onnx", device: str = "auto", precision: str = "fp32",
               threads: int | None = None, settings: ServeSettings | None = None, trust_remote_code: bool = False,
               **deployment_options):
    """A bound Ray Serve application of the extraction service; `deployment_options` go to
    `serve.deployment` (num_replicas, autoscaling_config, ray_actor_options, ...); `trust_remote_code`
    as `build_app` takes it."""
    from ray import serve

    def builder():  # evaluated on each replica
        return build_app(model, runtime, device, precision, threads, settings, trust_remote_code)

    @serve.deployment(name="spertmt", **deployment_options)
    @serve.ingress(builder)
    class Spertmt:
        pass

    return Spertmt.bind()
