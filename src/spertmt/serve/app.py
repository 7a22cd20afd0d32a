"""The extraction service as an ASGI application (Starlette): `POST /v1/extract`, `GET /health`,
`GET /metrics`. `spertmt serve` runs it under uvicorn; any ASGI server can.

    POST /v1/extract  {"texts": ["John Smith works for Acme Corp.", ...],
                       "threshold": 0.5, "entities_only": false, "entities": [[...], ...]}
    -> 200 {"results": [{"id": 1, "text": ..., "tokens": [...], "entities": [...], "relations": [...]}, ...]}

One result per text, in order, each the record `spertmt predict` writes for that text as a line of
a .txt file (`id` is its 1-based place). `POST /setup` and `POST /predict` answer Label Studio's ML
backend protocol (serve.labelstudio): a Label Studio project connects to the service as its model;
`POST /inception/predict` and `POST /inception/train` INCEpTION's external recommender protocol
(serve.inception): an INCEpTION project takes the service as a recommender of entities.
Errors answer with `{"error": message, "field": name}`: 400 for a body that is not JSON, 422 for a
field of the wrong type or value (named), 413 for a body over `max_body` bytes or more texts than the
queue holds, 404 and 405 for a path or method the service does not have, 503 with Retry-After while
the queue is full. Imports no torch: with an exported model on the ONNX runtime the server runs
without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..inference.texts import lone_surrogate
from . import inception, labelstudio
from .batching import Batcher, ModelThread, Options, QueueFull
from .metrics import Metrics


@dataclass
class ServeSettings:
    """The service's knobs (`spertmt serve --help`)."""

    max_batch: int = 32  # texts per model call, gathered from requests that arrive together
    max_wait: float = 0.005  # seconds the oldest waiting request waits for others to join its batch
    max_queue: int = 1024  # texts waiting at most; beyond, requests are answered 503 at once
    max_body: int = 8 << 20  # bytes of one request body; beyond, 413
    retry_after: int = 1  # seconds a 503 asks the client to wait
    threshold: float | None = None  # θ of both heads where a request gives none (Label Studio's never does)


class HttpError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, kind: str = "bad_request"):
        super().__init__(message)
        self.status, self.field, self.kind = status, field, kind


def _json(status: int, content: dict, headers: dict | None = None):
    from starlette.responses import Response

    return Response(json.dumps(content, ensure_ascii=False), status_code=status, headers=headers,
                    media_type="application/json")


def parse_request(payload: Any, max_texts: int) -> tuple[list, list | None, Options]:
    """(texts, given entities or None, options) of a request body, or an HttpError naming the field."""
    if not isinstance(payload, dict):
        raise HttpError(422, "the body must be a JSON object with 'texts'", "body")
    unknown = sorted(set(payload) - {"texts", "threshold", "entities_only", "entities"})
    if unknown:
        raise HttpError(422, f"unknown field {unknown[0]!r}; known: texts, threshold, entities_only, entities",
                        unknown[0])
    if "texts" not in payload:
        raise HttpError(422, "missing field 'texts' (a list of strings or of word lists)", "texts")
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise HttpError(422, f"'texts' must be a list, not {type(texts).__name__}", "texts")
    if not texts:
        raise HttpError(422, "'texts' is empty: give at least one text", "texts")
    if len(texts) > max_texts:
        raise HttpError(413, f"{len(texts)} texts in one request; the queue holds {max_texts}: split it", "texts",
                        kind="too_large")
    for i, text in enumerate(texts):
        if not (isinstance(text, str) or (isinstance(text, list) and all(isinstance(w, str) for w in text))):
            raise HttpError(422, f"texts[{i}] must be a string or a list of words (strings)", f"texts[{i}]")
        place = lone_surrogate(text)
        if place is not None:  # refused here, alone: in a batch it would fail every request beside it
            raise HttpError(422, f"texts[{i}] holds a lone surrogate at {place} (a bad \\ud8xx escape)", f"texts[{i}]")
    threshold = payload.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise HttpError(422, f"'threshold' must be a finite number, not {threshold!r}", "threshold")
    entities_only = payload.get("entities_only", False)
    if not isinstance(entities_only, bool):
        raise HttpError(422, f"'entities_only' must be true or false, not {entities_only!r}", "entities_only")
    given = payload.get("entities")
    if given is not None:
        if not isinstance(given, list) or len(given) != len(texts):
            raise HttpError(422, "'entities' must be a list with one list of entities per text", "entities")
        for i, own in enumerate(given):
            if not isinstance(own, list) or not all(isinstance(e, dict) for e in own):
                raise HttpError(422, f"entities[{i}] must be a list of objects", f"entities[{i}]")
    options = Options(threshold=None if threshold is None else float(threshold), relations=not entities_only,
                      given=given is not None)
    return texts, given, options


