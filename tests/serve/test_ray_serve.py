"""The service on Ray Serve (spertmt.serve.ray_serve): two replicas on a local Ray cluster answer
as `spertmt serve` does."""

import json
import urllib.request

import pytest

from .test_server import TEXTS, Server, _decisions, _free_port

serve = pytest.importorskip("ray.serve")
pytest.importorskip("onnxruntime")
pytest.importorskip("starlette")


def test_two_replicas_answer_as_the_single_server_does(exported):
    import ray

    from spertmt.serve.ray_serve import deployment

    alone = Server(exported)
    try:
        want = alone.extract({"texts": TEXTS, "threshold": -1})[1]["results"]
    finally:
        alone.stop()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        # chosen once Ray's own processes hold their ports: a free port chosen before ray.init was
        # once taken by one of them, and the proxy failed to bind (CI, 2026-12-06)
        port = _free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(deployment(str(exported), runtime="onnx", threads=1, num_replicas=2,
                             ray_actor_options={"num_cpus": 0.5}), route_prefix="/")
        replicas = serve.status().applications["default"].deployments["spertmt"].replica_states
        assert replicas.get("RUNNING") == 2, replicas
        for _ in range(6):  # several requests, so that both replicas take some
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/extract", method="POST",
                                             data=json.dumps({"texts": TEXTS, "threshold": -1}).encode())
            with urllib.request.urlopen(request, timeout=60) as response:
                got = json.loads(response.read())["results"]
            assert [_decisions(r) for r in got] == [_decisions(r) for r in want]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as response:
            assert json.loads(response.read())["status"] == "ready"
    finally:
        serve.shutdown()
        ray.shutdown()
