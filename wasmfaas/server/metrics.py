"""Prometheus metrics, per function: Lambda's CloudWatch set (invocations, errors, throttles, duration, concurrent
executions) plus cold starts, exposed with prometheus-client.

Recording sits on every invocation's path, so it is plain integer arithmetic on the event loop (the only thread that
records): prometheus-client's own metric objects take a lock per update, which cost ~15 us per invocation here. A
scrape copies the counts on the event loop (microseconds a function) and writes the text on a worker thread: with
thousands of functions that takes a second or more, and on the event loop it held every request up that long.
A deleted function's series go with it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Final

import anyio.to_thread
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from ..results import InvocationResult

__all__ = ["CONTENT_TYPE", "FunctionMetrics", "Metrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# Lambda durations run from microseconds (warm wasm) to 15 minutes.
BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0,
)  # fmt: skip


class FunctionMetrics:
    """One function's counts."""

    __slots__ = ("buckets", "cold_starts", "concurrent", "duration_sum", "handled", "invocations", "logs_dropped",
                 "throttles", "unhandled")  # fmt: skip

    def __init__(self) -> None:
        self.invocations = 0
        self.handled = 0
        self.unhandled = 0
        self.cold_starts = 0
        self.concurrent = 0
        self.duration_sum = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.throttles: dict[str, int] = {}
        self.logs_dropped = 0  # invocations whose log the log store's writer was too far behind to keep

    def copy(self) -> FunctionMetrics:
        other = FunctionMetrics()
        other.invocations, other.handled, other.unhandled = self.invocations, self.handled, self.unhandled
        other.cold_starts, other.concurrent, other.duration_sum = self.cold_starts, self.concurrent, self.duration_sum
        other.buckets, other.throttles = list(self.buckets), dict(self.throttles)
        other.logs_dropped = self.logs_dropped
        return other

    def record(self, result: InvocationResult) -> None:
        self.invocations += 1
        seconds = result.duration_ms / 1000.0
        self.duration_sum += seconds
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        if result.cold_start:
            self.cold_starts += 1
        error = result.function_error
        if error is not None:
            if error.handled:
                self.handled += 1
            else:
                self.unhandled += 1


class _Collector(Collector):
    """The metric families of a copy of the counts (taken on the event loop, written out on a worker thread)."""

    def __init__(self, functions: dict[str, FunctionMetrics], account_in_flight: int | None) -> None:
        self._functions = functions
        self._account_in_flight = account_in_flight

    def collect(self) -> Iterator[Metric]:
        functions = sorted(self._functions.items())
        invocations = CounterMetricFamily(
            "wasmfaas_invocations", "Invocations that ran (including function errors).", labels=["function"]
        )
        errors = CounterMetricFamily(
            "wasmfaas_errors", "Invocations that ended in a function error.", labels=["function", "kind"]
        )
        throttles = CounterMetricFamily(
            "wasmfaas_throttles", "Invocations refused by a concurrency limit.", labels=["function", "reason"]
        )
        cold = CounterMetricFamily(
            "wasmfaas_cold_starts", "Invocations that initialised a new environment.", labels=["function"]
        )
        concurrent = GaugeMetricFamily(
            "wasmfaas_concurrent_executions", "Invocations of the function running now.", labels=["function"]
        )
        duration = HistogramMetricFamily("wasmfaas_duration_seconds", "Time the function ran.", labels=["function"])
        dropped = CounterMetricFamily(
            "wasmfaas_log_entries_dropped",
            "Invocations whose log was not kept: the log store's writer was too far behind.",
            labels=["function"],
        )
        for name, m in functions:
            invocations.add_metric([name], m.invocations)
            errors.add_metric([name, "Handled"], m.handled)
            errors.add_metric([name, "Unhandled"], m.unhandled)
            for reason, count in sorted(m.throttles.items()):
                throttles.add_metric([name, reason], count)
            cold.add_metric([name], m.cold_starts)
            concurrent.add_metric([name], m.concurrent)
            cumulative, total = [], 0
            for bound, count in zip((*BUCKETS, float("inf")), m.buckets, strict=True):
                total += count
                cumulative.append((repr(bound) if bound != float("inf") else "+Inf", total))
            duration.add_metric([name], cumulative, m.duration_sum)
            dropped.add_metric([name], m.logs_dropped)
        yield from (invocations, errors, throttles, cold, concurrent, duration, dropped)
        if self._account_in_flight is not None:
            yield GaugeMetricFamily(
                "wasmfaas_account_concurrent_executions",
                "Invocations running now, all functions.",
                self._account_in_flight,
            )


class Metrics:
    def __init__(self) -> None:
        self.functions: dict[str, FunctionMetrics] = {}
        self.account_in_flight: Callable[[], int] | None = None

    def bind_account(self, in_flight: Callable[[], int]) -> None:
        """Report the platform's account-wide in-flight count."""
        self.account_in_flight = in_flight

    def function(self, name: str) -> FunctionMetrics:
        metrics = self.functions.get(name)
        if metrics is None:
            metrics = self.functions[name] = FunctionMetrics()
        return metrics

    def throttled(self, name: str, reason: str) -> None:
        throttles = self.function(name).throttles
        throttles[reason] = throttles.get(reason, 0) + 1

    def forget(self, name: str) -> None:
        """Drop a function's series (it was deleted, or never existed)."""
        self.functions.pop(name, None)

    async def render(self) -> bytes:
        """The Prometheus text of the counts as they are now (call on the event loop)."""
        copied = {name: metrics.copy() for name, metrics in self.functions.items()}
        in_flight = self.account_in_flight() if self.account_in_flight is not None else None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(copied, in_flight))
        return await anyio.to_thread.run_sync(generate_latest, registry)
