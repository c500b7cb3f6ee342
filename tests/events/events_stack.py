"""A running platform + log store + AsyncInvoker on one data dir, for the asynchronous-invocation tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec

from wasmfaas import FunctionConfig, Platform
from wasmfaas.events import AsyncInvoker, DeadLetter
from wasmfaas.logstore import LogStore

# Delays small enough for tests: retries after 50 ms and 100 ms, throttles after 10-50 ms.
FAST: dict[str, Any] = {"retry_delay": 0.05, "throttle_delay": 0.01, "max_throttle_delay": 0.05, "poll_interval": 0.2}


@dataclass
class Stack:
    platform: Platform
    logs: LogStore
    events: AsyncInvoker
    data_dir: Path
    tg: anyio.abc.TaskGroup
    build: Callable[[str], bytes]

    async def start(self) -> None:
        await self.tg.start(self.events.run)

    async def deploy(self, name: str, guest: str, **config: Any) -> str:
        await self.platform.create_function(name, self.build(guest), config=FunctionConfig(**config))
        return name

    async def lines(self, function_name: str, prefix: str, count: int, timeout: float = 15.0) -> list[str]:
        """The first `count` log lines of a function that start with `prefix` (prefix removed), waiting for them."""
        found: list[str] = []
        with anyio.fail_after(timeout):
            async with contextlib.aclosing(self.logs.follow(function_name, backlog=100_000)) as entries:
                async for entry in entries:
                    found += [line[len(prefix) :] for line in entry.text.splitlines() if line.startswith(prefix)]
                    if len(found) >= count:
                        return found
        raise AssertionError("unreachable")

    async def records(self, function_name: str, count: int) -> list[dict[str, Any]]:
        """What a recorder destination received: its first `count` events, decoded."""
        return [msgspec.json.decode(line) for line in await self.lines(function_name, "EVENT ", count)]

    async def dead_letters(self, function_name: str | None, count: int, timeout: float = 15.0) -> list[DeadLetter]:
        with anyio.fail_after(timeout):
            while len(letters := await self.events.list_dead_letters(function_name)) < count:
                await anyio.sleep(0.02)
        return letters

    async def invocations(self, function_name: str) -> list[float]:
        """When each invocation of the function ended (its log entry's time)."""
        await self.logs.flush()
        return [entry.timestamp for entry in await self.logs.query(function_name, limit=100_000)]

    async def settled(self, timeout: float = 15.0) -> None:
        """Wait until the queue is empty and nothing runs."""
        with anyio.fail_after(timeout):
            while await self.events.queued():
                await anyio.sleep(0.02)
        await self.logs.flush()


@contextlib.asynccontextmanager
async def open_stack(
    data_dir: Path, build: Callable[[str], bytes], *, run: bool = True, persistent: bool = False, **options: Any
) -> AsyncIterator[Stack]:
    async with (
        Platform(data_dir=data_dir, persistent=persistent) as platform,
        LogStore(data_dir) as logs,
        AsyncInvoker(platform, logs=logs, **{**FAST, **options}) as events,
        anyio.create_task_group() as tg,
    ):
        stack = Stack(platform, logs, events, data_dir, tg, build)
        if run:
            await stack.start()
        yield stack
        tg.cancel_scope.cancel()


StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Stack]]
