"""Idle execution environments of one function version.

The most recently used environment is reused first (LIFO: its caches are warm, and the oldest ones age out), idle
ones are reaped after a TTL, at most `max_idle` are kept, and provisioned concurrency keeps a floor of initialised
environments ahead of traffic. Every method is thread-safe; `run` and `maintain` block, so call them from worker
threads.

Inline runs. Handing an invocation to a worker thread and back costs two thread wake-ups (~20 µs when the cores are
busy, ~90 µs on an idle VM), ten times a small guest's warm call (~5 µs). So once a function version has shown itself
fast (of its last `INLINE_WINDOW` invocations at most `INLINE_SLOW_ALLOWED` took over `INLINE_MAX_MS`: one slow
outlier does not count; a call on a worker thread counts its CPU time, not its waits for the GIL), the async path runs
it on the event loop's own thread (`run_inline`) under a short epoch deadline (`INLINE_SLICE_TICKS`, 10-20 ms). A call
that outlives the slice is interrupted and its environment thrown away -- the guest has no file system, network or
other effect outside its store, so an interrupted attempt leaves nothing behind but its discarded log lines -- and the
invocation runs again, from the start, on a worker thread. A preemption costs the function its warm environment (its
global state, and a cold start for the run again), so each one makes the function wait longer before it runs inline
again: it runs on threads until it has been fast for `INLINE_WINDOW` invocations times 2 per preemption so far (up to
2**`INLINE_MAX_BACKOFF`): a function that is slow now and then is preempted a few times, not once per slow call;
each `INLINE_FORGIVE_S` without a preemption forgives one.
Environments kept by provisioned concurrency never run inline: a preemption would throw one away. Reactors and
commands run inline (a command starts a fresh instance each time, so it needs no warm environment, and a small one
takes ~0.1 ms); components never do: their WASI host calls (a sleep) block without an epoch check.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .guests import wasi
from .guests.base import Environment, EnvironmentSpec, InitError, Outcome, Request, sdk_init_failure
from .results import FunctionError

__all__ = [
    "INLINE_FORGIVE_S",
    "INLINE_MAX_BACKOFF",
    "INLINE_MAX_MS",
    "INLINE_SLICE_TICKS",
    "INLINE_SLOW_ALLOWED",
    "INLINE_WARMUP",
    "INLINE_WINDOW",
    "Pool",
    "PoolStats",
    "Run",
]

logger = logging.getLogger("wasmfaas.pool")

# A call within this is cheaper to run on the loop than to hand over to a thread and back.
INLINE_MAX_MS = 0.2
INLINE_WINDOW = 8
INLINE_SLOW_ALLOWED = 1
# Fast invocations a new (or just preempted) function version needs before it runs inline.
INLINE_WARMUP = INLINE_WINDOW - INLINE_SLOW_ALLOWED
_WINDOW_MASK = (1 << INLINE_WINDOW) - 1
# Epoch ticks (engine.EPOCH_TICK_S each) an inline call may run before it is preempted: 1-2 ticks of wall time.
INLINE_SLICE_TICKS = 2
# The pause before provisioning again after a failed init: doubled at each failure, up to the longest.
_PROVISION_PAUSE_S = 5.0
_PROVISION_PAUSE_MAX_S = 300.0
# The fast invocations needed after a preemption double with each one, up to INLINE_WINDOW << this (8 << 12 = 32768).
INLINE_MAX_BACKOFF = 12
# Each this long without a preemption forgives one of the preemptions that set the backoff: a function preempted in
# a burst (a slow dependency for a minute, a loaded host) is not kept off inline runs for the rest of its life.
INLINE_FORGIVE_S = 60.0


@dataclass(slots=True)
class Run:
    """An invocation as the pool ran it."""

    outcome: Outcome
    cold_start: bool
    init_duration_ms: float | None
    duration_ms: float
    # Ran out of memory in a warm environment, then ran again in a fresh one (`Pool.run`); Duration counts both.
    rerun_fresh: bool = False


@dataclass(frozen=True, slots=True)
class PoolStats:
    idle: int
    busy: int
    created: int
    reaped: int
    discarded: int
    inline: int = 0  # invocations run on the caller's event loop (run_inline)
    preempted: int = 0  # inline runs interrupted at the end of their slice and run again on a thread
    fresh_reruns: int = 0  # out of memory in a warm environment, run again in a fresh one


class Pool:
    def __init__(
        self,
        spec: EnvironmentSpec,
        factory: Callable[[EnvironmentSpec], Environment],
        *,
        max_idle: int = 1000,
        idle_ttl: float = 600.0,
        provisioned: int = 0,
    ) -> None:
        self.spec = spec
        # Environments made ahead of traffic say so, as Lambda's do (AWS_LAMBDA_INITIALIZATION_TYPE).
        self._provisioning_spec = dataclasses.replace(spec, initialization_type="provisioned-concurrency")
        self._factory = factory
        self.max_idle = max_idle
        self.idle_ttl = idle_ttl
        self.provisioned = provisioned
        # Why the last provisioned environment could not be made (its init failed), until one is made; meanwhile
        # provisioning is tried again after a growing pause (a failing init is not rerun every maintenance round).
        self.init_failure: FunctionError | None = None
        self._provision_after = 0.0
        self._provision_pause = 0.0
        self._idle: deque[Environment] = deque()
        self._lock = threading.Lock()
        self._busy = 0
        self._created = self._reaped = self._discarded = 0
        self._inline = self._preempted = self._fresh_reruns = 0
        self._strikes = 0  # the preemptions that count towards the backoff (see INLINE_FORGIVE_S)
        self._struck_at = 0.0
        self._closed = False
        kind = spec.code.kind
        self._inline_kind = kind in ("reactor", "command")  # components are excluded (above)
        self._needs_warm = kind == "reactor"  # a command instantiates on every call anyway
        # The last INLINE_WINDOW invocations, one bit each, newest lowest: 1 = slow (or not seen yet).
        self._slow = _WINDOW_MASK
        # Fast invocations still needed before running inline again, after a preemption (see "Inline runs").
        self._backoff = 0

    @property
    def inline_ready(self) -> bool:
        """Whether the next invocation should try `run_inline`."""
        return (
            self._inline_kind
            and self._slow.bit_count() <= INLINE_SLOW_ALLOWED
            and not self._backoff
            and not self.provisioned
        )

    def run_inline(self, request: Request) -> Run | None:
        """Run on the calling thread under an inline slice; None if a reactor has no warm environment idle.

        A `Run` whose `outcome.preempted` is set outlived the slice (or slept): run the request again with `run`;
        its `duration_ms` is the time the stopped attempt took.
        """
        request.slice_ticks = INLINE_SLICE_TICKS
        try:
            run = self._run(request, warm_only=self._needs_warm)
        finally:
            request.slice_ticks = 0
        if run is not None:
            with self._lock:
                self._inline += 1
                if run.outcome.preempted:
                    self._preempted += 1
        return run

    def run(self, request: Request) -> Run:
        """Run one invocation on a warm environment, or on a new one (a cold start).

        A language runtime that runs out of memory in a warm environment runs again, once, in a fresh one, with
        the time the first attempt left of the timeout (after the fresh environment's init, which has its own
        budget as every cold start's has): its memory may be garbage its engine never collected (SpiderMonkey does
        not collect when a `malloc` fails, only when a threshold is crossed, which a 128 MB guest can run out of
        memory before), and the guest has no effect outside its store that running again could repeat.
        """
        run = self._run(request, warm_only=False)
        assert run is not None
        error = run.outcome.error
        left = request.timeout - run.duration_ms / 1000.0
        if (
            error is not None
            and error.error_type == "Runtime.OutOfMemory"
            and not run.cold_start
            and self.spec.raised_errors
            and left > 0
        ):
            again = self._run(request, warm_only=False, fresh=True, budget_s=left)
            assert again is not None
            again.duration_ms += run.duration_ms
            again.rerun_fresh = True
            with self._lock:
                self._fresh_reruns += 1
            return again
        return run

    def _run(
        self, request: Request, *, warm_only: bool, fresh: bool = False, budget_s: float | None = None
    ) -> Run | None:
        with self._lock:
            env = self._idle.pop() if self._idle and not fresh else None
            if env is None and warm_only:
                return None
            self._busy += 1
        cold = env is None
        discard = True  # unless the invocation ends normally, the environment is not reused
        try:
            if env is None:
                started = time.perf_counter()
                try:
                    env = self._factory(self.spec)
                except InitError as e:
                    # The REPORT line shows how long the failed init ran, as Lambda's does.
                    outcome = Outcome(
                        payload=b"",
                        error=e.error,
                        discard=True,
                        init_log=e.log,
                        error_logged=e.logged,
                        memory_bytes=e.memory_bytes,
                    )
                    return Run(outcome, True, (time.perf_counter() - started) * 1000.0, 0.0)
                with self._lock:
                    self._created += 1
            # The timeout is the handler's, counted from now, as Lambda counts it: not the wait for a worker thread
            # (a loaded host had timed invocations out before their timeout had passed), nor a cold start's init,
            # which had a budget of its own.
            request.deadline_ms = int((time.time() + (budget_s or request.timeout)) * 1000)
            # On a worker thread, whether the call would be fast inline is judged by the thread's CPU time: its
            # wall time counts the waits for the GIL, which the event loop holds while busy -- a function once on
            # threads under load looked slow on every call and never ran inline again.
            inline = request.slice_ticks != 0
            judged = not inline and self._inline_kind and not self.provisioned  # (else never inline anyway)
            cpu = time.thread_time() if judged else 0.0
            sleeps = wasi.sleeps() if judged else 0
            start = time.perf_counter()
            outcome = env.invoke(request)
            duration = wall = (time.perf_counter() - start) * 1000.0
            taken = wall
            if judged:
                if wasi.sleeps() != sleeps:  # inline, its first sleep would preempt it: slow, whatever its CPU time
                    taken = math.inf
                elif wall > INLINE_MAX_MS:  # (CPU time is never more than wall time)
                    taken = (time.thread_time() - cpu) * 1000.0
            if env.init_log:  # its first invocation: the init's lines go with it (before START)
                outcome.init_log, env.init_log = env.init_log, b""
            init_ms: float | None = None
            if env.kind == "command":
                # A command instantiates inside invoke(): every run of it is a cold start, measured there.
                cold, init_ms = True, env.init_duration_ms
                duration = max(duration - init_ms, 0.0)
            elif cold:
                init_ms = env.init_duration_ms
            discard = outcome.discard
            # Not under the lock: a lost update only delays or hastens the next inline run by one invocation.
            if outcome.preempted:
                self._slow = _WINDOW_MASK
                now = time.monotonic()
                forgiven = int((now - self._struck_at) / INLINE_FORGIVE_S)
                strikes = max(self._strikes - forgiven, 0)
                self._backoff = INLINE_WINDOW << min(strikes, INLINE_MAX_BACKOFF)
                self._strikes, self._struck_at = strikes + 1, now
                return Run(outcome, cold, None, wall)
            slow = taken > INLINE_MAX_MS
            self._slow = ((self._slow << 1) | slow) & _WINDOW_MASK
            if self._backoff and not slow:
                self._backoff -= 1
            return Run(outcome, cold, init_ms, duration)
        finally:
            self._finish(env, discard)

    def _finish(self, env: Environment | None, discard: bool) -> None:
        with self._lock:
            self._busy -= 1
            keep = env is not None and not discard and not self._closed and len(self._idle) < self.max_idle
            if keep:
                assert env is not None
                env.last_used = time.monotonic()
                self._idle.append(env)
            elif discard and env is not None:
                self._discarded += 1
        if env is not None and not keep:
            env.close()

    def maintain(self) -> None:
        """Reap environments idle past the TTL (above the provisioned floor), then top up to the floor."""
        deadline = time.monotonic() - self.idle_ttl
        expired: list[Environment] = []
        with self._lock:
            while len(self._idle) > self.provisioned and self._idle[0].last_used < deadline:
                expired.append(self._idle.popleft())
            self._reaped += len(expired)
        for env in expired:
            env.close()
        self.provision()

    def set_floor(self, count: int) -> list[Environment]:
        """Keep `count` environments initialised from now on (`provision()` tops the pool up to it). When the floor
        is lowered, the idle environments it no longer keeps -- at most as many as it dropped by, never going below
        it, so warm environments of ordinary traffic stay -- are taken out and returned, for the caller to close:
        memory back at once, as when Lambda deallocates provisioned concurrency."""
        with self._lock:
            dropped = self.provisioned - count
            self.provisioned = count
            self._provision_after = 0.0  # a new configuration: try at once
            self.init_failure = None  # and say what that attempt finds
            surplus = [self._idle.popleft() for _ in range(max(0, min(dropped, len(self._idle) - count)))]
            self._reaped += len(surplus)
        return surplus

    def provision(self) -> None:
        """Create environments until idle + busy reaches the provisioned count (not while pausing after a failed
        init: 5 s, doubling up to 5 minutes, or until the floor is set again)."""
        while True:
            with self._lock:
                if self._closed or len(self._idle) + self._busy >= self.provisioned:
                    self.init_failure = None  # the floor is met (by traffic, say): no longer failed
                    return
                if time.monotonic() < self._provision_after:
                    return
            try:
                env = self._factory(self._provisioning_spec)
            except InitError as e:
                self._provision_failed(e.error)
                return
            except Exception:  # a bug of ours: logged, and the platform (maintaining every pool) goes on
                logger.exception("provisioning an environment of %s failed", self.spec.function_name)
                return
            failure = sdk_init_failure(env.init_log) if env.kind == "reactor" else None
            if failure is not None:
                # A guest SDK's init failed with an error value and returned: the environment would fail its first
                # invocation, so it is no environment made ahead of traffic but a failed init, as on Lambda.
                env.close()
                self._provision_failed(failure)
                return
            env.last_used = time.monotonic()
            self.init_failure = None
            self._provision_pause = 0.0
            with self._lock:
                self._created += 1
                if self._closed:
                    env.close()
                    return
                self._idle.append(env)

    def _provision_failed(self, error: FunctionError) -> None:
        # Reported as the config's FAILED status; an invocation cold-starts and reports it too.
        self.init_failure = error
        self._provision_pause = min(max(self._provision_pause * 2, _PROVISION_PAUSE_S), _PROVISION_PAUSE_MAX_S)
        self._provision_after = time.monotonic() + self._provision_pause

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                len(self._idle),
                self._busy,
                self._created,
                self._reaped,
                self._discarded,
                self._inline,
                self._preempted,
                self._fresh_reruns,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for env in idle:
            env.close()
