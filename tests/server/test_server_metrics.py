"""The server's Prometheus metrics: counted on the event loop, written out on a worker thread."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families
from result_helpers import made_result

import wasmfaas.server.metrics as metrics_module
from wasmfaas.results import FunctionError, InvocationResult
from wasmfaas.server.metrics import Metrics


def result(name: str, *, cold: bool = False, error: FunctionError | None = None) -> InvocationResult:
    return made_result(name, cold_start=cold, function_error=error, duration_ms=2.0)


@pytest.mark.anyio
async def test_a_scrape_is_written_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Thousands of functions take a second or more to write out: on the event loop, every request waited for it.
    metrics = Metrics()
    metrics.bind_account(lambda: 3)
    for n in range(2000):
        metrics.function(f"fn{n}").record(result(f"fn{n}", cold=n == 0))
    metrics.function("fn1").record(result("fn1", error=FunctionError(error_type="E", error_message="m")))
    metrics.throttled("fn2", "ReservedFunctionConcurrentInvocationLimitExceeded")
    threads: list[str] = []
    write = metrics_module.generate_latest

    def spying(registry: object) -> bytes:
        threads.append(threading.current_thread().name)
        return write(registry)  # type: ignore[arg-type]

    monkeypatch.setattr(metrics_module, "generate_latest", spying)
    text = (await metrics.render()).decode()
    assert threads and threads[0] != threading.main_thread().name
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("wasmfaas_invocations_total", (("function", "fn1"),))] == 2
    assert samples[("wasmfaas_errors_total", (("function", "fn1"), ("kind", "Unhandled")))] == 1
    assert samples[("wasmfaas_cold_starts_total", (("function", "fn0"),))] == 1
    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert samples[("wasmfaas_throttles_total", (("function", "fn2"), ("reason", reason)))] == 1
    assert samples[("wasmfaas_account_concurrent_executions", ())] == 3
    assert len([k for k in samples if k[0] == "wasmfaas_invocations_total"]) == 2000
