"""Dynamic batching: the texts of requests that arrive together go through the model in one call.

One worker task takes the oldest waiting request, gathers the requests behind it that ask for the
same options until it holds `max_batch` texts or `max_wait` seconds have passed since that request
arrived, and runs the model on all their texts at once in the model's own thread (the event loop
keeps answering health checks and queueing requests meanwhile). The model loads on that thread too
and every batch runs there (`ModelThread`). Each text's result is the one it gets alone: the
extractor treats every text of a call on its own (up to the last bits of a score, from padding).

The queue is bounded in texts (`max_queue`): a request that would overflow it is refused at once
(`QueueFull`, which the app answers with 503 and Retry-After), so memory stays bounded under any
burst. A request whose client has gone before its batch starts is dropped from the queue.
Imports no torch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metrics


class ModelThread(Executor):
    """The one thread that loads the model and runs all its batches. PyTorch's CPU kernels keep a
    team of OpenMP workers per calling thread; once a second team exists (a load on another thread,
    batches on whichever thread of a pool is free), more workers than cores make every team wait
    passively between parallel regions, and a batch takes about 1.4x as long on 2 cores
    (docs/serving.md). A daemon thread, unlike a pool's: Ctrl-C or SIGTERM while the model loads
    (or downloads) ends the process then, not once the load is done."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="spertmt-model", daemon=True)
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("the model's thread has been shut down")
        future: Future = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not self._closed:
            self._closed = True
            while cancel_futures:  # the jobs not yet started, as Executor.shutdown promises
                try:
                    self._jobs.get_nowait()[0].cancel()
                except queue.Empty:
                    break
            self._jobs.put(None)  # after the jobs still queued
        if wait:
            self._thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:  # the submitter's to handle, as in a pool
                    future.set_exception(error)


class QueueFull(Exception):
    """The queue holds too many texts to take this request now."""


@dataclass(frozen=True)
class Options:
    """What a request may set; only requests with equal options share a batch."""

    threshold: float | None = None
    relations: bool = True
    given: bool = False  # the request gives its own entities (then only relations are predicted)


@dataclass
class _Request:
    texts: Sequence[Any]
    entities: Sequence[Any] | None
    options: Options
    arrived: float
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Queues requests and runs them in batches through `extract(texts, entities, options)` on
    `thread` (the one the model loaded on; a new one if not given)."""

    def __init__(self, extract: Callable[[list, list | None, Options], list], metrics: Metrics, *,
                 max_batch: int = 32, max_wait: float = 0.005, max_queue: int = 1024,
                 thread: ModelThread | None = None):
        if max_batch < 1 or max_queue < 1 or max_wait < 0:
            raise ValueError("max_batch and max_queue must be at least 1 and max_wait at least 0")
        self.extract, self.metrics = extract, metrics
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.pending: deque[_Request] = deque()
        self.queued_texts = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._model_thread = thread or ModelThread()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Ends the worker once the queue is empty (the server stops taking requests first)."""
        while self.pending:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._model_thread.shutdown(wait=True)

    async def submit(self, texts: Sequence[Any], entities: Sequence[Any] | None, options: Options) -> list:
        """The results of `texts`, one per text; raises QueueFull when they do not fit the queue."""
        if self.queued_texts + len(texts) > self.max_queue:
            raise QueueFull(f"{self.queued_texts} texts are waiting; the queue holds {self.max_queue}")
        request = _Request(texts, entities, options, time.monotonic(), asyncio.get_running_loop().create_future())
        self.pending.append(request)
        self.queued_texts += len(texts)
        self.metrics.queue_texts.set(self.queued_texts)
        self._wake.set()
        try:
            return await request.future
        finally:
            if request in self.pending:  # the caller went away (a client that hung up) before its batch
                self.pending.remove(request)
                self.queued_texts -= len(texts)
                self.metrics.queue_texts.set(self.queued_texts)

    async def _run(self) -> None:
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            first = self.pending[0]
            delay = first.arrived + self.max_wait - time.monotonic()
            if delay > 0 and self._batch_size(first.options) < self.max_batch:
                self._wake.clear()  # wait for more requests, or for the first one's time to run out
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                still_open = time.monotonic() < first.arrived + self.max_wait
                if still_open and self._batch_size(first.options) < self.max_batch:
                    continue
            batch = self._take_batch()
            if batch:
                await self._run_batch(batch)

    def _batch_size(self, options: Options) -> int:
        if options.given:
            return self.max_batch  # runs alone: nothing to wait for
        return sum(len(r.texts) for r in self.pending if r.options == options)

    def _take_batch(self) -> list[_Request]:
        """The oldest request and those behind it with its options, up to max_batch texts (the
        first always goes, however many texts it holds)."""
        if not self.pending:
            return []
        options, batch, size = self.pending[0].options, [], 0
        for request in list(self.pending):
            if request.options != options or (batch and size + len(request.texts) > self.max_batch):
                continue
            batch.append(request)
            size += len(request.texts)
            self.pending.remove(request)
            self.queued_texts -= len(request.texts)
            if size >= self.max_batch or options.given:  # given entities: a batch of its own (errors name its texts)
                break
        self.metrics.queue_texts.set(self.queued_texts)
        return batch

    async def _run_batch(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        given = batch[0].options.given
        entities = [e for r in batch for e in r.entities] if given else None
        self.metrics.batch_texts.observe(len(texts))
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._model_thread, self.extract, texts, entities, batch[0].options)
        except Exception as error:  # one bad batch fails its own requests, never the worker
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        start = 0
        for request in batch:
            part = results[start:start + len(request.texts)]
            start += len(request.texts)
            if not request.future.done():
                request.future.set_result(part)