async def _read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"the body is {int(declared)} bytes; at most {limit}", "body", kind="too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HttpError(413, f"the body is over {limit} bytes", "body", kind="too_large")
    return bytes(body)


async def _nothing() -> list:  # the results of a request without texts (Label Studio may send no task)
    return []


async def _client_gone(request) -> None:
    """Returns when the client closes the connection: once the body is read, the server's next
    message is the disconnect. (Waiting for it, rather than asking every so often, keeps the event
    loop, and with it the GIL, free for the model's thread.)"""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _answer(request, parse: Callable[[Any], tuple[list, list | None, Options, Callable]], batcher: Batcher,
                  settings: ServeSettings, metrics: Metrics, off_loop: bool = False):
    """Answers a request whose body `parse` reads into texts, given entities, options and the function
    that makes the answer of their results, extracted by `batcher`; each error as its status.
    `off_loop`: `parse` and that function run on a worker thread (work that takes long enough to keep
    the event loop from every other request)."""
    from ..inference.texts import GivenEntityError

    started = time.monotonic()
    status, content, headers = 200, None, None
    try:
        body = await _read_body(request, settings.max_body)
        try:
            payload = json.loads(body)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            raise HttpError(400, f"the body is not valid JSON: {error}", "body", kind="bad_json") from None
        except RecursionError:  # arrays or objects nested thousands deep: a bad body, not a failure of ours
            raise HttpError(400, "the body is not valid JSON: nested too deeply", "body", kind="bad_json") from None
        texts, given, options, answer = await asyncio.to_thread(parse, payload) if off_loop else parse(payload)
        task = asyncio.ensure_future(batcher.submit(texts, given, options) if texts else _nothing())
        gone = asyncio.ensure_future(_client_gone(request))
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not task.done():  # a client that hangs up gives its place in the queue back
            task.cancel()
            raise HttpError(499, "the client closed the connection", None, kind="client_gone")
        try:
            results = task.result()
        except GivenEntityError as error:
            raise HttpError(422, str(error), f"entities[{error.item}]") from None
        content = await asyncio.to_thread(answer, results) if off_loop else answer(results)
        metrics.texts.inc(amount=len(results))
    except HttpError as error:
        status, content = error.status, {"error": str(error), "field": error.field}
        metrics.errors.inc(error.kind)
    except QueueFull as error:
        status, content = 503, {"error": f"busy: {error}; retry later", "field": None}
        headers = {"Retry-After": str(settings.retry_after)}
        metrics.errors.inc("queue_full")
    except Exception as error:  # the model failed: say so, keep serving
        status, content = 500, {"error": f"extraction failed: {type(error).__name__}: {error}", "field": None}
        metrics.errors.inc("internal")
    metrics.requests.inc(str(status))
    metrics.latency.observe(time.monotonic() - started)
    return _json(status, content, headers)


def _annotation_tool_routes(batcher: Callable[[], Batcher], settings: ServeSettings, metrics: Metrics,
                            model_version: str) -> list:
    """The routes of Label Studio's ML backend (POST /setup, /predict) and of INCEpTION's external
    recommender (POST /inception/predict, /inception/train): their requests join the same batches."""
    from starlette.responses import Response
    from starlette.routing import Route

    def read(protocol_read, payload, what: str, field: str, hint: str = ""):
        """A tool's request as its protocol reads it (texts, and what the answer needs): the protocol's
        errors answered 422, more texts than the queue holds 413."""
        try:
            texts, context = protocol_read(payload)
        except (labelstudio.LabelStudioError, inception.InceptionError) as error:
            raise HttpError(422, str(error), error.field) from None
        if len(texts) > settings.max_queue:
            raise HttpError(413, f"{len(texts)} {what}; the queue holds {settings.max_queue}{hint}", field,
                            kind="too_large")
        return texts, context

    def parse_labelstudio(payload):
        texts, config = read(labelstudio.parse_predict, payload, "tasks in one request", "tasks", ": split them")
        return texts, None, Options(threshold=None, relations=True, given=False), \
            lambda results: {"results": labelstudio.predictions(results, config, model_version),
                             "model_version": model_version}

    async def predict(request):  # Label Studio's ML backend: its tasks' predictions
        return await _answer(request, parse_labelstudio, batcher(), settings, metrics)

    async def setup(request):  # Label Studio's ML backend: a project connects (its config is read per task)
        metrics.requests.inc("200")
        return _json(200, {"model_version": model_version})

    def parse_inception(payload):
        texts, document = read(inception.parse_predict, payload, "sentences in one document", "document")
        return texts, None, Options(threshold=None, relations=False, given=False), \
            lambda results: inception.suggestions(results, document)

    async def inception_predict(request):  # INCEpTION's external recommender: a document's suggestions
        # a long document's XMI is slow to read and to write: off the loop, which answers the others
        return await _answer(request, parse_inception, batcher(), settings, metrics, off_loop=True)

    async def inception_train(request):  # the model learns from `spertmt train`: nothing to do
        metrics.requests.inc("204")
        return Response(status_code=204)

    return [Route("/predict", predict, methods=["POST"]), Route("/setup", setup, methods=["POST"]),
            Route("/inception/predict", inception_predict, methods=["POST"]),
            Route("/inception/train", inception_train, methods=["POST"])]


