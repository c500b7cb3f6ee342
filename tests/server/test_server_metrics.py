"""The server's Prometheus metrics: counted on the event loop, written out on a worker thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from result_helpers import made_result

import wasmfaas.server.metrics as metrics_module
from wasmfaas import Platform
from wasmfaas.logstore import LogStore
from wasmfaas.results import FunctionError, InvocationResult
from wasmfaas.server.invocations import InvocationRunner
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


@pytest.mark.anyio
async def test_a_log_the_writer_is_too_far_behind_for_is_counted_and_an_events_is_kept(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropped logs had been a count nothing read; an Event invocation's log, promised stored before the event is
    # acknowledged, could be dropped too.
    metrics = Metrics()
    async with Platform(data_dir=tmp_path) as platform, LogStore(tmp_path) as logs:
        await platform.create_function("fn", guest("echo"))
        runner = InvocationRunner(platform, metrics, logs)
        await runner.invoke("fn", None, b"kept")  # a log waiting for the writer...
        monkeypatch.setattr(logs, "_room", lambda size: False)  # ...and no room for more until it is committed
        dropped = await runner.invoke("fn", None, b"dropped")
        event = await runner.invoke_event("fn", None, b"event", request_id="event-1")
        assert event.payload == b"event"
        assert [e.request_id for e in await logs.query("fn")][-1] == "event-1"
        assert dropped.request_id not in [e.request_id for e in await logs.query("fn")]
        text = (await metrics.render()).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("wasmfaas_log_entries_dropped_total", (("function", "fn"),))] == 1
    assert samples[("wasmfaas_invocations_total", (("function", "fn"),))] == 3
