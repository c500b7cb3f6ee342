"""Idle execution environments of one function version.

The most recently used environment is reused first (LIFO: its caches are warm, and the oldest ones age out), idle
ones are reaped after a TTL, at most `max_idle` are kept, and provisioned concurrency keeps a floor of initialised
environments ahead of traffic. Every method is thread-safe; `run` and `maintain` block, so call them from worker
threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .guests.base import Environment, EnvironmentSpec, InitError, Outcome, Request

__all__ = ["Pool", "PoolStats", "Run"]


@dataclass(slots=True)
class Run:
    """An invocation as the pool ran it."""

    outcome: Outcome
    cold_start: bool
    init_duration_ms: float | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class PoolStats:
    idle: int
    busy: int
    created: int
    reaped: int
    discarded: int


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
        self._factory = factory
        self.max_idle = max_idle
        self.idle_ttl = idle_ttl
        self.provisioned = provisioned
        self._idle: deque[Environment] = deque()
        self._lock = threading.Lock()
        self._busy = 0
        self._created = self._reaped = self._discarded = 0
        self._closed = False

    def run(self, request: Request) -> Run:
        """Run one invocation on a warm environment, or on a new one (a cold start)."""
        with self._lock:
            env = self._idle.pop() if self._idle else None
            self._busy += 1
        cold = env is None
        discard = True  # unless the invocation ends normally, the environment is not reused
        try:
            if env is None:
                try:
                    env = self._factory(self.spec)
                except InitError as e:
                    return Run(Outcome(payload=b"", error=e.error, discard=True, log=e.log), True, None, 0.0)
                with self._lock:
                    self._created += 1
            start = time.perf_counter()
            outcome = env.invoke(request)
            duration = (time.perf_counter() - start) * 1000.0
            init_ms: float | None = None
            if env.kind == "command":
                # A command instantiates inside invoke(): every run of it is a cold start, measured there.
                cold, init_ms = True, env.init_duration_ms
                duration = max(duration - init_ms, 0.0)
            elif cold:
                init_ms = env.init_duration_ms
            discard = outcome.discard
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

    def provision(self) -> None:
        """Create environments until idle + busy reaches the provisioned count."""
        while True:
            with self._lock:
                if self._closed or len(self._idle) + self._busy >= self.provisioned:
                    return
            try:
                env = self._factory(self.spec)
            except InitError:
                return  # the next invocation cold-starts and reports the init error
            env.last_used = time.monotonic()
            with self._lock:
                self._created += 1
                if self._closed:
                    env.close()
                    return
                self._idle.append(env)

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(len(self._idle), self._busy, self._created, self._reaped, self._discarded)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for env in idle:
            env.close()
