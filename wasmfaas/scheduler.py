"""Concurrency: reserved and account-wide limits, throttling, and the worker threads wasm runs on.

Lambda's model: the account has a limit (1000 by default); a function with reserved concurrency may run that many
invocations at once and no more, and those slots are taken out of the pool the other functions share, which
reservations may not shrink below a minimum (Lambda's: 100, or the whole limit when it is 100 or less -- an account
limited to 10 cannot reserve at all). Provisioned concurrency of a function without a reservation is set aside the
same way: its first invocations at once count against it, not the shared pool, so the other functions cannot take
its provisioned environments' slots (its invocations past it use the shared pool, as Lambda's spill over to
on-demand). Over a limit an invocation is refused at once with `TooManyRequestsError`, never queued.

Wasm releases the GIL while it runs, so invocations run truly in parallel on worker threads: the async path hands
each admitted invocation to a thread of its own (`workers.WorkerPool`), the synchronous path runs in the caller's
thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from .errors import InvalidParameterError, TooManyRequestsError
from .workers import WorkerPool

__all__ = ["DEFAULT_ACCOUNT_CONCURRENCY", "LAMBDA_UNRESERVED_MINIMUM", "Concurrency", "Scheduler"]

DEFAULT_ACCOUNT_CONCURRENCY = 1000
# What reservations must leave to the functions without one (Lambda's UnreservedConcurrentExecution minimum).
LAMBDA_UNRESERVED_MINIMUM = 100
T = TypeVar("T")


class Concurrency:
    """One function's concurrency state: its reservation (or None), its provisioned concurrency (all versions and
    aliases together), how many invocations it has in flight, and how many of those count against the account's
    shared (unreserved) pool: those past what the function has to itself (`own`, its reservation, else its
    provisioned concurrency). Either can change while invocations run: each release gives back to the shared pool
    what was taken from it."""

    __slots__ = ("in_flight", "name", "own", "provisioned", "reserved", "shared")

    def __init__(self, name: str, reserved: int | None = None) -> None:
        self.name = name
        self.reserved = reserved
        self.provisioned = 0
        # The slots set aside for this function alone: its reservation, else its provisioned concurrency (kept as
        # a value, not a property: admission reads it on every invocation).
        self.own = reserved if reserved is not None else 0
        self.in_flight = 0
        self.shared = 0


class Scheduler:
    """`unreserved_minimum`: the concurrency reservations must leave unreserved; None: Lambda's rule (100, or the
    account limit when that is smaller)."""

    def __init__(
        self,
        account_limit: int = DEFAULT_ACCOUNT_CONCURRENCY,
        unreserved_minimum: int | None = None,
        *,
        worker_nice: int = 0,
    ) -> None:
        if account_limit < 1:
            raise InvalidParameterError("account_concurrency", "must be >= 1")
        if unreserved_minimum is None:
            unreserved_minimum = min(LAMBDA_UNRESERVED_MINIMUM, account_limit)
        elif not 0 <= unreserved_minimum <= account_limit:
            raise InvalidParameterError("unreserved_minimum", f"must be 0-{account_limit} (the account limit)")
        self.account_limit = account_limit
        self.unreserved_minimum = unreserved_minimum
        self._lock = threading.Lock()
        self._reserved_total = 0  # every function's `own` slots: out of the shared pool
        self._unreserved_in_flight = 0
        self._running = 0
        self._functions: dict[str, Concurrency] = {}
        self._workers = WorkerPool(account_limit, nice=worker_nice)

    # -- configuration ---------------------------------------------------------------------------------------------

    def register(self, name: str, reserved: int | None, *, restoring: bool = False) -> Concurrency:
        """Create or update a function's slot, checking that the reservations leave the unreserved minimum.

        `restoring`: a reservation accepted before (restored from the registry) is taken as it is, even if the
        account's limit or minimum has changed since: refusing it would refuse to start. What reservations take
        past the limit is then simply not available to the other functions."""
        with self._lock:
            slot = self._functions.get(name)
            if slot is None:
                slot = Concurrency(name)
            own = reserved if reserved is not None else slot.provisioned
            if not restoring and self._shrinks_too_far(slot, own):
                # Lambda's words, so that tools matching on them recognise it.
                raise InvalidParameterError(
                    "reserved_concurrency",
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}].",
                    verbatim=True,
                )
            self._functions[name] = slot
            self._set_own(slot, reserved, slot.provisioned)
            return slot

    def check_provisioned(self, name: str, provisioned: int) -> None:
        """Raise InvalidParameterError if `provisioned` (the function's total) would leave the shared pool below
        the unreserved minimum (only a function without a reservation takes it from the pool)."""
        with self._lock:
            slot = self._functions.get(name) or Concurrency(name)
            if slot.reserved is None and self._shrinks_too_far(slot, provisioned):
                left = self.account_limit - (self._reserved_total - slot.own)
                raise InvalidParameterError(
                    "ProvisionedConcurrentExecutions",
                    f"{provisioned} for {name} in all would leave the account's unreserved concurrency below its "
                    f"minimum of {self.unreserved_minimum}: at most {max(0, left - self.unreserved_minimum)} "
                    "without a reservation (the account's unreserved concurrency less its minimum)",
                )

    def set_provisioned(self, name: str, provisioned: int) -> None:
        """The function's provisioned concurrency, all versions and aliases together (checked before)."""
        with self._lock:
            slot = self._functions.get(name)
            if slot is not None:
                self._set_own(slot, slot.reserved, provisioned)

    def _shrinks_too_far(self, slot: Concurrency, own: int) -> bool:
        new_total = self._reserved_total - slot.own + own
        return new_total > self._reserved_total and self.account_limit - new_total < self.unreserved_minimum

    def _set_own(self, slot: Concurrency, reserved: int | None, provisioned: int) -> None:
        """Change a slot's reservation and provisioned count while invocations may run: those past what it now
        has to itself count against the shared pool from now on (or the account could go over its limit while they
        finish: the pool grows at once by what the function gives up); those within it, against it."""
        self._reserved_total -= slot.own
        slot.reserved, slot.provisioned = reserved, provisioned
        slot.own = reserved if reserved is not None else provisioned
        self._reserved_total += slot.own
        shared = max(0, slot.in_flight - slot.own)
        self._unreserved_in_flight += shared - slot.shared
        slot.shared = shared

    def slot(self, name: str) -> Concurrency:
        """The slot of a registered function."""
        with self._lock:
            return self._functions[name]

    def unregister(self, name: str) -> None:
        with self._lock:
            slot = self._functions.pop(name, None)
            if slot is not None:
                self._set_own(slot, None, 0)  # its invocations still running count against the shared pool

    @property
    def unreserved_limit(self) -> int:
        return max(0, self.account_limit - self._reserved_total)

    def in_flight(self) -> int:
        """Invocations running now, all functions (deleted ones' still running included)."""
        return self._running

    # -- admission -------------------------------------------------------------------------------------------------

    def acquire(self, slot: Concurrency) -> None:
        """Take a slot, or raise TooManyRequestsError at once."""
        with self._lock:
            refused = self._refusal(slot)
            if refused is not None:
                raise refused
            if slot.in_flight >= slot.own:  # past what the function has to itself
                self._unreserved_in_flight += 1
                slot.shared += 1
            slot.in_flight += 1
            self._running += 1

    def refusal(self, slot: Concurrency) -> TooManyRequestsError | None:
        """The error an invocation of `slot` would be refused with now, or None if it would be admitted.

        A check at the door, for callers that can answer a throttle more cheaply than running the invocation path:
        an admitted invocation still goes through `acquire`, which may refuse it after all.
        """
        with self._lock:
            return self._refusal(slot)

    def _refusal(self, slot: Concurrency) -> TooManyRequestsError | None:
        reserved = slot.reserved
        if reserved is not None:
            if slot.in_flight >= reserved:
                return TooManyRequestsError(
                    f"Rate Exceeded: {slot.name} has reached its reserved concurrency of {reserved}",
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                )
        elif (
            slot.in_flight >= slot.provisioned
            and self._unreserved_in_flight >= self.account_limit - self._reserved_total
        ):
            return TooManyRequestsError(
                f"Rate Exceeded: the account's concurrency limit of {self.account_limit} is reached",
                "ConcurrentInvocationLimitExceeded",
            )
        return None

    def release(self, slot: Concurrency) -> None:
        with self._lock:
            slot.in_flight -= 1
            self._running -= 1
            if slot.shared:
                slot.shared -= 1
                self._unreserved_in_flight -= 1

    # -- running ---------------------------------------------------------------------------------------------------

    def run_sync(self, slot: Concurrency, job: Callable[[], T]) -> T:
        """Run `job` in this thread under the limits."""
        self.acquire(slot)
        try:
            return job()
        finally:
            self.release(slot)

    async def run(self, slot: Concurrency, job: Callable[[], T], *, admitted: bool = False) -> T:
        """Run `job` on a worker thread under the limits (refused at once when over them).

        `admitted`: the caller already holds the slot (`acquire`), and hands it over to this run.
        The slot is released by the worker when the job ends, not when the caller stops waiting: a cancelled caller
        does not stop the guest, and its slot stays taken until the guest is done.
        """
        if not admitted:
            self.acquire(slot)
        try:
            started = self._workers.start(job, after=lambda: self.release(slot))
        except BaseException:
            self.release(slot)
            raise
        return await self._workers.result(started)

    def close(self) -> None:
        self._workers.close()
