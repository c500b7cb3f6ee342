"""The log store: appends off the invoke path, queries, follow, retention, persistence."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec
import pytest
from result_helpers import made_result

from wasmfaas import Platform
from wasmfaas.logstore import LogEntry, LogStore
from wasmfaas.results import InvocationResult

pytestmark = pytest.mark.anyio


def result(function_name: str, n: int, *, log: bytes = b"", version: str = "$LATEST") -> InvocationResult:
    return made_result(function_name, request_id=f"req-{function_name}-{n}", executed_version=version, guest_log=log)


async def test_real_invocations_are_logged_and_queried_per_function(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    async with Platform(data_dir=tmp_path) as platform, LogStore(tmp_path) as logs:
        await platform.create_function("log", guest("log"))
        await platform.create_function("echo", guest("echo"))
        results = [await platform.invoke("log", b"{}") for _ in range(3)]
        logs.append(results[0])
        logs.append(await platform.invoke("echo", b"{}"))
        logs.append(results[1])
        logs.append(results[2])
        await logs.flush()

        entries = await logs.query("log")
        assert [e.request_id for e in entries] == [r.request_id for r in results]
        assert entries[0].text == results[0].log
        assert "line 1\nline 2\nline 3\n" in entries[0].text
        assert entries[0].text.startswith(f"START RequestId: {results[0].request_id} Version: $LATEST\n")
        assert [e.function_name for e in await logs.query(None)] == ["log", "echo", "log", "log"]
        assert [e.request_id for e in await logs.query("log", limit=2)] == [r.request_id for r in results[1:]]


async def test_read_pages_after_a_cursor(tmp_path: Path) -> None:
    async with LogStore(tmp_path) as logs:
        for i in range(5):
            logs.append(result("a", i))
            logs.append(result("b", i))
        await logs.flush()
        first = await logs.read("a", limit=2)
        assert [e.request_id for e in first] == ["req-a-0", "req-a-1"]
        rest = await logs.read("a", after=first[-1].id)
        assert [e.request_id for e in rest] == [f"req-a-{i}" for i in (2, 3, 4)]
        assert await logs.read("a", after=rest[-1].id) == []
        assert len(await logs.read(None)) == 10


async def test_since_filters_by_time(tmp_path: Path) -> None:
    async with LogStore(tmp_path) as logs:
        logs.append(result("fn", 1))
        await logs.flush()
        await anyio.sleep(0.05)
        cut = time.time()
        logs.append(result("fn", 2))
        await logs.flush()
        assert [e.request_id for e in await logs.query("fn", since=cut)] == ["req-fn-2"]
        assert len(await logs.query("fn", since=cut - 10)) == 2
        assert await logs.query("fn", since=time.time() + 1) == []


async def test_appends_are_batched_into_few_commits(tmp_path: Path) -> None:
    async with LogStore(tmp_path) as logs:
        commits = 0
        insert = logs._insert

        def counting_insert(rows: bytes, over: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
            nonlocal commits
            commits += 1
            return insert(rows, over)

        logs._insert = counting_insert  # type: ignore[method-assign]
        for i in range(1000):
            logs.append(result("fn", i))  # synchronous: the writer cannot run until the loop yields
        await logs.flush()
        assert commits == 1
        assert len(await logs.query("fn", limit=5000)) == 1000


async def test_a_full_buffer_drops_instead_of_blocking(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with LogStore(tmp_path, buffer=5) as logs:
        kept = [logs.append(result("fn", i)) for i in range(20)]
        assert kept == [True] * 5 + [False] * 15 and logs.dropped == 15
        # Said, once (it had been a count nothing read): the server counts it per function in /metrics too.
        warnings = [r.getMessage() for r in caplog.records if r.name == "wasmfaas.logstore"]
        assert warnings == ["the log writer is behind (a disk too slow for the functions' output?): 1 log entries "
                            "dropped so far"]  # fmt: skip
        await logs.flush()
        assert [e.request_id for e in await logs.query("fn")] == [f"req-fn-{i}" for i in range(5)]


async def test_put_waits_for_room_instead_of_dropping(tmp_path: Path) -> None:
    # For a log that must be kept (an Event invocation's, acknowledged once its log is stored).
    async with LogStore(tmp_path, buffer=5) as logs:
        for i in range(5):
            assert logs.append(result("fn", i))
        assert not logs.append(result("fn", 5))
        for i in range(6, 20):
            await logs.put(result("fn", i))
        assert logs.dropped == 1
        await logs.flush()
        expected = [f"req-fn-{i}" for i in range(20) if i != 5]
        assert [e.request_id for e in await logs.query("fn", limit=50)] == expected


async def test_a_buffer_full_of_bytes_drops_too(tmp_path: Path) -> None:
    big = b"x" * 10_000
    async with LogStore(tmp_path, buffer_bytes=25_000) as logs:
        for i in range(5):
            logs.append(result("fn", i, log=big))
        assert logs.dropped == 3
        await logs.flush()
        logs.append(result("fn", 5, log=big))  # room again once the writer has caught up
        await logs.flush()
        assert [e.request_id for e in await logs.query("fn")] == ["req-fn-0", "req-fn-1", "req-fn-5"]


async def test_follow_yields_the_backlog_then_new_entries_without_polling(tmp_path: Path) -> None:
    # A poll interval far longer than the test: only the commit notification can deliver the entries in time.
    async with LogStore(tmp_path, poll_interval=30.0) as logs:
        logs.append(result("fn", 0))
        logs.append(result("other", 0))
        await logs.flush()
        received: list[LogEntry] = []

        async def follow() -> None:
            async with contextlib.aclosing(logs.follow("fn")) as entries:
                async for entry in entries:
                    received.append(entry)
                    if len(received) == 3:
                        return

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow)
                await anyio.sleep(0.1)
                logs.append(result("fn", 1))
                logs.append(result("other", 1))
                await anyio.sleep(0.1)
                logs.append(result("fn", 2))
        assert [e.request_id for e in received] == ["req-fn-0", "req-fn-1", "req-fn-2"]


async def test_wait_is_a_long_poll_woken_by_the_commit(tmp_path: Path) -> None:
    async with LogStore(tmp_path, poll_interval=30.0) as logs:
        logs.append(result("fn", 0))
        await logs.flush()
        (first,) = await logs.wait("fn", timeout=5)  # something is there: no waiting
        started = anyio.current_time()
        assert await logs.wait("fn", after=first.id, timeout=0.2) == []  # nothing came: [] after the timeout
        assert anyio.current_time() - started >= 0.2

        async def later() -> None:
            await anyio.sleep(0.1)
            logs.append(result("other", 1))  # another function's commit wakes the poll, which goes back to waiting
            await anyio.sleep(0.1)
            logs.append(result("fn", 1))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(later)
                entries = await logs.wait("fn", after=first.id, timeout=20)
        assert [e.request_id for e in entries] == ["req-fn-1"]


async def test_follow_sees_entries_written_by_another_process(tmp_path: Path) -> None:
    async with LogStore(tmp_path, poll_interval=0.1) as reader, LogStore(tmp_path) as writer:
        with anyio.fail_after(5):
            async with contextlib.aclosing(reader.follow(None)) as entries:
                writer.append(result("fn", 7))
                entry = await anext(entries)
        assert entry.request_id == "req-fn-7"


async def test_retention_keeps_the_newest_entries_per_function(tmp_path: Path) -> None:
    async with LogStore(tmp_path, max_entries=10) as logs:
        for i in range(100):
            logs.append(result("busy", i))
            if i % 7 == 0:
                await logs.flush()  # many small commits, as under real traffic
        logs.append(result("quiet", 0))
        await logs.flush()
        kept = await logs.query("busy", limit=1000)
        assert 10 <= len(kept) <= 11  # pruned in batches: at most 10% over the bound
        assert kept[-1].request_id == "req-busy-99"
        assert [e.request_id for e in kept] == [f"req-busy-{i}" for i in range(100 - len(kept), 100)]
        assert len(await logs.query("quiet")) == 1


async def test_retention_keeps_counting_right_after_deletes(tmp_path: Path) -> None:
    async with LogStore(tmp_path, max_entries=10) as logs:
        for i in range(30):
            logs.append(result("fn", i))
        await logs.flush()
        assert 10 <= await logs.delete("fn") <= 11
        assert await logs.query("fn") == []
        for i in range(100, 150):
            logs.append(result("fn", i))
            await logs.flush()
        kept = await logs.query("fn", limit=1000)
        assert 10 <= len(kept) <= 11
        assert [e.request_id for e in kept] == [f"req-fn-{i}" for i in range(150 - len(kept), 150)]
        # Another process deleting behind the writer's back leaves the tally too high: the next prune finds nothing
        # to cut, corrects the tally, and retention carries on.
        with sqlite3.connect(tmp_path / "logs.sqlite3") as other:
            other.execute("DELETE FROM logs WHERE function_name = 'fn'")
        for i in range(200, 230):
            logs.append(result("fn", i))
            await logs.flush()
        kept = await logs.query("fn", limit=1000)
        assert [e.request_id for e in kept] == [f"req-fn-{i}" for i in range(230 - len(kept), 230)]
        assert 10 <= len(kept) <= 11


async def test_any_text_survives_the_store(tmp_path: Path) -> None:
    odd = b'nul \x00 here, quote " and backslash \\, unicode \xc3\xa9, bad utf-8 \xff\n'
    async with LogStore(tmp_path) as logs:
        logs.append(result("fn", 1, log=odd))
        await logs.flush()
        (entry,) = await logs.query("fn")
    assert odd.decode("utf-8", "replace") in entry.text
    assert entry.text.endswith("\n") and "REPORT RequestId" in entry.text


async def test_retention_by_size(tmp_path: Path) -> None:
    line = b"x" * 1000 + b"\n"
    async with LogStore(tmp_path, max_bytes=20_000) as logs:
        for i in range(100):
            logs.append(result("fn", i, log=line))
            await logs.flush()
        kept = await logs.query("fn", limit=1000)
        total = sum(len(e.text.encode()) for e in kept)
        assert 15_000 < total <= 22_000
        assert kept[-1].request_id == "req-fn-99"


async def test_entries_and_retention_survive_a_reopen(tmp_path: Path) -> None:
    async with LogStore(tmp_path, max_entries=5) as logs:
        for i in range(5):
            logs.append(result("fn", i))
    async with LogStore(tmp_path, max_entries=5) as logs:
        assert len(await logs.query("fn")) == 5  # the close committed what was pending
        for i in range(5, 10):
            logs.append(result("fn", i))
        await logs.flush()
        kept = await logs.query("fn")
        assert len(kept) <= 6 and kept[-1].request_id == "req-fn-9"


async def test_delete_removes_a_functions_entries(tmp_path: Path) -> None:
    async with LogStore(tmp_path) as logs:
        logs.append(result("a", 1))
        logs.append(result("b", 1))
        assert await logs.delete("a") == 1
        assert await logs.query("a") == []
        assert len(await logs.query("b")) == 1


async def test_a_deleted_functions_space_goes_back_to_the_disk(tmp_path: Path) -> None:
    async with LogStore(tmp_path) as logs:
        for n in range(400):
            logs.append(result("chatty", n, log=b"x" * 20_000))
        logs.append(result("quiet", 1))
        await logs.flush()
        db = tmp_path / "logs.sqlite3"
        full = db.stat().st_size
        assert full > 8_000_000
        assert await logs.delete("chatty") == 400
        assert db.stat().st_size < full / 4  # the file itself shrinks, not only its free-page list
        assert len(await logs.query("quiet")) == 1
    with contextlib.closing(sqlite3.connect(tmp_path / "logs.sqlite3")) as check:
        assert check.execute("PRAGMA journal_size_limit").fetchone()[0] in (-1, 16 * 1024 * 1024)  # per connection


async def test_append_outside_the_store_is_refused(tmp_path: Path) -> None:
    from wasmfaas.errors import PlatformClosedError

    logs = LogStore(tmp_path)
    with pytest.raises(PlatformClosedError):
        logs.append(result("fn", 1))


async def test_entries_appended_before_a_cancelled_shutdown_are_kept(tmp_path: Path) -> None:
    with anyio.CancelScope() as scope:
        async with LogStore(tmp_path) as logs:
            for i in range(10):
                logs.append(result("fn", i))
            scope.cancel()
            await anyio.sleep(5)  # the cancellation lands here, before the writer had a turn
    async with LogStore(tmp_path) as logs:
        assert len(await logs.query("fn")) == 10


async def test_a_failed_commit_is_counted_and_the_store_carries_on(tmp_path: Path) -> None:
    async with LogStore(tmp_path, max_entries=5) as logs:
        insert = logs._insert

        def failing(batch: object, over: object) -> object:
            raise sqlite3.OperationalError("database or disk is full")

        logs._insert = failing  # type: ignore[assignment,method-assign]
        for i in range(3):
            logs.append(result("fn", i))
        await logs.flush()
        assert logs.dropped == 3
        logs._insert = insert  # type: ignore[method-assign]
        for i in range(3, 20):
            logs.append(result("fn", i))
            await logs.flush()
        kept = await logs.query("fn", limit=100)
        # The tally forgot the lost batch, so retention still keeps the bound (plus its slack) of what is there.
        assert 5 <= len(kept) <= 6 and kept[-1].request_id == "req-fn-19"


async def test_rows_framed_by_an_older_store_still_read(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "logs.sqlite3") as db:
        db.execute(
            "CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, function_name TEXT NOT NULL, request_id TEXT"
            " NOT NULL, version TEXT NOT NULL, timestamp REAL NOT NULL, size INTEGER NOT NULL, text TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO logs (function_name, request_id, version, timestamp, size, text) VALUES (?, ?, ?, ?, ?, ?)",
            ("fn", "old", "$LATEST", 1.0, 20, "START RequestId: old\nframed before\n"),
        )
    async with LogStore(tmp_path) as logs:
        logs.append(result("fn", 1, log=b"new line\n"))
        await logs.flush()
        old, new = await logs.query("fn")
    assert old.text == "START RequestId: old\nframed before\n"
    assert new.text.startswith("START RequestId: req-fn-1 Version: $LATEST\nnew line\nEND RequestId: req-fn-1\n")
    assert "REPORT RequestId: req-fn-1\tDuration: 1.00 ms" in new.text


async def test_entries_read_back_exactly_as_the_result_frames_them(tmp_path: Path) -> None:
    cold = msgspec.structs.replace(
        result("fn", 1, log=b"no newline at the end"),
        init_duration_ms=1.234,
        fuel_consumed=98765,
        duration_ms=0.0123,
        init_log=b"init line \xc3\xa9 and a bad byte \xff\n",  # read back as the result frames it
    )
    warm = result("fn", 2, log=b"")
    async with LogStore(tmp_path) as logs:
        logs.append(cold)
        logs.append(warm)
        await logs.flush()
        entries = await logs.query("fn")
    assert [e.text for e in entries] == [cold.log, warm.log]
    assert "Init Duration: 1.23 ms\tFuel Consumed: 98765" in entries[0].text
    assert entries[0].text.startswith("init line")  # the init's lines before START, as on Lambda
    assert "\nSTART RequestId: req-fn-1" in entries[0].text


async def test_a_damaged_store_is_set_aside_and_a_new_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with LogStore(tmp_path) as logs:
        for n in range(50):
            logs.append(result("fn", n, log=b"x" * 2000))
        await logs.flush()
    path = tmp_path / "logs.sqlite3"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated outside wasmfaas
    async with LogStore(tmp_path) as logs:
        logs.append(result("fn", 99, log=b"after\n"))
        await logs.flush()
        assert [e.request_id for e in await logs.query("fn")] == ["req-fn-99"]
    assert "is damaged" in caplog.text
    assert [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name]  # kept, for whoever wants to look


async def test_the_store_is_its_owners_only(tmp_path: Path) -> None:
    async with LogStore(tmp_path):
        pass
    assert (tmp_path / "logs.sqlite3").stat().st_mode & 0o777 == 0o600  # functions log what they handle
