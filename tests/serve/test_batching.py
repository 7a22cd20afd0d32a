"""The batcher alone (spertmt.serve.batching), with a stand-in for the model: what it batches
together, what it keeps apart, and what it refuses."""

import asyncio

import pytest

from spertmt.serve.batching import Batcher, ModelThread, Options, QueueFull
from spertmt.serve.metrics import Metrics


def _batcher(calls, **kwargs):
    def extract(texts, entities, options):
        calls.append((list(texts), options))
        return [f"{t}!" for t in texts]

    return Batcher(extract, Metrics(), **kwargs)


def test_requests_arriving_together_share_a_call_and_get_their_own_results():
    calls = []

    async def main():
        batcher = _batcher(calls, max_batch=8, max_wait=0.2)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"], None, Options()) for i in range(3)),
                                       batcher.submit(["c"], None, Options(threshold=0.5)))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [["a0!", "b0!"], ["a1!", "b1!"], ["a2!", "b2!"], ["c!"]]
    assert sorted(len(texts) for texts, _ in calls) == [1, 6]  # other options, another call
    assert {options.threshold for _, options in calls} == {None, 0.5}


def test_a_batch_holds_at_most_max_batch_texts_but_a_large_request_goes_whole():
    calls = []

    async def main():
        batcher = _batcher(calls, max_batch=4, max_wait=0.1)
        batcher.start()
        await asyncio.gather(*(batcher.submit([f"t{i}"] * 3, None, Options()) for i in range(3)),
                             batcher.submit(["x"] * 9, None, Options()))
        await batcher.stop()

    asyncio.run(main())
    assert sorted(len(texts) for texts, _ in calls) == [3, 3, 3, 9]


def test_a_full_queue_refuses_at_once_and_a_gone_caller_frees_its_place():
    calls = []

    async def main():
        batcher = _batcher(calls, max_batch=32, max_wait=0.5, max_queue=4)
        batcher.start()
        waiting = asyncio.ensure_future(batcher.submit(["a", "b", "c"], None, Options()))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await batcher.submit(["d", "e"], None, Options())
        waiting.cancel()  # its caller went away before its batch started
        await asyncio.sleep(0.05)
        result = await batcher.submit(["d", "e"], None, Options())
        await batcher.stop()
        return result, batcher.queued_texts

    result, left = asyncio.run(main())
    assert result == ["d!", "e!"] and left == 0
    assert calls == [(["d", "e"], Options())]  # the cancelled request never reached the model


def test_requests_with_given_entities_run_alone_and_a_failure_stays_in_its_batch():
    def extract(texts, entities, options):
        if "bad" in texts:
            raise ValueError("bad text")
        return [len(e) for e in entities] if entities is not None else list(texts)

    async def main():
        batcher = Batcher(extract, Metrics(), max_batch=8, max_wait=0.1)
        batcher.start()
        given = Options(given=True)
        results = await asyncio.gather(batcher.submit(["x"], [[{"type": "Peop"}]], given),
                                       batcher.submit(["y"], [[{}, {}]], given),
                                       batcher.submit(["bad"], None, Options(threshold=1.0)),
                                       batcher.submit(["ok"], None, Options()), return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results[:2] == [[1], [2]] and isinstance(results[2], ValueError) and results[3] == ["ok"]


async def _post(app, path: str, body: bytes) -> int:
    """The status the ASGI `app` answers a POST of `body` to `path` with, in this process."""
    sent, incoming = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()  # the client stays

    async def send(message):
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
               "headers": [(b"content-type", b"application/json")], "query_string": b"", "root_path": "",
               "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("test", 1)},
              receive, send)
    return sent[0]["status"]


def test_the_model_loads_on_the_thread_that_runs_its_batches():
    # PyTorch keeps a team of CPU workers per calling thread: a model loaded on one thread and run
    # on another has two teams, and every batch takes about 1.4x as long (serve.batching.ModelThread).
    import threading

    from spertmt.serve import create_app

    threads = {}

    class Extractor:
        def extract(self, texts, entities, **options):
            threads.setdefault("batches", set()).add(threading.get_ident())
            return []

    def load():
        threads["load"] = threading.get_ident()
        return Extractor()

    async def main():
        app = create_app(load)
        async with app.router.lifespan_context(app):
            return [await _post(app, "/v1/extract", b'{"texts": ["a"]}') for _ in range(3)]

    assert asyncio.run(main()) == [200, 200, 200]
    assert threads["batches"] == {threads["load"]} and threads["load"] != threading.get_ident()


def test_the_model_thread_runs_jobs_in_order_and_passes_errors_back():
    import threading

    model = ModelThread()
    ran = []
    first = model.submit(lambda: ran.append(threading.get_ident()) or "a")
    failing = model.submit(lambda: 1 / 0)
    last = model.submit(lambda x, y=0: ran.append(threading.get_ident()) or x + y, 1, y=2)
    assert first.result(timeout=10) == "a" and last.result(timeout=10) == 3
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=10)
    assert len(set(ran)) == 1 and ran[0] != threading.get_ident()
    model.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        model.submit(print)


def test_shutting_the_model_thread_down_can_cancel_the_jobs_not_yet_started():
    import threading

    model = ModelThread()
    started, release = threading.Event(), threading.Event()
    running = model.submit(lambda: started.set() or release.wait(10) and "done")
    assert started.wait(10)
    waiting = [model.submit(lambda: "ran") for _ in range(3)]
    threading.Timer(0.2, release.set).start()
    model.shutdown(wait=True, cancel_futures=True)
    assert running.result(timeout=10) == "done"  # a started job finishes
    assert all(job.cancelled() for job in waiting)


def test_a_process_ends_while_its_model_thread_is_still_busy():
    # Ctrl-C or SIGTERM while a model loads (or downloads) in `spertmt serve`: the process ends
    # then, not once the load is done (a pool's thread would hold it for the whole sleep).
    import subprocess
    import sys

    code = "import time; from spertmt.serve.batching import ModelThread; ModelThread().submit(time.sleep, 600)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_inceptions_documents_are_read_and_written_off_the_event_loop(monkeypatch):
    """A long document's XMI is slow to read and to write: on the event loop, every other request (a
    health check, Label Studio's tasks) would wait for it."""
    from spertmt.serve import create_app, inception

    on_the_loop = {}

    def loop_running() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def parse_predict(payload):
        on_the_loop["read"] = loop_running()
        return [["John", "works"]], None

    def suggestions(results, document):
        on_the_loop["written"] = loop_running()
        return {"document": "<xmi/>"}

    monkeypatch.setattr(inception, "parse_predict", parse_predict)
    monkeypatch.setattr(inception, "suggestions", suggestions)

    class Extractor:
        def extract(self, texts, entities, **options):
            return [None for _ in texts]

    async def main():
        app = create_app(Extractor)
        async with app.router.lifespan_context(app):
            return await _post(app, "/inception/predict", b"{}")

    assert asyncio.run(main()) == 200
    assert on_the_loop == {"read": False, "written": False}
