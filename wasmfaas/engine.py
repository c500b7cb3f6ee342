"""Wasmtime engines: their settings, and the one epoch ticker each engine has.

Every store of an engine shares one epoch counter. A single daemon thread per engine increments it every
`EPOCH_TICK_S`; an invocation's deadline is set in ticks before each call, so an infinite loop traps within one tick
of its timeout. Fuel is an engine-wide switch in wasmtime (it instruments the compiled code), so functions with a fuel
budget run on a second engine with `consume_fuel` on and the others pay nothing for it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Final

import msgspec
import wasmtime

from .errors import InvalidParameterError

__all__ = ["EPOCH_TICK_S", "MAX_WASM_STACK", "Engine", "EngineSettings", "run_ticker"]

EPOCH_TICK_S: Final = 0.01
# Wasmtime aborts the process (not a trap) when max_wasm_stack exceeds the host thread's stack budget; measured
# here: above 2 MiB it aborts. Keep well inside it.
MAX_WASM_STACK: Final = 2 * 1024 * 1024
WASMTIME_VERSION: Final = version("wasmtime")


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the compiled code depends on; the compiled-module cache is keyed by it.

    - `fuel`: compile with fuel metering (needed by functions with a fuel budget).
    - `max_wasm_stack`: bytes of wasm stack per call (at most 2 MiB); deeper recursion is a stack overflow.
    - `opt_level`: Cranelift's `none`, `speed` or `speed_and_size`.
    """

    fuel: bool = False
    max_wasm_stack: int = 512 * 1024
    opt_level: str = "speed"

    def __post_init__(self) -> None:
        # msgspec checks types when decoding, not in the constructor: a float stack had failed at the first compile.
        if not isinstance(self.fuel, bool):
            raise InvalidParameterError("fuel", f"must be True or False, got {self.fuel!r}")
        if isinstance(self.max_wasm_stack, bool) or not isinstance(self.max_wasm_stack, int):
            raise InvalidParameterError("max_wasm_stack", f"must be an integer, got {self.max_wasm_stack!r}")
        if not 64 * 1024 <= self.max_wasm_stack <= MAX_WASM_STACK:
            raise InvalidParameterError("max_wasm_stack", f"must be from 64 KiB to {MAX_WASM_STACK} bytes")
        if self.opt_level not in ("none", "speed", "speed_and_size"):
            raise InvalidParameterError("opt_level", "must be none, speed or speed_and_size")

    def fingerprint(self) -> str:
        """A short digest of these settings plus the wasmtime version: part of every cache key."""
        raw = msgspec.json.encode(self) + b"|wasmtime " + WASMTIME_VERSION.encode() + b"|memory_may_move=0"
        return hashlib.sha256(raw).hexdigest()[:16]


def _wasmtime_config(settings: EngineSettings, *, component_model: bool = True) -> wasmtime.Config:
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = settings.fuel
    config.max_wasm_stack = settings.max_wasm_stack
    config.cranelift_opt_level = settings.opt_level
    config.wasm_component_model = component_model
    # 32-bit memories live in a 4 GiB reservation and never move, so a guest's memory base pointer can be read once
    # per environment instead of on every invocation.
    config.memory_may_move = False
    # Parallel compilation uses a thread pool that does not survive fork(): an engine must be made after forking
    # (every Platform makes its own engines on entry), never inherited from a parent that compiled.
    config.parallel_compilation = True
    return config


class Engine:
    """One `wasmtime.Engine` with its settings and epoch ticker. Thread-safe; `close()` stops the ticker."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.fingerprint = self.settings.fingerprint()
        self.wasm = wasmtime.Engine(_wasmtime_config(self.settings))
        # Set once the platform stops the guests still running on this engine: their sleeps end at once, and
        # their interrupts are reported as the shutdown they are, not as timeouts.
        self.closing = threading.Event()
        self._stop = threading.Event()
        self._origin = time.monotonic()
        self._ticked = 0  # epoch increments the ticker has made (expire_deadlines' are not counted)
        self._ticker = threading.Thread(target=self._tick, name=f"wasmfaas-epoch-{self.fingerprint[:6]}", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        increment = self.wasm.increment_epoch

        def tick() -> None:
            increment()
            self._ticked += 1

        # wait() returns early on close, so the thread never outlives its engine by more than a tick.
        run_ticker(self._stop.wait, time.monotonic, tick, self._origin)

    def lag(self) -> int:
        """The increments the ticker owes the epoch now -- what its next wake-up will make at once, as it counts them
        (`run_ticker`) -- when it waits for a core or the GIL. A deadline adds them, or it ends that much early: an
        inline slice of 2 ticks at once (0.3 ms calls had been preempted, their warm environments thrown away, when
        a catch-up fell inside them). Counting from the last wake-up instead, one tick short, still let 9 of 60k
        such calls be preempted; this way none were, at the cost of a slice one tick longer now and then."""
        owed = round((time.monotonic() - self._origin) / EPOCH_TICK_S) - self._ticked
        return owed if owed > 0 else 0

    @staticmethod
    def deadline_ticks(timeout_s: float) -> int:
        """Ticks to give a call so that it traps no earlier than `timeout_s` and at most one tick after it."""
        return math.ceil(timeout_s / EPOCH_TICK_S) + 1

    def expire_deadlines(self, longest_s: float) -> None:
        """Advance the epoch past every deadline of up to `longest_s` set so far: each guest running on this engine
        traps at its next epoch check, as at a shutdown that cannot wait for it (see `closing`)."""
        self.closing.set()
        for _ in range(self.deadline_ticks(longest_s) + 1):
            self.wasm.increment_epoch()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=1)

    def __repr__(self) -> str:
        return f"<Engine {self.settings!r} {self.fingerprint}>"


def run_ticker(
    wait: Callable[[float], bool],
    clock: Callable[[], float],
    increment: Callable[[], None],
    origin: float | None = None,
) -> None:
    """Advance the epoch once per `EPOCH_TICK_S` of `clock` until `wait` says stop.

    The epoch counts wall-clock ticks, not this thread's wake-ups: on a busy machine a wake-up comes late (by 25 ms
    on average under load, 620 ms at worst, as measured), and each late one catches up, so a 2 s timeout ends at 2 s
    plus one late wake-up, not after 200 wake-ups (5 s). Never ahead of the clock by more than half a tick (the +1 of
    `deadline_ticks` covers that); a deadline set while the epoch is behind (this thread waiting for a core) adds
    the ticks it is behind (`Engine.lag`), or it would end as much early when the epoch catches up."""
    origin = clock() if origin is None else origin
    ticks = 0
    while not wait(EPOCH_TICK_S):
        due = round((clock() - origin) / EPOCH_TICK_S)  # round: a wait that ends a hair early still counts
        for _ in range(due - ticks):
            increment()
        ticks = max(due, ticks)