def create_app(load: Callable[[], Any], settings: ServeSettings | None = None, describe: dict | None = None,
               thread: ModelThread | None = None):
    """The ASGI app; `load()` returns the extractor (spertmt.load's), called once at start-up on
    `thread`, the model's thread (batching.ModelThread), which then runs every batch."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    settings = settings or ServeSettings()
    model = thread or ModelThread()
    metrics = Metrics()
    state: dict[str, Any] = {"batcher": None}

    def run_batch(texts: list, entities: list | None, options: Options) -> list:
        threshold = settings.threshold if options.threshold is None else options.threshold
        return state["extractor"].extract(texts, entities, threshold=threshold, relations=options.relations)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["extractor"] = await asyncio.get_running_loop().run_in_executor(model, load)
        batcher = Batcher(run_batch, metrics, max_batch=settings.max_batch, max_wait=settings.max_wait,
                          max_queue=settings.max_queue, thread=model)
        batcher.start()
        state["batcher"] = batcher
        yield
        await batcher.stop()  # the server has stopped taking requests and answered those in flight

    def records(results: list) -> dict:
        return {"results": [{"id": i + 1, **r.to_dict()} for i, r in enumerate(results)]}

    async def extract(request):
        return await _answer(request, lambda payload: (*parse_request(payload, settings.max_queue), records),
                             state["batcher"], settings, metrics)

    model_version = f"spertmt {(describe or {}).get('model', '')}".strip()
    async def health(request):
        if state["batcher"] is None:
            return _json(503, {"status": "loading"})
        return _json(200, {"status": "ready", "queue_texts": state["batcher"].queued_texts, **(describe or {})})

    async def metrics_page(request):
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    async def no_route(request, error):  # an unknown path, or a method a path does not take: JSON too
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http")
        metrics.errors.inc(kind)
        metrics.requests.inc(str(error.status_code))
        message = (f"no {request.url.path}; the service answers POST /v1/extract, GET /health and GET /metrics "
                   "(and Label Studio's POST /setup and POST /predict, INCEpTION's POST /inception/predict and "
                   "POST /inception/train)"
                   if error.status_code == 404 else f"{request.method} {request.url.path}: {error.detail}")
        return _json(error.status_code, {"error": message, "field": None}, getattr(error, "headers", None))

    routes = [Route("/v1/extract", extract, methods=["POST"]), Route("/health", health, methods=["GET"]),
              Route("/metrics", metrics_page, methods=["GET"]),
              *_annotation_tool_routes(lambda: state["batcher"], settings, metrics, model_version)]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: no_route})
    app.state.metrics = metrics
    return app


def build_app(model: str, runtime: str = "onnx", device: str = "auto", precision: str = "fp32",
              threads: int | None = None, settings: ServeSettings | None = None, trust_remote_code: bool = False):
    """`create_app` for `model`, loaded when the app starts (in `spertmt serve`, or on each Ray Serve replica);
    `trust_remote_code`: run the encoder's own Python code, where a PyTorch model folder has some."""
    from ..inference.loading import load_extractor

    def load():
        return load_extractor(model, device=device, precision=precision, runtime=runtime, threads=threads,
                              trust_remote_code=trust_remote_code)

    return create_app(load, settings, describe={"model": str(model), "runtime": runtime})
