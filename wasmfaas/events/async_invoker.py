"""Asynchronous invocation (Lambda's InvocationType=Event): accept durably, run later, retry, route the outcome.

    async with AsyncInvoker(platform, logs=logs) as events, anyio.create_task_group() as tg:
        await tg.start(events.run)
        request_id = await events.submit("fn", None, b'{"a": 1}')   # durable when it returns: answer 202

Lambda's model, per function (version, alias) as its EventInvokeConfig says:

- A function error (handled or not, a timeout, a crash) is retried up to `MaximumRetryAttempts` times (0-2,
  default 2), the first after `retry_delay` (Lambda: about a minute), the next after twice that.
- A throttle (a concurrency limit reached) does not use up a retry: the event goes back in the queue with a
  growing delay (from `throttle_delay` up to `max_throttle_delay`) until it runs or grows too old.
- An event older than `MaximumEventAgeInSeconds` (60-21600, default 6 hours) is not run any more: it fails with
  the condition `EventAgeExceeded`.
- After a success the OnSuccess destination, after the final failure the OnFailure destination, receives Lambda's
  invocation record as an asynchronous invocation of that function. A failure with no OnFailure destination, or
  an outcome whose destination no longer exists, becomes a dead letter, which can be listed and replayed. Dead
  letters are kept for `dead_letter_retention_s` (14 days, SQS's longest retention, as a Lambda DLQ's queue).

The request id `submit` returns names the event in records and dead letters, and it is the request id every
attempt runs with (as on Lambda, a retry keeps the id), so the function and its logs see the id the caller was given.
Delivery is at least once: an event runs again if the process dies before its outcome is stored (see queue.py for
leases and recovery). To stop, `drain()` (no new events start; the running ones finish), then cancel `run`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol, Self

import anyio
import anyio.abc
import msgspec

from .. import runtimes
from ..errors import (
    FunctionNotFoundError,
    InvalidParameterError,
    InvalidPayloadError,
    PayloadTooLargeError,
    PlatformClosedError,
    TooManyRequestsError,
)
from ..invoker import check_json_payload
from ..results import InvocationResult
from .invoke_config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    LATEST,
    EventInvokeConfig,
    EventInvokeConfigNotFoundError,
    FunctionEventInvokeConfig,
    StoredInvokeConfig,
    function_arn,
)
from .queue import EventQueue, InvokeConfigStore, SqliteEventQueue
from .records import (
    RECORD_VERSION,
    AttemptResult,
    DeadLetter,
    InvocationRecord,
    QueuedEvent,
    RequestContext,
    ResponseContext,
    json_or_string,
    lambda_timestamp,
)

if TYPE_CHECKING:
    from ..logstore import LogStore
    from ..platform import Platform

__all__ = ["DEAD_LETTER_RETENTION_S", "MAX_ASYNC_PAYLOAD", "MAX_DESTINATION_HOPS", "AsyncInvoker", "InvokeFunction"]

logger = logging.getLogger("wasmfaas.events")

# Lambda's limit for an asynchronous request (1 MB).
MAX_ASYNC_PAYLOAD: Final = 1_048_576
# Lambda stops a recursive loop after about 16 invocations; a destination chain longer than this is one.
MAX_DESTINATION_HOPS: Final = 16
# How long dead letters are kept by default: 14 days, the longest an SQS queue (a Lambda DLQ) keeps a message.
DEAD_LETTER_RETENTION_S: Final = 14 * 86400.0
# How often the queue is tidied (expired dead letters, free pages), at most.
_UPKEEP_INTERVAL_S: Final = 600.0


class InvokeFunction(Protocol):
    """How an attempt is made: (function name, qualifier, payload, request_id=the event's id) -> result; raises as
    `Platform.invoke` does."""

    def __call__(
        self, function_name: str, qualifier: str | None, payload: bytes, /, *, request_id: str
    ) -> Awaitable[InvocationResult]: ...


class AsyncInvoker:
    """Asynchronous invocations of a `Platform`'s functions, their EventInvokeConfigs and dead letters.

    - `data_dir`: where the embedded queue lives (`<data_dir>/events.sqlite3`); default the platform's.
    - `queue` / `configs`: other backends for the queue and the configurations (default: the embedded one).
    - `invoke`: how an attempt runs (default `platform.invoke`); a server passes its own to count metrics and keep
      logs the way it does for synchronous invocations.
    - `logs`: a `LogStore` that receives the log of every attempt.
    - `concurrency`: events run at once (each takes a concurrency slot of its function while it runs). One function
      takes at most all but an eighth of them (at least one kept free, given two or more): a backlog of one
      function's events does not hold up every other function's, which Lambda runs independently.
    - `retry_delay`: seconds before the first retry of a function error (doubled for the second).
    - `throttle_delay` / `max_throttle_delay`: the first and the longest wait after a throttle.
    - `lease_s`: how long a claimed event stays leased without renewal; a crashed consumer's events are back after
      this long if no consumer restarts on the same data directory.
    - `poll_interval`: the longest a worker sleeps without looking at the queue (for events put by other
      processes; events submitted here wake it at once).
    - `dead_letter_retention_s`: how long a dead letter is kept before it is deleted (default 14 days; None: until
      it is replayed or deleted). Looked at when `run` starts and every ten minutes (or a quarter of the
      retention, if that is shorter).
    - `region` / `account_id`: used in the ARNs of records and configurations.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        data_dir: str | Path | None = None,
        queue: EventQueue | None = None,
        configs: InvokeConfigStore | None = None,
        invoke: InvokeFunction | None = None,
        logs: LogStore | None = None,
        concurrency: int = 16,
        retry_delay: float = 60.0,
        throttle_delay: float = 1.0,
        max_throttle_delay: float = 300.0,
        lease_s: float = 30.0,
        poll_interval: float = 1.0,
        dead_letter_retention_s: float | None = DEAD_LETTER_RETENTION_S,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        if concurrency < 1:
            raise InvalidParameterError("concurrency", f"must be >= 1, got {concurrency}")
        if dead_letter_retention_s is not None and not dead_letter_retention_s > 0:
            raise InvalidParameterError(
                "dead_letter_retention_s", f"must be > 0 seconds (None: no limit), got {dead_letter_retention_s}"
            )
        if lease_s <= 0 or poll_interval <= 0 or retry_delay < 0 or throttle_delay < 0:
            raise InvalidParameterError("lease_s", "lease_s and poll_interval must be > 0, delays >= 0")
        self._platform = platform
        self._own_store: SqliteEventQueue | None = None
        if queue is None:
            store = SqliteEventQueue(Path(data_dir) if data_dir is not None else platform.data_dir)
            self._own_store = store
            queue, configs = store, configs or store
        if configs is None:
            raise InvalidParameterError("configs", "a queue backend needs a configuration store alongside it")
        self._queue: EventQueue = queue
        self._configs: InvokeConfigStore = configs
        self._invoke: InvokeFunction = invoke or self._invoke_platform
        self._logs = logs
        self._retry_delay = retry_delay
        self._throttle_delay = throttle_delay
        self._max_throttle_delay = max(max_throttle_delay, throttle_delay)
        self._lease_s = lease_s
        self._poll_interval = poll_interval
        self._retention_s = dead_letter_retention_s
        self.region = region
        self.account_id = account_id
        self._invoke_configs: dict[tuple[str, str], StoredInvokeConfig] = {}
        self._config_lock = anyio.Lock()
        self._slots = anyio.Semaphore(concurrency)
        self._per_function = max(1, concurrency - max(1, concurrency // 8))
        self._in_flight: dict[str, QueuedEvent] = {}
        self._function_events: Counter[str] = Counter()  # events running, per function
        self._wake = anyio.Event()
        self._said: dict[str, tuple[float, int]] = {}  # per function: when a dead letter was last logged, and since
        self._open = False
        self._running = False
        self._draining = False
        self._claiming = False
        self._record_encoder = msgspec.json.Encoder()

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._own_store is not None:
            await self._own_store.__aenter__()
        try:
            for stored in await self._configs.load_invoke_configs():
                self._invoke_configs[stored.function_name, stored.qualifier] = stored
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self._open = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        if self._own_store is not None:
            with anyio.CancelScope(shield=True):  # close the database even when shutdown comes as a cancellation
                await self._own_store.__aexit__(exc_type, exc, tb)

    def _check_open(self) -> None:
        if not self._open:
            raise PlatformClosedError("use the AsyncInvoker inside `async with AsyncInvoker(platform) as events:`")

    # -- accepting events ------------------------------------------------------------------------------------------

    async def submit(self, function_name: str, qualifier: str | None, payload: bytes) -> str:
        """Queue an invocation and return its request id once the event is durable (the 202 may be sent).

        Raises `PayloadTooLargeError` over 1 MB, `FunctionNotFoundError` for an unknown function, version or alias,
        and `InvalidPayloadError` for a Python or JavaScript function's payload that is not JSON, at once, as
        Lambda's Invoke does.
        """
        self._check_open()
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        if len(payload) > MAX_ASYNC_PAYLOAD:
            raise PayloadTooLargeError(
                f"Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation"
                f" ({len(payload)})"
            )
        info = await self._platform.get_function(function_name, qualifier)
        if runtimes.family(info.runtime) != runtimes.WASI:
            check_json_payload(payload)  # refused now, as Lambda's Invoke does, not failed later in the queue
        event = QueuedEvent(
            id=str(uuid.uuid4()),
            function_name=function_name,
            qualifier=qualifier,
            payload=payload,
            enqueued_at=time.time(),
        )
        await self._queue.put(event)
        self._wake.set()
        return event.id

    # -- running events --------------------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run queued events until cancelled. Start it once the functions exist (a persistent platform has
        restored them on entry): an event for a function that does not exist becomes a dead letter."""
        self._check_open()
        if self._running:
            raise RuntimeError("this AsyncInvoker is running already")
        self._running = True
        try:
            released = await self._queue.recover(time.time())
            if released:
                logger.info("released %d event(s) leased by a process that is gone; they run again", released)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_leases)
                tg.start_soon(self._upkeep)
                task_status.started()
                while True:
                    await self._slots.acquire()
                    try:
                        event = await self._next_event()
                    except BaseException:
                        self._slots.release()
                        raise
                    self._in_flight[event.id] = event
                    self._function_events[event.function_name] += 1
                    tg.start_soon(self._work, event)
        finally:
            self._running = False

    @property
    def in_flight(self) -> int:
        """Events being run right now."""
        return len(self._in_flight)

    async def queued(self) -> int:
        """Events waiting or running."""
        return await self._queue.depth()

    async def drain(self, timeout: float | None = None) -> bool:
        """Start no more events and wait (at most `timeout` seconds) for the running ones to finish; True if they
        all did. Cancel `run` afterwards: an event still running then goes back to the queue and runs again on the
        next start."""
        self._draining = True
        self._wake.set()
        with anyio.move_on_after(timeout):
            while self._in_flight or self._claiming:
                await anyio.sleep(0.01)
        return not (self._in_flight or self._claiming)

    async def _invoke_platform(
        self, function_name: str, qualifier: str | None, payload: bytes, /, *, request_id: str
    ) -> InvocationResult:
        return await self._platform.invoke(function_name, payload, qualifier=qualifier, request_id=request_id)

    async def _next_event(self) -> QueuedEvent:
        while True:
            if self._draining:
                await anyio.sleep_forever()  # until `run` is cancelled
            # A fresh Event before looking, so a submit that lands during the look is not missed.
            wake = self._wake = anyio.Event()
            now = time.time()
            try:
                self._claiming = True
                try:
                    busy = [name for name, n in self._function_events.items() if n >= self._per_function]
                    event = await self._queue.claim(now, self._lease_s, skip=busy)
                finally:
                    self._claiming = False
                if event is not None:
                    return event
                # Not the busy functions' events either: due now, they would have the loop spin until a slot of
                # theirs frees (which wakes it).
                due = await self._queue.next_due(skip=busy)
            except Exception:
                logger.exception("cannot read the event queue; trying again in %.1f s", self._poll_interval)
                due = None
            delay = self._poll_interval if due is None else min(max(due - now, 0.0), self._poll_interval)
            with anyio.move_on_after(delay):
                await wake.wait()

    async def _renew_leases(self) -> None:
        while True:
            await anyio.sleep(self._lease_s / 3)
            try:
                await self._queue.renew(list(self._in_flight.values()), time.time() + self._lease_s)
            except Exception:
                logger.exception("cannot renew event leases; they may run twice")

    async def _upkeep(self) -> None:
        retention = self._retention_s
        while True:
            try:
                expired = await self._queue.upkeep(None if retention is None else time.time() - retention)
            except Exception:
                logger.exception("cannot tidy the event queue (expired dead letters); trying again later")
            else:
                if expired:
                    logger.info("deleted %d dead letter(s) older than the retention of %g s", expired, retention)
            await anyio.sleep(_UPKEEP_INTERVAL_S if retention is None else min(_UPKEEP_INTERVAL_S, retention / 4))

    async def _work(self, event: QueuedEvent) -> None:
        try:
            await self._handle(event)
        except anyio.get_cancelled_exc_class():
            # Shutting down: hand the event back so whoever runs next starts it at once, not after the lease.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._queue.retry(event, time.time())
            raise
        except Exception:
            logger.exception(
                "event %s for %s: its outcome could not be stored; it runs again when its lease expires",
                event.id,
                event.function_name,
            )
        finally:
            self._in_flight.pop(event.id, None)
            left = self._function_events[event.function_name] = self._function_events[event.function_name] - 1
            if not left:
                del self._function_events[event.function_name]
            if left == self._per_function - 1:
                self._wake.set()  # its events were passed over: one may be claimed now
            self._slots.release()

    async def _handle(self, event: QueuedEvent) -> None:
        now = time.time()
        config = self._config_for(event.function_name, event.qualifier)
        expires = event.enqueued_at + config.max_event_age
        if now >= expires:
            await self._finish(event, config, "EventAgeExceeded", now)
            return
        try:
            result = await self._invoke(event.function_name, event.qualifier, event.payload, request_id=event.id)
        except TooManyRequestsError:
            if await self._reserved_zero(event):
                # As Lambda: a function throttled to nothing sends its new events to the OnFailure destination
                # (else the dead letters) at once, without retries, rather than hold them up to their maximum age.
                reason = "not run: the function's reserved concurrency is 0 (its events are sent on without retries)"
                await self._finish(event, config, "RetriesExhausted", now, reason=reason)
            else:
                await self._back_off(event, expires)
            return
        except FunctionNotFoundError as e:
            await self._bury(event, "FunctionNotFound", str(e), None, now)
            return
        except PayloadTooLargeError as e:
            await self._bury(event, "RequestTooLarge", str(e), None, now)
            return
        except InvalidPayloadError as e:  # queued for wasm code since replaced by a Python or JavaScript function
            await self._bury(event, "InvalidRequestContent", str(e), None, now)
            return
        except Exception as e:
            # A system error (the platform closing, a bug): Lambda retries those like throttles, without using up
            # the function's retries.
            logger.warning("event %s for %s: %s: %s; retrying", event.id, event.function_name, type(e).__name__, e)
            await self._back_off(event, expires)
            return
        if self._logs is not None:
            with contextlib.suppress(PlatformClosedError):  # the log store closed first: shutting down
                await self._logs.put(result)  # waits for room rather than drop the log of an event
        event = msgspec.structs.replace(event, attempts=event.attempts + 1, last_result=_attempt(result))
        now = time.time()
        if result.ok:
            await self._finish(event, config, "Success", now)
        elif event.attempts <= config.retry_attempts:
            # Past the age limit the retry would not run: come back at the limit to fail with EventAgeExceeded.
            not_before = now + self._retry_delay * 2 ** (event.attempts - 1)
            await self._queue.retry(event, min(not_before, expires))
        else:
            await self._finish(event, config, "RetriesExhausted", now)

    async def _back_off(self, event: QueuedEvent, expires: float) -> None:
        """Put a throttled event back, due after a delay that doubles with each throttle up to the maximum."""
        # The exponent is capped so that a long run of throttles cannot overflow the float.
        delay = min(self._throttle_delay * 2 ** min(event.throttles, 32), self._max_throttle_delay)
        delay *= random.uniform(0.8, 1.2)  # spread a throttled burst out instead of retrying it in lockstep
        retried = msgspec.structs.replace(event, throttles=event.throttles + 1)
        await self._queue.retry(retried, min(time.time() + delay, expires))

    async def _reserved_zero(self, event: QueuedEvent) -> bool:
        try:
            # The function's reservation, which its versions share: $LATEST's (a version keeps the one it had when
            # published, which says nothing now).
            info = await self._platform.get_function(event.function_name)
        except FunctionNotFoundError:
            return False  # deleted meanwhile: its events are buried with it
        return info.config.reserved_concurrency == 0

    async def _finish(
        self, event: QueuedEvent, config: EventInvokeConfig, condition: str, now: float, *, reason: str | None = None
    ) -> None:
        """Route a final outcome: to its destination, else (a failure) to the dead letters (`reason`: why, if not
        the condition's usual one)."""
        success = condition == "Success"
        destination = config.on_success if success else config.on_failure
        if destination is None and success:
            await self._queue.ack(event)  # the common case: no record to build
            return
        record = self._record(event, condition, now)
        if destination is None:
            await self._bury(event, condition, reason or _failure_reason(event, condition, config), record, now)
            return
        name, qualifier = destination
        arn = function_arn(name, qualifier, region=self.region, account_id=self.account_id)
        side = "OnSuccess" if success else "OnFailure"
        if event.hops >= MAX_DESTINATION_HOPS:
            reason = (
                f"{condition}; not sent to the {side} destination {arn}: the chain of destinations is"
                f" {event.hops + 1} invocations long (the limit is {MAX_DESTINATION_HOPS})"
            )
            await self._bury(event, "RecursiveInvocation", reason, record, now)
            return
        try:
            await self._platform.get_function(name, qualifier)
        except FunctionNotFoundError as e:
            reason = f"{condition}; the {side} destination {arn} does not exist ({e})"
            await self._bury(event, "DestinationNotFound", reason, record, now)
            return
        payload = self._record_encoder.encode(record)
        if len(payload) > MAX_ASYNC_PAYLOAD:
            # The delivery is an asynchronous invocation, held to the same limit as any other: Lambda drops the
            # payloads from such a record and sends the rest.
            record = msgspec.structs.replace(record, request_payload=msgspec.UNSET, response_payload=msgspec.UNSET)
            payload = self._record_encoder.encode(record)
        delivery = QueuedEvent(
            id=str(uuid.uuid4()),
            function_name=name,
            qualifier=qualifier,
            payload=payload,
            enqueued_at=now,
            hops=event.hops + 1,
        )
        if await self._queue.ack(event, then_put=delivery):
            self._wake.set()

    async def _bury(
        self, event: QueuedEvent, condition: str, reason: str, record: InvocationRecord | None, now: float
    ) -> None:
        letter = self._letter(event, condition, reason, record, now)
        if await self._queue.dead(event, letter):
            # One line per function a minute at most: a failing function under load wrote one for every event.
            name = event.function_name
            last, unsaid = self._said.get(name, (-_SAY_EVERY_S, 0))
            if time.monotonic() - last < _SAY_EVERY_S:
                self._said[name] = (last, unsaid + 1)
                return
            self._said[name] = (time.monotonic(), 0)
            more = f" ({unsaid} more of {name} since the last of these lines)" if unsaid else ""
            logger.warning("dead letter %s (request %s, %s): %s%s", letter.id, event.id, name, reason, more)

    @staticmethod
    def _letter(
        event: QueuedEvent, condition: str, reason: str, record: InvocationRecord | None, now: float
    ) -> DeadLetter:
        return DeadLetter(
            id=str(uuid.uuid4()),
            request_id=event.id,
            function_name=event.function_name,
            qualifier=event.qualifier,
            payload=event.payload,
            enqueued_at=event.enqueued_at,
            failed_at=now,
            condition=condition,
            reason=reason,
            attempts=event.attempts,
            record=record,
        )

    def _record(self, event: QueuedEvent, condition: str, now: float) -> InvocationRecord:
        last = event.last_result
        version = last.executed_version if last is not None else (event.qualifier or LATEST)
        return InvocationRecord(
            version=RECORD_VERSION,
            timestamp=lambda_timestamp(now),
            request_context=RequestContext(
                request_id=event.id,
                function_arn=function_arn(
                    event.function_name, version, region=self.region, account_id=self.account_id
                ),
                condition=condition,
                approximate_invoke_count=event.attempts,
            ),
            request_payload=json_or_string(event.payload),
            response_context=(
                ResponseContext(
                    status_code=200, executed_version=last.executed_version, function_error=last.function_error
                )
                if last is not None
                else None
            ),
            response_payload=json_or_string(last.payload) if last is not None else msgspec.UNSET,
        )

    # -- EventInvokeConfig -----------------------------------------------------------------------------------------

    def _config_for(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        stored = self._invoke_configs.get((function_name, qualifier or LATEST))
        return stored.config if stored is not None else _DEFAULT_CONFIG

    async def _config_key(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        self._check_open()
        await self._platform.get_function(function_name, qualifier)  # FunctionNotFoundError, as Lambda
        return function_name, qualifier or LATEST

    def _describe(self, stored: StoredInvokeConfig) -> FunctionEventInvokeConfig:
        return FunctionEventInvokeConfig.from_stored(stored, region=self.region, account_id=self.account_id)

    def _not_found(self, key: tuple[str, str]) -> EventInvokeConfigNotFoundError:
        arn = function_arn(*key, region=self.region, account_id=self.account_id)
        return EventInvokeConfigNotFoundError(f"The function {arn} doesn't have an EventInvokeConfig")

    async def _save(self, key: tuple[str, str], config: EventInvokeConfig) -> FunctionEventInvokeConfig:
        stored = StoredInvokeConfig(function_name=key[0], qualifier=key[1], config=config, last_modified=time.time())
        await self._configs.save_invoke_config(stored)
        self._invoke_configs[key] = stored
        return self._describe(stored)

    async def put_event_invoke_config(
        self, function_name: str, config: EventInvokeConfig, *, qualifier: str | None = None
    ) -> FunctionEventInvokeConfig:
        """PutFunctionEventInvokeConfig: replace the whole configuration (unset fields take their defaults)."""
        key = await self._config_key(function_name, qualifier)
        async with self._config_lock:
            return await self._save(key, config)

    async def update_event_invoke_config(
        self, function_name: str, config: EventInvokeConfig, *, qualifier: str | None = None
    ) -> FunctionEventInvokeConfig:
        """UpdateFunctionEventInvokeConfig: change the fields `config` sets, keep the others."""
        key = await self._config_key(function_name, qualifier)
        async with self._config_lock:
            current = self._invoke_configs.get(key)
            if current is None:
                raise self._not_found(key)
            return await self._save(key, current.config.merged(config))

    async def get_event_invoke_config(
        self, function_name: str, *, qualifier: str | None = None
    ) -> FunctionEventInvokeConfig:
        """GetFunctionEventInvokeConfig; raises EventInvokeConfigNotFoundError when there is none."""
        key = await self._config_key(function_name, qualifier)
        stored = self._invoke_configs.get(key)
        if stored is None:
            raise self._not_found(key)
        return self._describe(stored)

    async def delete_event_invoke_config(self, function_name: str, *, qualifier: str | None = None) -> None:
        """DeleteFunctionEventInvokeConfig; raises EventInvokeConfigNotFoundError when there is none."""
        key = await self._config_key(function_name, qualifier)
        async with self._config_lock:
            if key not in self._invoke_configs:
                raise self._not_found(key)
            await self._configs.delete_invoke_config(*key)
            del self._invoke_configs[key]

    async def list_event_invoke_configs(self, function_name: str) -> list[FunctionEventInvokeConfig]:
        """ListFunctionEventInvokeConfigs: the function's configurations, one per qualifier that has one."""
        await self._config_key(function_name, None)
        return [
            self._describe(stored)
            for (name, _), stored in sorted(self._invoke_configs.items())
            if name == function_name
        ]

    async def forget_function(
        self, function_name: str, qualifier: str | None = None, *, deleted_at: float | None = None
    ) -> None:
        """Drop the configurations of a deleted function (every qualifier), or of one deleted version or alias, and
        move its queued events to the dead letters (FunctionNotFound) at once.

        Call it when the function is deleted, as Lambda deletes them with it, with `deleted_at` (default now) the
        time the deletion was done. The events go now, not when they come up: by then a new function of the same
        name may exist, and they would run on code they were never sent to; events enqueued after `deleted_at` are
        that new function's, and stay.
        """
        self._check_open()
        async with self._config_lock:
            await self._configs.delete_invoke_config(function_name, qualifier)
            for key in [k for k in self._invoke_configs if k[0] == function_name]:
                if qualifier is None or key[1] == qualifier:
                    del self._invoke_configs[key]
        now = time.time()
        what = function_name if qualifier is None else f"{function_name}:{qualifier}"
        reason = f"Function not found: {what} was deleted before the event was done"
        buried = await self._queue.bury_function(
            function_name,
            qualifier,
            lambda event: self._letter(event, "FunctionNotFound", reason, None, now),
            enqueued_before=now if deleted_at is None else deleted_at,
        )
        if buried:
            logger.warning("%d queued events of %s became dead letters: the function was deleted", buried, what)

    async def note_deletion(self, function_name: str, qualifier: str | None) -> int:
        """Record, durably, that the function (or version) is being deleted, before anything of it goes: a crash
        before `end_deletion` leaves the note for `pending_deletions` at the next start, which finishes the job."""
        self._check_open()
        return await self._configs.note_deletion(function_name, qualifier)

    async def end_deletion(self, token: int) -> None:
        self._check_open()
        await self._configs.end_deletion(token)

    async def pending_deletions(self) -> list[tuple[int, str, str | None]]:
        """(token, function name, qualifier) of the deletions noted and not ended."""
        self._check_open()
        return await self._configs.pending_deletions()

    # -- dead letters ----------------------------------------------------------------------------------------------

    async def list_dead_letters(
        self, function_name: str | None = None, *, limit: int = 100, after: str | None = None
    ) -> list[DeadLetter]:
        """Dead letters oldest first, of one function or all; page with `after` = the last id seen."""
        self._check_open()
        return await self._queue.list_dead_letters(function_name, limit=limit, after=after)

    async def get_dead_letter(self, dead_letter_id: str) -> DeadLetter:
        """Raises DeadLetterNotFoundError."""
        self._check_open()
        return await self._queue.get_dead_letter(dead_letter_id)

    async def replay(self, dead_letter_id: str) -> str:
        """Enqueue a dead letter's event again (a fresh event: new request id, age and retries) and remove the dead
        letter, in one transaction. Returns the new request id; raises DeadLetterNotFoundError, or
        FunctionNotFoundError (and keeps the letter) when its function, version or alias is gone."""
        self._check_open()
        letter = await self._queue.get_dead_letter(dead_letter_id)
        await self._platform.get_function(letter.function_name, letter.qualifier)  # it would only die again
        event = await self._queue.replay(dead_letter_id, time.time())
        self._wake.set()
        return event.id

    async def delete_dead_letter(self, dead_letter_id: str) -> None:
        """Discard a dead letter; raises DeadLetterNotFoundError."""
        self._check_open()
        await self._queue.delete_dead_letter(dead_letter_id)


_DEFAULT_CONFIG: Final = EventInvokeConfig()
_SAY_EVERY_S: Final = 60.0


def _attempt(result: InvocationResult) -> AttemptResult:
    error = result.function_error
    return AttemptResult(
        executed_version=result.executed_version,
        payload=result.payload,
        function_error=error.kind if error is not None else None,
        error=f"{error.error_type}: {error.error_message}" if error is not None else None,
    )


def _failure_reason(event: QueuedEvent, condition: str, config: EventInvokeConfig) -> str:
    last = event.last_result
    if condition == "EventAgeExceeded":
        text = f"EventAgeExceeded: not run within {config.max_event_age} s ({event.attempts} invocation(s)"
        text += f", {event.throttles} throttle(s))" if event.throttles else ")"
    else:
        text = f"RetriesExhausted after {event.attempts} invocation(s)"
    if last is not None and last.error is not None:
        text += f"; last error {last.function_error} {last.error}"
    return text
