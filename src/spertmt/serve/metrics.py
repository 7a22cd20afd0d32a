"""The service's metrics in Prometheus' text format (version 0.0.4), without a client library: a
few counters, one gauge and three histograms are all `GET /metrics` needs."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict


class Counter:
    def __init__(self, name: str, help_: str, label: str | None = None):
        self.name, self.help, self.label = name, help_, label
        self.values: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, label_value: str = "", amount: float = 1.0) -> None:
        with self._lock:
            self.values[label_value] += amount

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        if self.label is None:
            return out + [f"{self.name} {self.values.get('', 0.0):g}"]
        return out + [f'{self.name}{{{self.label}="{value}"}} {count:g}'
                      for value, count in sorted(self.values.items())]


class Gauge:
    def __init__(self, name: str, help_: str):
        self.name, self.help, self.value = name, help_, 0.0

    def set(self, value: float) -> None:
        self.value = value

    def lines(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {self.value:g}"]


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...]):
        self.name, self.help, self.buckets = name, help_, tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last: above every bucket (+Inf only)
        self.sum, self.count = 0.0, 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, value)] += 1
            self.sum += value
            self.count += 1

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip(self.buckets, self.counts):
            running += count
            out.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        out += [f'{self.name}_bucket{{le="+Inf"}} {self.count}', f"{self.name}_sum {self.sum:g}",
                f"{self.name}_count {self.count}"]
        return out


class Metrics:
    """Everything `GET /metrics` reports."""

    def __init__(self):
        self.requests = Counter("spertmt_requests_total", "Requests answered, by HTTP status.", "status")
        self.errors = Counter("spertmt_errors_total", "Requests refused or failed, by kind.", "kind")
        self.texts = Counter("spertmt_texts_total", "Texts extracted.")
        self.latency = Histogram("spertmt_request_seconds", "Time from a request's arrival to its answer.",
                                 (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.batch_texts = Histogram("spertmt_batch_texts", "Texts per model call.",
                                     (1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.queue_texts = Gauge("spertmt_queue_texts", "Texts waiting for the model.")

    def text(self) -> str:
        parts = (self.requests, self.errors, self.texts, self.latency, self.batch_texts, self.queue_texts)
        return "\n".join(line for metric in parts for line in metric.lines()) + "\n"
