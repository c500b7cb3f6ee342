"""Recent invocation logs per function, kept in memory for `wasmfaas logs` (the server's stand-in for CloudWatch).

Each function keeps its newest invocations, at most `max_records` and `max_bytes` of guest output; older ones fall
off. The framed text (START / lines / END / REPORT) is built only when read. Every record gets a sequence number
from one counter, so a follower asks for "everything after N" and never misses or repeats a record still kept.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

import msgspec

from ..results import InvocationResult

__all__ = ["LogBook", "LogEvent"]

_MAX_PAGE: Final = 1000
_KEEP_PAYLOAD: Final = 4096


@dataclass(frozen=True, slots=True)
class _Record:
    seq: int
    timestamp_ms: int
    result: InvocationResult  # with a large payload dropped


class LogEvent(msgspec.Struct, rename="camel"):
    seq: int
    timestamp: int
    request_id: str
    message: str


class _FunctionLog:
    __slots__ = ("bytes", "records")

    def __init__(self) -> None:
        self.records: deque[_Record] = deque()
        self.bytes = 0


class LogBook:
    def __init__(self, *, max_records: int = 1000, max_bytes: int = 1024 * 1024) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._logs: dict[str, _FunctionLog] = {}
        self._seq = itertools.count(1)

    def add(self, result: InvocationResult) -> None:
        log = self._logs.get(result.function_name)
        if log is None:
            log = self._logs[result.function_name] = _FunctionLog()
        # Large payloads are dropped (logs do not need them); copying the struct for a small one costs more.
        slim = msgspec.structs.replace(result, payload=b"") if len(result.payload) > _KEEP_PAYLOAD else result
        log.records.append(_Record(next(self._seq), int(time.time() * 1000), slim))
        log.bytes += len(result.guest_log)
        while log.records and (len(log.records) > self.max_records or log.bytes > self.max_bytes):
            log.bytes -= len(log.records.popleft().result.guest_log)

    def read(self, name: str, after: int = 0, limit: int = _MAX_PAGE) -> list[LogEvent]:
        """Records of `name` with a sequence number above `after`, oldest first."""
        log = self._logs.get(name)
        if log is None:
            return []
        events = []
        for record in log.records:
            if record.seq > after:
                r = record.result
                events.append(LogEvent(record.seq, record.timestamp_ms, r.request_id, r.log))
                if len(events) >= min(limit, _MAX_PAGE):
                    break
        return events

    def forget(self, name: str) -> None:
        self._logs.pop(name, None)
